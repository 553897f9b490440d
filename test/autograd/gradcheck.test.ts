import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  cat, embedding, gather, indexSelect, layerNorm, logSoftmax, matmul, scatterAdd, softmax, split, stack, chunk, tensor, where, type Tensor,
} from '../../lib/index.js';
import { gradcheck } from './gradcheck.js';

const S = (shape: number[], lo = -1, hi = 1) => ({ shape, lo, hi });

test('gradcheck: unary ops', () => {
  const cases: [string, (x: Tensor) => Tensor, number, number][] = [
    ['neg', (x) => x.neg(), -1, 1], ['abs', (x) => x.abs(), 0.1, 1], ['exp', (x) => x.exp(), -1, 1],
    ['log', (x) => x.log(), 0.2, 2], ['sqrt', (x) => x.sqrt(), 0.2, 2], ['rsqrt', (x) => x.rsqrt(), 0.2, 2],
    ['sin', (x) => x.sin(), -2, 2], ['cos', (x) => x.cos(), -2, 2], ['tanh', (x) => x.tanh(), -2, 2],
    ['sigmoid', (x) => x.sigmoid(), -3, 3], ['relu', (x) => x.relu(), 0.05, 1], ['relu-', (x) => x.relu(), -1, -0.05],
    ['gelu', (x) => x.gelu(), -3, 3], ['gelu tanh', (x) => x.gelu({ approximate: 'tanh' }), -3, 3],
    ['silu', (x) => x.silu(), -3, 3], ['square', (x) => x.square(), -2, 2], ['reciprocal', (x) => x.reciprocal(), 0.3, 2],
    ['log1p', (x) => x.log1p(), -0.5, 2], ['expm1', (x) => x.expm1(), -1, 1], ['erf', (x) => x.erf(), -2, 2],
    ['sign', (x) => x.sign().add(x), 0.1, 1],
    ['clamp', (x) => x.clamp(-0.5, 0.5), -1, 1], ['clamp min', (x) => x.clamp(0.1), -1, 1],
    ['pow scalar', (x) => x.pow(3), -1, 1], ['pow frac', (x) => x.pow(1.5), 0.2, 2], ['rpow', (x) => tensor(2, { dtype: 'float64' }).pow(x), -1, 1],
    ['add scalar', (x) => x.add(2), -1, 1], ['sub scalar', (x) => x.sub(2), -1, 1], ['rsub', (x) => x.rsub(2), -1, 1],
    ['mul scalar', (x) => x.mul(3), -1, 1], ['div scalar', (x) => x.div(3), -1, 1], ['rdiv', (x) => tensor(2, { dtype: 'float64' }).div(x), 0.3, 2],
    ['maximum scalar', (x) => x.maximum(0.1), -1, 1], ['minimum scalar', (x) => x.minimum(0.1), -1, 1],
  ];
  for (const [name, f, lo, hi] of cases) gradcheck(name, ([x]) => f(x!), [S([2, 3], lo, hi)]);
});

test('gradcheck: binary ops with broadcasting', () => {
  const cases: [string, (a: Tensor, b: Tensor) => Tensor, number, number][] = [
    ['add', (a, b) => a.add(b), -1, 1], ['add alpha', (a, b) => a.add(b, { alpha: -2 }), -1, 1], ['sub', (a, b) => a.sub(b), -1, 1],
    ['mul', (a, b) => a.mul(b), -1, 1], ['div', (a, b) => a.div(b), 0.5, 2], ['pow', (a, b) => a.pow(b), 0.5, 2],
    ['maximum', (a, b) => a.maximum(b), -1, 1], ['minimum', (a, b) => a.minimum(b), -1, 1], ['atan2', (a, b) => a.atan2(b), 0.2, 1],
  ];
  for (const [name, f, lo, hi] of cases) {
    gradcheck(name, ([a, b]) => f(a!, b!), [S([2, 3], lo, hi), S([3], lo, hi)]);
    gradcheck(`${name} (col)`, ([a, b]) => f(a!, b!), [S([2, 1], lo, hi), S([1, 3], lo, hi)]);
  }
  gradcheck('where', ([a, b]) => where(tensor([[true, false, true], [false, true, false]]), a!, b!), [S([2, 3]), S([3])]);
  gradcheck('where scalar', ([a]) => where(tensor([true, false, true]), a!, 0), [S([3])]);
});

