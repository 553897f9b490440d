/**
 * clipGradNorm against torch.nn.utils.clip_grad_norm_ (test/fixtures/torch/clip_grad.json from
 * PyTorch 1.13, made by scripts/torch_fixtures/clip_grad.py): the norm and the clipped gradients in
 * the gradients' dtype — float64 gradients to float64 precision, float32 ones to float32's.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { optim, tensor, zeros, type Tensor } from '../../lib/index.js';
import { fromFixture, fixtureValues, torchFixture, type EncodedTensor } from '../helpers/torch-fixtures.js';

interface Case { dtype: 'float64' | 'float32'; normType: number | 'inf'; maxNorm: number; grads: EncodedTensor[]; total: number; clipped: EncodedTensor[] }
const { cases } = torchFixture<{ cases: Case[] }>('clip_grad');

function params(c: Case): Tensor[] {
  return c.grads.map((g) => {
    const p = zeros([...g.shape], { dtype: c.dtype, requiresGrad: true });
    p.grad = fromFixture(g);
    return p;
  });
}

for (const dtype of ['float64', 'float32'] as const) {
  test(`clipGradNorm on ${dtype} gradients matches torch (norm types 2, 1, 3, inf; clipping and not)`, () => {
    const rel = dtype === 'float64' ? 1e-14 : 2e-7;
    const mine = cases.filter((c) => c.dtype === dtype);
    assert.equal(mine.length, 8);
    for (const c of mine) {
      const ps = params(c);
      const normType = c.normType === 'inf' ? Infinity : c.normType;
      const total = optim.clipGradNorm(ps, c.maxNorm, { normType });
      const what = `${dtype} normType=${c.normType} maxNorm=${c.maxNorm}`;
      assert.ok(Math.abs(total - c.total) <= rel * c.total, `${what}: total ${total} vs torch ${c.total}`);
      ps.forEach((p, i) => {
        const got = Array.from(p.grad!.dataSync() as Float64Array | Float32Array);
        const want = fixtureValues(c.clipped[i]!);
        got.forEach((v, j) => assert.ok(Math.abs(v - want[j]!) <= rel * Math.abs(want[j]!) + 1e-300, `${what}: grad ${i}[${j}] ${v} vs torch ${want[j]}`));
      });
    }
  });
}

test('a float64 norm keeps float64 precision where float32 accumulation would lose it', () => {
  const p = zeros([3], { dtype: 'float64', requiresGrad: true });
  p.grad = tensor([1, 1e-5, 1e-5], { dtype: 'float64' });
  const total = optim.clipGradNorm([p], 10);
  assert.equal(total, Math.sqrt(1 + 2e-10));
});
