/**
 * Micro-batches (layer: lib/parallel): a batch split along dim 0 into n pieces whose sizes differ
 * by at most one (torch.tensor_split's rule), and the pieces joined back. Splitting and joining
 * are views and a cat, both differentiable, so gradients flow back into the whole batch.
 */
import { createError } from '../../errors.js';
import { cat, split, Tensor } from '../../tensor/index.js';

/** The sizes of n pieces of `batch` rows: the first `batch % n` one larger. */
export function splitSizes(batch: number, n: number): number[] {
  const base = Math.floor(batch / n);
  return Array.from({ length: n }, (_, i) => base + (i < batch % n ? 1 : 0));
}

/** `x` cut into n micro-batches along dim 0; `who` and `what` name it in errors. */
export function splitBatch(x: unknown, n: number, who: string, what: string): Tensor[] {
  if (!(x instanceof Tensor)) throw createError('ERR_INVALID_ARG', `${who}: ${what} must be a Tensor, got ${x === null ? 'null' : typeof x}`);
  if (x.ndim === 0) throw createError('ERR_SHAPE_MISMATCH', `${who}: ${what} is a 0-dim tensor; micro-batches are cut along dim 0`);
  const b = x.shape[0]!;
  if (b < n) {
    throw createError(
      'ERR_SHAPE_MISMATCH',
      `${who}: ${what} has ${b} rows (dim 0), fewer than the ${n} micro-batches asked for; use a batch of at least ${n} or fewer micro-batches`,
    );
  }
  return n === 1 ? [x] : split(x, splitSizes(b, n), 0);
}

/** The micro-batches' outputs as one batch again. */
export function mergeBatches(outs: Tensor[]): Tensor {
  return outs.length === 1 ? outs[0]! : cat(outs, 0);
}

/** A positive integer option, or ERR_INVALID_ARG. */
export function checkCount(who: string, what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    throw createError('ERR_INVALID_ARG', `${who}: ${what} must be an integer >= 1, got ${String(v)}`);
  }
  return v;
}
