import assert from 'node:assert/strict';
import { test } from 'node:test';
import { native } from '../../lib/native/index.js';
import type { BinaryOp, UnaryOp } from '../../typings/native.js';
import {
  DT, FLOATS, INTS, type DTypeName, alloc, at, close, code, erf, forEachIndex, get, numel, operand, put, randomLayout,
  randomShape, rng, roundTo, tol,
} from './ref.js';

const k = native.kernels;
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const gelu = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));
const geluTanh = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
const nanMax = (a: number, b: number) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b));
const nanMin = (a: number, b: number) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b));

// [op, reference(x, p0, p1), positive domain only, float only]
const UNARY: [UnaryOp, (x: number, p0: number, p1: number) => number, boolean, boolean][] = [
  ['neg', (x) => -x, false, false],
  ['abs', (x) => Math.abs(x), false, false],
  ['exp', Math.exp, false, true],
  ['log', Math.log, true, true],
  ['sqrt', Math.sqrt, true, true],
  ['rsqrt', (x) => 1 / Math.sqrt(x), true, true],
  ['sin', Math.sin, false, true],
  ['cos', Math.cos, false, true],
  ['tanh', Math.tanh, false, true],
  ['sigmoid', sigmoid, false, true],
  ['relu', (x) => Math.max(x, 0), false, false],
  ['gelu', gelu, false, true],
  ['gelu_tanh', geluTanh, false, true],
  ['silu', (x) => x * sigmoid(x), false, true],
  ['sign', (x) => Math.sign(x), false, false],
  ['square', (x) => x * x, false, false],
  ['reciprocal', (x) => 1 / x, true, true],
  ['log1p', Math.log1p, true, true],
  ['expm1', Math.expm1, false, true],
  ['erf', erf, false, true],
  ['logical_not', (x) => (x === 0 ? 1 : 0), false, false],
  ['fill', (_x, p0) => p0, false, false],
  ['add_scalar', (x, p0) => x + p0, false, false],
  ['mul_scalar', (x, p0) => x * p0, false, false],
  ['rsub_scalar', (x, p0) => p0 - x, false, false],
  ['rdiv_scalar', (x, p0) => p0 / x, true, true],
  ['pow_scalar', (x, p0) => x ** p0, true, false],
  ['rpow_scalar', (x, p0) => p0 ** x, false, true],
  ['maximum_scalar', (x, p0) => Math.max(x, p0), false, false],
  ['minimum_scalar', (x, p0) => Math.min(x, p0), false, false],
  ['clamp', (x, p0, p1) => Math.min(Math.max(x, p0), p1), false, false],
  ['eq_scalar', (x, p0) => +(x === p0), false, false],
  ['ne_scalar', (x, p0) => +(x !== p0), false, false],
  ['lt_scalar', (x, p0) => +(x < p0), false, false],
  ['le_scalar', (x, p0) => +(x <= p0), false, false],
  ['gt_scalar', (x, p0) => +(x > p0), false, false],
  ['ge_scalar', (x, p0) => +(x >= p0), false, false],
];
const BOOL_OUT = new Set<string>(['logical_not', 'eq_scalar', 'ne_scalar', 'lt_scalar', 'le_scalar', 'gt_scalar',
  'ge_scalar', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'logical_and', 'logical_or']);

/** Runs one elementwise case and checks every element of out (and that out's gaps are untouched). */
function check(name: string, outDt: DTypeName, shape: number[], r: () => number,
               inputs: { dt: DTypeName; gen: () => number }[],
               run: (out: ReturnType<typeof operand>, ins: ReturnType<typeof operand>[]) => void,
               ref: (xs: number[]) => number, exact: boolean): void {
  const outL = randomLayout(shape, r, false);
  const out = operand(outDt, outL, () => 77);
  const ins = inputs.map((i) => ({ ...operand(i.dt, randomLayout(shape, r, true), i.gen), l: undefined }));
  const inLs = ins.map((x) => ({ offset: x.view.offset, strides: x.view.strides, span: 0 }));
  run(out, ins);
  const t = tol(outDt);
  const touched = new Set<number>();
  forEachIndex(shape, (idx) => {
    const xs = ins.map((x, j) => get(inputs[j]!.dt, x.buf, at(inLs[j]!, idx)));
    const o = at(outL, idx);
    touched.add(o);
    const want = roundTo(outDt, ref(xs));
    const got = get(outDt, out.buf, o);
    const ok = exact ? Object.is(got, want) || got === want || (Number.isNaN(got) && Number.isNaN(want)) : close(got, want, t);
    if (!ok) assert.fail(`${name} ${outDt} shape [${shape}] at [${idx}]: inputs ${xs} -> got ${got}, want ${want}`);
  });
  for (let i = 0; i < outL.span; i++) if (!touched.has(i)) assert.equal(get(outDt, out.buf, i), roundTo(outDt, 77), `${name}: gap ${i} written`);
}

