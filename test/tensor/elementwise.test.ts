import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tensor, where, type DType, type Tensor } from '../../lib/index.js';
import { assertClose, bIndex, broadcastShape, errCode, indices, numel, randShape, randValues, rng } from './helpers.js';

/** The same values as a non-contiguous view (transposed storage) when ndim >= 2. */
function nonContiguous(t: Tensor): Tensor {
  if (t.ndim < 2) return t;
  return t.transpose(0, t.ndim - 1).contiguous().transpose(0, t.ndim - 1);
}

const erf = (x: number): number => {
  // Abramowitz-Stegun 7.1.26 is too coarse; use a series / continued fraction (|err| < 1e-12)
  const t = Math.abs(x);
  if (t < 3) {
    let sum = t;
    let term = t;
    for (let n = 1; n < 80; n++) {
      term *= (-t * t) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  return Math.sign(x) * (1 - Math.exp(-t * t) / (t * Math.sqrt(Math.PI)) * (1 - 1 / (2 * t * t) + 3 / (4 * t ** 4)));
};

const UNARY: [string, (t: Tensor) => Tensor, (x: number) => number, [number, number]][] = [
  ['neg', (t) => t.neg(), (x) => -x, [-3, 3]],
  ['abs', (t) => t.abs(), Math.abs, [-3, 3]],
  ['exp', (t) => t.exp(), Math.exp, [-3, 3]],
  ['log', (t) => t.log(), Math.log, [0.1, 5]],
  ['sqrt', (t) => t.sqrt(), Math.sqrt, [0, 5]],
  ['rsqrt', (t) => t.rsqrt(), (x) => 1 / Math.sqrt(x), [0.1, 5]],
  ['sin', (t) => t.sin(), Math.sin, [-4, 4]],
  ['cos', (t) => t.cos(), Math.cos, [-4, 4]],
  ['tanh', (t) => t.tanh(), Math.tanh, [-4, 4]],
  ['sigmoid', (t) => t.sigmoid(), (x) => 1 / (1 + Math.exp(-x)), [-6, 6]],
  ['relu', (t) => t.relu(), (x) => Math.max(x, 0), [-3, 3]],
  ['gelu', (t) => t.gelu(), (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)), [-4, 4]],
  ['gelu tanh', (t) => t.gelu({ approximate: 'tanh' }), (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))), [-4, 4]],
  ['silu', (t) => t.silu(), (x) => x / (1 + Math.exp(-x)), [-5, 5]],
  ['sign', (t) => t.sign(), Math.sign, [-3, 3]],
  ['square', (t) => t.square(), (x) => x * x, [-3, 3]],
  ['reciprocal', (t) => t.reciprocal(), (x) => 1 / x, [0.2, 3]],
  ['log1p', (t) => t.log1p(), Math.log1p, [-0.5, 3]],
  ['expm1', (t) => t.expm1(), Math.expm1, [-2, 2]],
  ['erf', (t) => t.erf(), erf, [-3, 3]],
];

test('unary ops match Math on random shapes (float64 and float32, contiguous and not)', () => {
  const r = rng(1);
  for (const [name, f, ref, [lo, hi]] of UNARY) {
    for (let trial = 0; trial < 6; trial++) {
      const shape = randShape(r, Math.floor(r() * 4));
      const vals = randValues(r, numel(shape), lo, hi);
      for (const dtype of ['float64', 'float32'] as DType[]) {
        const base = tensor(vals, { shape, dtype });
        for (const x of [base, nonContiguous(base)]) {
          const y = f(x);
          assert.deepEqual(y.shape, shape);
          assert.equal(y.dtype, dtype);
          assertClose(y, vals.map(ref), { atol: dtype === 'float64' ? 1e-10 : 1e-5, rtol: dtype === 'float64' ? 1e-10 : 1e-5, msg: `${name} ${dtype} [${shape}]` });
        }
      }
    }
  }
});

