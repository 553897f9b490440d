/**
 * DataLoader (layer: lib/parallel): batches a dataset into tensors, in the order of a sampler,
 * with batches prepared ahead of use and copied to the target device asynchronously.
 *
 *     const loader = new DataLoader(ds, { batchSize: 64, sampler: new DistributedSampler(ds) });
 *     for (let epoch = 0; epoch < epochs; epoch++) {
 *       loader.setEpoch(epoch);                    // = sampler.set_epoch(epoch)
 *       for await (const [x, y] of loader) { ... }
 *     }
 *
 * Unlike torch there are no worker processes: a dataset whose `get` is asynchronous (file or
 * network reads) overlaps with training through the prefetch queue; batching itself is a copy
 * into one typed array per field.
 */
import { ArgumentError } from '../errors.js';
import { stack, tensor, Tensor, type DeviceLike, type DType } from '../tensor/index.js';
import { defaultGenerator, Generator, randomInt64 } from '../tensor/generator.js';
import { BatchSampler, RandomSampler, SequentialSampler, type Sampler } from './sampler.js';
import { pinnedArray } from './pinned.js';
import { checkOptions, optionKeys } from '../options.js';

/** A map-style dataset: `length` items addressed by index (arrays qualify). */
export interface Dataset<T> {
  readonly length: number;
  /** Item i (may be async). Arrays are read with [i] when there is no get(). */
  get?(index: number): T | Promise<T>;
  /** Optional batched read (torch's __getitems__): the items at these indices. */
  getItems?(indices: readonly number[]): T[] | Promise<T[]>;
}

export type Collate<T, B> = (samples: T[], ctx: CollateContext) => B;

/**
 * The batch defaultCollate makes from samples of type T, as a type: tensors, numbers, booleans and
 * typed arrays become one Tensor, strings a string[], arrays (tuples) and objects are collated
 * field by field. It is the DataLoader's default batch type, so `for await (const [x, y] of loader)`
 * over a `TensorDataset(x, y)` gives Tensors without spelling the generics.
 */
export type Collated<T> =
  T extends Tensor ? Tensor
    : T extends number | bigint | boolean ? Tensor
      : T extends string ? string[]
        : T extends ArrayBufferView ? Tensor
          : T extends readonly unknown[] ? { -readonly [K in keyof T]: Collated<T[K]> }
            : T extends object ? { [K in keyof T]: Collated<T[K]> }
              : unknown;

export interface CollateContext {
  /** Allocate typed arrays from the pinned host pool (pinMemory with a CUDA device). */
  pin: boolean;
}

export interface DataLoaderOptions<T, B> {
  /** Samples per batch (default 1). */
  batchSize?: number;
  /** Reshuffle every epoch (default false); mutually exclusive with sampler. */
  shuffle?: boolean;
  /** Where the indices come from (e.g. a DistributedSampler); default sequential or random per `shuffle`. */
  sampler?: Sampler;
  /** Drop the last incomplete batch (default false). */
  dropLast?: boolean;
  /** Merges samples into a batch (default: defaultCollate). */
  collate?: Collate<T, B>;
  /** Batches prepared ahead of the one in use (default 2; 0 prepares each batch on demand). */
  prefetch?: number;
  /** Stage batches in page-locked host memory, for faster asynchronous copies to a GPU (default false). */
  pinMemory?: boolean;
  /** Move every tensor of a batch to this device (asynchronously, on the current stream). */
  device?: DeviceLike;
  /**
   * The generator of the shuffle and of the per-epoch base seed (torch's `generator`): with
   * `shuffle: true` the loader's RandomSampler draws from it, so a seeded one gives torch's order.
   * Default: defaultGenerator (reseeded by manualSeed).
   */
  generator?: Generator;
  /** Shorthand for `generator: new Generator().manualSeed(seed)`. */
  seed?: number;
}

const DATA_LOADER_OPTIONS = optionKeys<DataLoaderOptions<unknown, unknown>>({
  batchSize: true, shuffle: true, sampler: true, dropLast: true, collate: true, prefetch: true, pinMemory: true, device: true, generator: true, seed: true,
});

function isTypedArray(x: unknown): x is Float32Array | Float64Array | Int32Array | Uint8Array | BigInt64Array | Int16Array | Uint16Array {
  return ArrayBuffer.isView(x) && !(x instanceof DataView);
}

function typedDType(x: ArrayBufferView): DType {
  if (x instanceof Float32Array) return 'float32';
  if (x instanceof Float64Array) return 'float64';
  if (x instanceof Int32Array) return 'int32';
  if (x instanceof BigInt64Array) return 'int64';
  if (x instanceof Uint8Array || x instanceof Uint8ClampedArray) return 'uint8';
  throw new ArgumentError(`defaultCollate: unsupported typed array ${x.constructor.name}; use Float32Array, Float64Array, Int32Array, BigInt64Array or Uint8Array`);
}

