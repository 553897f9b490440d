/**
 * DataParallel's logic (replicate → scatter → forward → gather, gradients reduced onto the first
 * device) checked against the plain module, with several replicas on the devices that exist here
 * (the CPU). On a GPU machine test/gpu/ runs it on cuda devices.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nn, type Tensor } from '../../lib/index.js';
import { DataParallel, replicate } from '../../lib/parallel/index.js';
import { lossOf, makeModel, maxAbsDiff, rows } from './workers/common.js';

async function gradsOf(m: nn.Module): Promise<number[][]> {
  return Promise.all([...m.parameters()].map(async (p) => Array.from((await p.grad!.data()) as Float32Array)));
}

for (const replicas of [1, 2, 3]) {
  test(`DataParallel with ${replicas} cpu replica(s) matches the module on the whole batch`, async () => {
    const { x, y } = rows(0, 10); // 10 rows: chunks of 4, 4, 2 for 3 replicas (torch.chunk sizes)
    const ref = makeModel();
    const refOut = ref.forward(x);
    lossOf(refOut, y).backward();

    const model = makeModel();
    const dp = new DataParallel(model, { deviceIds: Array.from({ length: replicas }, () => 'cpu') });
    const out = dp.forward(x) as Tensor;
    assert.deepEqual(out.shape, [10, 3]);
    assert.ok(maxAbsDiff([Array.from((await out.data()) as Float32Array)], [Array.from((await refOut.data()) as Float32Array)]) < 1e-6);
    lossOf(out, y).backward();
    // Every replica's gradient was summed into the original parameters.
    const d = maxAbsDiff(await gradsOf(model), await gradsOf(ref));
    assert.ok(d < 1e-6, `gradients differ by ${d}`);
  });
}

test('replicate makes differentiable copies whose gradients flow back to the originals', async () => {
  const model = makeModel();
  const rep = replicate(model, 'cpu');
  const orig = [...model.parameters()];
  const copies = [...(rep as nn.Module).parameters()];
  assert.equal(copies.length, orig.length);
  copies.forEach((c, i) => assert.notEqual(c, orig[i]));
  const { x, y } = rows(0, 4);
  lossOf((rep as nn.Sequential).forward(x), y).backward();
  assert.ok(orig.every((p) => p.grad !== null));
});

test('DataParallel errors: parameters off deviceIds[0], empty deviceIds, no tensor input', () => {
  assert.throws(() => new DataParallel(makeModel(), { deviceIds: ['cuda:0'] }), /deviceIds\[0\] \(cuda:0\)/);
  assert.throws(() => new DataParallel(makeModel(), { deviceIds: [] }), /at least one device/);
  const dp = new DataParallel(makeModel(), { deviceIds: ['cpu', 'cpu'] });
  assert.throws(() => (dp.forward as (...a: unknown[]) => unknown)(3), /at least one Tensor/);
  assert.throws(() => new DataParallel({} as never), /expected an nn.Module/);
});
