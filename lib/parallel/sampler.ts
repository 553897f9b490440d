/**
 * Samplers: which dataset indices a loader visits, and in what order (layer: lib/parallel, pure).
 *
 * `DistributedSampler` follows torch.utils.data.DistributedSampler rule for rule:
 *  - shuffle: `randperm(n)` on a Generator seeded with `seed + epoch` (call `setEpoch(e)` each
 *    epoch), identical on every rank and identical to torch's order (lib/tensor/generator.ts is
 *    torch's Mersenne Twister and randperm, bit for bit);
 *  - dropLast = false: the index list is padded to a multiple of numReplicas by repeating it from
 *    the start (as many times as needed), so every rank gets ceil(n / numReplicas) samples;
 *  - dropLast = true: the tail is dropped, so every rank gets floor(n / numReplicas) samples;
 *  - rank r takes indices[r : total : numReplicas] (a strided split).
 */
import { ArgumentError } from '../errors.js';
import { defaultGenerator, Generator, randintValues, randomInt64, randpermIndices } from '../tensor/generator.js';
import { defaultRank, defaultWorldSize } from './group.js';
import { checkOptions, optionKeys } from '../options.js';

/** Anything with a length: a dataset, an array. */
export interface Sized {
  readonly length: number;
}

/** A sampler yields dataset indices; `length` is how many it yields per pass. */
export interface Sampler extends Iterable<number> {
  readonly length: number;
  /** Called by loaders at the start of each epoch when present (DistributedSampler's setEpoch). */
  setEpoch?(epoch: number): void;
}

function checkLength(dataset: Sized, who: string): number {
  const n = dataset?.length;
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new ArgumentError(`${who}: the dataset must have a non-negative integer length, got ${String(n)}`);
  }
  return n;
}

function checkInt(v: unknown, name: string, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw new ArgumentError(`${name} must be an integer >= ${min}, got ${String(v)}`);
  }
  return v;
}

/** Visits 0, 1, …, n-1 in order. */
export class SequentialSampler implements Sampler {
  constructor(private readonly dataset: Sized) {
    checkLength(dataset, 'SequentialSampler');
  }
  get length(): number {
    return this.dataset.length;
  }
  *[Symbol.iterator](): Iterator<number> {
    for (let i = 0; i < this.dataset.length; i++) yield i;
  }
}

export interface RandomSamplerOptions {
  /** Draw with replacement (default false). */
  replacement?: boolean;
  /** Indices per pass (default: the dataset's length; more than that draws several permutations). */
  numSamples?: number;
  /**
   * The generator every pass draws from, its state carrying on from pass to pass (torch's
   * `generator`). Default: each pass seeds a fresh Generator from a 64-bit draw of defaultGenerator,
   * as torch does, so `manualSeed(s)` first makes the passes reproducible.
   */
  generator?: Generator;
  /** Shorthand for `generator: new Generator().manualSeed(seed)`. */
  seed?: number;
}

const RANDOM_SAMPLER_OPTIONS = optionKeys<RandomSamplerOptions>({ replacement: true, numSamples: true, generator: true, seed: true });

function checkGenerator(g: unknown, who: string): Generator | undefined {
  if (g === undefined) return undefined;
  if (!(g instanceof Generator)) throw new ArgumentError(`${who}: generator must be a Generator (new Generator().manualSeed(seed)), got ${typeof g}`);
  return g;
}

/** torch.utils.data.RandomSampler: each pass is a fresh permutation (or draws with replacement), in torch's order. */
export class RandomSampler implements Sampler {
  readonly replacement: boolean;
  readonly generator: Generator | undefined;
  private readonly fixedSamples: number | undefined;

  constructor(private readonly dataset: Sized, opts: RandomSamplerOptions = {}) {
    opts = checkOptions(opts, RANDOM_SAMPLER_OPTIONS, 'RandomSampler');
    checkLength(dataset, 'RandomSampler');
    if (opts.replacement !== undefined && typeof opts.replacement !== 'boolean') {
      throw new ArgumentError(`RandomSampler: replacement should be a boolean value, but got replacement=${String(opts.replacement)}`);
    }
    this.replacement = opts.replacement ?? false;
    if (opts.numSamples !== undefined) this.fixedSamples = checkInt(opts.numSamples, 'RandomSampler: numSamples', 1);
    if (opts.generator !== undefined && opts.seed !== undefined) throw new ArgumentError('RandomSampler: pass either generator or seed, not both');
    this.generator = checkGenerator(opts.generator, 'RandomSampler');
    if (opts.seed !== undefined) this.generator = new Generator().manualSeed(checkInt(opts.seed, 'RandomSampler: seed', 0));
  }

  /** Indices per pass (numSamples, or the dataset's length). */
  get length(): number {
    return this.fixedSamples ?? this.dataset.length;
  }