test('unary ops: every op and dtype vs JS references, strided/broadcast views, size-0/1 dims', () => {
  const r = rng(1);
  for (const [op, f, positive, floatOnly] of UNARY) {
    for (const dt of [...FLOATS, ...(floatOnly ? [] : INTS)]) {
      for (let rep = 0; rep < 6; rep++) {
        const shape = randomShape(r);
        const isInt = !FLOATS.includes(dt);
        const gen = isInt
          ? () => (dt === 'uint8' ? Math.floor(r() * 6) : Math.floor(r() * 13) - 6)
          : positive ? () => 0.1 + r() * 2.9 : () => r() * 6 - 3;
        let p0 = isInt ? Math.floor(r() * 7) - 3 : Math.round((r() * 4 - 2) * 8) / 8;
        let p1 = p0 + 2;
        if (op === 'pow_scalar') p0 = isInt ? Math.floor(r() * 4) : r() * 3 - 1;
        if (op === 'rpow_scalar' || op === 'rdiv_scalar') p0 = 0.5 + r() * 2;
        if (dt === 'uint8' && (op === 'clamp' || op.endsWith('_scalar'))) { p0 = Math.abs(p0); p1 = p0 + 2; }
        const outDt: DTypeName = BOOL_OUT.has(op) ? 'bool' : dt;
        const exact = isInt || BOOL_OUT.has(op) || ['neg', 'abs', 'relu', 'sign', 'fill', 'maximum_scalar', 'minimum_scalar', 'clamp'].includes(op);
        check(op, outDt, shape, r, [{ dt, gen }],
          (out, [a]) => k.unary(op, code(dt), shape, out.view, a!.view, p0, p1),
          ([x]) => {
            const v = f(x!, p0, p1);
            return isInt && op === 'sign' ? v : v;
          }, exact && dt !== 'float16' && dt !== 'bfloat16' ? true : exact);
      }
    }
  }
});

test('unary comparisons of integers with a fractional scalar compare exactly', () => {
  const a = new Int32Array([1, 2, 3]), out = new Uint8Array(3);
  k.unary('lt_scalar', DT.int32, [3], { mem: out, offset: 0, strides: [1] }, { mem: a, offset: 0, strides: [1] }, 2.5);
  assert.deepEqual([...out], [1, 1, 0]);
  k.unary('eq_scalar', DT.int32, [3], { mem: out, offset: 0, strides: [1] }, { mem: a, offset: 0, strides: [1] }, 2.0000001);
  assert.deepEqual([...out], [0, 0, 0]);
});

const floorDiv = (a: number, b: number) => (b === 0 ? 0 : Math.floor(a / b));
// [op, reference, float only]
const BINARY: [BinaryOp, (a: number, b: number, dt: DTypeName) => number, boolean][] = [
  ['add', (a, b) => a + b, false],
  ['sub', (a, b) => a - b, false],
  ['mul', (a, b) => a * b, false],
  ['div', (a, b, dt) => (FLOATS.includes(dt) ? a / b : floorDiv(a, b)), false],
  ['pow', (a, b, dt) => (FLOATS.includes(dt) ? a ** b : b < 0 ? (a === 1 ? 1 : a === -1 ? (b % 2 ? -1 : 1) : 0) : a ** b), false],
  ['maximum', nanMax, false],
  ['minimum', nanMin, false],
  ['atan2', Math.atan2, true],
  ['eq', (a, b) => +(a === b), false],
  ['ne', (a, b) => +(a !== b), false],
  ['lt', (a, b) => +(a < b), false],
  ['le', (a, b) => +(a <= b), false],
  ['gt', (a, b) => +(a > b), false],
  ['ge', (a, b) => +(a >= b), false],
  ['logical_and', (a, b) => +(a !== 0 && b !== 0), false],
  ['logical_or', (a, b) => +(a !== 0 || b !== 0), false],
  ['relu_backward', (g, x) => (x > 0 ? g : 0), true],
  ['gelu_backward', (g, x) => g * (0.5 * (1 + erf(x / Math.SQRT2)) + x * Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI)), true],
  ['gelu_tanh_backward', (g, x) => {
    // d/dx 0.5 x (1 + tanh u) = 0.5 (1 + tanh u) + 0.5 x sech^2(u) u'
    const c = Math.sqrt(2 / Math.PI), u = c * (x + 0.044715 * x ** 3);
    return g * (0.5 * (1 + Math.tanh(u)) + 0.5 * x * (1 / Math.cosh(u) ** 2) * c * (1 + 3 * 0.044715 * x * x));
  }, true],
  ['silu_backward', (g, x) => g * sigmoid(x) * (1 + x * (1 - sigmoid(x))), true],
  ['sigmoid_backward_y', (g, y) => g * y * (1 - y), true],
  ['tanh_backward_y', (g, y) => g * (1 - y * y), true],
];

