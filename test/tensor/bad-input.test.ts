// Every bad-input case of the Tensor layer (issue 4): a typed error whose message says what was
// wrong, never a crash or a wrong answer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cat, cuda, matmul, noGrad, stack, tensor, tidy, where, zeros, Tensor, type DType } from '../../lib/index.js';
import { Storage } from '../../lib/tensor/storage.js';
import { toDevice } from '../../lib/tensor/device.js';
import { contiguousStrides } from '../../lib/tensor/shape.js';
import { errCode } from './helpers.js';
import { cudaDeviceCount } from '../../lib/tensor/cuda-bridge.js';

/** A tensor that claims to live on cuda:0 (host bytes underneath): device checks run before any memory access. */
function fakeCuda(shape: number[], dtype: DType = 'float32'): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return new Tensor(Storage.wrapHost(toDevice('cuda:0'), new ArrayBuffer(n * 4)), shape, contiguousStrides(shape), 0, dtype);
}

test('mismatched shapes: the message names the op and both shapes', () => {
  const a = zeros([2, 3]);
  const b = zeros([4]);
  const cases: [string, () => unknown, RegExp][] = [
    ['add', () => a.add(b), /add: shapes \[2, 3\] and \[4\] cannot be broadcast/],
    ['mul', () => a.mul(zeros([3, 3])), /mul: shapes \[2, 3\] and \[3, 3\]/],
    ['eq', () => a.eq(b), /eq: shapes \[2, 3\] and \[4\]/],
    ['where', () => where(zeros([2, 3]).gt(0), a, b), /where: shapes \[2, 3\] and \[4\]/],
    ['matmul', () => matmul(a, zeros([2, 3])), /matmul: shapes \[2, 3\] and \[2, 3\]/],
    ['cat', () => cat([a, zeros([2, 2])], 0), /cat: .*\[2, 3\].*\[2, 2\]/],
    ['stack', () => stack([a, b]), /stack: .*\[2, 3\].*\[4\]/],
    ['copy_', () => a.copy_(zeros([3, 3])), /copy_: .*\[2, 3\].*\[3, 3\]/],
    ['add_', () => zeros([3]).add_(zeros([2, 3])), /add_: .*\[3\]/],
    ['expand', () => a.expand(4, 3), /expand: .*4.*2/],
  ];
  for (const [name, f, re] of cases) assert.throws(f, errCode('ERR_SHAPE_MISMATCH', re), name);
});

test('reshape/view to an incompatible size', () => {
  const a = zeros([2, 3]);
  assert.throws(() => a.reshape(4, 2), errCode('ERR_SHAPE_MISMATCH', /reshape: shape \[4, 2\] is invalid for input of shape \[2, 3\] \(6 elements\)/));
  assert.throws(() => a.view(-1, 4), errCode('ERR_SHAPE_MISMATCH', /view/));
  assert.throws(() => a.t().view(6), errCode('ERR_SHAPE_MISMATCH', /use reshape/));
  assert.throws(() => a.reshape(-1, -1), errCode('ERR_INVALID_ARG', /one dimension/));
  assert.throws(() => a.reshape(2, -3), errCode('ERR_INVALID_ARG'));
});

