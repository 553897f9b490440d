/** Shapes: validation, numel with overflow checks, contiguous strides, broadcasting, dim wrapping. */
import { describe } from './describe.js';
import { createError } from '../errors.js';

export type Shape = readonly number[];

/** Most dimensions a tensor's ops take (the native kernels' limit, cpp/kernels/dtype.h kMaxDims). */
export const MAX_DIMS = 16;

/** Largest element count we accept (2^53 - 1: exact in a JS number). */
const MAX_NUMEL = Number.MAX_SAFE_INTEGER;

export function fmtShape(s: Shape): string {
  return `[${s.join(', ')}]`;
}

/** Validates a shape (non-negative safe integers) and returns a copy. */
export function checkShape(shape: unknown, op: string): number[] {
  if (typeof shape === 'number') shape = [shape];
  if (!Array.isArray(shape)) {
    throw createError('ERR_INVALID_ARG', `${op}: shape must be an array of non-negative integers, got ${String(shape)}`);
  }
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw createError('ERR_INVALID_ARG', `${op}: shape ${describe(shape)} has an invalid size ${String(d)}; sizes must be non-negative integers`);
    }
  }
  numelOf(shape as number[], op);
  return [...(shape as number[])];
}

/** Product of sizes; ERR_INVALID_ARG when it overflows 2^53. */
export function numelOf(shape: Shape, op = 'numel'): number {
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (n > MAX_NUMEL) {
      throw createError('ERR_INVALID_ARG', `${op}: shape ${fmtShape(shape)} has more than 2^53 elements (size overflow)`);
    }
  }
  return n;
}

export function contiguousStrides(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= Math.max(shape[i]!, 1);
  }
  return s;
}

export function isContiguous(shape: Shape, strides: Shape): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const d = shape[i]!;
    if (d === 0) return true;
    if (d !== 1 && strides[i] !== expected) return false;
    expected *= d;
  }
  return true;
}

/** Broadcast two shapes (numpy rules). ERR_SHAPE_MISMATCH names the op and both shapes. */
export function broadcastShapes(a: Shape, b: Shape, op: string): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw createError(
        'ERR_SHAPE_MISMATCH',
        `${op}: shapes ${fmtShape(a)} and ${fmtShape(b)} cannot be broadcast together ` +
          `(size ${da} vs ${db} at dimension ${i} of the broadcast shape)`,
      );
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides that index a (shape, strides) tensor as if expanded to `target` (0 for broadcast dims). */
export function broadcastStrides(shape: Shape, strides: Shape, target: Shape): number[] {
  const n = target.length;
  const out = new Array<number>(n).fill(0);
  const off = n - shape.length;
  for (let i = 0; i < shape.length; i++) out[off + i] = shape[i] === 1 && target[off + i] !== 1 ? 0 : strides[i]!;
  return out;
}

/** Wraps a possibly negative dim into [0, ndim). ERR_INDEX_OUT_OF_RANGE otherwise. */
export function wrapDim(dim: number, ndim: number, op: string): number {
  const n = Math.max(ndim, 1);
  if (!Number.isInteger(dim) || dim < -n || dim >= n) {
    throw createError(
      'ERR_INDEX_OUT_OF_RANGE',
      `${op}: dimension ${String(dim)} is out of range for a tensor with ${ndim} dimension${ndim === 1 ? '' : 's'} (expected in [${-n}, ${n - 1}])`,
    );
  }
  return dim < 0 ? dim + n : dim;
}

/** Wraps and de-duplicates a list of dims (undefined: all dims). */
export function wrapDims(dims: number | readonly number[] | undefined | null, ndim: number, op: string): number[] {
  if (dims === undefined || dims === null) return Array.from({ length: ndim }, (_, i) => i);
  const list = typeof dims === 'number' ? [dims] : dims;
  if (!Array.isArray(list)) {
    throw createError('ERR_INVALID_ARG', `${op}: dim must be an integer or an array of integers, got ${describe(dims)}`);
  }
  const out = list.map((d) => wrapDim(d, ndim, op));
  if (new Set(out).size !== out.length) {
    throw createError('ERR_INVALID_ARG', `${op}: dimension list ${describe(list)} repeats a dimension`);
  }
  return out.sort((x, y) => x - y);
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Strides for viewing (shape, strides) as newShape without copying, or null when impossible
 * (PyTorch's computeStride).
 */
export function viewStrides(shape: Shape, strides: Shape, newShape: Shape): number[] | null {
  const numel = numelOf(shape);
  const out = new Array<number>(newShape.length);
  if (numel === 0 || shape.length === 0) return contiguousStrides(newShape);
  if (newShape.length === 0) return [];
  let viewD = newShape.length - 1;
  let chunkBase = strides[strides.length - 1] ?? 1;
  let tensorNumel = 1;
  let viewNumel = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    tensorNumel *= shape[d]!;
    if (d === 0 || (shape[d - 1] !== 1 && strides[d - 1] !== tensorNumel * chunkBase)) {
      while (viewD >= 0 && (viewNumel < tensorNumel || newShape[viewD] === 1)) {
        out[viewD] = viewNumel * chunkBase;
        viewNumel *= newShape[viewD]!;
        viewD--;
      }
      if (viewNumel !== tensorNumel) return null;
      if (d > 0) {
        chunkBase = strides[d - 1]!;
        tensorNumel = 1;
        viewNumel = 1;
      }
    }
  }
  if (viewD !== -1) return null;
  return out;
}

/** Resolves one -1 in a reshape target; checks the element count. */
export function inferShape(target: readonly number[], numel: number, op: string, from: Shape): number[] {
  let infer = -1;
  let known = 1;
  target.forEach((d, i) => {
    if (d === -1) {
      if (infer >= 0) throw createError('ERR_INVALID_ARG', `${op}: only one dimension can be inferred (-1) in ${fmtShape(target)}`);
      infer = i;
    } else if (!Number.isSafeInteger(d) || d < 0) {
      throw createError('ERR_INVALID_ARG', `${op}: invalid size ${d} in shape ${fmtShape(target)}`);
    } else known *= d;
  });
  const out = [...target];
  if (infer >= 0) {
    if (known === 0 || numel % known !== 0) {
      throw createError('ERR_SHAPE_MISMATCH', `${op}: shape ${fmtShape(target)} is invalid for input of shape ${fmtShape(from)} (${numel} elements)`);
    }
    out[infer] = numel / known;
  } else if (known !== numel) {
    throw createError('ERR_SHAPE_MISMATCH', `${op}: shape ${fmtShape(target)} is invalid for input of shape ${fmtShape(from)} (${numel} elements)`);
  }
  return out;
}