test('float-only unary ops on integer tensors compute in float32; integer-preserving ones keep the dtype', () => {
  const x = tensor([1, 2, 3], { dtype: 'int32' });
  assert.equal(x.exp().dtype, 'float32');
  assertClose(x.exp(), [Math.E, Math.E ** 2, Math.E ** 3], { rtol: 1e-6 });
  assert.equal(x.neg().dtype, 'int32');
  assert.deepEqual(x.neg().arraySync(), [-1, -2, -3]);
  assert.equal(tensor([1n, -2n]).abs().dtype, 'int64');
  assert.deepEqual(tensor([1n, -2n]).abs().arraySync(), [1, 2]);
  assert.throws(() => tensor([true]).neg(), errCode('ERR_DTYPE'));
});

type BinRef = (a: number, b: number) => number;
const BINARY: [string, (a: Tensor, b: Tensor) => Tensor, BinRef, [number, number]][] = [
  ['add', (a, b) => a.add(b), (a, b) => a + b, [-3, 3]],
  ['add alpha', (a, b) => a.add(b, { alpha: 2.5 }), (a, b) => a + 2.5 * b, [-3, 3]],
  ['sub', (a, b) => a.sub(b), (a, b) => a - b, [-3, 3]],
  ['mul', (a, b) => a.mul(b), (a, b) => a * b, [-3, 3]],
  ['div', (a, b) => a.div(b), (a, b) => a / b, [0.5, 3]],
  ['pow', (a, b) => a.pow(b), (a, b) => a ** b, [0.5, 2]],
  ['maximum', (a, b) => a.maximum(b), Math.max, [-3, 3]],
  ['minimum', (a, b) => a.minimum(b), Math.min, [-3, 3]],
  ['atan2', (a, b) => a.atan2(b), Math.atan2, [-3, 3]],
];

/** Random broadcast-compatible pair of shapes. */
function shapePair(r: () => number): [number[], number[]] {
  const out = randShape(r, Math.floor(r() * 4));
  const a = out.map((d) => (r() < 0.3 ? 1 : d));
  const b = out.map((d) => (r() < 0.3 ? 1 : d)).slice(Math.floor(r() * (out.length + 1)));
  return r() < 0.5 ? [a, b] : [b, a];
}

function refBinary(av: number[], as: number[], bv: number[], bs: number[], f: BinRef): number[] {
  const out = broadcastShape(as, bs);
  return [...indices(out)].map((idx) => f(av[bIndex(idx, as)]!, bv[bIndex(idx, bs)]!));
}

test('binary ops broadcast like numpy and match JS loops (incl. non-contiguous and sliced views)', () => {
  const r = rng(2);
  for (const [name, f, ref, [lo, hi]] of BINARY) {
    for (let trial = 0; trial < 12; trial++) {
      const [as, bs] = shapePair(r);
      const av = randValues(r, numel(as), lo, hi);
      const bv = randValues(r, numel(bs), lo, hi);
      const expected = refBinary(av, as, bv, bs, ref);
      const a = tensor(av, { shape: as, dtype: 'float64' });
      const b = tensor(bv, { shape: bs, dtype: 'float64' });
      for (const [x, y] of [[a, b], [nonContiguous(a), nonContiguous(b)]] as const) {
        const z = f(x, y);
        assert.deepEqual(z.shape, broadcastShape(as, bs), `${name} shape`);
        assertClose(z, expected, { atol: 1e-10, rtol: 1e-10, msg: `${name} [${as}] x [${bs}]` });
      }
    }
  }
  // sliced view with a step
  const base = tensor([0, 1, 2, 3, 4, 5, 6, 7], { dtype: 'float64' });
  const even = base.slice(0, 0, null, 2);
  assertClose(even.add(tensor([10, 20, 30, 40], { dtype: 'float64' })), [10, 22, 34, 46]);
});

