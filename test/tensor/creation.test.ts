import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  arange, empty, eye, full, linspace, manualSeed, ones, rand, randint, randn, tensor, zeros, Device, toDevice, DTYPES, type DType,
} from '../../lib/index.js';
import { assertClose, errCode } from './helpers.js';

test('tensor() infers dtype and shape from nested arrays, numbers, bigints and booleans', () => {
  const a = tensor([[1, 2, 3], [4, 5, 6]]);
  assert.equal(a.dtype, 'float32');
  assert.deepEqual(a.shape, [2, 3]);
  assert.deepEqual(a.strides, [3, 1]);
  assert.equal(a.numel(), 6);
  assert.equal(a.ndim, 2);
  assert.deepEqual(a.arraySync(), [[1, 2, 3], [4, 5, 6]]);
  assert.equal(tensor([1n, 2n]).dtype, 'int64');
  assert.equal(tensor([true, false]).dtype, 'bool');
  const s = tensor(3.5);
  assert.deepEqual(s.shape, []);
  assert.equal(s.item(), 3.5);
  assert.deepEqual(tensor([]).shape, [0]);
  assert.deepEqual(tensor([[], []]).shape, [2, 0]);
  assert.throws(() => tensor([[1, 2], [3]]), errCode('ERR_SHAPE_MISMATCH', /ragged/));
  assert.throws(() => tensor([1, 'x' as unknown as number]), errCode('ERR_INVALID_ARG'));
  assert.throws(() => tensor([1], { dtype: 'float8' as DType }), errCode('ERR_DTYPE'));
});

test('tensor() from TypedArrays shares memory on the CPU when the dtype matches (copy: true copies)', () => {
  const f = new Float32Array([1, 2, 3, 4]);
  const t = tensor(f, { shape: [2, 2] });
  assert.equal(t.dtype, 'float32');
  f[0] = 42;
  assert.equal(t.arraySync() instanceof Array ? (t.arraySync() as number[][])[0]![0] : NaN, 42, 'zero-copy');
  const c = tensor(f, { copy: true });
  f[1] = -1;
  assert.equal((c.arraySync() as number[])[1], 2);
  const i16 = tensor(new Int16Array([1, -2]));
  assert.equal(i16.dtype, 'int32');
  assert.deepEqual(i16.arraySync(), [1, -2]);
  const conv = tensor(new Float64Array([1.5, 2.5]), { dtype: 'float16' });
  assert.deepEqual(conv.arraySync(), [1.5, 2.5]);
  assert.equal(tensor(new BigInt64Array([5n])).dtype, 'int64');
  assert.throws(() => tensor(new Float32Array(3), { shape: [2, 2] }), errCode('ERR_SHAPE_MISMATCH'));
  // a view into a bigger buffer
  const big = new Float32Array([9, 9, 1, 2, 9]);
  assert.deepEqual(tensor(big.subarray(2, 4)).arraySync(), [1, 2]);
});

test('every dtype round-trips through tensor() and data()', () => {
  for (const dtype of DTYPES) {
    const vals = dtype === 'bool' ? [1, 0, 1] : dtype === 'uint8' ? [0, 7, 255] : [-3, 0, 5];
    const t = tensor(vals, { dtype });
    assert.equal(t.dtype, dtype);
    const data = t.dataSync();
    assert.deepEqual(Array.from(data as ArrayLike<number | bigint>, Number), vals, dtype);
    if (dtype === 'int64') assert.ok(data instanceof BigInt64Array);
    if (dtype === 'float16' || dtype === 'bfloat16') assert.ok(data instanceof Float32Array);
  }
});

test('zeros, ones, full, empty, eye, arange, linspace', () => {
  assert.deepEqual(zeros(2, 3).arraySync(), [[0, 0, 0], [0, 0, 0]]);
  assert.deepEqual(zeros([2]).arraySync(), [0, 0]);
  assert.deepEqual(ones([2], { dtype: 'int32' }).arraySync(), [1, 1]);
  assert.equal(ones([2], { dtype: 'int32' }).dtype, 'int32');
  assert.deepEqual(full([2, 2], 7).arraySync(), [[7, 7], [7, 7]]);
  assert.equal(full([1], 7n).dtype, 'int64');
  assert.equal(full([1], true).dtype, 'bool');
  assert.deepEqual(empty(3).shape, [3]);
  assert.deepEqual(eye(3).arraySync(), [[1, 0, 0], [0, 1, 0], [0, 0, 1]]);
  assert.deepEqual(eye(2, 3).arraySync(), [[1, 0, 0], [0, 1, 0]]);
  const r = arange(5);
  assert.equal(r.dtype, 'int64');
  assert.deepEqual(r.arraySync(), [0, 1, 2, 3, 4]);
  assert.deepEqual(arange(1, 10, 3).arraySync(), [1, 4, 7]);
  assert.equal(arange(0, 1, 0.25).dtype, 'float32');
  assert.deepEqual(arange(0, 1, 0.25).arraySync(), [0, 0.25, 0.5, 0.75]);
  assert.deepEqual(arange(5, 0, -2).arraySync(), [5, 3, 1]);
  assert.deepEqual(arange(3, { dtype: 'float64' }).arraySync(), [0, 1, 2]);
  assertClose(linspace(0, 1, 5), [0, 0.25, 0.5, 0.75, 1]);
  assert.deepEqual(linspace(2, 3, 1).arraySync(), [2]);
  assert.throws(() => arange(0, 10, 0), errCode('ERR_INVALID_ARG'));
  assert.throws(() => arange(0, 10, -1), errCode('ERR_INVALID_ARG'));
  assert.throws(() => zeros([-1]), errCode('ERR_INVALID_ARG'));
  assert.throws(() => zeros([2 ** 30, 2 ** 30, 2 ** 30]), errCode('ERR_INVALID_ARG', /overflow/));
  assert.throws(() => zeros([1.5]), errCode('ERR_INVALID_ARG'));
});