/**
 * torch's default_collate, in JS terms:
 *  - Tensors → stack along a new dim 0;
 *  - numbers → an int64 tensor when all are integers, else float32; booleans → bool;
 *  - typed arrays of equal length → one [batch, length] tensor of the matching dtype;
 *  - arrays (tuples) and plain objects → collated field by field; strings → string[].
 */
export function defaultCollate(samples: unknown[], ctx: CollateContext = { pin: false }): unknown {
  if (samples.length === 0) throw new ArgumentError('defaultCollate: empty batch');
  const first = samples[0];
  if (first instanceof Tensor) return stack(samples as Tensor[], 0);
  if (typeof first === 'number') {
    const nums = samples as number[];
    if (nums.some((v) => typeof v !== 'number')) throw new ArgumentError('defaultCollate: a batch mixes numbers with other types');
    const ints = nums.every((v) => Number.isSafeInteger(v));
    if (ints) {
      const a = ctx.pin ? pinnedArray<BigInt64Array>(BigInt64Array, nums.length) : new BigInt64Array(nums.length);
      nums.forEach((v, i) => (a[i] = BigInt(v)));
      return tensor(a, { dtype: 'int64' });
    }
    const a = ctx.pin ? pinnedArray<Float32Array>(Float32Array, nums.length) : new Float32Array(nums.length);
    a.set(nums);
    return tensor(a, { dtype: 'float32' });
  }
  if (typeof first === 'boolean') {
    const a = new Uint8Array(samples.length);
    samples.forEach((v, i) => (a[i] = v ? 1 : 0));
    return tensor(a, { dtype: 'bool' });
  }
  if (typeof first === 'string') return samples as string[];
  if (isTypedArray(first)) {
    const len = first.length;
    const Ctor = first.constructor as new (n: number) => typeof first;
    const out = ctx.pin ? pinnedArray<typeof first>(first.constructor as never, len * samples.length) : new Ctor(len * samples.length);
    samples.forEach((s, i) => {
      if (!isTypedArray(s) || s.length !== len || s.constructor !== first.constructor) {
        throw new ArgumentError(`defaultCollate: sample ${i} is not a ${first.constructor.name} of length ${len} like sample 0`);
      }
      (out as Float32Array).set(s as Float32Array, i * len);
    });
    return tensor(out as Float32Array, { dtype: typedDType(first) }).reshape([samples.length, len]);
  }
  if (Array.isArray(first)) {
    const n = first.length;
    for (const s of samples) {
      if (!Array.isArray(s) || s.length !== n) throw new ArgumentError('defaultCollate: each element in a batch should be an array of equal size');
    }
    return Array.from({ length: n }, (_, k) => defaultCollate(samples.map((s) => (s as unknown[])[k]), ctx));
  }
  if (first && typeof first === 'object' && Object.getPrototypeOf(first) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(first)) out[key] = defaultCollate(samples.map((s) => (s as Record<string, unknown>)[key]), ctx);
    return out;
  }
  throw new ArgumentError(`defaultCollate: don't know how to batch samples of type ${first === null ? 'null' : typeof first}; pass a collate function`);
}

/** Moves every tensor inside a batch to a device. */
export function moveBatch<B>(batch: B, device: DeviceLike): B {
  const mv = (x: unknown): unknown => {
    if (x instanceof Tensor) return x.device.toString() === String(device) ? x : x.to(device);
    if (Array.isArray(x)) return x.map(mv);
    if (x && typeof x === 'object' && Object.getPrototypeOf(x) === Object.prototype) {
      return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, mv(v)]));
    }
    return x;
  };
  return mv(batch) as B;
}

/**
 * Batches of a dataset: `new DataLoader(ds, { batchSize: 64, shuffle: true })`. T is the dataset's
 * item type and B the batch type (default: what defaultCollate makes of T, see Collated; a custom
 * `collate` sets B by what it returns).
 */
export class DataLoader<T = unknown, B = Collated<T>> implements AsyncIterable<B> {
  readonly batchSize: number;
  readonly dropLast: boolean;
  readonly sampler: Sampler;
  readonly prefetch: number;
  readonly pinMemory: boolean;
  readonly device: DeviceLike | undefined;
  /** The generator of the shuffle (the `generator` or `seed` option), or undefined for defaultGenerator. */
  readonly generator: Generator | undefined;
  private readonly collate: Collate<T, B>;
  private readonly batchSampler: BatchSampler;

