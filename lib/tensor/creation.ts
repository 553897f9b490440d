/** Creating tensors: from JS data, filled, ranges, identity, random. */
import { FROM_DATA_OPTIONS, TENSOR_OPTIONS, describe, optsArg } from './args.js';
import type { OptionKeys } from '../options.js';
import { createError } from '../errors.js';
import { checkDType, DEFAULT_FLOAT, dtypeCode, isFloating, itemSize, storageArray, writeValue, type DType, type DTypeLike } from './dtype.js';
import { CPU, toDevice, type DeviceLike } from './device.js';
import { K, spanOf } from './kernels.js';
import { checkShape, contiguousStrides, fmtShape, numelOf } from './shape.js';
import { Storage } from './storage.js';
import { Tensor } from './tensor.js';
import { cast, clone, emptyTensor, transfer } from './ops/copy.js';
import { fillScalar } from './ops/inplace.js';
import { randomTensor } from './ops/random.js';
import { defaultGenerator, Generator, randpermIndices } from './generator.js';
import { checkOptions, optionKeys } from '../options.js';

export interface TensorOptions {
  /** Element type (or torch's alias: 'float', 'double', 'half', 'long', 'int'). Default: float32 for numbers, int64 for bigints, bool for booleans, or the TypedArray's type. */
  dtype?: DTypeLike;
  /** 'cpu' (default), 'cuda' or 'cuda:N'. */
  device?: DeviceLike;
  /** Record operations for autograd (default false). Floating dtypes only. */
  requiresGrad?: boolean;
}

export interface FromDataOptions extends TensorOptions {
  /** Shape for a flat TypedArray or array (default: [length]). */
  shape?: number[];
  /** Always copy a TypedArray, even where sharing its memory is possible (default false). */
  copy?: boolean;
}

export type NestedData = number | bigint | boolean | NestedData[];
type AnyTypedArray = Float32Array | Float64Array | Int8Array | Int16Array | Int32Array | Uint8Array | Uint8ClampedArray | Uint16Array | Uint32Array | BigInt64Array | BigUint64Array;

function finish(t: Tensor, opts: TensorOptions): Tensor {
  if (opts.requiresGrad) t.requiresGrad_(true);
  return t;
}

function dtypeOfTypedArray(a: AnyTypedArray): { dtype: DType; native: boolean } {
  if (a instanceof Float32Array) return { dtype: 'float32', native: true };
  if (a instanceof Float64Array) return { dtype: 'float64', native: true };
  if (a instanceof Int32Array) return { dtype: 'int32', native: true };
  if (a instanceof BigInt64Array) return { dtype: 'int64', native: true };
  if (a instanceof Uint8Array) return { dtype: 'uint8', native: true };
  if (a instanceof Uint8ClampedArray) return { dtype: 'uint8', native: false };
  if (a instanceof Int8Array || a instanceof Int16Array || a instanceof Uint16Array) return { dtype: 'int32', native: false };
  return { dtype: 'int64', native: false }; // Uint32Array, BigUint64Array
}

function nativeFor(d: DType, a: AnyTypedArray): boolean {
  switch (d) {
    case 'float32': return a instanceof Float32Array;
    case 'float64': return a instanceof Float64Array;
    case 'int32': return a instanceof Int32Array;
    case 'int64': return a instanceof BigInt64Array;
    case 'uint8': return a instanceof Uint8Array;
    case 'bool': return false;
    default: return a instanceof Uint16Array; // float16/bfloat16 raw bits
  }
}

