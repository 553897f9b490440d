/**
 * Random numbers: one counter-based Philox generator per device ({ seed, offset }). Each call
 * takes the next `ceil(numel / 4)` counters, so a sequence of calls after manualSeed(s) gives the
 * same numbers every run, and on the host and the GPU alike.
 */
import { numberArg } from '../args.js';
import { createError } from '../../errors.js';
import { dtypeCode, isFloating, type DType } from '../dtype.js';
import type { Device } from '../device.js';
import { K, spanOf } from '../kernels.js';
import type { Tensor } from '../tensor.js';
import { copyInto, emptyTensor } from './copy.js';
import { bumpVersion, checkInplace } from './inplace.js';
import { defaultGenerator } from '../generator.js';

/** PyTorch's default seed (default_rng_seed_val). */
export const DEFAULT_SEED = 67280421310721n;

interface Generator {
  seed: bigint;
  offset: bigint;
}
const generators = new Map<string, Generator>();
let globalSeed = DEFAULT_SEED;

function gen(device: Device): Generator {
  const k = device.toString();
  let g = generators.get(k);
  if (!g) generators.set(k, (g = { seed: globalSeed, offset: 0n }));
  return g;
}

function toSeed(seed: number | bigint): bigint {
  if (typeof seed === 'bigint') return BigInt.asUintN(64, seed);
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) {
    throw createError('ERR_INVALID_ARG', `manualSeed: seed must be an integer (number or bigint), got ${String(seed)}`);
  }
  return BigInt.asUintN(64, BigInt(seed));
}

/**
 * Seeds the generators of every device (torch.manual_seed): the Philox generators of the random ops
 * and defaultGenerator, the Mersenne Twister that randperm and the samplers draw from.
 */
export function manualSeed(seed: number | bigint): void {
  globalSeed = toSeed(seed);
  generators.clear();
  defaultGenerator.manualSeed(globalSeed);
}

/** The seed the generators started from. */
export function initialSeed(): bigint {
  return globalSeed;
}

/** The generator state of a device: pass it to setRngState to replay. */
export function getRngState(device: Device): { seed: bigint; offset: bigint } {
  const g = gen(device);
  return { seed: g.seed, offset: g.offset };
}
export function setRngState(device: Device, state: { seed: bigint; offset: bigint }): void {
  generators.set(device.toString(), { seed: state.seed, offset: state.offset });
}

export type Distribution = 'uniform' | 'normal' | 'randint' | 'bernoulli';

/** Fills a contiguous tensor with random values (no autograd, no version bump). */
export function fillRandomRaw(t: Tensor, dist: Distribution, p0: number, p1: number): void {
  const n = t.numel();
  if (n === 0) return;
  const g = gen(t.device);
  const offset = g.offset;
  g.offset += BigInt(Math.ceil(n / 4));
  K().random(dist, dtypeCode(t.dtype), spanOf(t), n, g.seed, offset, p0, p1);
}

/** A new tensor of random values. */
export function randomTensor(shape: number[], dtype: DType, device: Device, dist: Distribution, p0: number, p1: number, op: string): Tensor {
  if ((dist === 'uniform' || dist === 'normal') && !isFloating(dtype)) {
    throw createError('ERR_DTYPE', `${op}: dtype must be a floating point type, got ${dtype}`);
  }
  const t = emptyTensor(shape, dtype, device, op);
  fillRandomRaw(t, dist, p0, p1);
  return t;
}

/** In-place random fill (uniform_, normal_, bernoulli_). */
export function fillRandom_<T extends Tensor>(t: T, dist: Distribution, p0: number, p1: number): T {
  const op = `${dist}_`;
  checkInplace(t, op);
  numberArg(p0, op, 'the first parameter');
  numberArg(p1, op, 'the second parameter');
  if (dist === 'normal' && !(p1 >= 0)) throw createError('ERR_INVALID_ARG', `normal_: std must be >= 0, got ${p1}`);
  if (dist === 'uniform' && !(p0 <= p1)) throw createError('ERR_INVALID_ARG', `uniform_: expected from <= to, got from=${p0}, to=${p1}`);
  if (dist === 'bernoulli' && !(p0 >= 0 && p0 <= 1)) throw createError('ERR_INVALID_ARG', `bernoulli_: p must be in [0, 1], got ${p0}`);
  if ((dist === 'uniform' || dist === 'normal') && !isFloating(t.dtype)) {
    throw createError('ERR_DTYPE', `${op}: expected a floating point tensor, got ${t.dtype}`);
  }
  if (t.isContiguous()) fillRandomRaw(t, dist, p0, p1);
  else {
    const tmp = emptyTensor(t.shape, t.dtype, t.device, op);
    fillRandomRaw(tmp, dist, p0, p1);
    copyInto(t, tmp);
    tmp.dispose();
  }
  bumpVersion(t);
  return t;
}