  constructor(
    readonly dataset: Dataset<T> | readonly T[],
    opts: DataLoaderOptions<T, B> = {},
  ) {
    opts = checkOptions(opts, DATA_LOADER_OPTIONS, 'DataLoader');
    if (!dataset || !Number.isSafeInteger(dataset.length) || dataset.length < 0) {
      throw new ArgumentError('DataLoader: dataset must have a non-negative integer length (an array, or an object with length and get(i))');
    }
    const ds = dataset as Dataset<T>;
    if (!Array.isArray(dataset) && typeof ds.get !== 'function' && typeof ds.getItems !== 'function') {
      throw new ArgumentError('DataLoader: dataset must be an array or have get(index) (or getItems(indices))');
    }
    this.batchSize = opts.batchSize ?? 1;
    if (!Number.isSafeInteger(this.batchSize) || this.batchSize < 1) throw new ArgumentError(`DataLoader: batchSize must be an integer >= 1, got ${String(opts.batchSize)}`);
    if (opts.sampler && opts.shuffle) throw new ArgumentError('DataLoader: sampler option is mutually exclusive with shuffle');
    this.dropLast = opts.dropLast ?? false;
    if (opts.generator !== undefined && opts.seed !== undefined) throw new ArgumentError('DataLoader: pass either generator or seed, not both');
    if (opts.generator !== undefined && !(opts.generator instanceof Generator)) {
      throw new ArgumentError('DataLoader: generator must be a Generator (new Generator().manualSeed(seed))');
    }
    if (opts.seed !== undefined && (typeof opts.seed !== 'number' || !Number.isSafeInteger(opts.seed) || opts.seed < 0)) {
      throw new ArgumentError(`DataLoader: seed must be an integer >= 0, got ${String(opts.seed)}`);
    }
    this.generator = opts.seed !== undefined ? new Generator().manualSeed(opts.seed) : opts.generator;
    this.sampler = opts.sampler ?? (opts.shuffle ? new RandomSampler(dataset, { generator: this.generator }) : new SequentialSampler(dataset));
    this.prefetch = opts.prefetch ?? 2;
    if (!Number.isSafeInteger(this.prefetch) || this.prefetch < 0) throw new ArgumentError(`DataLoader: prefetch must be an integer >= 0, got ${String(opts.prefetch)}`);
    this.pinMemory = opts.pinMemory ?? false;
    this.device = opts.device;
    this.collate = opts.collate ?? (defaultCollate as unknown as Collate<T, B>);
    this.batchSampler = new BatchSampler(this.sampler, this.batchSize, this.dropLast);
  }

  /** Batches per epoch. */
  get length(): number {
    return this.batchSampler.length;
  }

  /** Forwards to the sampler's setEpoch (DistributedSampler.set_epoch). */
  setEpoch(epoch: number): void {
    this.sampler.setEpoch?.(epoch);
  }

  private async fetch(indices: number[]): Promise<B> {
    const ds = this.dataset as Dataset<T> & { [i: number]: T };
    let samples: T[];
    if (typeof ds.getItems === 'function') samples = await ds.getItems(indices);
    else if (typeof ds.get === 'function') samples = await Promise.all(indices.map((i) => ds.get!(i)));
    else samples = indices.map((i) => ds[i]!);
    const pin = this.pinMemory && this.device !== undefined && String(this.device).startsWith('cuda');
    const batch = this.collate(samples, { pin });
    return this.device !== undefined ? moveBatch(batch, this.device) : batch;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<B> {
    const it = this.batchSampler[Symbol.iterator]();
    // torch's loader iterator draws a base seed (for its workers) before the sampler's first draw;
    // drawing it too keeps the generators' streams, and so the shuffles, equal to torch's.
    randomInt64(this.generator ?? defaultGenerator);
    const queue: Promise<B>[] = [];
    const ahead = Math.max(1, this.prefetch + 1);
    const pump = (): void => {
      while (queue.length < ahead) {
        const n = it.next();
        if (n.done) return;
        const p = this.fetch(n.value);
        p.catch(() => {}); // surfaced when this batch is awaited
        queue.push(p);
      }
    };
    pump();
    while (queue.length > 0) {
      const batch = await queue.shift()!;
      pump();
      yield batch;
    }
  }
}

/**
 * A dataset of tensors indexed along dim 0 (torch.utils.data.TensorDataset): item i is
 * [t0[i], t1[i], ...], typed as a tuple of as many Tensors as were given.
 */
export class TensorDataset<T extends Tensor[] = Tensor[]> implements Dataset<T> {
  readonly tensors: T;
  constructor(...tensors: T) {
    if (tensors.length === 0) throw new ArgumentError('TensorDataset: give at least one tensor');
    const n = tensors[0]!.shape[0];
    if (tensors.some((t) => t.ndim === 0 || t.shape[0] !== n)) {
      throw new ArgumentError(`TensorDataset: size mismatch between tensors (dim 0 sizes ${tensors.map((t) => t.shape[0] ?? 'scalar').join(', ')})`);
    }
    this.tensors = tensors;
  }
  get length(): number {
    return this.tensors[0]!.shape[0]!;
  }
  get(i: number): T {
    return this.tensors.map((t) => t.select(0, i)) as T;
  }
}