function inferNested(data: NestedData, op: string): { shape: number[]; flat: (number | bigint | boolean)[]; dtype: DType } {
  const shape: number[] = [];
  let probe: NestedData = data;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    if (probe.length === 0) break;
    probe = probe[0]!;
  }
  const flat: (number | bigint | boolean)[] = [];
  let hasBig = false;
  let hasBool = false;
  let hasNum = false;
  let hasFrac = false;
  // iterative walk with shape checks
  const stack: { v: NestedData; depth: number; path: string }[] = [{ v: data, depth: 0, path: '' }];
  while (stack.length) {
    const { v, depth, path } = stack.pop()!;
    if (Array.isArray(v)) {
      if (depth >= shape.length || v.length !== shape[depth]) {
        throw createError('ERR_SHAPE_MISMATCH', `${op}: ragged nested array: element${path} has length ${v.length}, expected ${shape[depth] ?? 'a scalar'} (shape so far ${fmtShape(shape)})`);
      }
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i]!, depth: depth + 1, path: `${path}[${i}]` });
      continue;
    }
    if (depth !== shape.length) {
      throw createError('ERR_SHAPE_MISMATCH', `${op}: ragged nested array: element${path} is a scalar where an array of length ${shape[depth]} was expected`);
    }
    if (typeof v === 'bigint') hasBig = true;
    else if (typeof v === 'boolean') hasBool = true;
    else if (typeof v === 'number') {
      hasNum = true;
      if (!Number.isInteger(v)) hasFrac = true;
    } else throw createError('ERR_INVALID_ARG', `${op}: element${path} is ${typeof v}; expected number, bigint or boolean`);
    flat.push(v);
  }
  let dtype: DType = DEFAULT_FLOAT;
  if (hasBig && !hasFrac) dtype = 'int64';
  else if (hasBool && !hasNum && !hasBig) dtype = 'bool';
  return { shape, flat, dtype };
}

/** A tensor from nested arrays, a TypedArray (shared on the CPU when its type matches), a number, bigint or boolean. */
export function tensor(data: NestedData | AnyTypedArray | Tensor, options: FromDataOptions = {}): Tensor {
  const opts = creationOpts(options, 'tensor', FROM_DATA_OPTIONS);
  const device = toDevice(opts.device, 'tensor');
  if (data instanceof Tensor) {
    // a copy, cut from the graph (torch.tensor(t))
    data._check('tensor');
    const src = data.detach();
    const dense = src.isContiguous() ? src : clone(src);
    let t = dense.device.equals(device) ? (dense === src ? clone(src) : dense) : transfer(dense, device);
    if (dense !== src && dense !== t) dense.dispose();
    src.dispose();
    if (opts.dtype && opts.dtype !== t.dtype) {
      const c = cast(t, opts.dtype);
      t.dispose();
      t = c;
    }
    return finish(t, opts);
  }
  if (ArrayBuffer.isView(data)) {
    const a = data as AnyTypedArray;
    const info = dtypeOfTypedArray(a);
    const dtype = opts.dtype ?? info.dtype;
    const shape = opts.shape ? checkShape(opts.shape, 'tensor') : [a.length];
    if (numelOf(shape) !== a.length) {
      throw createError('ERR_SHAPE_MISMATCH', `tensor: shape ${fmtShape(shape)} needs ${numelOf(shape)} elements but the ${a.constructor.name} has ${a.length}`);
    }
    if (nativeFor(dtype, a) && !opts.copy) {
      const host = new Tensor(Storage.wrapHost(CPU, a), shape, contiguousStrides(shape), 0, dtype);
      if (device.type === 'cpu') return finish(host, opts);
      const moved = transfer(host, device);
      host.dispose();
      return finish(moved, opts);
    }
    const t = emptyTensor(shape, dtype, CPU, 'tensor');
    const arr = storageArray(dtype, t._storage.host as ArrayBufferLike, 0, a.length);
    if (nativeFor(dtype, a)) arr.set(a as never);
    else for (let i = 0; i < a.length; i++) writeValue(dtype, arr, i, a[i]!);
    return finish(toDeviceOwned(t, device), opts);
  }
  const { shape, flat, dtype: inferred } = inferNested(data as NestedData, 'tensor');
  const dtype = opts.dtype ?? inferred;
  const finalShape = opts.shape ? checkShape(opts.shape, 'tensor') : shape;
  if (numelOf(finalShape) !== flat.length) {
    throw createError('ERR_SHAPE_MISMATCH', `tensor: shape ${fmtShape(finalShape)} needs ${numelOf(finalShape)} elements but the data has ${flat.length}`);
  }
  const t = emptyTensor(finalShape, dtype, CPU, 'tensor');
  const arr = storageArray(dtype, t._storage.host as ArrayBufferLike, 0, flat.length);
  for (let i = 0; i < flat.length; i++) writeValue(dtype, arr, i, flat[i]!);
  return finish(toDeviceOwned(t, device), opts);
}