test('binary ops: every op and dtype vs JS references with broadcasting and strided views', () => {
  const r = rng(2);
  for (const [op, f, floatOnly] of BINARY) {
    for (const dt of [...FLOATS, ...(floatOnly ? [] : INTS)]) {
      for (let rep = 0; rep < 6; rep++) {
        const shape = randomShape(r);
        const isInt = !FLOATS.includes(dt);
        const gen = isInt
          ? () => (dt === 'uint8' ? Math.floor(r() * 5) : Math.floor(r() * 9) - 4)
          : op === 'pow' ? () => 0.2 + r() * 2 : () => Math.round((r() * 4 - 2) * 16) / 16;
        const outDt: DTypeName = BOOL_OUT.has(op) ? 'bool' : dt;
        const exact = isInt || BOOL_OUT.has(op) || op === 'maximum' || op === 'minimum';
        check(op, outDt, shape, r, [{ dt, gen }, { dt, gen }],
          (out, [a, b]) => k.binary(op, code(dt), shape, out.view, a!.view, b!.view),
          ([a, b]) => {
            let v = f(a!, b!, dt);
            if (isInt && op === 'pow' && dt === 'int32') v = Number(BigInt.asIntN(32, BigInt(Math.round(v))));
            return v;
          }, exact);
      }
    }
  }
});

test('pow and div of integers never trap: zero divisors give 0, negative exponents 0/±1', () => {
  const a = new BigInt64Array([7n, -7n, 1n, -1n, 5n, -9223372036854775808n]);
  const b = new BigInt64Array([0n, 2n, -3n, -3n, -1n, -1n]);
  const out = new BigInt64Array(6);
  const v = (m: BigInt64Array) => ({ mem: m, offset: 0, strides: [1] });
  k.binary('div', DT.int64, [6], v(out), v(a), v(b));
  assert.deepEqual([...out], [0n, -4n, -1n, 0n, -5n, -9223372036854775808n]);
  k.binary('pow', DT.int64, [6], v(out), v(a), v(b));
  assert.deepEqual([...out], [1n, 49n, 1n, -1n, 0n, 0n]);
});

test('where selects from a and b by a broadcast bool condition', () => {
  const r = rng(3);
  for (const dt of [...FLOATS, ...INTS, 'bool' as const]) {
    for (let rep = 0; rep < 8; rep++) {
      const shape = randomShape(r);
      const gen = () => Math.floor(r() * 5);
      check('where', dt, shape, r, [{ dt: 'bool', gen: () => +(r() < 0.5) }, { dt, gen }, { dt, gen }],
        (out, [c, a, b]) => k.where(code(dt), shape, out.view, c!.view, a!.view, b!.view),
        ([c, a, b]) => (c ? a! : b!), true);
    }
  }
});

test('copy casts between every pair of dtypes through strided views', () => {
  const r = rng(4);
  const all = Object.keys(DT) as DTypeName[];
  for (const src of all)
    for (const dst of all) {
      for (let rep = 0; rep < 3; rep++) {
        const shape = randomShape(r);
        const gen = src === 'bool' ? () => +(r() < 0.5) : src === 'uint8' ? () => Math.floor(r() * 200)
          : FLOATS.includes(src) ? () => Math.round((r() * 200 - 100) * 4) / 4 : () => Math.floor(r() * 200 - 100);
        check(`copy ${src}->${dst}`, dst, shape, r, [{ dt: src, gen }],
          (out, [a]) => k.copy(code(src), code(dst), shape, out.view, a!.view), ([x]) => x!, true);
      }
    }
});

test('float16/bfloat16 conversions round to nearest even, keep Inf/NaN, overflow to Inf', () => {
  const vals = [0, -0, 1, 65504, 65519, 65520, 1e6, -1e6, 5.96e-8, 2.9e-8, 3e-8, 1 / 3, 1 + 2 ** -11, 1 + 3 * 2 ** -11, Infinity, -Infinity, NaN, 3.3895e38];
  const src = new Float64Array(vals);
  for (const dt of ['float16', 'bfloat16'] as const) {
    const out = alloc(dt, vals.length);
    k.copy(DT.float64, code(dt), [vals.length], { mem: out, offset: 0, strides: [1] }, { mem: src, offset: 0, strides: [1] });
    vals.forEach((x, i) => {
      const want = roundTo(dt, x);
      const got = get(dt, out, i);
      assert.ok(Object.is(got, want) || (Number.isNaN(got) && Number.isNaN(want)) || got === want, `${dt}(${x}) = ${got}, want ${want}`);
    });
  }
});

test('a large contiguous add matches element by element (fast path)', () => {
  const n = 100003;
  const a = new Float32Array(n).map((_, i) => Math.sin(i)), b = new Float32Array(n).map((_, i) => Math.cos(i));
  const out = new Float32Array(n);
  k.binary('add', DT.float32, [n], { mem: out, offset: 0, strides: [1] }, { mem: a, offset: 0, strides: [1] }, { mem: b, offset: 0, strides: [1] });
  for (let i = 0; i < n; i++) if (out[i] !== Math.fround(a[i]! + b[i]!)) assert.fail(`at ${i}`);
  assert.equal(numel([n]), n);
  put('float32', out, 0, 1);
});
