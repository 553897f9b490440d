/**
 * DistributedDataParallel with real processes on the cpu backend, against single-process
 * references computed here: N ranks with batch B each must give the parameters of one process
 * with batch N*B. Tolerances (float32): 2e-6 for SGD, 1e-5 for AdamW (its update divides by
 * sqrt(v), which amplifies the last-bit differences of a different summation order), 2e-3 for
 * the fp16-compressed all-reduce, 2e-2 for bf16 (8-bit mantissa).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nn, optim, type Tensor } from '../../lib/index.js';
import { DistributedDataParallel } from '../../lib/parallel/index.js';
import { explain, runRanks } from './spawn-ranks.js';
import { lossOf, makeModel, maxAbsDiff, paramValues, referenceRun, rows } from './workers/common.js';

const B = 4;
const STEPS = 3;

interface Suite {
  sgd: number[][];
  adamw: number[][];
  sgdTorchStyle: number[][];
  sgdUnawaited: number[][];
  fp16TorchStyle: number[][];
  sgdBucketView: number[][];
  fp16: number[][];
  bf16: number[][];
  noSync: number[][];
  overlap: {
    events: { type: string; bucket?: number; param?: number; t: number }[];
    backwardEnd: number;
    buckets: string[][];
    rebuiltBefore: boolean;
    rebuiltAfter: boolean;
    bucketsAfter: string[][];
    iterations: number;
    paramCount: number;
  };
  unusedWithFlag: { params: number[][]; unusedGradIsNull: boolean };
  unusedWithoutFlag: { error: { code: string; message: string } | null };
  join: number[][];
  misuse: string[];
}

async function joinReference(n: number): Promise<number[][]> {
  const model = makeModel();
  const o = new optim.SGD([...model.parameters()], { lr: 0.1 });
  for (let s = 0; s < n + 1; s++) {
    for (let r = 0; r < n; r++) {
      if (s >= 2 + r) continue; // rank r has 2 + r batches
      const { x, y } = rows(s * n * B + r * B, B);
      lossOf(model.forward(x) as Tensor, y).mul(1 / n).backward();
    }
    o.step();
    o.zeroGrad();
  }
  return paramValues(model);
}

async function unusedReference(n: number): Promise<number[][]> {
  // Only the used branch trains; the unused Linear keeps its initial weights.
  const { Branchy } = await import('./workers/branchy.js');
  const model = new Branchy();
  const { initParams } = await import('./workers/common.js');
  initParams(model, 5);
  const o = new optim.SGD([...model.parameters()], { lr: 0.1 });
  for (let s = 0; s < STEPS; s++) {
    const { x, y } = rows(s * n * B, n * B);
    lossOf(model.forward(x) as Tensor, y).backward();
    o.step();
    o.zeroGrad();
  }
  return paramValues(model);
}

for (const n of [2, 3]) {
  test(`DDP with ${n} cpu ranks equals one process with batch ${n}x${B}`, async () => {
    const ranks = await runRanks('ddp-suite.js', n, [String(B), String(STEPS)], { timeoutMs: 120_000 });
    for (const r of ranks) assert.equal(r.code, 0, explain(r));
    const results = ranks.map((r) => r.result as Suite);

    // Every rank ends with the same parameters (rank 0's initial weights were broadcast).
    for (const key of ['sgd', 'sgdTorchStyle', 'sgdUnawaited', 'fp16TorchStyle', 'adamw', 'sgdBucketView', 'fp16', 'bf16', 'noSync', 'join'] as const) {
      for (const r of results.slice(1)) assert.deepEqual(r[key], results[0]![key], `${key}: ranks disagree`);
    }
    const res = results[0]!;
    const sgdRef = await referenceRun('sgd', n, B, STEPS);
    assert.ok(maxAbsDiff(res.sgd, sgdRef) < 2e-6, `SGD differs by ${maxAbsDiff(res.sgd, sgdRef)}`);
    // PyTorch's form (no await: the constructor and loss.backward() block) and an un-awaited
    // ddp.backward() (the optimizer step finishes it) give the same weights.
    assert.ok(maxAbsDiff(res.sgdTorchStyle, sgdRef) < 2e-6, `PyTorch-style loop differs by ${maxAbsDiff(res.sgdTorchStyle, sgdRef)}`);
    assert.ok(maxAbsDiff(res.sgdUnawaited, sgdRef) < 2e-6, `un-awaited ddp.backward differs by ${maxAbsDiff(res.sgdUnawaited, sgdRef)}`);
    assert.deepEqual(res.fp16TorchStyle, res.fp16, 'fp16 hook: PyTorch-style and awaited loops differ');
    assert.ok(maxAbsDiff(res.sgdBucketView, sgdRef) < 2e-6, `gradientAsBucketView differs by ${maxAbsDiff(res.sgdBucketView, sgdRef)}`);
    const adamRef = await referenceRun('adamw', n, B, STEPS);
    assert.ok(maxAbsDiff(res.adamw, adamRef) < 1e-5, `AdamW differs by ${maxAbsDiff(res.adamw, adamRef)}`);
    const fp16Diff = maxAbsDiff(res.fp16, sgdRef);
    assert.ok(fp16Diff < 2e-3, `fp16-compressed all-reduce differs by ${fp16Diff}`);
    const bf16Diff = maxAbsDiff(res.bf16, sgdRef);
    assert.ok(bf16Diff < 2e-2, `bf16-compressed all-reduce differs by ${bf16Diff}`);
    // The initial weights moved: the comparison is not vacuous.
    assert.ok(maxAbsDiff(sgdRef, await paramValues(makeModel())) > 1e-3);

    // noSync: two micro-batches per step, the first accumulated locally.
    const accRef = await referenceRun('sgd', n, B, STEPS, 2);
    assert.ok(maxAbsDiff(res.noSync, accRef) < 2e-6, `noSync accumulation differs by ${maxAbsDiff(res.noSync, accRef)}`);

    // Bucket overlap: the first bucket's all-reduce was launched while backward was still running:
    // before the gradient of the first layer (parameter 0) arrived and before backward returned.
    const ov = res.overlap;
    assert.ok(ov.buckets.length >= 2, `expected >= 2 buckets, got ${JSON.stringify(ov.buckets)}`);
    const launch0 = ov.events.find((e) => e.type === 'bucket-launch' && e.bucket === 0)!;
    const firstLayerReady = ov.events.find((e) => e.type === 'grad-ready' && e.param === 0)!;
    assert.ok(launch0 && firstLayerReady, JSON.stringify(ov.events));
    assert.ok(ov.events.indexOf(launch0) < ov.events.indexOf(firstLayerReady), 'bucket 0 launched before the first layer\'s gradient');
    assert.ok(launch0.t < ov.backwardEnd, `bucket 0 launched at ${launch0.t} ms, backward ended at ${ov.backwardEnd} ms`);
    // Buckets launch in order, and the last layer's gradient arrives first.
    const launches = ov.events.filter((e) => e.type === 'bucket-launch').map((e) => e.bucket);
    assert.deepEqual(launches, [...launches].sort((a, b) => a! - b!));
    assert.equal(ov.events.find((e) => e.type === 'grad-ready')!.param! >= ov.paramCount - 2, true);
    // The buckets were rebuilt once, after the first iteration, and still hold every parameter once.
    assert.equal(ov.rebuiltBefore, true);
    assert.equal(ov.rebuiltAfter, true);
    assert.equal(ov.iterations, 2);
    assert.equal(ov.bucketsAfter.flat().length, ov.paramCount);
    assert.equal(new Set(ov.bucketsAfter.flat()).size, ov.paramCount);
    assert.ok(ov.events.some((e) => e.type === 'rebuild'));

    // findUnusedParameters: the unused branch keeps grad null and its weights; the rest trains.
    assert.equal(res.unusedWithFlag.unusedGradIsNull, true);
    const unusedRef = await unusedReference(n);
    assert.ok(maxAbsDiff(res.unusedWithFlag.params, unusedRef) < 2e-6, `findUnusedParameters differs by ${maxAbsDiff(res.unusedWithFlag.params, unusedRef)}`);

    // Without the flag: a clear error naming the unused parameters, on every rank, no hang.
    for (const r of results) {
      const err = r.unusedWithoutFlag.error;
      assert.ok(err, 'expected an error for the unused parameter');
      assert.equal(err.code, 'ERR_DIST');
      assert.match(err.message, /unused\.weight/);
      assert.match(err.message, /unused\.bias/);
      assert.match(err.message, /findUnusedParameters: true/);
    }

    // Misuse gets errors that say what to do.
    assert.equal(res.misuse.length, 2, JSON.stringify(res.misuse));
    assert.match(res.misuse[0]!, /returned a Promise.*await ddp\.backward\(loss\)/);
    assert.match(res.misuse[1]!, /no gradient arrived since the last forward/);

    // join(): uneven inputs (rank r has 2 + r batches) finish, and match the shadowed reference.
    const joinRef = await joinReference(n);
    assert.ok(maxAbsDiff(res.join, joinRef) < 2e-6, `join differs by ${maxAbsDiff(res.join, joinRef)}`);
  });
}

test('DDP refuses a module with no trainable parameters (no process group needed to say so)', () => {
  const frozen = new nn.Sequential(new nn.Linear(3, 2));
  for (const p of [...frozen.parameters()]) p.requiresGrad = false;
  assert.throws(
    () => new DistributedDataParallel(frozen),
    (e: unknown) => (e as { code?: string }).code === 'ERR_INVALID_ARG' && /no trainable parameters/.test((e as Error).message),
  );
  assert.throws(() => new DistributedDataParallel(new nn.ReLU()), /doesn't have any parameter that requires a gradient/);
  assert.throws(() => new DistributedDataParallel(makeModel(), { bucketCapMb: -1 }), /bucketCapMb/);
  assert.throws(() => new DistributedDataParallel(makeModel(), { deviceIds: [0, 1] }), /exactly one device/);
  assert.throws(() => new DistributedDataParallel({} as never), /expected an nn.Module/);
});

test('shape disagreement across ranks: a clear error naming the parameter and the ranks', async () => {
  const ranks = await runRanks('ddp-mismatch.js', 3, [], { timeoutMs: 60_000 });
  for (const r of ranks) {
    assert.equal(r.code, 0, explain(r));
    const { code, message } = r.result as { code: string; message: string };
    assert.equal(code, 'ERR_SHAPE_MISMATCH');
    assert.match(message, /parameter 0 \('0\.weight'/);
    assert.match(message, /\[8, 6\] on ranks 0, 2 but \[5, 6\] on rank 1/);
  }
});