function toDeviceOwned(t: Tensor, device: ReturnType<typeof toDevice>): Tensor {
  if (device.type === 'cpu') return t;
  const m = transfer(t, device);
  t.dispose();
  return m;
}

function shapeFrom(args: (number | number[])[], op: string): number[] {
  if (args.length === 1 && Array.isArray(args[0])) return checkShape(args[0], op);
  return checkShape(args, op);
}

/**
 * Checked options of a creation function: only TensorOptions' keys (or `keys`), and the dtype
 * resolved to its canonical name ('float' → 'float32').
 */
function creationOpts<O extends TensorOptions>(o: O | null | undefined, op: string, keys: OptionKeys = TENSOR_OPTIONS): Omit<O, 'dtype'> & { dtype?: DType } {
  const c = optsArg(o, op, keys);
  if (c.dtype === undefined) return c as Omit<O, 'dtype'> & { dtype?: DType };
  return { ...c, dtype: checkDType(c.dtype, op) };
}

/**
 * (shape..., opts?) → the shape arguments and the checked options. A null after the shape means no
 * options; a null alone (`zeros(null)`) is a wrong shape, not an empty one.
 */
function splitShapeOpts(args: unknown[], op: string): { shape: (number | number[])[]; opts: Omit<TensorOptions, 'dtype'> & { dtype?: DType } } {
  const last = args[args.length - 1];
  if (last === null && args.length > 1) return { shape: args.slice(0, -1) as (number | number[])[], opts: {} };
  if (last !== null && last !== undefined && typeof last === 'object' && !Array.isArray(last)) {
    return { shape: args.slice(0, -1) as (number | number[])[], opts: creationOpts(last as TensorOptions, op) };
  }
  return { shape: args as (number | number[])[], opts: {} };
}

/** Uninitialized values on the GPU (zeros on the host). empty([2, 3]) or empty(2, 3). */
export function empty(...args: (number | number[] | TensorOptions)[]): Tensor {
  const { shape, opts } = splitShapeOpts(args, 'empty');
  const dtype = opts.dtype ?? DEFAULT_FLOAT;
  return finish(emptyTensor(shapeFrom(shape, 'empty'), dtype, toDevice(opts.device, 'empty'), 'empty'), opts);
}

/** A tensor filled with `value` (dtype: float32 for numbers, int64 for bigints, bool for booleans). */
export function full(shape: number | number[], value: number | bigint | boolean, options: TensorOptions = {}): Tensor {
  const opts = creationOpts(options, 'full');
  if (typeof value !== 'number' && typeof value !== 'bigint' && typeof value !== 'boolean') {
    throw createError('ERR_INVALID_ARG', `full: fill value must be a number, bigint or boolean, got ${describe(value)}`);
  }
  const dtype = opts.dtype === undefined
    ? typeof value === 'bigint' ? 'int64' : typeof value === 'boolean' ? 'bool' : DEFAULT_FLOAT
    : opts.dtype;
  const t = emptyTensor(checkShape(shape, 'full'), dtype, toDevice(opts.device, 'full'), 'full');
  if (!(t.device.type === 'cpu' && Number(value) === 0)) fillScalar(t, value);
  return finish(t, opts);
}

export function zeros(...args: (number | number[] | TensorOptions)[]): Tensor {
  const { shape, opts } = splitShapeOpts(args, 'zeros');
  return full(shapeFrom(shape, 'zeros'), 0, opts);
}
export function ones(...args: (number | number[] | TensorOptions)[]): Tensor {
  const { shape, opts } = splitShapeOpts(args, 'ones');
  return full(shapeFrom(shape, 'ones'), 1, opts);
}