test('gradcheck: reductions', () => {
  const x = [S([3, 4], 0.5, 1.5)];
  gradcheck('sum all', ([a]) => a!.sum(), x);
  gradcheck('sum dim', ([a]) => a!.sum(1), x);
  gradcheck('sum dims keepdim', ([a]) => a!.sum([0, 1], { keepdim: true }), x);
  gradcheck('mean', ([a]) => a!.mean(0), x);
  gradcheck('prod', ([a]) => a!.prod(1), x);
  gradcheck('prod all', ([a]) => a!.prod(), [S([5], 0.5, 1.5)]);
  gradcheck('prod with a zero', ([a]) => a!.prod(1), [{ shape: [2, 3], values: [1, 0, 2, 3, 0, 0] }]);
  gradcheck('max dim', ([a]) => a!.max(1).values, x);
  gradcheck('min dim keepdim', ([a]) => a!.min(0, { keepdim: true }).values, x);
  gradcheck('max all', ([a]) => a!.max(), x);
  gradcheck('amax dims', ([a]) => a!.amax([0, 1]), x);
  gradcheck('var', ([a]) => a!.var(1), x);
  gradcheck('var c0', ([a]) => a!.var(0, { correction: 0 }), x);
  gradcheck('std', ([a]) => a!.std(), x);
  gradcheck('logsumexp', ([a]) => a!.logsumexp(1), x);
  gradcheck('norm', ([a]) => a!.norm(), x);
  gradcheck('norm 3', ([a]) => a!.norm(3, 1), x);
  gradcheck('sum of transposed', ([a]) => a!.t().sum(1), x);
});

test('gradcheck: softmax, logSoftmax, layerNorm', () => {
  gradcheck('softmax last', ([a]) => softmax(a!, -1), [S([3, 4], -2, 2)]);
  gradcheck('softmax dim0', ([a]) => softmax(a!, 0), [S([3, 4], -2, 2)]);
  gradcheck('logSoftmax', ([a]) => logSoftmax(a!, 1), [S([2, 3, 4], -2, 2)]);
  gradcheck('layerNorm', ([a, w, b]) => layerNorm(a!, [4], w!, b!), [S([3, 4], -2, 2), S([4], 0.5, 1.5), S([4])]);
  gradcheck('layerNorm 2d no affine', ([a]) => layerNorm(a!, [2, 3]), [S([2, 2, 3], -2, 2)]);
  // float64 end to end: the saved mean and rstd are float64 too (as torch's accumulate type), so
  // the backward matches central differences far below float32's precision.
  const tight = { atol: 1e-9, rtol: 1e-7 };
  gradcheck('layerNorm float64-tight', ([a, w, b]) => layerNorm(a!, [4], w!, b!), [S([3, 4], -2, 2), S([4], 0.5, 1.5), S([4])], tight);
  gradcheck('layerNorm 2d no affine float64-tight', ([a]) => layerNorm(a!, [2, 3]), [S([2, 2, 3], -2, 2)], tight);
});

