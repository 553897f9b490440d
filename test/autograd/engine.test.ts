import assert from 'node:assert/strict';
import { test } from 'node:test';
import { enableGrad, isGradEnabled, noGrad, ones, tensor, zeros } from '../../lib/index.js';
import { errCode } from '../tensor/helpers.js';

test('backward accumulates into leaves with +=, retainGrad and non-scalar gradients', () => {
  const x = tensor([1, 2, 3], { requiresGrad: true });
  assert.ok(x.isLeaf && x.requiresGrad && x.gradFn === null);
  const y = x.mul(x);
  assert.ok(!y.isLeaf);
  assert.equal(y.gradFn!.name, 'MulBackward0');
  y.retainGrad();
  const z = y.sum();
  z.backward();
  assert.deepEqual(x.grad!.arraySync(), [2, 4, 6]);
  assert.deepEqual(y.grad!.arraySync(), [1, 1, 1]);
  x.mul(3).sum().backward();
  assert.deepEqual(x.grad!.arraySync(), [5, 7, 9], 'accumulated');
  const w = tensor([[1, 2], [3, 4]], { requiresGrad: true });
  w.mul(2).backward(tensor([[1, 0], [0, 1]]));
  assert.deepEqual(w.grad!.arraySync(), [[2, 0], [0, 2]]);
  // a variable used twice (diamond) sums both paths
  const a = tensor([2], { requiresGrad: true });
  const b = a.mul(3);
  b.add(b.mul(b)).sum().backward();
  assert.deepEqual(a.grad!.arraySync(), [3 + 2 * 6 * 3]);
});

test('backward errors: no grad, non-scalar without gradient, freed graph, wrong gradient shape', () => {
  assert.throws(() => tensor([1]).backward(), errCode('ERR_AUTOGRAD', /does not require grad/));
  const x = tensor([1, 2], { requiresGrad: true });
  assert.throws(() => x.mul(2).backward(), errCode('ERR_AUTOGRAD', /scalar outputs/));
  assert.throws(() => x.mul(2).backward(tensor([1, 2, 3])), errCode('ERR_SHAPE_MISMATCH'));
  const y = x.exp().sum();
  y.backward();
  assert.throws(() => y.backward(), errCode('ERR_AUTOGRAD', /second time/));
  const z = x.exp().sum();
  z.backward(null, { retainGraph: true });
  z.backward();
  assert.ok(x.grad);
  assert.throws(() => tensor([1], { dtype: 'int32', requiresGrad: true }), errCode('ERR_AUTOGRAD', /floating point/));
});

test('the version counter catches in-place changes to tensors saved for backward', () => {
  const x = tensor([1, 2, 3], { requiresGrad: true });
  const h = x.mul(2);
  const y = h.exp(); // saves its output
  y.mul_(2); // modifies the saved output
  assert.throws(() => y.sum().backward(), errCode('ERR_AUTOGRAD', /modified by an inplace operation/));
  const a = x.mul(1);
  const b = a.sin(); // saves a
  a.add_(1);
  assert.throws(() => b.sum().backward(), errCode('ERR_AUTOGRAD', /inplace/));
  // in-place on a leaf that requires grad is refused; under noGrad it is allowed
  assert.throws(() => x.add_(1), errCode('ERR_AUTOGRAD', /leaf/));
  noGrad(() => x.add_(1));
  assert.deepEqual(x.arraySync(), [2, 3, 4]);
});

test('hooks: registerHook can replace the gradient; post-accumulate hooks fire after .grad is set', () => {
  const x = tensor([1, 2], { requiresGrad: true });
  const seen: number[][] = [];
  const h = x.mul(3);
  h.registerHook((g) => g.mul(10));
  const handle = x.registerHook((g) => { seen.push(g.arraySync() as number[]); });
  const order: string[] = [];
  x.registerPostAccumulateGradHook((p) => order.push(`post:${(p.grad!.arraySync() as number[]).join(',')}`));
  h.sum().backward();
  assert.deepEqual(seen, [[30, 30]]);
  assert.deepEqual(x.grad!.arraySync(), [30, 30]);
  assert.deepEqual(order, ['post:30,30']);
  handle.remove();
  x.mul(1).sum().backward();
  assert.equal(seen.length, 1, 'removed hook does not run');
  assert.deepEqual(order, ['post:30,30', 'post:31,31']);
  assert.throws(() => h.registerPostAccumulateGradHook(() => {}), errCode('ERR_AUTOGRAD', /leaf/));
  assert.throws(() => tensor([1]).registerHook(() => {}), errCode('ERR_AUTOGRAD'));
  // post-accumulate hooks of several parameters fire in reverse order of use (latest first)
  const ps = [0, 1, 2].map(() => ones([2], { requiresGrad: true }));
  const fired: number[] = [];
  ps.forEach((p, i) => p.registerPostAccumulateGradHook(() => fired.push(i)));
  let act = zeros([2]);
  for (const p of ps) act = act.add(p).tanh();
  act.sum().backward();
  assert.deepEqual(fired, [2, 1, 0]);
});

test('grad mode: noGrad, enableGrad, detach, requiresGrad_', () => {
  const x = tensor([1, 2], { requiresGrad: true });
  assert.ok(isGradEnabled());
  const y = noGrad(() => {
    assert.ok(!isGradEnabled());
    const inner = enableGrad(() => x.mul(2));
    assert.ok(inner.requiresGrad);
    return x.mul(2);
  });
  assert.ok(isGradEnabled());
  assert.ok(!y.requiresGrad && y.gradFn === null);
  const d = x.mul(2).detach();
  assert.ok(!d.requiresGrad && d.isLeaf);
  const leaf = tensor([1, 2]).requiresGrad_();
  assert.ok(leaf.requiresGrad);
  assert.throws(() => x.mul(2).requiresGrad_(false), errCode('ERR_AUTOGRAD'));
});

test('a deep graph (20,000 ops) backpropagates without recursion', () => {
  const x = tensor([1], { requiresGrad: true });
  let y = x;
  for (let i = 0; i < 20000; i++) y = y.add(1);
  y.sum().backward();
  assert.deepEqual(x.grad!.arraySync(), [1]);
});

test('gradients of mixed dtypes are cast back to each input dtype', () => {
  const a = tensor([1, 2], { dtype: 'float32', requiresGrad: true });
  const b = tensor([3, 4], { dtype: 'float64', requiresGrad: true });
  const y = a.mul(b);
  assert.equal(y.dtype, 'float64');
  y.sum().backward();
  assert.equal(a.grad!.dtype, 'float32');
  assert.deepEqual(a.grad!.arraySync(), [3, 4]);
  assert.equal(b.grad!.dtype, 'float64');
});