test('scalar operands on either side, with PyTorch scalar promotion', () => {
  const x = tensor([1, 2, 4], { dtype: 'float64' });
  assertClose(x.add(1), [2, 3, 5]);
  assertClose(x.sub(1), [0, 1, 3]);
  assertClose(x.rsub(1), [0, -1, -3]);
  assertClose(x.mul(3), [3, 6, 12]);
  assertClose(x.div(4), [0.25, 0.5, 1]);
  assertClose(x.pow(2), [1, 4, 16]);
  assertClose(x.maximum(2), [2, 2, 4]);
  assertClose(x.minimum(2), [1, 2, 2]);
  const i = tensor([1, 2, 3], { dtype: 'int32' });
  assert.equal(i.add(1).dtype, 'int32', 'an int scalar keeps an int tensor');
  assert.equal(i.add(1.5).dtype, 'float32', 'a float scalar makes an int tensor float32');
  assertClose(i.add(1.5), [2.5, 3.5, 4.5]);
  assert.equal(i.div(2).dtype, 'float32', 'true division');
  assertClose(i.div(2), [0.5, 1, 1.5]);
  assert.equal(tensor([1, 2], { dtype: 'float16' }).mul(2.5).dtype, 'float16', 'a float scalar keeps a half tensor');
  assert.equal(tensor([true, false]).add(1).dtype, 'int64');
  assertClose(tensor([1, 2], { dtype: 'int64' }).pow(2), [1, 4]);
  assert.throws(() => tensor([2], { dtype: 'int64' }).pow(-1), errCode('ERR_DTYPE', /negative integer powers/));
});

test('tensor-tensor promotion follows torch.result_type (0-dim tensors only win across categories)', () => {
  const cases: [DType, DType, DType][] = [
    ['int32', 'float32', 'float32'], ['int64', 'int32', 'int64'], ['uint8', 'int32', 'int32'], ['bool', 'uint8', 'uint8'],
    ['float16', 'bfloat16', 'float32'], ['float16', 'float32', 'float32'], ['float32', 'float64', 'float64'],
    ['bfloat16', 'int64', 'bfloat16'], ['bool', 'float16', 'float16'],
  ];
  for (const [a, b, want] of cases) {
    const r = tensor([1, 1], { dtype: a }).add(tensor([1, 1], { dtype: b }));
    assert.equal(r.dtype, want, `${a} + ${b}`);
    assertClose(r, a === 'bool' && b === 'bool' ? [1, 1] : [2, 2]);
  }
  // 0-dim float64 with a float32 vector: same category, the vector's dtype wins
  assert.equal(tensor([1, 2]).add(tensor(1, { dtype: 'float64' })).dtype, 'float32');
  // 0-dim float with an int vector: higher category wins
  assert.equal(tensor([1, 2], { dtype: 'int32' }).add(tensor(1.5, { dtype: 'float64' })).dtype, 'float64');
  assert.throws(() => tensor([true]).sub(tensor([true])), errCode('ERR_DTYPE'));
});