  *[Symbol.iterator](): Iterator<number> {
    const n = this.dataset.length;
    const count = this.length;
    const g = this.generator ?? new Generator().manualSeed(randomInt64(defaultGenerator));
    if (this.replacement) {
      if (n === 0) throw new ArgumentError('RandomSampler: cannot draw with replacement from an empty dataset');
      for (let k = 0; k < Math.floor(count / 32); k++) yield* randintValues(0, n, 32, g);
      if (count % 32 > 0) yield* randintValues(0, n, count % 32, g);
      return;
    }
    if (n === 0) return;
    for (let k = 0; k < Math.floor(count / n); k++) yield* randpermIndices(n, g);
    // torch draws this last permutation even when it keeps none of it, so the generator moves on.
    yield* randpermIndices(n, g).slice(0, count % n);
  }
}

export interface DistributedSamplerOptions {
  /** Number of processes taking part (default: the world size of the default process group). */
  numReplicas?: number;
  /** This process's rank in [0, numReplicas) (default: the rank in the default process group). */
  rank?: number;
  /** Shuffle the indices each epoch (default true). */
  shuffle?: boolean;
  /** Seed of the shuffle; must be the same on every rank (default 0). */
  seed?: number;
  /** Drop the tail so the data splits evenly instead of padding it (default false). */
  dropLast?: boolean;
}

const DISTRIBUTED_SAMPLER_OPTIONS = optionKeys<DistributedSamplerOptions>({ numReplicas: true, rank: true, shuffle: true, seed: true, dropLast: true });

/** Restricts a loader to this rank's share of the dataset; see the file comment for the rules. */
export class DistributedSampler implements Sampler {
  readonly numReplicas: number;
  readonly rank: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  /** Samples this rank yields per epoch. */
  readonly numSamples: number;
  /** numSamples * numReplicas: the padded (or truncated) epoch length across all ranks. */
  readonly totalSize: number;
  private epochValue = 0;

  constructor(private readonly dataset: Sized, opts: DistributedSamplerOptions = {}) {
    opts = checkOptions(opts, DISTRIBUTED_SAMPLER_OPTIONS, 'DistributedSampler');
    const n = checkLength(dataset, 'DistributedSampler');
    this.numReplicas = checkInt(opts.numReplicas ?? defaultWorldSize('DistributedSampler'), 'DistributedSampler: numReplicas', 1);
    const rank = opts.rank ?? defaultRank('DistributedSampler');
    if (typeof rank !== 'number' || !Number.isSafeInteger(rank) || rank < 0 || rank >= this.numReplicas) {
      throw new ArgumentError(
        `DistributedSampler: invalid rank ${String(rank)}, rank should be in the interval [0, ${this.numReplicas - 1}]`,
      );
    }
    this.rank = rank;
    this.shuffle = opts.shuffle ?? true;
    this.seed = checkInt(opts.seed ?? 0, 'DistributedSampler: seed', 0);
    this.dropLast = opts.dropLast ?? false;
    if (this.dropLast && n % this.numReplicas !== 0) {
      this.numSamples = Math.ceil((n - this.numReplicas) / this.numReplicas);
    } else {
      this.numSamples = Math.ceil(n / this.numReplicas);
    }
    this.totalSize = this.numSamples * this.numReplicas;
  }

  get length(): number {
    return this.numSamples;
  }

  get epoch(): number {
    return this.epochValue;
  }

  /** Sets the epoch, so each epoch shuffles differently (call it before iterating each epoch). */
  setEpoch(epoch: number): void {
    this.epochValue = checkInt(epoch, 'DistributedSampler.setEpoch: epoch', 0);
  }

  /** This rank's indices for the current epoch. */
  indices(): number[] {
    const n = this.dataset.length;
    if (this.totalSize > n && n === 0) {
      throw new ArgumentError('DistributedSampler: cannot pad an empty dataset to give every rank a sample');
    }
    const perm = this.shuffle ? randpermIndices(n, new Generator().manualSeed(this.seed + this.epochValue)) : null;
    // The epoch's order padded by repeating it from the start (position i is order[i % n]) or cut
    // to totalSize (dropLast), then strided: this rank takes positions rank, rank + R, ...
    const out: number[] = [];
    for (let i = this.rank; i < this.totalSize; i += this.numReplicas) {
      const at = i % n;
      out.push(perm ? perm[at]! : at);
    }
    return out;
  }

  *[Symbol.iterator](): Iterator<number> {
    yield* this.indices();
  }
}

/** Groups a sampler's indices into batches of `batchSize` (the last one shorter unless dropLast). */
export class BatchSampler implements Iterable<number[]> {
  readonly batchSize: number;
  constructor(
    readonly sampler: Sampler,
    batchSize: number,
    readonly dropLast = false,
  ) {
    this.batchSize = checkInt(batchSize, 'BatchSampler: batchSize', 1);
  }
  get length(): number {
    return this.dropLast ? Math.floor(this.sampler.length / this.batchSize) : Math.ceil(this.sampler.length / this.batchSize);
  }
  *[Symbol.iterator](): Iterator<number[]> {
    let batch: number[] = [];
    for (const i of this.sampler) {
      batch.push(i);
      if (batch.length === this.batchSize) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0 && !this.dropLast) yield batch;
  }
}