function likeOpts(t: Tensor, options: TensorOptions): TensorOptions {
  const opts = creationOpts(options, 'like');
  return { dtype: opts.dtype ?? t.dtype, device: opts.device ?? t.device, ...(opts.requiresGrad ? { requiresGrad: true } : {}) };
}
export const zerosLike = (t: Tensor, opts: TensorOptions = {}): Tensor => full([...t.shape], 0, likeOpts(t, opts));
export const onesLike = (t: Tensor, opts: TensorOptions = {}): Tensor => full([...t.shape], 1, likeOpts(t, opts));
export const fullLike = (t: Tensor, value: number | bigint | boolean, opts: TensorOptions = {}): Tensor => full([...t.shape], value, likeOpts(t, opts));
export const emptyLike = (t: Tensor, opts: TensorOptions = {}): Tensor => empty([...t.shape], likeOpts(t, opts));

/**
 * Values from start (inclusive) to end (exclusive) by step: arange(end), arange(start, end[, step]).
 * Integer arguments give int64 (as torch), any fractional one float32.
 */
export function arange(...args: (number | TensorOptions)[]): Tensor {
  const { shape: nums, opts } = splitShapeOpts(args, 'arange');
  const n = nums as number[];
  if (n.length < 1 || n.length > 3 || n.some((x) => typeof x !== 'number' || !Number.isFinite(x))) {
    throw createError('ERR_INVALID_ARG', `arange: expected (end), (start, end) or (start, end, step) finite numbers, got (${n.map(describe).join(', ')})`);
  }
  const [start, end, step] = n.length === 1 ? [0, n[0]!, 1] : [n[0]!, n[1]!, n[2] ?? 1];
  if (step === 0) throw createError('ERR_INVALID_ARG', 'arange: step must be nonzero');
  if ((end - start) / step < 0) {
    throw createError('ERR_INVALID_ARG', `arange: upper bound and larger bound inconsistent with step sign (start=${start}, end=${end}, step=${step})`);
  }
  const dtype = opts.dtype ?? ([start, end, step].every(Number.isInteger) ? 'int64' : DEFAULT_FLOAT);
  const count = Math.ceil((end - start) / step);
  const t = emptyTensor([count], dtype, toDevice(opts.device, 'arange'), 'arange');
  if (count > 0) K().arange(dtypeCode(dtype), spanOf(t), count, start, step);
  return finish(t, opts);
}


/** `steps` values evenly spaced from start to end inclusive (float32 by default). */
export function linspace(start: number, end: number, steps: number, options: TensorOptions = {}): Tensor {
  const opts = creationOpts(options, 'linspace');
  if (!Number.isSafeInteger(steps) || steps < 0) throw createError('ERR_INVALID_ARG', `linspace: steps must be a non-negative integer, got ${steps}`);
  const dtype = opts.dtype ?? DEFAULT_FLOAT;
  const host = emptyTensor([steps], dtype, CPU, 'linspace');
  const arr = storageArray(dtype, host._storage.host as ArrayBufferLike, 0, steps);
  const step = steps > 1 ? (end - start) / (steps - 1) : 0;
  const half = steps === 1 ? 1 : Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) writeValue(dtype, arr, i, i < half ? start + step * i : end - step * (steps - 1 - i));
  return finish(toDeviceOwned(host, toDevice(opts.device, 'linspace')), opts);
}

/** The n x m identity matrix (m defaults to n). */
export function eye(n: number, m: number | TensorOptions = n, options: TensorOptions = {}): Tensor {
  if (typeof m === 'object' && m !== null) {
    options = m;
    m = n;
  }
  const opts = creationOpts(options, 'eye');
  const shape = checkShape([n, m], 'eye');
  const dtype = opts.dtype ?? DEFAULT_FLOAT;
  const host = emptyTensor(shape, dtype, CPU, 'eye');
  const arr = storageArray(dtype, host._storage.host as ArrayBufferLike, 0, n * m);
  for (let i = 0; i < Math.min(n, m); i++) writeValue(dtype, arr, i * m + i, 1);
  return finish(toDeviceOwned(host, toDevice(opts.device, 'eye')), opts);
}

/** Uniform [0, 1) values from the device's generator (see manualSeed). */
export function rand(...args: (number | number[] | TensorOptions)[]): Tensor {
  const { shape, opts } = splitShapeOpts(args, 'rand');
  const dtype = opts.dtype ?? DEFAULT_FLOAT;
  return finish(randomTensor(shapeFrom(shape, 'rand'), dtype, toDevice(opts.device, 'rand'), 'uniform', 0, 1, 'rand'), opts);
}