test('comparisons give bool; logical ops; where broadcasts and promotes', () => {
  const r = rng(3);
  const av = randValues(r, 12).map((v) => Math.round(v));
  const bv = randValues(r, 4).map((v) => Math.round(v));
  const a = tensor(av, { shape: [3, 4] });
  const b = tensor(bv, { shape: [4] });
  const ops: [string, (x: Tensor, y: Tensor) => Tensor, (x: number, y: number) => boolean][] = [
    ['eq', (x, y) => x.eq(y), (x, y) => x === y], ['ne', (x, y) => x.ne(y), (x, y) => x !== y],
    ['lt', (x, y) => x.lt(y), (x, y) => x < y], ['le', (x, y) => x.le(y), (x, y) => x <= y],
    ['gt', (x, y) => x.gt(y), (x, y) => x > y], ['ge', (x, y) => x.ge(y), (x, y) => x >= y],
  ];
  for (const [name, f, ref] of ops) {
    const z = f(a, b);
    assert.equal(z.dtype, 'bool');
    assert.deepEqual(z.arraySync(), [0, 1, 2].map((i) => [0, 1, 2, 3].map((j) => ref(av[i * 4 + j]!, bv[j]!))), name);
  }
  assert.deepEqual(tensor([1, 2, 3], { dtype: 'int32' }).lt(2.5).arraySync(), [true, true, false], 'int tensor vs float scalar compares in float');
  assert.deepEqual(tensor([true, false]).logicalAnd(tensor([true, true])).arraySync(), [true, false]);
  assert.deepEqual(tensor([0, 2]).logicalOr(tensor([0, 0])).arraySync(), [false, true]);
  assert.deepEqual(tensor([0, 2]).logicalNot().arraySync(), [true, false]);
  const cond = tensor([[true], [false]]);
  const w = where(cond, tensor([1, 2, 3], { dtype: 'int32' }), 0.5);
  assert.equal(w.dtype, 'float32');
  assert.deepEqual(w.arraySync(), [[1, 2, 3], [0.5, 0.5, 0.5]]);
  assert.throws(() => where(tensor([1, 0]), tensor([1, 2]), tensor([3, 4])), errCode('ERR_DTYPE', /bool/));
});

test('clamp with one or both bounds', () => {
  const x = tensor([-2, -0.5, 0.5, 2]);
  assertClose(x.clamp(-1, 1), [-1, -0.5, 0.5, 1]);
  assertClose(x.clamp(0), [0, 0, 0.5, 2]);
  assertClose(x.clamp(null, 0), [-2, -0.5, 0, 0]);
  assert.throws(() => x.clamp(), errCode('ERR_INVALID_ARG'));
});

test('every dtype runs add, mul, neg/abs and comparisons on the CPU', () => {
  for (const dtype of ['float32', 'float64', 'float16', 'bfloat16', 'int32', 'int64', 'uint8'] as DType[]) {
    const a = tensor([1, 2, 3, 4], { dtype });
    const b = tensor([4, 3, 2, 1], { dtype });
    assert.equal(a.add(b).dtype, dtype);
    assertClose(a.add(b), [5, 5, 5, 5], { msg: dtype });
    assertClose(a.mul(b), [4, 6, 6, 4], { msg: dtype });
    assertClose(a.maximum(b), [4, 3, 3, 4], { msg: dtype });
    assert.deepEqual(a.lt(b).arraySync(), [true, true, false, false], dtype);
    if (dtype !== 'uint8') assertClose(a.neg().abs(), [1, 2, 3, 4], { msg: dtype });
    assertClose(a.sum(), [10], { msg: dtype });
  }
  const t = tensor([true, false, true]);
  assert.deepEqual(t.add(tensor([false, false, true])).arraySync(), [true, false, true]);
  assert.deepEqual(t.mul(tensor([true, true, false])).arraySync(), [true, false, false]);
});

test('half precision values round like IEEE (float16) and truncate-to-nearest-even (bfloat16)', () => {
  const h = tensor([1 / 3, 65504, 70000, 1e-8, -2.5], { dtype: 'float16' });
  const hv = Array.from(h.dataSync() as Float32Array);
  assert.ok(Math.abs(hv[0]! - 0.333251953125) < 1e-12);
  assert.equal(hv[1], 65504);
  assert.equal(hv[2], Infinity);
  assert.equal(hv[3], 0);
  assert.equal(hv[4], -2.5);
  const bf = tensor([1 / 3, 3e38, -1.5], { dtype: 'bfloat16' });
  const bv = Array.from(bf.dataSync() as Float32Array);
  assert.ok(Math.abs(bv[0]! - 0.333984375) < 1e-12);
  assert.ok(Math.abs(bv[1]! - 3e38) / 3e38 < 0.01);
  assert.equal(bv[2], -1.5);
});
