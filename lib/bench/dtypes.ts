/**
 * Benchmark data types and reduction ops: nccl-tests' names (what the table prints), node-nccl's
 * names (what the tensors use), element sizes, and exact host encodings for the half types.
 */
import { ArgumentError } from '../errors.js';

// The exact host encodings of the half types are lib/tensor's (round to nearest even).
export {
  floatToHalf as floatToHalfBits,
  halfToFloat as halfBitsToFloat,
  floatToBFloat16 as floatToBf16Bits,
  bfloat16ToFloat as bf16BitsToFloat,
} from '../tensor/dtype.js';
import {
  bfloat16ToFloat as bf16BitsToFloat,
  floatToBFloat16 as floatToBf16Bits,
  floatToHalf as floatToHalfBits,
  halfToFloat as halfBitsToFloat,
} from '../tensor/dtype.js';

/** node-nccl's dtype names (lib/tensor's DType). */
export type TensorDType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int32' | 'int64' | 'uint8' | 'bool';

export interface BenchDType {
  /** The name nccl-tests prints in its `type` column: float, half, bfloat16, double, int32, int64, uint8. */
  readonly ncclName: string;
  /** node-nccl's name. */
  readonly name: TensorDType;
  /** Bytes per element. */
  readonly size: number;
  /** Floating point: results are compared with a tolerance for `avg`; integers compare exactly. */
  readonly float: boolean;
}

const table: readonly BenchDType[] = [
  { ncclName: 'float', name: 'float32', size: 4, float: true },
  { ncclName: 'double', name: 'float64', size: 8, float: true },
  { ncclName: 'half', name: 'float16', size: 2, float: true },
  { ncclName: 'bfloat16', name: 'bfloat16', size: 2, float: true },
  { ncclName: 'int32', name: 'int32', size: 4, float: false },
  { ncclName: 'int64', name: 'int64', size: 8, float: false },
  { ncclName: 'uint8', name: 'uint8', size: 1, float: false },
];

/** Every accepted spelling → dtype. nccl-tests' names, their aliases, and node-nccl's names. */
const aliases: Record<string, TensorDType> = {
  float: 'float32', float32: 'float32', f32: 'float32', fp32: 'float32',
  double: 'float64', float64: 'float64', f64: 'float64', fp64: 'float64',
  half: 'float16', float16: 'float16', f16: 'float16', fp16: 'float16',
  bfloat16: 'bfloat16', bf16: 'bfloat16',
  int32: 'int32', int: 'int32', i32: 'int32',
  int64: 'int64', i64: 'int64',
  uint8: 'uint8', u8: 'uint8', char: 'uint8',
};

/** nccl-tests' types node-nccl has no tensor dtype for: named in the error so the user knows why. */
const ncclOnly = new Set(['int8', 'uint32', 'uint64']);

export const ALL_DTYPES: readonly BenchDType[] = table;

export function dtypeByName(name: TensorDType): BenchDType {
  const d = table.find((t) => t.name === name);
  if (!d) throw new ArgumentError(`dtype '${name}' cannot be benchmarked (expected one of ${dtypeNames()})`);
  return d;
}

export function dtypeNames(): string {
  return table.map((t) => (t.ncclName === t.name ? t.name : `${t.ncclName}|${t.name}`)).join(', ');
}

/** Parses `-d`: one name, or `all`. Throws ArgumentError naming what is accepted. */
export function parseDTypes(value: string): BenchDType[] {
  const v = value.trim().toLowerCase();
  if (v === 'all') return [...table];
  const name = aliases[v];
  if (name) return [dtypeByName(name)];
  if (ncclOnly.has(v)) {
    throw new ArgumentError(
      `-d ${value}: node-nccl tensors have no ${v} dtype (nccl-tests' ${v} is not supported); expected one of ${dtypeNames()}, or all`,
      'ERR_DTYPE',
    );
  }
  throw new ArgumentError(`-d ${value}: unknown dtype; expected one of ${dtypeNames()}, or all`, 'ERR_DTYPE');
}

export type ReduceOp = 'sum' | 'prod' | 'min' | 'max' | 'avg';
export const ALL_OPS: readonly ReduceOp[] = ['sum', 'prod', 'max', 'min', 'avg'];

/** Parses `-o`: sum, prod, min, max, avg, or all. */
export function parseOps(value: string): ReduceOp[] {
  const v = value.trim().toLowerCase();
  if (v === 'all') return [...ALL_OPS];
  if ((ALL_OPS as readonly string[]).includes(v)) return [v as ReduceOp];
  if (v === 'mulsum') {
    throw new ArgumentError(`-o mulsum: pre-multiplied sums are not supported; expected sum, prod, min, max, avg or all`);
  }
  throw new ArgumentError(`-o ${value}: unknown reduction op; expected sum, prod, min, max, avg or all`);
}

// Host encodings. Values used by the benchmark's fill pattern are small integers and powers of
// two, which float16 and bfloat16 represent exactly.

/** The host array that holds `count` elements of a dtype (half types as their raw 16-bit words). */
export type HostArray = Float32Array | Float64Array | Uint16Array | Int32Array | BigInt64Array | Uint8Array;

export function allocHost(dtype: BenchDType, count: number): HostArray {
  switch (dtype.name) {
    case 'float32':
      return new Float32Array(count);
    case 'float64':
      return new Float64Array(count);
    case 'float16':
    case 'bfloat16':
      return new Uint16Array(count);
    case 'int32':
      return new Int32Array(count);
    case 'int64':
      return new BigInt64Array(count);
    case 'uint8':
    case 'bool':
      return new Uint8Array(count);
  }
}

/** Stores a number into element i of a host array of the dtype. */
export function setValue(dtype: BenchDType, a: HostArray, i: number, v: number): void {
  switch (dtype.name) {
    case 'float16':
      (a as Uint16Array)[i] = floatToHalfBits(v);
      return;
    case 'bfloat16':
      (a as Uint16Array)[i] = floatToBf16Bits(v);
      return;
    case 'int64':
      (a as BigInt64Array)[i] = BigInt(Math.trunc(v));
      return;
    default:
      (a as Float64Array)[i] = v;
  }
}

/** Reads element i of a host array of the dtype as a number. */
export function getValue(dtype: BenchDType, a: HostArray, i: number): number {
  switch (dtype.name) {
    case 'float16':
      return halfBitsToFloat((a as Uint16Array)[i]!);
    case 'bfloat16':
      return bf16BitsToFloat((a as Uint16Array)[i]!);
    case 'int64':
      return Number((a as BigInt64Array)[i]!);
    default:
      return (a as Float64Array)[i]!;
  }
}
