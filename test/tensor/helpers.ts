/** Test helpers: seeded JS randomness, reference loops over shapes, tolerant comparison. */
import assert from 'node:assert/strict';
import type { Tensor } from '../../lib/index.js';
export { rng } from '../helpers/rng.js';


export function randValues(r: () => number, n: number, lo = -2, hi = 2): number[] {
  return Array.from({ length: n }, () => lo + (hi - lo) * r());
}

/** A random shape of ndim dims, sizes in [0, maxSize] (0 rarely). */
export function randShape(r: () => number, ndim: number, maxSize = 4, allowZero = true): number[] {
  return Array.from({ length: ndim }, () => {
    if (allowZero && r() < 0.08) return 0;
    return 1 + Math.floor(r() * maxSize);
  });
}

export const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

export function stridesOf(shape: readonly number[]): number[] {
  const s: number[] = [];
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** Index of a broadcast element in a contiguous input of shape `shape` for output multi-index idx. */
export function bIndex(idx: number[], shape: readonly number[]): number {
  const off = idx.length - shape.length;
  const st = stridesOf(shape);
  let k = 0;
  for (let i = 0; i < shape.length; i++) k += (shape[i] === 1 ? 0 : idx[off + i]!) * st[i]!;
  return k;
}

/** All multi-indices of a shape in row-major order. */
export function* indices(shape: readonly number[]): Generator<number[]> {
  const n = numel(shape);
  const idx = new Array<number>(shape.length).fill(0);
  for (let c = 0; c < n; c++) {
    yield [...idx];
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
}

export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    return x === 1 ? y : x;
  });
}

/** Compares a tensor's values to expected numbers with |a - e| <= atol + rtol * |e| (NaNs must match). */
export function assertClose(t: Tensor | ArrayLike<number>, expected: ArrayLike<number>, { atol = 1e-5, rtol = 1e-5, msg = '' } = {}): void {
  const actual = 'dataSync' in t ? Array.from(t.dataSync() as ArrayLike<number | bigint>, Number) : Array.from(t);
  assert.equal(actual.length, expected.length, `${msg} length ${actual.length} vs ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e)) {
      assert.ok(Number.isNaN(a), `${msg} [${i}]: expected NaN, got ${a}`);
      continue;
    }
    if (!Number.isFinite(e)) {
      assert.equal(a, e, `${msg} [${i}]`);
      continue;
    }
    assert.ok(Math.abs(a - e) <= atol + rtol * Math.abs(e), `${msg} [${i}]: got ${a}, expected ${e}`);
  }
}

/** Matches an error's code (and optionally a message fragment). */
export function errCode(code: string, re?: RegExp) {
  return (e: unknown): boolean => {
    const err = e as { code?: string; message?: string };
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    if (re) assert.match(err.message ?? '', re);
    return true;
  };
}