test('manualSeed makes rand/randn/randint reproducible; successive calls differ; ranges hold', () => {
  manualSeed(123);
  const a = rand(1000).dataSync();
  const b = randn(1000).dataSync();
  manualSeed(123);
  assert.deepEqual(rand(1000).dataSync(), a);
  assert.deepEqual(randn(1000).dataSync(), b);
  assert.notDeepEqual(Array.from(a.slice(0, 10) as Float32Array), Array.from(rand(1000).dataSync().slice(0, 10) as Float32Array));
  const av = Array.from(a as Float32Array);
  assert.ok(av.every((v) => v >= 0 && v < 1));
  const mean = av.reduce((s, v) => s + v, 0) / av.length;
  assert.ok(Math.abs(mean - 0.5) < 0.05, `uniform mean ${mean}`);
  const bv = Array.from(b as Float32Array);
  const bm = bv.reduce((s, v) => s + v, 0) / bv.length;
  const bs = Math.sqrt(bv.reduce((s, v) => s + (v - bm) ** 2, 0) / bv.length);
  assert.ok(Math.abs(bm) < 0.1 && Math.abs(bs - 1) < 0.1, `normal mean ${bm} std ${bs}`);
  const ri = randint(3, 7, [500]);
  assert.equal(ri.dtype, 'int64');
  const rv = Array.from(ri.dataSync() as BigInt64Array, Number);
  assert.ok(rv.every((v) => v >= 3 && v < 7));
  assert.deepEqual(new Set(rv).size, 4);
  assert.deepEqual(randint(2, [3]).shape, [3]);
  assert.throws(() => randint(5, 5, [2]), errCode('ERR_INVALID_ARG'));
  assert.throws(() => rand([2], { dtype: 'int32' }), errCode('ERR_DTYPE'));
  assert.throws(() => manualSeed(1.5), errCode('ERR_INVALID_ARG'));
  const z = zeros([4]);
  z.uniform_(2, 3);
  assert.ok(Array.from(z.dataSync() as Float32Array).every((v) => v >= 2 && v < 3));
  z.normal_(0, 0);
  assert.deepEqual(Array.from(z.dataSync() as Float32Array), [0, 0, 0, 0]);
  z.bernoulli_(1);
  assert.deepEqual(Array.from(z.dataSync() as Float32Array), [1, 1, 1, 1]);
});

test('devices parse cpu, cuda and cuda:N; anything else is ERR_INVALID_ARG', () => {
  assert.equal(toDevice('cpu').toString(), 'cpu');
  assert.equal(toDevice('cpu').index, -1);
  const d = toDevice('cuda:1');
  assert.ok(d instanceof Device);
  assert.equal(d.type, 'cuda');
  assert.equal(d.index, 1);
  assert.equal(String(d), 'cuda:1');
  assert.equal(toDevice('cuda').type, 'cuda');
  for (const bad of ['gpu', 'cuda:', 'cuda:x', 'CPU', 'cuda:-1', '']) assert.throws(() => toDevice(bad), errCode('ERR_INVALID_ARG'), bad);
  assert.throws(() => zeros([2], { device: 'tpu' }), errCode('ERR_INVALID_ARG', /device/));
});

test('tensor(t) copies a tensor (cut from the graph, optionally converted)', () => {
  const src = tensor([[1, 2], [3, 4]], { requiresGrad: true });
  const c = tensor(src.t());
  assert.deepEqual(c.arraySync(), [[1, 3], [2, 4]]);
  assert.ok(!c.requiresGrad && c.isLeaf);
  assert.notEqual(c._storage, src._storage);
  const d = tensor(src, { dtype: 'int32' });
  assert.equal(d.dtype, 'int32');
  assert.deepEqual(d.arraySync(), [[1, 2], [3, 4]]);
  const e = tensor(src);
  e.fill_(0);
  assert.deepEqual(src.arraySync(), [[1, 2], [3, 4]]);
});
