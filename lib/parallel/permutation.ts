/**
 * A small seedable PRNG and permutation (layer: lib/parallel, pure, internal): the examples' fixed
 * train/test split and the tests' synthetic data use it. The samplers do not: they draw torch's own
 * order from lib/tensor/generator.ts (torch's Mersenne Twister and randperm).
 */
import { ArgumentError } from '../errors.js';

/** A small, fast 32-bit PRNG (sfc32) seeded from any safe integer through SplitMix32. */
export class SeededRandom {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) {
      throw new ArgumentError(`SeededRandom: seed must be a safe integer, got ${String(seed)}`);
    }
    // Fold the (up to 53-bit) seed into two 32-bit words, then expand with SplitMix32.
    const lo = seed >>> 0;
    const hi = Math.floor(seed / 0x100000000) >>> 0;
    let s = (lo ^ Math.imul(hi, 0x9e3779b9)) >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next() ^ hi;
    this.d = 1;
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** The next uniformly distributed 32-bit unsigned integer. */
  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** A uniform integer in [0, bound) with no modulo bias (bound <= 2^32). */
  nextBelow(bound: number): number {
    if (!(bound >= 1 && bound <= 0x100000000 && Number.isInteger(bound))) {
      throw new ArgumentError(`SeededRandom.nextBelow: bound must be an integer in [1, 2^32], got ${bound}`);
    }
    const limit = 0x100000000 - (0x100000000 % bound);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % bound;
    }
  }
}

/** The permutation of 0..n-1 for a seed (the randperm of our samplers). */
export function seededPermutation(n: number, seed: number): number[] {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new ArgumentError(`seededPermutation: n must be a non-negative integer, got ${String(n)}`);
  }
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = i;
  const rng = new SeededRandom(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.nextBelow(i + 1);
    const t = out[i]!;
    out[i] = out[j]!;
    out[j] = t;
  }
  return out;
}
