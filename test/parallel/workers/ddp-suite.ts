/**
 * One rank of the DDP test suite: runs every scenario in order and prints RESULT {json}.
 * argv: batch steps
 */
import {
  distributed as dist,
  DistributedDataParallel,
  bf16CompressHook,
  fp16CompressHook,
  nn,
  optim,
  type Tensor,
} from '../../../lib/index.js';
import { Branchy } from './branchy.js';
import { CLASSES, IN, initParams, lossOf, makeModel, makeOptimizer, paramValues, rows, type OptName } from './common.js';

const B = Number(process.argv[2] ?? 4);
const STEPS = Number(process.argv[3] ?? 3);

/**
 * How the loop ends an iteration: 'async' awaits ddp.backward(loss); 'torch' is PyTorch's form
 * (new DistributedDataParallel(model) used at once, loss.backward(), opt.step(), no await at all);
 * 'unawaited' calls ddp.backward(loss) without awaiting it (the optimizer step must finish it).
 */
type Style = 'async' | 'torch' | 'unawaited';

async function equivalence(
  opt: OptName,
  extra: { gradientAsBucketView?: boolean; hook?: 'fp16' | 'bf16'; style?: Style } = {},
): Promise<number[][]> {
  const rank = dist.getRank();
  const n = dist.getWorldSize();
  const style = extra.style ?? 'async';
  // Different initial weights on each rank: DDP must broadcast rank 0's.
  const model = makeModel(rank === 0 ? 1 : 100 + rank);
  const opts = { gradientAsBucketView: extra.gradientAsBucketView ?? false };
  const ddp = style === 'async' ? await DistributedDataParallel.create(model, opts) : new DistributedDataParallel(model, opts);
  if (extra.hook) ddp.registerCommHook(null, extra.hook === 'fp16' ? fp16CompressHook : bf16CompressHook);
  const o = makeOptimizer(opt, ddp.parameters());
  for (let s = 0; s < STEPS; s++) {
    const { x, y } = rows(s * n * B + rank * B, B);
    const loss = lossOf(ddp.forward(x) as Tensor, y);
    if (style === 'torch') loss.backward();
    else if (style === 'unawaited') void ddp.backward(loss);
    else await ddp.backward(loss);
    o.step();
    o.zeroGrad();
  }
  ddp.dispose();
  return paramValues(model);
}

async function noSyncAccumulation(): Promise<number[][]> {
  const rank = dist.getRank();
  const n = dist.getWorldSize();
  const model = makeModel();
  const ddp = await DistributedDataParallel.create(model);
  const o = makeOptimizer('sgd', ddp.parameters());
  const micro = 2;
  for (let s = 0; s < STEPS; s++) {
    const first = rows((s * micro + 0) * n * B + rank * B, B);
    ddp.noSync(() => lossOf(ddp.forward(first.x) as Tensor, first.y).backward());
    const second = rows((s * micro + 1) * n * B + rank * B, B);
    await ddp.backward(lossOf(ddp.forward(second.x) as Tensor, second.y));
    o.step();
    o.zeroGrad();
  }
  ddp.dispose();
  return paramValues(model);
}

/** A model whose last layers fill the 1 MiB first bucket, with every event timestamped. */
async function overlap(): Promise<unknown> {
  const model = new nn.Sequential(new nn.Linear(IN, 256), new nn.Tanh(), new nn.Linear(256, 1024), new nn.Tanh(), new nn.Linear(1024, 256), new nn.Tanh(), new nn.Linear(256, CLASSES));
  initParams(model, 3);
  const ddp = await DistributedDataParallel.create(model);
  const events: { type: string; bucket?: number; param?: number; t: number }[] = [];
  ddp.setEventListener((e) => events.push({ ...e, t: performance.now() } as never));
  const { x, y } = rows(0, 32);
  const loss = lossOf(ddp.forward(x) as Tensor, y);
  const t0 = performance.now();
  loss.backward();
  const backwardEnd = performance.now();
  await ddp.finishGradientSync();
  const info = ddp.getLoggingData();
  const firstEvents = events.map((e) => ({ ...e, t: e.t - t0 }));
  // A second iteration runs on the buckets rebuilt from the first one's arrival order.
  await ddp.backward(lossOf(ddp.forward(x) as Tensor, y));
  const after = ddp.getLoggingData();
  ddp.dispose();
  return {
    events: firstEvents,
    backwardEnd: backwardEnd - t0,
    buckets: info.bucketParams,
    rebuiltBefore: info.rebuiltBuckets,
    rebuiltAfter: after.rebuiltBuckets,
    bucketsAfter: after.bucketParams,
    iterations: after.iterations,
    paramCount: [...model.parameters()].length,
  };
}