test('dtypes with no defined promotion or cast', () => {
  assert.throws(() => tensor([true]).sub(tensor([false])), errCode('ERR_DTYPE', /sub.*bool/));
  assert.throws(() => tensor([1, 2], { dtype: 'int32' }).add_(0.5), errCode('ERR_DTYPE', /float32 can't be cast to the desired output type int32/));
  assert.throws(() => tensor([1], { dtype: 'int64' }).mul_(tensor([1.5])), errCode('ERR_DTYPE'));
  assert.throws(() => tensor([true]).add_(1), errCode('ERR_DTYPE', /int64 can't be cast.*bool/));
  assert.throws(() => where(tensor([1]), tensor([1]), tensor([2])), errCode('ERR_DTYPE', /bool/));
  assert.throws(() => matmul(tensor([[1]]), tensor([[1]], { dtype: 'float16' })), errCode('ERR_DTYPE', /float32 and float16/));
  assert.throws(() => tensor([1], { dtype: 'int8' as DType }), errCode('ERR_DTYPE', /unknown dtype "int8"/));
  assert.throws(() => zeros([1]).to('complex64' as DType), errCode('ERR_INVALID_ARG', /device/));
  assert.throws(() => zeros([1]).to({ dtype: 'complex64' as DType }), errCode('ERR_DTYPE'));
});

test('cpu mixed with cuda is ERR_DEVICE_MISMATCH (no silent transfer)', () => {
  const c = zeros([2]);
  const g = fakeCuda([2]);
  const cases: [string, () => unknown][] = [
    ['add', () => c.add(g)], ['mul', () => g.mul(c)], ['lt', () => c.lt(g)], ['matmul', () => matmul(zeros([2, 2]), fakeCuda([2, 2]))],
    ['cat', () => cat([c, g])], ['where', () => where(c.gt(0), c, g)], ['gather', () => zeros([2]).gather(0, fakeCuda([2], 'int64'))],
    ['indexSelect', () => zeros([2]).indexSelect(0, fakeCuda([1], 'int64'))],
  ];
  for (const [name, f] of cases) assert.throws(f, errCode('ERR_DEVICE_MISMATCH', /cpu.*cuda:0|cuda:0.*cpu/), name);
});

test('out-of-range dims and indices', () => {
  const a = zeros([2, 3]);
  assert.throws(() => a.sum(2), errCode('ERR_INDEX_OUT_OF_RANGE', /sum: dimension 2 is out of range/));
  assert.throws(() => a.softmax(-3), errCode('ERR_INDEX_OUT_OF_RANGE', /softmax/));
  assert.throws(() => a.select(0, 2), errCode('ERR_INDEX_OUT_OF_RANGE', /index 2 is out of bounds for dimension 0 with size 2/));
  assert.throws(() => a.narrow(1, 1, 5), errCode('ERR_INDEX_OUT_OF_RANGE'));
  assert.throws(() => a.indexSelect(1, tensor([3], { dtype: 'int64' })), errCode('ERR_INDEX_OUT_OF_RANGE', /index 3/));
  assert.throws(() => a.max(1.5), errCode('ERR_INDEX_OUT_OF_RANGE'));
  assert.throws(() => a.size(4), errCode('ERR_INDEX_OUT_OF_RANGE'));
  assert.throws(() => a.item(), errCode('ERR_INVALID_ARG', /6 elements/));
});

test('sizes that overflow', () => {
  assert.throws(() => zeros([2 ** 27, 2 ** 27]), errCode('ERR_INVALID_ARG', /overflow|2\^53/));
  assert.throws(() => zeros([2 ** 53, 2]), errCode('ERR_INVALID_ARG'));
  assert.throws(() => zeros([1]).expand(2 ** 40, 2 ** 40).contiguous(), errCode('ERR_INVALID_ARG', /overflow|2\^53/));
  assert.throws(() => zeros([1]).reshape(Number.MAX_SAFE_INTEGER + 1), errCode('ERR_INVALID_ARG'));
  assert.throws(() => zeros(-1), errCode('ERR_INVALID_ARG'));
});

test('use after dispose is ERR_DISPOSED for every kind of use', () => {
  const a = zeros([2]);
  a.dispose();
  a.dispose(); // idempotent
  const uses: [string, () => unknown][] = [
    ['add', () => a.add(1)], ['sum', () => a.sum()], ['view', () => a.view(2)], ['data', () => a.dataSync()],
    ['item', () => a.item()], ['fill_', () => noGrad(() => a.fill_(1))], ['to', () => a.to('float64')], ['span', () => a.span()],
    ['other operand', () => zeros([2]).add(a)], ['matmul', () => matmul(a, a)], ['cat', () => cat([a])],
  ];
  for (const [name, f] of uses) assert.throws(f, errCode('ERR_DISPOSED', /disposed/), name);
  const kept = tidy(() => zeros([1]).add(1));
  assert.equal(kept.item(), 1);
});

test('wrong argument types get ERR_INVALID_ARG', () => {
  const a = zeros([2]);
  assert.throws(() => a.add('1' as unknown as number), errCode('ERR_INVALID_ARG', /add: operand/));
  assert.throws(() => a.add(null as unknown as number), errCode('ERR_INVALID_ARG'));
  assert.throws(() => a.gelu({ approximate: 'fast' as 'tanh' }), errCode('ERR_INVALID_ARG', /approximate/));
  assert.throws(() => a.split(0), errCode('ERR_INVALID_ARG'));
  assert.throws(() => a.chunk(0), errCode('ERR_INVALID_ARG'));
  assert.throws(() => a.var(0, { correction: -1 }), errCode('ERR_INVALID_ARG'));
  assert.throws(() => tidy(42 as unknown as () => void), errCode('ERR_INVALID_ARG'));
  assert.throws(() => zeros([2]).expand(2, 2).add_(1), errCode('ERR_INVALID_ARG', /single memory location/));
});

test('CUDA tensors where no GPU is usable get a typed error naming the op and device', { skip: cudaDeviceCount() > 0 ? 'a GPU is present' : false }, () => {
  const noGpu = (e: unknown): boolean => ['ERR_NO_GPU', 'ERR_NO_DRIVER', 'ERR_NO_CUDA_BUILD'].includes((e as { code?: string }).code ?? '');
  assert.throws(() => zeros([2], { device: 'cuda' }), noGpu);
  assert.throws(() => tensor([1, 2]).to('cuda:0'), noGpu);
  assert.throws(() => zeros([2]).cuda(3), (e: unknown) => noGpu(e) && /cuda:3/.test((e as Error).message));
  // the same code lib/cuda gives for the same machine (ERR_NO_DRIVER here, not a generic ERR_NO_GPU)
  let expected = '';
  try {
    new cuda.DeviceBuffer(8);
  } catch (e) {
    expected = (e as { code: string }).code;
  }
  assert.ok(noGpu({ code: expected }), expected);
  assert.throws(() => zeros([2], { device: 'cuda:0' }), errCode(expected as never, /no CUDA device is usable \(/));
  assert.throws(() => tensor([1, 2]).to('cuda'), errCode(expected as never));
});

test("torch's dtype aliases: 'float', 'double', 'half', 'long', 'int' wherever a dtype is taken", () => {
  assert.equal(zeros([2]).to('float').dtype, 'float32');
  assert.equal(zeros([2]).to('double').dtype, 'float64');
  assert.equal(zeros([2]).to('half').dtype, 'float16');
  assert.equal(zeros([2]).to({ dtype: 'long' }).dtype, 'int64');
  assert.equal(zeros([2], { dtype: 'int' }).dtype, 'int32');
  assert.equal(tensor([1.5], { dtype: 'double' }).dtype, 'float64');
  assert.equal(tensor(new Float32Array([1, 2]), { dtype: 'half' }).dtype, 'float16');
  assert.throws(() => zeros([2], { dtype: 'floaty' as never }), errCode('ERR_DTYPE', /unknown dtype "floaty".*aliases float, double, half, long, int/));
  assert.throws(() => zeros([2]).to('floaty'), errCode('ERR_INVALID_ARG', /invalid device "floaty"/));
});

test('shapes: NaN, undefined and null are named as such; zeros(null) is refused, not a 0-d tensor', () => {
  assert.throws(() => zeros([NaN]), errCode('ERR_INVALID_ARG', /shape \[NaN\] has an invalid size NaN/));
  assert.throws(() => zeros([2, undefined as never]), errCode('ERR_INVALID_ARG', /shape \[2,undefined\] has an invalid size undefined/));
  assert.throws(() => zeros(null as never), errCode('ERR_INVALID_ARG', /shape \[null\] has an invalid size null/));
  assert.throws(() => zeros([Infinity]), errCode('ERR_INVALID_ARG', /\[Infinity\]/));
  assert.equal(zeros([2], null as never).shape.length, 1, 'null after a shape still means no options');
});
