/**
 * Test helpers for native.kernels: a seeded RNG, typed storage for every dtype with plain-JS
 * conversions (float16/bfloat16 rounding done arithmetically, independently of the C++ code),
 * random strided layouts (permuted, sliced, broadcast) and multi-index iteration.
 */
import type { DTypeCode, View } from '../../typings/native.js';
export { rng } from '../helpers/rng.js';

export const DT = { float32: 0, float64: 1, float16: 2, bfloat16: 3, int32: 4, int64: 5, uint8: 6, bool: 7 } as const;
export type DTypeName = keyof typeof DT;
export const FLOATS: DTypeName[] = ['float32', 'float64', 'float16', 'bfloat16'];
export const INTS: DTypeName[] = ['int32', 'int64', 'uint8'];


export type Storage = Float32Array | Float64Array | Uint16Array | Int32Array | BigInt64Array | Uint8Array;

export function alloc(dt: DTypeName, n: number): Storage {
  switch (dt) {
    case 'float32': return new Float32Array(n);
    case 'float64': return new Float64Array(n);
    case 'float16': case 'bfloat16': return new Uint16Array(n);
    case 'int32': return new Int32Array(n);
    case 'int64': return new BigInt64Array(n);
    default: return new Uint8Array(n);
  }
}

function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** The nearest float16 value (round half to even), computed arithmetically. */
export function f16Round(x: number): number {
  if (!Number.isFinite(x)) return x;
  const s = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  if (a >= 65520) return s * Infinity;
  if (a === 0) return x;
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (e < -14) e = -14;
  const q = 2 ** (e - 10);
  return s * roundHalfEven(a / q) * q;
}
/** The nearest bfloat16 value (round half to even) of the float32 nearest x. */
export function bf16Round(x: number): number {
  if (!Number.isFinite(x)) return x;
  const f = Math.fround(x);
  const a = Math.abs(f);
  if (a === 0) return f;
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (e < -126) e = -126;
  const q = 2 ** (e - 7);
  const r = roundHalfEven(a / q) * q;
  return (f < 0 ? -1 : 1) * (r >= 3.3961775292304e38 ? Infinity : r);
}

function f16Encode(v: number): number {
  if (Number.isNaN(v)) return 0x7e00;
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a === Infinity) return sign | 0x7c00;
  if (a === 0) return sign;
  if (a < 2 ** -14) return sign | Math.round(a / 2 ** -24);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  return sign | ((e + 15) << 10) | Math.round((a / 2 ** e - 1) * 1024);
}
function f16Decode(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0x1f) return m ? NaN : s * Infinity;
  if (e === 0) return s * m * 2 ** -24;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function bf16Encode(v: number): number {
  if (Number.isNaN(v)) return 0x7fc0;
  f32[0] = v; // v is already a bfloat16 value: the low half is zero
  return u32[0]! >>> 16;
}
function bf16Decode(b: number): number {
  u32[0] = b << 16;
  return f32[0]!;
}

/** The value x becomes when stored in dt (integers: truncated and wrapped like a C cast). */
export function roundTo(dt: DTypeName, x: number): number {
  switch (dt) {
    case 'float32': return Math.fround(x);
    case 'float64': return x;
    case 'float16': return f16Round(Math.fround(x));
    case 'bfloat16': return bf16Round(x);
    case 'int32': return Math.trunc(x) | 0;
    case 'int64': return Math.trunc(x);
    case 'uint8': return ((Math.trunc(x) % 256) + 256) % 256;
    default: return x !== 0 ? 1 : 0;
  }
}

export function put(dt: DTypeName, a: Storage, i: number, x: number): void {
  const v = roundTo(dt, x);
  if (dt === 'float16') (a as Uint16Array)[i] = f16Encode(v);
  else if (dt === 'bfloat16') (a as Uint16Array)[i] = bf16Encode(v);
  else if (dt === 'int64') (a as BigInt64Array)[i] = BigInt(v);
  else (a as Float64Array)[i] = v;
}
export function get(dt: DTypeName, a: Storage, i: number): number {
  if (dt === 'float16') return f16Decode((a as Uint16Array)[i]!);
  if (dt === 'bfloat16') return bf16Decode((a as Uint16Array)[i]!);
  if (dt === 'int64') return Number((a as BigInt64Array)[i]!);
  return (a as Float64Array)[i]!;
}