/** Standard normal values from the device's generator. */
export function randn(...args: (number | number[] | TensorOptions)[]): Tensor {
  const { shape, opts } = splitShapeOpts(args, 'randn');
  const dtype = opts.dtype ?? DEFAULT_FLOAT;
  return finish(randomTensor(shapeFrom(shape, 'randn'), dtype, toDevice(opts.device, 'randn'), 'normal', 0, 1, 'randn'), opts);
}

/** Integers uniform in [low, high): randint(high, shape) or randint(low, high, shape). int64 by default. */
export function randint(...args: (number | number[] | TensorOptions)[]): Tensor {
  const { shape: rest, opts } = splitShapeOpts(args, 'randint');
  let low = 0;
  let high: number;
  let shape: unknown;
  if (rest.length === 2) [high, shape] = rest as [number, number[]];
  else if (rest.length === 3) [low, high, shape] = rest as [number, number, number[]];
  else throw createError('ERR_INVALID_ARG', 'randint: expected (high, shape) or (low, high, shape)');
  if (!Number.isSafeInteger(low) || !Number.isSafeInteger(high) || high <= low) {
    throw createError('ERR_INVALID_ARG', `randint: expected integers low < high, got low=${describe(low)}, high=${describe(high)}`);
  }
  const dtype = opts.dtype ?? 'int64';
  if (isFloating(dtype) && itemSize(dtype) < 4 && high - low > 2048) {
    throw createError('ERR_INVALID_ARG', `randint: range [${low}, ${high}) is not exactly representable in ${dtype}`);
  }
  return finish(randomTensor(checkShape(shape, 'randint'), dtype, toDevice(opts.device, 'randint'), 'randint', low, high, 'randint'), opts);
}

export interface RandpermOptions extends TensorOptions {
  /** The torch-exact Mersenne Twister to draw from (default: defaultGenerator, which manualSeed reseeds). */
  generator?: Generator;
}

/** The largest index each dtype holds exactly (torch's check_supported_max_int_with_precision). */
const RANDPERM_LARGEST: Partial<Record<DType, number>> = {
  int64: Number.MAX_SAFE_INTEGER, int32: 2 ** 31 - 1, uint8: 255,
  float64: 2 ** 53, float32: 2 ** 24, float16: 2048, bfloat16: 256,
};

const RANDPERM_OPTIONS = optionKeys<RandpermOptions>({ dtype: true, device: true, requiresGrad: true, generator: true });

/**
 * A random permutation of 0..n-1 (torch.randperm): the same numbers torch 1.13 gives for the same
 * generator state, so `randperm(n, { generator: new Generator().manualSeed(s) })` is torch's order.
 * int64 by default. The permutation is drawn on the host from the CPU generator, as torch does for
 * CPU generators, then placed on `device`.
 */
export function randperm(n: number, options: RandpermOptions = {}): Tensor {
  const opts = checkOptions(options, RANDPERM_OPTIONS, 'randperm');
  if (opts.generator !== undefined && !(opts.generator instanceof Generator)) {
    throw createError('ERR_INVALID_ARG', `randperm: generator must be a Generator (new Generator().manualSeed(seed)), got ${describe(opts.generator)}`);
  }
  const dtype = checkDType(opts.dtype ?? 'int64', 'randperm');
  const largest = RANDPERM_LARGEST[dtype];
  if (largest === undefined) throw createError('ERR_INVALID_ARG', `randperm: dtype ${dtype} cannot hold a permutation; use int64 (the default), int32, uint8 or a floating dtype`);
  if (Number.isSafeInteger(n) && n - 1 > largest) {
    throw createError('ERR_INVALID_ARG', `randperm: n=${n} does not fit ${dtype} exactly (at most ${largest + 1}); use int64`);
  }
  const idx = randpermIndices(n, opts.generator ?? defaultGenerator);
  const { generator: _g, ...tensorOpts } = opts;
  return tensor(idx, { ...tensorOpts, dtype, shape: [n] });
}
