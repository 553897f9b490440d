/**
 * Views: new shape/strides/offset over the same storage, no copy. reshape copies only when no view
 * is possible (like torch); view() refuses then. Each view's backward maps the gradient back.
 */
import { tensorArg } from '../args.js';
import { describe } from '../describe.js';
import { createError } from '../../errors.js';
import { record } from '../../autograd/function.js';
import { Tensor } from '../tensor.js';
import { fmtShape, inferShape, viewStrides, wrapDim } from '../shape.js';
import { clone, copyInto } from './copy.js';
import { zeros } from '../creation.js';

/** Accepts reshape(2, 3), reshape([2, 3]). */
export function shapeArgs(args: (number | number[])[]): number[] {
  if (args.length === 1 && Array.isArray(args[0])) return [...args[0]];
  for (const a of args) if (typeof a !== 'number') throw createError('ERR_INVALID_ARG', `expected a shape (numbers or one array), got ${describe(args)}`);
  return args as number[];
}

function shapeList(v: unknown, op: string): number[] {
  if (typeof v === 'number') return [v];
  if (!Array.isArray(v) || v.some((d) => typeof d !== 'number')) {
    throw createError('ERR_INVALID_ARG', `${op}: expected an array of integers, got ${describe(v)}`);
  }
  return v as number[];
}

export function dimArg(dim: number, ndim: number, op: string): number {
  return wrapDim(dim, ndim, op);
}

/** A view of x with the given geometry (shares storage; records no graph). */
export function makeView(x: Tensor, shape: readonly number[], strides: readonly number[], offset: number): Tensor {
  const t = new Tensor(x._storage, shape, strides, offset, x.dtype);
  t._base = x._base ?? x;
  return t;
}

export function view(x: Tensor, shape: number[]): Tensor {
  tensorArg(x, 'view', 'input');
  shape = shapeList(shape, 'view');
  const target = inferShape(shape, x.numel(), 'view', x.shape);
  const st = viewStrides(x.shape, x.strides, target);
  if (!st) {
    throw createError(
      'ERR_SHAPE_MISMATCH',
      `view: size ${fmtShape(target)} is not compatible with the input's size ${fmtShape(x.shape)} and strides ${fmtShape(x.strides)} ` +
        '(at least one dimension spans across two contiguous subspaces); use reshape() instead',
    );
  }
  const from = [...x.shape];
  return record('ViewBackward0', makeView(x, target, st, x.offset), [x], (g) => [reshape(g, from)]);
}

export function reshape(x: Tensor, shape: number[]): Tensor {
  tensorArg(x, 'reshape', 'input');
  shape = shapeList(shape, 'reshape');
  const target = inferShape(shape, x.numel(), 'reshape', x.shape);
  const st = viewStrides(x.shape, x.strides, target);
  if (st) {
    const from = [...x.shape];
    return record('ViewBackward0', makeView(x, target, st, x.offset), [x], (g) => [reshape(g, from)]);
  }
  const c = clone(x);
  const out = view(c, target);
  c.dispose();
  return out;
}

export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  tensorArg(x, 'flatten', 'input');
  if (x.ndim === 0) return reshape(x, [1]);
  const s = wrapDim(startDim, x.ndim, 'flatten');
  const e = wrapDim(endDim, x.ndim, 'flatten');
  if (s > e) throw createError('ERR_INVALID_ARG', `flatten: startDim (${startDim}) cannot come after endDim (${endDim})`);
  const shape = [...x.shape.slice(0, s), x.shape.slice(s, e + 1).reduce((a, b) => a * b, 1), ...x.shape.slice(e + 1)];
  return reshape(x, shape);
}

export function permute(x: Tensor, dims: number[]): Tensor {
  tensorArg(x, 'permute', 'input');
  dims = shapeList(dims, 'permute');
  if (dims.length !== x.ndim) {
    throw createError('ERR_INVALID_ARG', `permute: number of dims ${describe(dims)} doesn't match the tensor's ${x.ndim} dims (shape ${fmtShape(x.shape)})`);
  }
  const d = dims.map((v) => wrapDim(v, x.ndim, 'permute'));
  if (new Set(d).size !== d.length) throw createError('ERR_INVALID_ARG', `permute: repeated dim in ${describe(dims)}`);
  const inv = new Array<number>(d.length);
  d.forEach((v, i) => (inv[v] = i));
  const out = makeView(x, d.map((i) => x.shape[i]!), d.map((i) => x.strides[i]!), x.offset);
  return record('PermuteBackward0', out, [x], (g) => [permute(g, inv)]);
}