export interface Layout {
  offset: number;
  strides: number[];
  /** Elements the buffer needs. */
  span: number;
}

export function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function contiguousStrides(shape: number[]): number[] {
  const st = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    st[d] = s;
    s *= shape[d]!;
  }
  return st;
}

/** A random layout for shape: contiguous, permuted, with gaps and an offset, or broadcast. */
export function randomLayout(shape: number[], r: () => number, broadcast: boolean): Layout {
  const nd = shape.length;
  const order = [...Array(nd).keys()];
  if (r() < 0.5) order.sort(() => r() - 0.5);
  const gap = r() < 0.4;
  const strides = new Array<number>(nd).fill(0);
  let s = 1;
  for (let j = nd - 1; j >= 0; j--) {
    const d = order[j]!;
    strides[d] = s;
    s *= shape[d]! + (gap ? 1 : 0);
  }
  if (broadcast) for (let d = 0; d < nd; d++) if (r() < 0.3) strides[d] = 0;
  const offset = r() < 0.5 ? Math.floor(r() * 4) : 0;
  let span = offset + 1;
  for (let d = 0; d < nd; d++) span += Math.max(0, shape[d]! - 1) * strides[d]!;
  return { offset, strides, span };
}

export function randomShape(r: () => number, maxDims = 4): number[] {
  const nd = Math.floor(r() * (maxDims + 1));
  const sizes = [0, 1, 1, 2, 3, 4, 5, 7];
  return Array.from({ length: nd }, () => sizes[Math.floor(r() * sizes.length)]!);
}

/** Calls f(multi-index) for every element of shape in row-major order. */
export function forEachIndex(shape: number[], f: (idx: number[]) => void): void {
  if (shape.some((s) => s === 0)) return;
  const idx = new Array<number>(shape.length).fill(0);
  for (;;) {
    f(idx);
    let d = shape.length - 1;
    for (; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

export function at(l: Layout, idx: number[]): number {
  let o = l.offset;
  for (let d = 0; d < idx.length; d++) o += idx[d]! * l.strides[d]!;
  return o;
}

/** A buffer of dt filled with values from gen, and a View of it. */
export function operand(dt: DTypeName, l: Layout, gen: () => number): { buf: Storage; view: View } {
  const buf = alloc(dt, l.span);
  for (let i = 0; i < l.span; i++) put(dt, buf, i, gen());
  return { buf, view: { mem: buf, offset: l.offset, strides: l.strides } };
}

export function code(dt: DTypeName): DTypeCode {
  return DT[dt] as DTypeCode;
}

/** Tolerance for comparing a dt result against a double reference. */
export function tol(dt: DTypeName): { rtol: number; atol: number } {
  switch (dt) {
    case 'float32': return { rtol: 2e-5, atol: 1e-6 };
    case 'float64': return { rtol: 1e-11, atol: 1e-12 };
    case 'float16': return { rtol: 2e-3, atol: 1e-3 };
    case 'bfloat16': return { rtol: 1.6e-2, atol: 1e-2 };
    default: return { rtol: 0, atol: 0 };
  }
}

export function close(got: number, want: number, t: { rtol: number; atol: number }): boolean {
  if (Number.isNaN(want)) return Number.isNaN(got);
  if (!Number.isFinite(want)) return got === want;
  return Math.abs(got - want) <= t.atol + t.rtol * Math.abs(want);
}

/** erf by its Taylor series (accurate to ~1e-14 for |x| < 3). */
export function erf(x: number): number {
  if (Math.abs(x) >= 6) return Math.sign(x);
  let sum = 0, term = x;
  for (let n = 0; n < 200; n++) {
    const t = term / (2 * n + 1);
    sum += t;
    if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
    term *= (-x * x) / (n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
