/**
 * lib/parallel on a GPU: DataParallel with deviceIds [0] (and [0, 1] where there are two GPUs)
 * against the module on the CPU, a DataLoader pinning and prefetching onto cuda:0, and DDP on the
 * NCCL backend at world size 1 against a plain training step. Skips, naming the reason, without a GPU.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cuda } from '../../lib/cuda/index.js';
import { type Tensor } from '../../lib/tensor/index.js';
import { DataLoader, DataParallel } from '../../lib/parallel/index.js';
import { explain, runRanks } from '../parallel/spawn-ranks.js';
import { lossOf, makeModel, maxAbsDiff, referenceRun, rows } from '../parallel/workers/common.js';

const gpus = cuda.deviceCount();
const reason = gpus === 0 ? `no GPU: ${cuda.noGpuReason()}` : false;

async function values(ts: Iterable<Tensor | null>): Promise<number[][]> {
  return Promise.all([...ts].map(async (t) => Array.from((await t!.to('cpu').data()) as Float32Array)));
}

test('DataParallel on cuda devices matches the module on the CPU (outputs and gradients)', { skip: reason }, async () => {
  const { x, y } = rows(0, 16);
  const ref = makeModel();
  const refOut = ref.forward(x);
  lossOf(refOut, y).backward();
  for (const ids of gpus >= 2 ? [[0], [0, 1]] : [[0]]) {
    const model = makeModel().to('cuda:0');
    const dp = new DataParallel(model, { deviceIds: ids });
    const out = dp.forward(x) as Tensor;
    assert.equal(out.device.toString(), 'cuda:0');
    assert.ok(maxAbsDiff(await values([out]), await values([refOut])) < 1e-5);
    lossOf(out, y.to('cuda:0')).backward();
    const d = maxAbsDiff(await values([...model.parameters()].map((p) => p.grad)), await values([...ref.parameters()].map((p) => p.grad)));
    assert.ok(d < 1e-5, `gradients differ by ${d} with deviceIds ${ids}`);
  }
});

test('DataLoader pins and prefetches batches onto cuda:0', { skip: reason }, async () => {
  const ds = Array.from({ length: 10 }, (_, i) => [Float32Array.from([i, -i]), i] as [Float32Array, number]);
  const loader = new DataLoader<[Float32Array, number], [Tensor, Tensor]>(ds, { batchSize: 4, device: 'cuda:0', pinMemory: true });
  const seen: number[] = [];
  for await (const [xb, yb] of loader) {
    assert.equal(xb.device.toString(), 'cuda:0');
    assert.equal(yb.device.toString(), 'cuda:0');
    seen.push(...Array.from(await yb.to('cpu').data(), Number));
  }
  assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test('DDP on NCCL at world size 1 equals a plain training step', { skip: reason }, async () => {
  const [r] = await runRanks('ddp-gpu.js', 1, [], { timeoutMs: 120_000 });
  assert.equal(r!.code, 0, explain(r!));
  const ref = await referenceRun('sgd', 1, 8, 3);
  const d = maxAbsDiff(r!.result as number[][], ref);
  assert.ok(d < 1e-5, `NCCL DDP differs by ${d}`);
});