export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  tensorArg(x, 'transpose', 'input');
  if (x.ndim === 0) {
    wrapDim(dim0, 0, 'transpose');
    wrapDim(dim1, 0, 'transpose');
    return makeTrivial(x);
  }
  const a = wrapDim(dim0, x.ndim, 'transpose');
  const b = wrapDim(dim1, x.ndim, 'transpose');
  const perm = x.shape.map((_, i) => (i === a ? b : i === b ? a : i));
  return permute(x, perm);
}

function makeTrivial(x: Tensor): Tensor {
  return record('ViewBackward0', makeView(x, x.shape, x.strides, x.offset), [x], (g) => [g]);
}

export function t(x: Tensor): Tensor {
  tensorArg(x, 't', 'input');
  if (x.ndim > 2) throw createError('ERR_INVALID_ARG', `t(): expects a tensor with <= 2 dimensions, but it has ${x.ndim} (shape ${fmtShape(x.shape)}); use transpose()`);
  return x.ndim < 2 ? makeTrivial(x) : transpose(x, 0, 1);
}

export function squeeze(x: Tensor, dim?: number | number[]): Tensor {
  tensorArg(x, 'squeeze', 'input');
  const dims = dim === undefined ? null : (Array.isArray(dim) ? dim : [dim]).map((v) => wrapDim(v, x.ndim, 'squeeze'));
  const keep = x.shape.map((s, i) => !(s === 1 && (dims === null || dims.includes(i))));
  const from = [...x.shape];
  const out = makeView(x, x.shape.filter((_, i) => keep[i]), x.strides.filter((_, i) => keep[i]), x.offset);
  return record('SqueezeBackward0', out, [x], (g) => [reshape(g, from)]);
}

export function unsqueeze(x: Tensor, dim: number): Tensor {
  tensorArg(x, 'unsqueeze', 'input');
  const d = wrapDim(dim, x.ndim + 1, 'unsqueeze');
  const shape = [...x.shape];
  const strides = [...x.strides];
  const st = d < x.ndim ? x.strides[d]! * x.shape[d]! : 1;
  shape.splice(d, 0, 1);
  strides.splice(d, 0, st);
  const out = makeView(x, shape, strides, x.offset);
  return record('UnsqueezeBackward0', out, [x], (g) => [squeeze(g, d)]);
}

/** Broadcasts size-1 dims (and new leading dims) to `shape` with zero strides; -1 keeps a size. */
export function expand(x: Tensor, shape: number[]): Tensor {
  tensorArg(x, 'expand', 'input');
  shape = shapeList(shape, 'expand');
  if (shape.length < x.ndim) {
    throw createError('ERR_SHAPE_MISMATCH', `expand: the number of sizes provided (${shape.length}) must be >= the number of dimensions of the tensor (${x.ndim}); shapes ${fmtShape(shape)} and ${fmtShape(x.shape)}`);
  }
  const off = shape.length - x.ndim;
  const outShape: number[] = [];
  const strides: number[] = [];
  shape.forEach((s, i) => {
    const j = i - off;
    const cur = j >= 0 ? x.shape[j]! : 1;
    const want = s === -1 && j >= 0 ? cur : s;
    if (!Number.isSafeInteger(want) || want < 0) throw createError('ERR_INVALID_ARG', `expand: invalid size ${s} in ${fmtShape(shape)}`);
    if (cur !== want && cur !== 1) {
      throw createError('ERR_SHAPE_MISMATCH', `expand: the expanded size of the tensor (${want}) must match the existing size (${cur}) at non-singleton dimension ${i}; target ${fmtShape(shape)}, tensor ${fmtShape(x.shape)}`);
    }
    outShape.push(want);
    strides.push(j >= 0 && cur === want ? x.strides[j]! : 0);
  });
  const out = makeView(x, outShape, strides, x.offset);
  return record('ExpandBackward0', out, [x], (g) => [g]); // fitGrad sums the broadcast dims
}

