/**
 * torch.Generator for the CPU: PyTorch 1.13's at::mt19937 (CPUGeneratorImpl), bit for bit, and
 * torch.randperm on it — what torch's samplers draw their orders from, so a job ported from
 * PyTorch visits the same samples in the same order (DistributedSampler, RandomSampler).
 *
 * The tensor ops' own random numbers (rand, randn, dropout) stay on the per-device Philox
 * generators of ops/random.ts, which give the same numbers on the host and the GPU.
 */
import { createError } from '../errors.js';

/** PyTorch's default seed (c10::detail::default_rng_seed_val). */
const DEFAULT_SEED = 67280421310721n;
const N = 624;

/** The 32-bit Mersenne Twister state, as torch's mt19937 (seeded like init_genrand). */
class MT19937 {
  readonly state = new Uint32Array(N);
  index = N;

  constructor(seed: bigint) {
    const s = this.state;
    s[0] = Number(seed & 0xffffffffn); // torch keeps the low 32 bits of the seed
    for (let j = 1; j < N; j++) {
      const p = s[j - 1]! ^ (s[j - 1]! >>> 30);
      s[j] = (Math.imul(1812433253, p) + j) >>> 0;
    }
  }

  next(): number {
    if (this.index >= N) this.twist();
    let y = this.state[this.index++]!;
    y ^= y >>> 11;
    y = (y ^ ((y << 7) & 0x9d2c5680)) >>> 0;
    y = (y ^ ((y << 15) & 0xefc60000)) >>> 0;
    y ^= y >>> 18;
    return y >>> 0;
  }

  private twist(): void {
    const s = this.state;
    for (let k = 0; k < N; k++) {
      const y = (s[k]! & 0x80000000) | (s[(k + 1) % N]! & 0x7fffffff);
      let v = s[(k + 397) % N]! ^ (y >>> 1);
      if (y & 1) v ^= 0x9908b0df;
      s[k] = v >>> 0;
    }
    this.index = 0;
  }
}

function toSeed(seed: number | bigint, who: string): bigint {
  if (typeof seed === 'bigint') return BigInt.asUintN(64, seed);
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) {
    throw createError('ERR_INVALID_ARG', `${who}: seed must be an integer (number or bigint), got ${String(seed)}`);
  }
  return BigInt.asUintN(64, BigInt(seed));
}

/** The saved state of a Generator (getState/setState). */
export interface GeneratorState {
  seed: bigint;
  mt: Uint32Array;
  index: number;
}

/** torch.Generator() on the CPU: `new Generator().manualSeed(seed)`. */
export class Generator {
  #seed: bigint;
  #mt: MT19937;

  constructor() {
    this.#seed = DEFAULT_SEED;
    this.#mt = new MT19937(DEFAULT_SEED);
  }

  /** Reseeds (torch's manual_seed); returns the generator, as torch does. */
  manualSeed(seed: number | bigint): this {
    this.#seed = toSeed(seed, 'Generator.manualSeed');
    this.#mt = new MT19937(this.#seed);
    return this;
  }

  /** The seed it was last seeded with (torch's initial_seed()). */
  initialSeed(): bigint {
    return this.#seed;
  }

  /** A seed from the clock and Math.random, as torch's seed() (returned, and used). */
  seed(): bigint {
    const s = BigInt(Date.now()) * 1000003n ^ BigInt(Math.floor(Math.random() * 2 ** 52));
    this.manualSeed(BigInt.asUintN(64, s));
    return this.#seed;
  }

  getState(): GeneratorState {
    return { seed: this.#seed, mt: this.#mt.state.slice(), index: this.#mt.index };
  }

  setState(state: GeneratorState): this {
    if (!state || !(state.mt instanceof Uint32Array) || state.mt.length !== N || !Number.isInteger(state.index) || state.index < 0 || state.index > N) {
      throw createError('ERR_INVALID_ARG', 'Generator.setState: expected a state from getState() ({ seed, mt: Uint32Array(624), index })');
    }
    this.#seed = state.seed;
    this.#mt = new MT19937(0n);
    this.#mt.state.set(state.mt);
    this.#mt.index = state.index;
    return this;
  }

  /** The next 32-bit draw (torch's CPUGeneratorImpl::random()). */
  random(): number {
    return this.#mt.next();
  }

  /** The next 64-bit draw as [hi, lo] 32-bit halves (torch's random64(): two draws, the first high). */
  random64(): [number, number] {
    const hi = this.#mt.next();
    const lo = this.#mt.next();
    return [hi, lo];
  }
}

/** The default CPU generator (torch.default_generator): manualSeed() reseeds it. */
export const defaultGenerator = new Generator();

/**
 * torch.randperm(n, generator=g) on the CPU, as a Float64Array (exact integers; a typed array so
 * that hundreds of millions of indices fit, as torch's int64 tensor does). This is torch 1.13's
 * randperm_cpu (through torch 2.5): a Fisher–Yates shuffle with one 32-bit draw mod (n - i) per
 * position, for every n — checked against torch 1.13 up to n = 214748364. torch 2.6 changed the
 * rule for n >= 214748364 only (pytorch/pytorch#143682: 64-bit draws, inside-out), so datasets
 * of more than 214,748,363 samples are ordered like torch 1.13-2.5, not like 2.6 and later.
 */
export function randpermIndices(n: number, generator: Generator = defaultGenerator): Float64Array {
  if (!Number.isSafeInteger(n) || n < 0) throw createError('ERR_INVALID_ARG', `randperm: n must be a non-negative integer, got ${String(n)}`);
  if (!(generator instanceof Generator)) throw createError('ERR_INVALID_ARG', 'randperm: generator must be a Generator (new Generator().manualSeed(seed))');
  const r = new Float64Array(n);
  for (let i = 0; i < n; i++) r[i] = i;
  for (let i = 0; i < n - 1; i++) {
    const z = generator.random() % (n - i);
    const t = r[i]!;
    r[i] = r[z + i]!;
    r[z + i] = t;
  }
  return r;
}

/** torch.empty((), dtype=torch.int64).random_(generator=g): one 64-bit draw with the sign bit cleared. */
export function randomInt64(generator: Generator = defaultGenerator): bigint {
  const [hi, lo] = generator.random64();
  return (BigInt(hi & 0x7fffffff) << 32n) | BigInt(lo);
}

/**
 * torch.randint(low, high, (size,), generator=g) on the CPU as plain numbers: each value is one
 * 32-bit draw mod (high - low), or one 64-bit draw when the range reaches 2^32, as torch 1.13 does.
 */
export function randintValues(low: number, high: number, size: number, generator: Generator = defaultGenerator): number[] {
  if (!Number.isSafeInteger(low) || !Number.isSafeInteger(high) || high <= low) {
    throw createError('ERR_INVALID_ARG', `randint: expected integers low < high, got low=${String(low)}, high=${String(high)}`);
  }
  if (!Number.isSafeInteger(size) || size < 0) throw createError('ERR_INVALID_ARG', `randint: size must be a non-negative integer, got ${String(size)}`);
  const range = high - low;
  const out = new Array<number>(size);
  if (range < 0x100000000) {
    for (let i = 0; i < size; i++) out[i] = (generator.random() % range) + low;
  } else {
    const r = BigInt(range);
    for (let i = 0; i < size; i++) {
      const [hi, lo] = generator.random64();
      out[i] = Number(((BigInt(hi) << 32n) | BigInt(lo)) % r) + low;
    }
  }
  return out;
}
