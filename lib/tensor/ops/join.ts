/** Joining and splitting: cat, stack (copies); split, chunk, unbind (views). */
import { tensorArg } from '../args.js';
import { describe } from '../describe.js';
import { createError } from '../../errors.js';
import { record } from '../../autograd/function.js';
import { promoteTypes } from '../dtype.js';
import { checkSameDevice } from '../kernels.js';
import { fmtShape, wrapDim } from '../shape.js';
import { Tensor } from '../tensor.js';
import { copyInto, emptyTensor } from './copy.js';
import { makeView, narrow, select, unsqueeze } from './view.js';

function checkList(tensors: Tensor[], op: string): void {
  if (!Array.isArray(tensors) || tensors.length === 0) throw createError('ERR_INVALID_ARG', `${op}: expected a non-empty array of tensors`);
  for (const t of tensors) {
    if (!(t instanceof Tensor)) throw createError('ERR_INVALID_ARG', `${op}: every element must be a Tensor`);
    tensorArg(t, op, 'input');
  }
  checkSameDevice(op, ...tensors);
}

/** Concatenates along an existing dim (dtypes promote). */
export function cat(tensors: Tensor[], dim = 0): Tensor {
  checkList(tensors, 'cat');
  const first = tensors[0]!;
  if (first.ndim === 0) throw createError('ERR_INVALID_ARG', 'cat: zero-dimensional tensors cannot be concatenated; use stack()');
  const d = wrapDim(dim, first.ndim, 'cat');
  let dtype = first.dtype;
  let total = 0;
  tensors.forEach((t, i) => {
    if (t.ndim !== first.ndim || t.shape.some((s, j) => j !== d && s !== first.shape[j])) {
      throw createError('ERR_SHAPE_MISMATCH', `cat: sizes of tensors must match except in dimension ${d}: tensor 0 has shape ${fmtShape(first.shape)} and tensor ${i} has shape ${fmtShape(t.shape)}`);
    }
    dtype = promoteTypes(dtype, t.dtype);
    total += t.shape[d]!;
  });
  const shape = [...first.shape];
  shape[d] = total;
  const out = emptyTensor(shape, dtype, first.device, 'cat');
  const sizes: number[] = [];
  let at = 0;
  for (const t of tensors) {
    const len = t.shape[d]!;
    sizes.push(len);
    if (len > 0) {
      const s = [...shape];
      s[d] = len;
      const target = makeView(out, s, out.strides, at * out.strides[d]!);
      copyInto(target, t);
      target.dispose();
    }
    at += len;
  }
  return record('CatBackward0', out, tensors, (g) => {
    let off = 0;
    return sizes.map((len) => {
      const r = narrow(g, d, off, len);
      off += len;
      return r;
    });
  });
}

/** Joins equal-shaped tensors along a new dim. */
export function stack(tensors: Tensor[], dim = 0): Tensor {
  checkList(tensors, 'stack');
  const first = tensors[0]!;
  tensors.forEach((t, i) => {
    if (t.ndim !== first.ndim || t.shape.some((s, j) => s !== first.shape[j])) {
      throw createError('ERR_SHAPE_MISMATCH', `stack: expects each tensor to be equal size, but got ${fmtShape(first.shape)} at entry 0 and ${fmtShape(t.shape)} at entry ${i}`);
    }
  });
  const d = wrapDim(dim, first.ndim + 1, 'stack');
  const parts = tensors.map((t) => unsqueeze(t, d));
  const out = cat(parts, d);
  for (const p of parts) p.dispose();
  return out;
}

/** Views of splitSize-long pieces (the last may be shorter), or of the given sizes. */
export function split(x: Tensor, splitSize: number | number[], dim = 0): Tensor[] {
  tensorArg(x, 'split', 'input');
  const d = wrapDim(dim, x.ndim, 'split');
  const n = x.shape[d]!;
  let sizes: number[];
  if (Array.isArray(splitSize)) {
    if (splitSize.some((s) => !Number.isSafeInteger(s) || s < 0) || splitSize.reduce((a, b) => a + b, 0) !== n) {
      throw createError('ERR_INVALID_ARG', `split: split sizes ${describe(splitSize)} must be non-negative and sum exactly to ${n} (the size of dim ${d} of shape ${fmtShape(x.shape)})`);
    }
    sizes = splitSize;
  } else {
    if (!Number.isSafeInteger(splitSize) || splitSize <= 0) {
      if (!(splitSize === 0 && n === 0)) throw createError('ERR_INVALID_ARG', `split: splitSize must be a positive integer, got ${String(splitSize)}`);
    }
    sizes = [];
    if (n === 0) sizes.push(0);
    for (let i = 0; i < n; i += splitSize) sizes.push(Math.min(splitSize, n - i));
  }
  let off = 0;
  return sizes.map((len) => {
    const r = narrow(x, d, off, len);
    off += len;
    return r;
  });
}

/** `chunks` views of (nearly) equal size (torch.chunk: the size is ceil(n / chunks)). */
export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  tensorArg(x, 'chunk', 'input');
  if (!Number.isSafeInteger(chunks) || chunks <= 0) throw createError('ERR_INVALID_ARG', `chunk: chunks must be a positive integer, got ${String(chunks)}`);
  const d = wrapDim(dim, x.ndim, 'chunk');
  const n = x.shape[d]!;
  return split(x, Math.max(Math.ceil(n / chunks), n === 0 ? 0 : 1), d);
}

/** The slices along dim, with dim removed. */
export function unbind(x: Tensor, dim = 0): Tensor[] {
  tensorArg(x, 'unbind', 'input');
  const d = wrapDim(dim, x.ndim, 'unbind');
  return Array.from({ length: x.shape[d]! }, (_, i) => select(x, d, i));
}
