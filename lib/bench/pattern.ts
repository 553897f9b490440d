/**
 * The deterministic fill pattern (nccl-tests' "verifiable" idea): every rank can compute, without
 * communicating, what any rank's input holds and therefore what every result must be.
 *
 * Values are small integers (0..3 for sum/min/max/avg, 1 or 2 for prod) so that sums and products
 * over any reduction order are exact in every dtype, float16 and bfloat16 included (up to 85 ranks
 * for bfloat16 sums, 15 for float16 products); integer dtypes wrap as the device does.
 */
import type { BenchDType, HostArray, ReduceOp } from './dtypes.js';
import {
  allocHost,
  bf16BitsToFloat,
  floatToBf16Bits,
  floatToHalfBits,
  getValue,
  halfBitsToFloat,
  setValue,
} from './dtypes.js';

/** The value rank `rank` holds at logical element `index` in repetition `rep`. */
export function patternValue(op: ReduceOp | null, rank: number, index: number, rep: number): number {
  const h = (index * 3 + rank * 5 + rep * 7) % 13;
  if (op === 'prod') return h % 4 === 0 ? 2 : 1;
  return h % 4;
}

/** Fills a host array with the pattern of `rank`, logical indices start..start+count. */
export function fillPattern(
  dtype: BenchDType,
  op: ReduceOp | null,
  rank: number,
  start: number,
  count: number,
  rep: number,
  into?: HostArray,
  intoOffset = 0,
): HostArray {
  const a = into ?? allocHost(dtype, count);
  for (let i = 0; i < count; i++) setValue(dtype, a, intoOffset + i, patternValue(op, rank, start + i, rep));
  return a;
}

/** Wraps an exact integer result to the dtype, as the device computes it. */
function wrap(dtype: BenchDType, v: number): number {
  switch (dtype.name) {
    case 'uint8':
    case 'bool':
      return ((v % 256) + 256) % 256;
    case 'int32':
      return v | 0;
    default:
      return v;
  }
}

/** Rounds a real number to what the dtype stores (float16/bfloat16/float32 rounding). */
export function roundTo(dtype: BenchDType, v: number): number {
  switch (dtype.name) {
    case 'float32':
      return Math.fround(v);
    case 'float16':
      return halfBitsToFloat(floatToHalfBits(v));
    case 'bfloat16':
      return bf16BitsToFloat(floatToBf16Bits(v));
    default:
      return v;
  }
}

/** The reduction of every rank's pattern at one logical index. */
export function reducedValue(
  dtype: BenchDType,
  op: ReduceOp,
  nranks: number,
  index: number,
  rep: number,
): number {
  let acc = patternValue(op, 0, index, rep);
  for (let r = 1; r < nranks; r++) {
    const v = patternValue(op, r, index, rep);
    switch (op) {
      case 'sum':
      case 'avg':
        acc = wrap(dtype, acc + v);
        break;
      case 'prod':
        acc = wrap(dtype, acc * v);
        break;
      case 'min':
        acc = Math.min(acc, v);
        break;
      case 'max':
        acc = Math.max(acc, v);
        break;
    }
  }
  if (op === 'avg') acc = dtype.float ? acc / nranks : Math.trunc(acc / nranks);
  return roundTo(dtype, acc);
}

/** Relative tolerance per dtype: only `avg` of floats can be inexact (sum then divide or multiply). */
export function tolerance(dtype: BenchDType, op: ReduceOp | null): number {
  if (!dtype.float || op !== 'avg') return 0;
  switch (dtype.name) {
    case 'float16':
      return 2 ** -10;
    case 'bfloat16':
      return 2 ** -7;
    case 'float32':
      return 2 ** -22;
    default:
      return 2 ** -50;
  }
}

/**
 * Counts the elements of `got` (from `gotOffset`, `count` of them) that differ from `expected(i)`.
 * NaN never equals anything, so a garbage buffer always counts as wrong.
 */
export function countWrong(
  dtype: BenchDType,
  got: HostArray,
  gotOffset: number,
  count: number,
  expected: (i: number) => number,
  tol: number,
): number {
  let wrong = 0;
  for (let i = 0; i < count; i++) {
    const g = getValue(dtype, got, gotOffset + i);
    const e = expected(i);
    if (tol === 0 ? g !== e : !(Math.abs(g - e) <= tol * Math.max(1, Math.abs(e)))) wrong++;
  }
  return wrong;
}