test('gradcheck: matmul in all its shapes, with transposed views', () => {
  gradcheck('mm', ([a, b]) => matmul(a!, b!), [S([2, 3]), S([3, 4])]);
  gradcheck('mm transposed', ([a, b]) => matmul(a!.t(), b!.t()), [S([3, 2]), S([4, 3])]);
  gradcheck('dot', ([a, b]) => matmul(a!, b!), [S([3]), S([3])]);
  gradcheck('vec-mat', ([a, b]) => matmul(a!, b!), [S([3]), S([3, 2])]);
  gradcheck('mat-vec', ([a, b]) => matmul(a!, b!), [S([2, 3]), S([3])]);
  gradcheck('batched broadcast', ([a, b]) => matmul(a!, b!), [S([2, 1, 2, 3]), S([3, 3, 2])]);
  gradcheck('bmm', ([a, b]) => a!.bmm(b!), [S([2, 2, 3]), S([2, 3, 2])]);
});

test('gradcheck: views and shape ops', () => {
  const x = [S([2, 3, 4])];
  gradcheck('reshape', ([a]) => a!.reshape(4, 6).mul(a!.reshape(4, 6)), x);
  gradcheck('view', ([a]) => a!.view(6, 4), x);
  gradcheck('transpose', ([a]) => a!.transpose(0, 2).mul(2), x);
  gradcheck('permute', ([a]) => a!.permute(2, 0, 1).contiguous(), x);
  gradcheck('flatten', ([a]) => a!.flatten(1), x);
  gradcheck('squeeze/unsqueeze', ([a]) => a!.unsqueeze(1).squeeze(1), x);
  gradcheck('expand', ([a]) => a!.expand(3, 2, 2), [S([2, 1])]);
  gradcheck('narrow', ([a]) => a!.narrow(2, 1, 2), x);
  gradcheck('slice step', ([a]) => a!.slice(2, 0, null, 2), x);
  gradcheck('select', ([a]) => a!.select(1, 2), x);
  gradcheck('reshape of transposed (copy)', ([a]) => a!.transpose(0, 1).reshape(-1), x);
  gradcheck('clone', ([a]) => a!.clone(), x);
  gradcheck('to float32 and back', ([a]) => a!.to('float32').to('float64'), x, { eps: 1e-2, atol: 1e-4 });
  gradcheck('cat', ([a, b]) => cat([a!, b!], 1), [S([2, 3]), S([2, 2])]);
  gradcheck('stack', ([a, b]) => stack([a!, b!], 0), [S([2, 3]), S([2, 3])]);
  gradcheck('split', ([a]) => { const [p, q] = split(a!, [1, 2], 1); return p!.mul(q!.sum(1, { keepdim: true })); }, [S([2, 3])]);
  gradcheck('chunk', ([a]) => chunk(a!, 2, 0)[1]!, [S([4, 2])]);
  gradcheck('unbind', ([a]) => a!.unbind(0)[1]!.mul(a!.unbind(0)[0]!), [S([2, 3])]);
});

test('gradcheck: gather, scatterAdd, indexSelect, embedding', () => {
  const idx = tensor([[0, 2], [1, 1]], { dtype: 'int64' });
  gradcheck('gather', ([a]) => gather(a!, 1, idx), [S([2, 3])]);
  gradcheck('scatterAdd', ([a, s]) => scatterAdd(a!, 1, idx, s!), [S([2, 3]), S([2, 2])]);
  gradcheck('indexSelect', ([a]) => indexSelect(a!, 0, tensor([2, 0, 2], { dtype: 'int64' })), [S([3, 2])]);
  gradcheck('indexSelect dim1', ([a]) => indexSelect(a!, 1, tensor([1, 1], { dtype: 'int64' })), [S([3, 2])]);
  gradcheck('embedding', ([w]) => embedding(tensor([[0, 3], [3, 1]], { dtype: 'int64' }), w!), [S([4, 2])]);
});

test('embedding with paddingIdx: the padding row gets no gradient, the others the usual one', () => {
  const w = tensor([[1, 2], [3, 4], [5, 6], [7, 8]], { requiresGrad: true });
  const out = embedding(tensor([[0, 3], [3, 1]], { dtype: 'int64' }), w, { paddingIdx: 3 });
  assert.deepEqual(out.arraySync(), [[[1, 2], [7, 8]], [[7, 8], [3, 4]]]);
  out.sum().backward();
  assert.deepEqual(w.grad!.arraySync(), [[1, 1], [1, 1], [0, 0], [0, 0]]);
});

