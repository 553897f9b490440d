/**
 * Independent reference values for the collective tests: seeded random inputs that every rank
 * can regenerate for every other rank, and element-wise reductions computed in plain JS with the
 * arithmetic each dtype has (float32 rounding per step, wrapping integers, half types accumulated
 * in float32 and rounded once, bool as or/and).
 */
import type { DType, ReduceOpName } from '../../lib/distributed/types.js';
import { makeArray, type Arr } from './host-tensor.js';
import { rng } from './rng.js';

export { rng };


const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Round to nearest even; normal range only (the tests keep values there). */
export function f32ToF16(f: number): number {
  if (f === 0) return Object.is(f, -0) ? 0x8000 : 0;
  const s = f < 0 ? 0x8000 : 0;
  const a = Math.abs(f);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  const mi = (a / 2 ** e - 1) * 1024;
  let r = Math.floor(mi);
  const frac = mi - r;
  if (frac > 0.5 || (frac === 0.5 && r & 1)) r++;
  if (r === 1024) {
    r = 0;
    e++;
  }
  return s | ((e + 15) << 10) | r;
}

export function bf16ToF32(h: number): number {
  u32[0] = h << 16;
  return f32[0]!;
}

export function f32ToBf16(f: number): number {
  f32[0] = f;
  const x = u32[0]!;
  const lower = x & 0xffff;
  let upper = x >>> 16;
  if (lower > 0x8000 || (lower === 0x8000 && upper & 1)) upper++;
  return upper & 0xffff;
}

/** Random input of rank `rank` for a test case: the same on every process. */
export function randomInput(dtype: DType, n: number, seed: number): Arr {
  const r = rng(seed);
  const a = makeArray(dtype, n);
  for (let i = 0; i < n; i++) {
    switch (dtype) {
      case 'float32': case 'float64': (a as Float64Array)[i] = Math.fround(Math.floor(r() * 256 - 128) / 64 + r() / 1024); break;
      case 'float16': {
        const k = 16 + Math.floor(r() * 112);
        (a as Uint16Array)[i] = f32ToF16((r() < 0.5 ? -k : k) / 64);
        break;
      }
      case 'bfloat16': {
        const k = 16 + Math.floor(r() * 112);
        (a as Uint16Array)[i] = f32ToBf16((r() < 0.5 ? -k : k) / 64);
        break;
      }
      case 'int32': (a as Int32Array)[i] = (r() * 4294967296) | 0; break;
      case 'int64': (a as BigInt64Array)[i] = BigInt.asIntN(64, (BigInt(Math.floor(r() * 4294967296)) << 32n) | BigInt(Math.floor(r() * 4294967296))); break;
      case 'uint8': (a as Uint8Array)[i] = Math.floor(r() * 256); break;
      case 'bool': (a as Uint8Array)[i] = r() < 0.5 ? 1 : 0; break;
    }
  }
  return a;
}

type Num = number | bigint;

function combine(dtype: DType, op: ReduceOpName, a: Num, b: Num): Num {
  const o = op === 'avg' ? 'sum' : op;
  switch (dtype) {
    case 'float32': case 'float16': case 'bfloat16': {
      const x = a as number, y = b as number;
      return Math.fround(o === 'sum' ? x + y : o === 'prod' ? x * y : o === 'min' ? Math.min(x, y) : Math.max(x, y));
    }
    case 'float64': {
      const x = a as number, y = b as number;
      return o === 'sum' ? x + y : o === 'prod' ? x * y : o === 'min' ? Math.min(x, y) : Math.max(x, y);
    }
    case 'int32': {
      const x = a as number, y = b as number;
      return o === 'sum' ? (x + y) | 0 : o === 'prod' ? Math.imul(x, y) : o === 'min' ? Math.min(x, y) : Math.max(x, y);
    }
    case 'uint8': {
      const x = a as number, y = b as number;
      return o === 'sum' ? (x + y) & 255 : o === 'prod' ? Math.imul(x, y) & 255 : o === 'min' ? Math.min(x, y) : Math.max(x, y);
    }
    case 'bool': {
      const x = a as number, y = b as number;
      return o === 'sum' || o === 'max' ? (x | y ? 1 : 0) : x & y ? 1 : 0;
    }
    case 'int64': {
      const x = a as bigint, y = b as bigint;
      return o === 'sum' ? BigInt.asIntN(64, x + y) : o === 'prod' ? BigInt.asIntN(64, x * y) : o === 'min' ? (x < y ? x : y) : x > y ? x : y;
    }
  }
}

function load(dtype: DType, a: Arr, i: number): Num {
  if (dtype === 'float16') return f16ToF32((a as Uint16Array)[i]!);
  if (dtype === 'bfloat16') return bf16ToF32((a as Uint16Array)[i]!);
  return a[i]!;
}

/** op over `inputs` (rank order), element-wise, as the dtype's arithmetic does it. */
export function reduceRef(dtype: DType, op: ReduceOpName, inputs: Arr[]): Arr {
  const n = inputs[0]!.length;
  const out = makeArray(dtype, n);
  const k = inputs.length;
  for (let i = 0; i < n; i++) {
    let acc = load(dtype, inputs[0]!, i);
    for (let r = 1; r < k; r++) acc = combine(dtype, op, acc, load(dtype, inputs[r]!, i));
    if (op === 'avg') {
      if (dtype === 'float64') acc = (acc as number) / k;
      else if (dtype === 'int64') acc = (acc as bigint) / BigInt(k);
      else if (dtype === 'float32' || dtype === 'float16' || dtype === 'bfloat16') acc = Math.fround((acc as number) / k);
      else acc = Math.trunc((acc as number) / k);
    }
    if (dtype === 'float16') acc = f32ToF16(acc as number);
    else if (dtype === 'bfloat16') acc = f32ToBf16(acc as number);
    (out as unknown as Num[])[i] = acc;
  }
  return out;
}

/** Index of the first difference, or -1. */
export function firstDiff(a: ArrayLike<Num>, b: ArrayLike<Num>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!, y = b[i]!;
    if (x !== y && !(typeof x === 'number' && Number.isNaN(x) && Number.isNaN(y as number))) return i;
  }
  return -1;
}
