import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { arange, tensor, zeros } from '../../lib/index.js';

test('toString and util.inspect print like PyTorch', () => {
  assert.equal(tensor([1, 2, 3]).toString(), 'tensor([1., 2., 3.])');
  assert.equal(tensor([1.5, 2.25]).toString(), 'tensor([1.5000, 2.2500])');
  assert.equal(tensor([[1, 2], [3, 4]], { dtype: 'float64' }).toString(), 'tensor([[1., 2.],\n        [3., 4.]], dtype=torch.float64)');
  assert.equal(tensor([1n, 20n]).toString(), 'tensor([ 1, 20])');
  assert.equal(tensor([1, 2], { dtype: 'int32' }).toString(), 'tensor([1, 2], dtype=torch.int32)');
  assert.equal(tensor([true, false]).toString(), 'tensor([ True, False])');
  assert.equal(tensor(3.5).toString(), 'tensor(3.5000)');
  assert.equal(tensor([1e-5, 1]).toString(), 'tensor([1.0000e-05, 1.0000e+00])');
  assert.equal(tensor([NaN, Infinity, 1.5]).toString(), 'tensor([   nan,    inf, 1.5000])');
  assert.equal(tensor([]).toString(), 'tensor([])');
  assert.equal(zeros([0, 3]).toString(), 'tensor([], size=(0, 3))');
  assert.equal(tensor([1, 2], { requiresGrad: true }).toString(), 'tensor([1., 2.], requires_grad=True)');
  assert.equal(tensor([1, 2], { requiresGrad: true }).mul(2).toString(), 'tensor([2., 4.], grad_fn=<MulBackward0>)');
  assert.equal(inspect(tensor([1, 2])), 'tensor([1., 2.])');
  assert.equal(tensor([[[1, 2]], [[3, 4]]]).toString(), 'tensor([[[1., 2.]],\n\n        [[3., 4.]]])');
});

test('big tensors are summarized with ...', () => {
  assert.equal(arange(2000).toString(), 'tensor([   0,    1,    2,  ..., 1997, 1998, 1999])');
  const s = arange(10000).reshape(100, 100).toString();
  assert.equal(s.split('\n').length, 7);
  assert.match(s, /^tensor\(\[\[   0,    1,    2,  \.\.\.,   97,   98,   99\],\n        \[ 100,  101,  102,  \.\.\.,  197,  198,  199\],/);
  assert.match(s, /\n        \.\.\.,\n/);
  const d = tensor([1, 2]);
  d.dispose();
  assert.match(inspect(d), /disposed/);
});
