/**
 * Data types: names, native codes (typings/native.ts DTypeCode), item sizes, host TypedArrays,
 * half-precision conversions and PyTorch's type promotion.
 */
import { describe } from './describe.js';
import { createError } from '../errors.js';
import type { DTypeCode } from '../../typings/native.js';

export type DType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int32' | 'int64' | 'uint8' | 'bool';

export const DTYPES: readonly DType[] = ['float32', 'float64', 'float16', 'bfloat16', 'int32', 'int64', 'uint8', 'bool'];

const CODES: Record<DType, DTypeCode> = {
  float32: 0, float64: 1, float16: 2, bfloat16: 3, int32: 4, int64: 5, uint8: 6, bool: 7,
};
const SIZES: Record<DType, number> = {
  float32: 4, float64: 8, float16: 2, bfloat16: 2, int32: 4, int64: 8, uint8: 1, bool: 1,
};

/** The TypedArray that holds a dtype's raw elements on the host (float16/bfloat16: raw bits). */
export type StorageArray = Float32Array | Float64Array | Uint16Array | Int32Array | BigInt64Array | Uint8Array;
/** What `data()` returns: float16/bfloat16 are widened to Float32Array, bool is Uint8Array (0/1). */
export type TypedArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

type StorageCtor = {
  new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): StorageArray;
  new (length: number): StorageArray;
};
const CTORS: Record<DType, StorageCtor> = {
  float32: Float32Array, float64: Float64Array, float16: Uint16Array, bfloat16: Uint16Array,
  int32: Int32Array, int64: BigInt64Array, uint8: Uint8Array, bool: Uint8Array,
};

export function isDType(x: unknown): x is DType {
  return typeof x === 'string' && Object.prototype.hasOwnProperty.call(CODES, x);
}

/** torch's short names for dtypes (torch.float, torch.double, ...), accepted wherever a dtype is. */
export type DTypeAlias = 'float' | 'double' | 'half' | 'long' | 'int';
/** A dtype name or one of torch's aliases for it. */
export type DTypeLike = DType | DTypeAlias;
const ALIASES: Record<DTypeAlias, DType> = { float: 'float32', double: 'float64', half: 'float16', long: 'int64', int: 'int32' };

/** The dtype a name or alias means ('float' → 'float32'), or null for anything else. */
export function parseDType(x: unknown): DType | null {
  if (isDType(x)) return x;
  if (typeof x === 'string' && Object.prototype.hasOwnProperty.call(ALIASES, x)) return ALIASES[x as DTypeAlias];
  return null;
}

/** Validates a dtype name or alias and returns the dtype (ERR_DTYPE for anything else). */
export function checkDType(x: unknown, what = 'dtype'): DType {
  const d = parseDType(x);
  if (d === null) {
    throw createError('ERR_DTYPE', `${what}: unknown dtype ${describe(x)}; expected one of ${DTYPES.join(', ')} (or torch's aliases ${Object.keys(ALIASES).join(', ')})`);
  }
  return d;
}

export const dtypeCode = (d: DType): DTypeCode => CODES[d];
export const itemSize = (d: DType): number => SIZES[d];
export const storageCtor = (d: DType): StorageCtor => CTORS[d];
export const isFloating = (d: DType): boolean => d === 'float32' || d === 'float64' || d === 'float16' || d === 'bfloat16';
export const isIntegral = (d: DType): boolean => d === 'int32' || d === 'int64' || d === 'uint8';

/** A view of `bytes` elements typed for dtype d. */
export function storageArray(d: DType, buffer: ArrayBufferLike, byteOffset: number, length: number): StorageArray {
  return new CTORS[d](buffer, byteOffset, length);
}

// ---- half precision ----------------------------------------------------------------------------
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 value → IEEE binary16 bits, round to nearest even. */
export function floatToHalf(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf / nan
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow → inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow → ±0
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++; // may carry into the exponent: correct
  return sign | half;
}

/** IEEE binary16 bits → number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** float32 value → bfloat16 bits, round to nearest even (NaN stays NaN). */
export function floatToBFloat16(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff)) return ((x >>> 16) | 0x40) & 0xffff;
  const rounded = x + 0x7fff + ((x >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

/** bfloat16 bits → number. */
export function bfloat16ToFloat(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0]!;
}

/** Writes JS values into a dtype's storage array (converting half types and bigints). */
export function writeValue(d: DType, arr: StorageArray, i: number, v: number | bigint | boolean): void {
  switch (d) {
    case 'int64':
      (arr as BigInt64Array)[i] = typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)));
      return;
    case 'float16':
      (arr as Uint16Array)[i] = floatToHalf(Number(v));
      return;
    case 'bfloat16':
      (arr as Uint16Array)[i] = floatToBFloat16(Number(v));
      return;
    case 'bool':
      (arr as Uint8Array)[i] = Number(v) !== 0 ? 1 : 0;
      return;
    default:
      (arr as Float32Array)[i] = Number(v);
  }
}

/** Reads element i of a storage array as a JS number (or boolean for bool). */
export function readValue(d: DType, arr: StorageArray, i: number): number | boolean {
  switch (d) {
    case 'int64': return Number((arr as BigInt64Array)[i]!);
    case 'float16': return halfToFloat((arr as Uint16Array)[i]!);
    case 'bfloat16': return bfloat16ToFloat((arr as Uint16Array)[i]!);
    case 'bool': return (arr as Uint8Array)[i]! !== 0;
    default: return (arr as Float32Array)[i]!;
  }
}

// ---- promotion (PyTorch's rules) ---------------------------------------------------------------
const RANK: Record<DType, number> = {
  bool: 0, uint8: 1, int32: 2, int64: 3, float16: 4, bfloat16: 4, float32: 5, float64: 6,
};

/** The dtype two tensor operands compute in, as torch.promote_types. */
export function promoteTypes(a: DType, b: DType): DType {
  if (a === b) return a;
  if ((a === 'float16' && b === 'bfloat16') || (a === 'bfloat16' && b === 'float16')) return 'float32';
  return RANK[a] >= RANK[b] ? a : b;
}

export type Scalar = number | bigint | boolean;

/**
 * Result dtype of tensor ⊕ Python-style scalar: a scalar never widens within its category (an int
 * scalar keeps an int tensor's dtype, a float scalar keeps a float tensor's dtype), but a float
 * scalar makes an integer/bool tensor float32 and an int scalar makes a bool tensor int64.
 */
export function promoteScalar(t: DType, s: Scalar): DType {
  if (typeof s === 'boolean') return t;
  const sIsFloat = typeof s === 'number' && !Number.isInteger(s);
  if (isFloating(t)) return t;
  if (sIsFloat) return 'float32';
  if (t === 'bool') return 'int64';
  return t;
}

/** The default float type for ops that need one on integer inputs (torch.get_default_dtype()). */
export const DEFAULT_FLOAT: DType = 'float32';

/** PyTorch's name for a dtype, as printed in reprs ('torch.float32'). */
export function torchName(d: DType): string {
  return `torch.${d}`;
}