test('gradcheck: in-place ops on non-leaf tensors are differentiated', () => {
  gradcheck('add_', ([a, b]) => a!.mul(1).add_(b!), [S([2, 3]), S([3])]);
  gradcheck('mul_', ([a, b]) => a!.mul(2).mul_(b!), [S([2, 3]), S([2, 3])]);
  gradcheck('relu_ after exp', ([a]) => a!.sub(0.5).relu_(), [S([2, 3], 0, 1.5)]);
  gradcheck('copy_', ([a, b]) => a!.mul(1).copy_(b!), [S([2, 3]), S([3])]);
});

test('gradcheck: remaining ops (amin, t, mT, mm, maskedFill, in-place composites, logicalNot-free masks)', () => {
  gradcheck('amin', ([a]) => a!.amin(1), [S([3, 4], 0.5, 1.5)]);
  gradcheck('min all', ([a]) => a!.min(), [S([3, 4], 0.5, 1.5)]);
  gradcheck('t', ([a]) => a!.t().mul(a!.t()), [S([2, 3])]);
  gradcheck('mT', ([a]) => a!.mT.contiguous(), [S([2, 2, 3])]);
  gradcheck('T', ([a]) => a!.T.contiguous(), [S([2, 3, 4])]);
  gradcheck('mm', ([a, b]) => a!.mm(b!), [S([2, 3]), S([3, 2])]);
  gradcheck('maskedFill', ([a]) => a!.maskedFill(tensor([true, false, true]), 0.5), [S([2, 3])]);
  gradcheck('sub_ alpha', ([a, b]) => a!.mul(1).sub_(b!, { alpha: 3 }), [S([2, 3]), S([2, 3])]);
  gradcheck('div_', ([a, b]) => a!.mul(1).div_(b!), [S([2, 3]), S([2, 3], 0.5, 2)]);
  gradcheck('pow_', ([a]) => a!.mul(1).pow_(2), [S([2, 3])]);
  gradcheck('clamp_', ([a]) => a!.mul(1).clamp_(-0.3, 0.3), [S([2, 3])]);
  gradcheck('exp_/tanh_/sigmoid_/sqrt_/neg_', ([a]) => a!.mul(1).exp_().tanh_().sigmoid_().sqrt_().neg_(), [S([2, 3])]);
  gradcheck('addcmul_', ([a, b, c]) => a!.mul(1).addcmul_(b!, c!, { value: 0.5 }), [S([2, 3]), S([2, 3]), S([3])]);
  gradcheck('addcdiv_', ([a, b, c]) => a!.mul(1).addcdiv_(b!, c!, { value: 2 }), [S([2, 3]), S([2, 3]), S([3], 0.5, 2)]);
  gradcheck('lerp_', ([a, b]) => a!.mul(1).lerp_(b!, 0.25), [S([2, 3]), S([2, 3])]);
  gradcheck('maskedFill_', ([a]) => a!.mul(1).maskedFill_(tensor([false, true, true]), 1), [S([2, 3])]);
  gradcheck('fill_ cuts the gradient', ([a]) => a!.mul(1).fill_(2).add(a!), [S([2, 3])]);
  gradcheck('zero_', ([a]) => a!.mul(2).zero_().add(a!.mul(3)), [S([2, 3])]);
  gradcheck('sum with dtype', ([a]) => a!.sum(1, { dtype: 'float64' }), [S([2, 3])]);
  gradcheck('mean of a sliced view', ([a]) => a!.slice(1, 1).mean(0), [S([3, 4])]);
  gradcheck('reshape of expand', ([a]) => a!.expand(2, 3).reshape(6).mul(tensor([1, 2, 3, 4, 5, 6], { dtype: 'float64' })), [S([3])]);
});