async function unusedWithFlag(): Promise<unknown> {
  const rank = dist.getRank();
  const n = dist.getWorldSize();
  const model = new Branchy();
  initParams(model, 5);
  const ddp = await DistributedDataParallel.create(model, { findUnusedParameters: true });
  const o = new optim.SGD(ddp.parameters(), { lr: 0.1 });
  for (let s = 0; s < STEPS; s++) {
    const { x, y } = rows(s * n * B + rank * B, B);
    await ddp.backward(lossOf(ddp.forward(x) as Tensor, y));
    o.step();
    o.zeroGrad();
  }
  const unusedGrad = model.unused.weight.grad === null || model.unused.weight.grad === undefined;
  ddp.dispose();
  return { params: await paramValues(model), unusedGradIsNull: unusedGrad };
}

async function unusedWithoutFlag(): Promise<unknown> {
  const model = new Branchy();
  initParams(model, 5);
  const ddp = await DistributedDataParallel.create(model);
  const { x, y } = rows(0, B);
  try {
    await ddp.backward(lossOf(ddp.forward(x) as Tensor, y));
    return { error: null };
  } catch (e) {
    return { error: { code: (e as { code?: string }).code, message: (e as Error).message } };
  } finally {
    ddp.dispose();
  }
}

/** Rank r has 2 + r batches; join() must keep the early ranks shadowing the late ones. */
async function joinUneven(): Promise<unknown> {
  const rank = dist.getRank();
  const n = dist.getWorldSize();
  const model = makeModel();
  const ddp = await DistributedDataParallel.create(model);
  const o = new optim.SGD(ddp.parameters(), { lr: 0.1 });
  await ddp.join(async () => {
    for (let s = 0; s < 2 + rank; s++) {
      const { x, y } = rows(s * n * B + rank * B, B);
      await ddp.backward(lossOf(ddp.forward(x) as Tensor, y));
      o.step();
      o.zeroGrad();
    }
  });
  ddp.dispose();
  return paramValues(model);
}

/** Using DDP the wrong way gets errors that say what to do (and the ranks stay in step). */
async function misuse(): Promise<unknown> {
  const model = makeModel();
  const ddp = new DistributedDataParallel(model);
  const { x, y } = rows(0, B);
  const errors: string[] = [];
  await ddp.ready; // resolved already: the constructor finished its broadcast
  lossOf(ddp.forward(x) as Tensor, y).backward(); // synchronized at its end
  await ddp.finishGradientSync(); // nothing left to finish: resolves
  // A hook that returns a Promise cannot be finished by a blocking loss.backward(): it says so.
  const hooked = new DistributedDataParallel(makeModel());
  hooked.registerCommHook(null, async (_s, bucket) => {
    const buf = bucket.buffer().div_(bucket.comm().size);
    await bucket.comm().allReduceSum(buf);
    return buf;
  });
  try {
    lossOf(hooked.forward(x) as Tensor, y).backward();
  } catch (e) {
    errors.push((e as Error).message);
  }
  await hooked.backward(lossOf(hooked.forward(x) as Tensor, y)); // the async form works with it
  hooked.dispose();
  await ddp.backward(lossOf(ddp.forward(x) as Tensor, y));
  try {
    await ddp.finishGradientSync(); // nothing pending: resolves
    lossOf(ddp.forward(x) as Tensor, y);
    await ddp.finishGradientSync(); // forward without backward
  } catch (e) {
    errors.push((e as Error).message);
  }
  ddp.dispose();
  return errors;
}

async function main(): Promise<void> {
  await dist.initProcessGroup({ backend: 'cpu', timeoutMs: 20_000 });
  const out: Record<string, unknown> = {};
  out.sgd = await equivalence('sgd');
  out.sgdTorchStyle = await equivalence('sgd', { style: 'torch' });
  out.sgdUnawaited = await equivalence('sgd', { style: 'unawaited' });
  out.fp16TorchStyle = await equivalence('sgd', { hook: 'fp16', style: 'torch' });
  out.adamw = await equivalence('adamw');
  out.sgdBucketView = await equivalence('sgd', { gradientAsBucketView: true });
  out.fp16 = await equivalence('sgd', { hook: 'fp16' });
  out.bf16 = await equivalence('sgd', { hook: 'bf16' });
  out.noSync = await noSyncAccumulation();
  out.overlap = await overlap();
  out.unusedWithFlag = await unusedWithFlag();
  out.unusedWithoutFlag = await unusedWithoutFlag();
  out.join = await joinUneven();
  out.misuse = await misuse();
  process.stdout.write(`RESULT ${JSON.stringify(out)}\n`);
  await dist.destroyProcessGroup();
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(1);
});