function checkIndexInt(v: unknown, op: string, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw createError('ERR_INVALID_ARG', `${op}: ${what} must be an integer, got ${String(v)}`);
  return v;
}

export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  tensorArg(x, 'narrow', 'input');
  const d = wrapDim(dim, x.ndim, 'narrow');
  const size = x.shape[d]!;
  checkIndexInt(start, 'narrow', 'start');
  checkIndexInt(length, 'narrow', 'length');
  const s = start < 0 ? start + size : start;
  if (s < 0 || s > size || length < 0 || s + length > size) {
    throw createError('ERR_INDEX_OUT_OF_RANGE', `narrow: start (${start}) + length (${length}) exceeds dimension size (${size}) of dim ${d} (shape ${fmtShape(x.shape)})`);
  }
  return slice(x, d, s, s + length, 1);
}

/** Python's x[..., start:end:step] along dim: clamps like Python, step > 0. */
export function slice(x: Tensor, dim: number, start?: number | null, end?: number | null, step = 1): Tensor {
  tensorArg(x, 'slice', 'input');
  const d = wrapDim(dim, x.ndim, 'slice');
  const size = x.shape[d]!;
  if (!Number.isInteger(step) || step <= 0) throw createError('ERR_INVALID_ARG', `slice: step must be a positive integer, got ${step}`);
  const norm = (v: number | null | undefined, dflt: number): number => {
    if (v === null || v === undefined) return dflt;
    checkIndexInt(v, 'slice', 'start/end');
    const w = v < 0 ? v + size : v;
    return Math.min(Math.max(w, 0), size);
  };
  const s = norm(start, 0);
  const e = Math.max(norm(end, size), s);
  const len = Math.ceil((e - s) / step);
  const shape = [...x.shape];
  const strides = [...x.strides];
  shape[d] = len;
  strides[d] = x.strides[d]! * step;
  const out = makeView(x, shape, strides, x.offset + (len > 0 ? s * x.strides[d]! : 0));
  const from = [...x.shape];
  return record('SliceBackward0', out, [x], (g) => {
    const full = zeros(from, { dtype: g.dtype, device: g.device });
    const target = sliceRaw(full, d, s, len, step);
    copyInto(target, g);
    target.dispose();
    return [full];
  });
}

function sliceRaw(x: Tensor, d: number, s: number, len: number, step: number): Tensor {
  const shape = [...x.shape];
  const strides = [...x.strides];
  shape[d] = len;
  strides[d] = x.strides[d]! * step;
  return makeView(x, shape, strides, x.offset + (len > 0 ? s * x.strides[d]! : 0));
}

export function select(x: Tensor, dim: number, index: number): Tensor {
  tensorArg(x, 'select', 'input');
  if (x.ndim === 0) throw createError('ERR_INDEX_OUT_OF_RANGE', 'select: cannot select from a 0-dim tensor');
  const d = wrapDim(dim, x.ndim, 'select');
  const size = x.shape[d]!;
  checkIndexInt(index, 'select', 'index');
  if (index < -size || index >= size) {
    throw createError('ERR_INDEX_OUT_OF_RANGE', `select: index ${index} is out of bounds for dimension ${d} with size ${size} (shape ${fmtShape(x.shape)})`);
  }
  const i = index < 0 ? index + size : index;
  const shape = x.shape.filter((_, k) => k !== d);
  const strides = x.strides.filter((_, k) => k !== d);
  const out = makeView(x, shape, strides, x.offset + i * x.strides[d]!);
  const from = [...x.shape];
  return record('SelectBackward0', out, [x], (g) => {
    const full = zeros(from, { dtype: g.dtype, device: g.device });
    const target = makeView(full, shape, full.strides.filter((_, k) => k !== d), i * full.strides[d]!);
    copyInto(target, g);
    target.dispose();
    return [full];
  });
}
