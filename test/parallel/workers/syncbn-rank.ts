/**
 * One rank of the SyncBatchNorm tests (test/parallel/syncbn.test.ts on the cpu backend,
 * test/gpu/nccl-ranks.test.ts on nccl over simulated devices). argv[2] is the backend, argv[3] the
 * scenario:
 *   fixture <i>  case i of test/fixtures/torch/batchnorm.json's `sync` list (torch's BatchNorm2d over
 *                the concatenated batch of uneven per-rank batches): this rank's slice of each
 *                training step's output and input gradient, the weight/bias gradients summed over
 *                ranks, the running statistics, then an eval step (no collectives)
 *   buffers      plain BatchNorm1d in DistributedDataParallel on different per-rank data: with
 *                broadcastBuffers (default) every rank's running statistics equal rank 0's after
 *                each step, without it they differ
 *   ddp          a model converted with SyncBatchNorm.convertSyncBatchnorm inside
 *                DistributedDataParallel, trained 3 SGD steps on uneven batches, against one
 *                process training BatchNorm on the whole batch (loss = the mean of the ranks'
 *                losses); parameters and running statistics on every rank
 * Prints `RESULT {...}` and exits 0, or exits 1 with the reason on stderr.
 */
import { cat, distributed as dist, nn, optim, noGrad, tensor, DistributedDataParallel, type Tensor } from '../../../lib/index.js';
import { torchFixture, fromFixture, fixtureValues, type EncodedTensor } from '../../helpers/torch-fixtures.js';
import { SeededRandom } from '../../../lib/parallel/permutation.js';

const backend = (process.argv[2] ?? 'cpu') as 'cpu' | 'nccl';
const scenario = process.argv[3] ?? 'fixture';
const rank = Number(process.env.RANK);
const size = Number(process.env.WORLD_SIZE);
const device = backend === 'nccl' ? `cuda:${process.env.LOCAL_RANK ?? 0}` : 'cpu';

