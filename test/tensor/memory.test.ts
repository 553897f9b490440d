import assert from 'node:assert/strict';
import { test } from 'node:test';
import { keep, manualSeed, memory, noGrad, optim, randn, tensor, tidy, zeros, type Tensor } from '../../lib/index.js';
import { errCode } from './helpers.js';

test('tidy disposes intermediates and keeps returned and kept tensors', () => {
  const before = memory();
  let kept: Tensor | null = null;
  const out = tidy(() => {
    const a = tensor([1, 2, 3]);
    const b = a.mul(2).add(1);
    kept = keep(a.exp());
    return { b, list: [b.neg()] };
  });
  assert.deepEqual(out.b.arraySync(), [3, 5, 7]);
  assert.deepEqual(out.list[0]!.arraySync(), [-3, -5, -7]);
  assert.ok(!kept!.isDisposed);
  assert.equal(memory().numTensors, before.numTensors + 3);
  out.b.dispose();
  out.list[0]!.dispose();
  kept!.dispose();
  assert.equal(memory().numTensors, before.numTensors);
  assert.equal(memory().bytes['cpu'] ?? 0, before.bytes['cpu'] ?? 0);
  assert.throws(() => tidy((async () => 1) as unknown as () => number), errCode('ERR_INVALID_ARG', /async/));
});

test('dispose and `using` free at once; views keep storage alive; use after dispose is ERR_DISPOSED', () => {
  const before = memory();
  const t = zeros([256]);
  const v = t.view(16, 16);
  t.dispose();
  assert.throws(() => t.add(1), errCode('ERR_DISPOSED', /disposed/));
  assert.equal(tidy(() => v.sum().item()), 0, 'the view still works');
  assert.equal(memory().numStorages, before.numStorages + 1);
  v.dispose();
  assert.equal(memory().numStorages, before.numStorages);
  assert.equal(memory().bytes['cpu'] ?? 0, before.bytes['cpu'] ?? 0);
  {
    using u = zeros([8]);
    assert.equal(u.numel(), 8);
  }
  assert.equal(memory().numTensors, before.numTensors);
  const s = zeros([4]);
  const sv = s.slice(0, 1);
  s._storage.dispose();
  assert.throws(() => sv.dataSync(), errCode('ERR_DISPOSED'));
  sv.dispose();
  s.dispose();
});

test('10,000 training-shaped iterations inside tidy hold live tensors and bytes flat', () => {
  manualSeed(0);
  // a small linear classifier: forward, loss, backward, SGD step, zero grad — every kind of op a
  // training step makes (matmul, broadcast add, log-softmax, gather, reductions, in-place updates)
  const w = randn([8, 4], { requiresGrad: true });
  const b = zeros([4], { requiresGrad: true });
  const x = randn([4, 8]);
  const y = tensor([[0], [1], [2], [3]], { dtype: 'int64' });
  const step = (): number => tidy(() => {
    const loss = x.matmul(w).add(b).logSoftmax(1).gather(1, y).mean().neg();
    loss.backward();
    noGrad(() => {
      for (const p of [w, b]) {
        p.sub_(p.grad!.mul(0.05));
        p.grad!.zero_();
      }
    });
    return loss.item() as number;
  });
  const first = step();
  const base = memory();
  let last = first;
  for (let i = 0; i < 10000; i++) last = step();
  const after = memory();
  assert.equal(after.numTensors, base.numTensors, 'live tensors');
  assert.equal(after.numStorages, base.numStorages, 'live storages');
  assert.deepEqual(after.bytes, base.bytes, 'bytes per device');
  assert.ok(last < first, `the loss went down (${first} -> ${last})`);
});

test('a forward built in tidy and backpropagated outside it leaves only the leaves and their grads', () => {
  const before = memory();
  const x = randn([3, 5], { requiresGrad: true });
  const loss = tidy(() => x.exp().sin().mul(2).softmax(1).logsumexp(0).std().add(x.norm()));
  assert.ok(memory().numTensors > before.numTensors + 2, 'the graph holds saved tensors');
  loss.backward();
  loss.dispose();
  assert.equal(memory().numTensors, before.numTensors + 2, 'x and x.grad');
  // a graph that is never backpropagated is freed when its output is disposed
  const loss2 = tidy(() => x.exp().mul(x).sum());
  loss2.dispose();
  assert.equal(memory().numTensors, before.numTensors + 2);
  x.grad!.dispose();
  x.dispose();
  assert.equal(memory().numTensors, before.numTensors);
  assert.equal(memory().bytes['cpu'] ?? 0, before.bytes['cpu'] ?? 0);
});

test('an optimizer step inside tidy keeps its state (momentum, Adam moments) alive', () => {
  const run = (inTidy: boolean): number[] => {
    manualSeed(5);
    const p = randn([4], { requiresGrad: true });
    const q = randn([4], { requiresGrad: true });
    const sgd = new optim.SGD([p], { lr: 0.1, momentum: 0.9 });
    const adam = new optim.Adam([q], { lr: 0.1 });
    const step = (): void => {
      p.mul(p).sum().add(q.mul(q).sum()).backward();
      sgd.step();
      adam.step();
      sgd.zeroGrad();
      adam.zeroGrad();
    };
    for (let i = 0; i < 3; i++) {
      if (inTidy) tidy(step);
      else step();
    }
    return [...(p.dataSync() as Float32Array), ...(q.dataSync() as Float32Array)];
  };
  assert.deepEqual(run(true), run(false));
});