function fail(msg: string): never {
  throw new Error(`rank ${rank}: ${msg}`);
}
const host = (t: Tensor): number[] => Array.from(t.to({ device: 'cpu', dtype: 'float64' }).dataSync() as Float64Array);
function close(what: string, got: number[], want: number[], tol: number): void {
  if (got.length !== want.length) fail(`${what}: ${got.length} values, expected ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i]! - want[i]!) <= tol * (1 + Math.abs(want[i]!)))) fail(`${what}[${i}]: ${got[i]} vs ${want[i]}`);
  }
}

interface Step { x: EncodedTensor; w: EncodedTensor; out: EncodedTensor; grad_x: EncodedTensor; grad_weight: EncodedTensor; grad_bias: EncodedTensor; running_mean: EncodedTensor; running_var: EncodedTensor; num_batches_tracked: number }
interface SyncCase { sizes: number[]; weight: EncodedTensor; bias: EncodedTensor; momentum: number; runs: Step[]; eval: Step }

/** Rows [start, start + n) of dim 0 of a fixture tensor, and the per-row element count. */
function rowsOf(e: EncodedTensor, start: number, n: number): { t: Tensor; vals: number[] } {
  const per = e.shape.slice(1).reduce((a, b) => a * b, 1);
  const all = fixtureValues(e);
  const vals = all.slice(start * per, (start + n) * per);
  return { t: tensor(Float64Array.from(vals), { dtype: 'float64', device }).reshape([n, ...e.shape.slice(1)]), vals };
}

async function fixtureScenario(index: number): Promise<Record<string, unknown>> {
  const c = torchFixture<{ sync: SyncCase[] }>('batchnorm').sync[index]!;
  if (c.sizes.length !== size) fail(`case ${index} is for ${c.sizes.length} ranks, this job has ${size}`);
  const start = c.sizes.slice(0, rank).reduce((a, b) => a + b, 0);
  const n = c.sizes[rank]!;
  // convertSyncBatchnorm on a model holding the layer, as a user converts one
  const model = SyncBatchNormConvert(new nn.Sequential(new nn.BatchNorm2d(3, { momentum: c.momentum, dtype: 'float64' })));
  const bn = model.at(0) as nn.SyncBatchNorm;
  if (!(bn instanceof nn.SyncBatchNorm)) fail('convertSyncBatchnorm did not replace BatchNorm2d');
  noGrad(() => {
    bn.weight!.copy_(fromFixture(c.weight));
    bn.bias!.copy_(fromFixture(c.bias));
  });
  model.to(device);
  const tol = 1e-9;
  for (const [i, s] of c.runs.entries()) {
    const x = rowsOf(s.x, start, n).t.detach();
    x.requiresGrad = true;
    const w = rowsOf(s.w, start, n).t;
    bn.zeroGrad();
    const out = model.forward(x);
    out.mul(w).sum().backward();
    close(`step ${i} out`, host(out), rowsOf(s.out, start, n).vals, tol);
    close(`step ${i} grad x`, host(x.grad!), rowsOf(s.grad_x, start, n).vals, tol);
    const gw = bn.weight!.grad!.clone();
    const gb = bn.bias!.grad!.clone();
    dist.allReduce(gw).wait();
    dist.allReduce(gb).wait();
    close(`step ${i} grad weight (summed over ranks)`, host(gw), fixtureValues(s.grad_weight), tol);
    close(`step ${i} grad bias (summed over ranks)`, host(gb), fixtureValues(s.grad_bias), tol);
    close(`step ${i} running mean`, host(bn.runningMean!), fixtureValues(s.running_mean), tol);
    close(`step ${i} running var`, host(bn.runningVar!), fixtureValues(s.running_var), tol);
    if (Number(bn.numBatchesTracked!.item()) !== s.num_batches_tracked) fail(`step ${i}: num_batches_tracked ${String(bn.numBatchesTracked!.item())}`);
  }
  model.eval();
  const x = rowsOf(c.eval.x, start, n).t;
  close('eval out', host(model.forward(x)), rowsOf(c.eval.out, start, n).vals, tol);
  return { rank, rows: n, steps: c.runs.length };
}

function SyncBatchNormConvert(m: nn.Sequential): nn.Sequential {
  return nn.SyncBatchNorm.convertSyncBatchnorm(m);
}

// ---- DDP: SyncBatchNorm in a DDP model against one process with BatchNorm on the whole batch ----
const SIZES = size === 2 ? [5, 3] : [4, 1, 3];
const IN = 4;
const C = 6;
function batch(step: number, start: number, n: number): { x: Tensor; y: Tensor } {
  const xs = new Float32Array(n * IN);
  const ys = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    const rng = new SeededRandom(7000 + step * 100 + start + i);
    for (let j = 0; j < IN; j++) xs[i * IN + j] = (rng.nextUint32() / 0x80000000 - 1) * 2 + (j % 3);
    ys[i] = BigInt((start + i + step) % 2);
  }
  return { x: tensor(xs, { device }).reshape([n, IN]), y: tensor(ys, { dtype: 'int64', device }) };
}
/** Linear -> BatchNorm1d -> ReLU -> Linear: the normalized activations need an input gradient (the backward's all-reduce). */
function makeNet(): nn.Sequential {
  const m = new nn.Sequential(new nn.Linear(IN, C), new nn.BatchNorm1d(C, { momentum: 0.3 }), new nn.ReLU(), new nn.Linear(C, 2));
  const rng = new SeededRandom(99);
  noGrad(() => {
    for (const p of m.parameters()) p.copy_(tensor(Float32Array.from({ length: p.numel() }, () => (rng.nextUint32() / 0x80000000 - 1) * 0.5)).reshape([...p.shape]));
  });
  return m;
}

async function ddpScenario(): Promise<Record<string, unknown>> {
  const steps = 3;
  const starts = SIZES.map((_, r) => SIZES.slice(0, r).reduce((a, b) => a + b, 0));
  // the reference: one process, BatchNorm over the whole batch, loss = mean over ranks of each rank's mean loss
  const ref = makeNet().to(device);
  const refOpt = new optim.SGD([...ref.parameters()], { lr: 0.2 });
  for (let s = 0; s < steps; s++) {
    const parts = SIZES.map((n, r) => batch(s, starts[r]!, n));
    const all = cat(parts.map((p) => p.x), 0);
    const out = ref.forward(all);
    let loss: Tensor | null = null;
    let off = 0;
    for (const [r, p] of parts.entries()) {
      const l = nn.functional.crossEntropy(out.narrow(0, off, SIZES[r]!), p.y).div(size);
      loss = loss ? loss.add(l) : l;
      off += SIZES[r]!;
    }
    refOpt.zeroGrad();
    loss!.backward();
    refOpt.step();
  }
  const net = nn.SyncBatchNorm.convertSyncBatchnorm(makeNet());
  if (!(net.at(1) instanceof nn.SyncBatchNorm)) fail('not converted');
  net.to(device);
  const ddp = new DistributedDataParallel(net, backend === 'nccl' ? { deviceIds: [Number(process.env.LOCAL_RANK ?? 0)] } : {});
  const opt = new optim.SGD([...ddp.parameters()], { lr: 0.2 });
  for (let s = 0; s < steps; s++) {
    const { x, y } = batch(s, starts[rank]!, SIZES[rank]!);
    opt.zeroGrad();
    const loss = nn.functional.crossEntropy(ddp.forward(x), y);
    loss.backward();
    opt.step();
  }
  const got = [...net.parameters()].map(host);
  const want = [...ref.parameters()].map(host);
  got.forEach((g, i) => close(`parameter ${i} after ${steps} steps`, g, want[i]!, 2e-5));
  const sb = net.at(1) as nn.SyncBatchNorm;
  const rb = ref.at(1) as nn.BatchNorm1d;
  close('running mean', host(sb.runningMean!), host(rb.runningMean!), 2e-5);
  close('running var', host(sb.runningVar!), host(rb.runningVar!), 2e-5);
  return { rank, steps };
}

/** Every rank's copy of t, gathered (t's values on each rank). */
function gathered(t: Tensor): number[][] {
  const outs = Array.from({ length: size }, () => t.clone());
  dist.allGather(outs, t).wait();
  return outs.map(host);
}

async function buffersScenario(): Promise<Record<string, unknown>> {
  const result: Record<string, boolean> = {};
  for (const broadcastBuffers of [true, false]) {
    const net = makeNet().to(device);
    const ddp = new DistributedDataParallel(net, { broadcastBuffers, ...(backend === 'nccl' ? { deviceIds: [Number(process.env.LOCAL_RANK ?? 0)] } : {}) });
    const opt = new optim.SGD([...ddp.parameters()], { lr: 0.1 });
    const bn = net.at(1) as nn.BatchNorm1d;
    let equal = true;
    for (let s = 0; s < 2; s++) {
      const { x, y } = batch(s, rank * 50, 6); // different rows on every rank
      opt.zeroGrad();
      nn.functional.crossEntropy(ddp.forward(x), y).backward();
      opt.step();
      for (const buf of [bn.runningMean!, bn.runningVar!]) {
        const all = gathered(buf);
        equal = equal && all.every((v) => v.every((e, i) => e === all[0]![i]));
      }
    }
    result[String(broadcastBuffers)] = equal;
  }
  if (!result.true) fail('with broadcastBuffers the running statistics differ between ranks');
  if (result.false) fail('without broadcastBuffers the running statistics are equal: the check cannot fail');
  return { rank, ...result };
}

async function main(): Promise<void> {
  await dist.initProcessGroup({ backend });
  try {
    const r = scenario === 'ddp' ? await ddpScenario() : scenario === 'buffers' ? await buffersScenario() : await fixtureScenario(Number(process.argv[4] ?? 0));
    console.log(`RESULT ${JSON.stringify(r)}`);
  } finally {
    await dist.destroyProcessGroup();
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack : String(e));
  process.exit(1);
});
