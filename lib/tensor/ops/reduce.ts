/**
 * Reductions over dims (keepdim too): sum, mean, prod, max/min (with indices), amax/amin,
 * argmax/argmin, var/std (with correction), logsumexp, norm. The native kernel reduces the middle
 * axis of a contiguous [outer, size, inner] layout; reducing a contiguous run of dims of a
 * contiguous tensor needs no copy, anything else permutes the reduced dims last first.
 */
import { KEEPDIM_OPTIONS, REDUCE_OPTIONS, VAR_OPTIONS, optsArg, tensorArg } from '../args.js';
import { createError } from '../../errors.js';
import { record } from '../../autograd/function.js';
import type { ReduceOp } from '../../../typings/native.js';
import { checkDType, dtypeCode, isFloating, type DType } from '../dtype.js';
import { K, spanOf } from '../kernels.js';
import { checkShape, fmtShape, shapesEqual, wrapDims } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { contiguous, emptyTensor } from './copy.js';
import { castRaw, compare, div, log, mul, sub, where, abs, pow, sqrt, add, exp } from './elementwise.js';
import { permute, reshape, expand, squeeze } from './view.js';
import { fillScalar } from './inplace.js';
import { scatterAddRaw } from './indexing.js';
import { zeros } from '../creation.js';
import { tidy } from '../scope.js';

export interface ReduceOptions {
  /** Keep reduced dims with size 1 (default false). */
  keepdim?: boolean;
  /** Cast the input to this dtype first (sum, mean, prod). */
  dtype?: DType;
}
export interface VarOptions {
  /** Subtracted from N in the divisor: 1 (default) is Bessel's correction, 0 the population variance. */
  correction?: number;
  keepdim?: boolean;
}
export interface ValuesIndices {
  values: Tensor;
  indices: Tensor;
}

interface Plan {
  input: Tensor; // contiguous
  outer: number;
  size: number;
  inner: number;
  keepShape: number[];
  outShape: number[];
  dims: number[];
}

function plan(x: Tensor, dimArg: number | readonly number[] | null | undefined, keepdim: boolean, op: string): Plan {
  tensorArg(x, op, 'input');
  const dims = x.ndim === 0 ? [] : wrapDims(dimArg, x.ndim, op);
  if (x.ndim === 0 && dimArg !== undefined && dimArg !== null) wrapDims(dimArg, 0, op);
  const keepShape = x.shape.map((s, i) => (dims.includes(i) ? 1 : s));
  const outShape = keepdim ? keepShape : x.shape.filter((_, i) => !dims.includes(i));
  const prod = (a: readonly number[]): number => a.reduce((p, v) => p * v, 1);
  const size = prod(dims.map((d) => x.shape[d]!));
  if (dims.length === 0) return { input: contiguous(x), outer: x.numel(), size: 1, inner: 1, keepShape, outShape, dims };
  const first = dims[0]!;
  const last = dims[dims.length - 1]!;
  if (x.isContiguous() && last - first + 1 === dims.length) {
    return { input: x, outer: prod(x.shape.slice(0, first)), size, inner: prod(x.shape.slice(last + 1)), keepShape, outShape, dims };
  }
  const kept = x.shape.map((_, i) => i).filter((i) => !dims.includes(i));
  const p = permute(x, [...kept, ...dims]);
  const input = contiguous(p);
  if (input !== p) p.dispose();
  return { input, outer: prod(kept.map((i) => x.shape[i]!)), size, inner: 1, keepShape, outShape, dims };
}

function release(p: Plan, x: Tensor): void {
  if (p.input !== x) p.input.dispose();
}

/** Runs the reduce kernel; out dtype `outDtype`; handles empty inputs. */
function reduceRaw(op: ReduceOp, p: Plan, outDtype: DType, name: string, correction = 1, indices?: Tensor): Tensor {
  const out = emptyTensor(p.outShape, outDtype, p.input.device, name);
  if (out.numel() === 0) return out;
  if (p.size === 0) {
    if (op === 'sum') fillScalar(out, 0);
    else if (op === 'prod') fillScalar(out, 1);
    else if (op === 'mean' || op === 'var') fillScalar(out, NaN);
    else {
      out.dispose();
      throw createError('ERR_INVALID_ARG', `${name}: cannot reduce over a zero-size dimension (input shape ${fmtShape(p.input.shape)}); specify a dim of nonzero size`);
    }
    return out;
  }
  K().reduce(op, dtypeCode(p.input.dtype), p.outer, p.size, p.inner, spanOf(out), spanOf(p.input), indices ? spanOf(indices) : null, correction);
  return out;
}

/** Gradient of a reduction broadcast back to the input shape. */
function expandBack(g: Tensor, keepShape: number[], shape: readonly number[]): Tensor {
  return expand(reshape(g, keepShape), [...shape]);
}

function sumLike(op: 'sum' | 'mean' | 'prod', x: Tensor, dim: number | readonly number[] | null | undefined, opts: ReduceOptions): Tensor {
  opts = optsArg(opts, op, REDUCE_OPTIONS);
  tensorArg(x, op, 'input');
  const keepdim = opts.keepdim ?? false;
  let src = x;
  if (opts.dtype !== undefined) src = castRaw(tensorArg(x, op, 'input'), checkDType(opts.dtype, op));
  else if (op !== 'mean' && !isFloating(x.dtype)) src = castRaw(tensorArg(x, op, 'input'), 'int64');
  if (op === 'mean' && !isFloating(src.dtype)) {
    throw createError('ERR_DTYPE', `mean: could not infer output dtype; input dtype must be floating point, got ${src.dtype} (pass { dtype: 'float32' })`);
  }
  const p = plan(src, dim, keepdim, op);
  const y = reduceRaw(op, p, src.dtype, op);
  release(p, src);
  if (src !== x) src.dispose();
  const n = p.size;
  const { keepShape } = p;
  const shape = [...x.shape];
  if (op === 'sum') return record('SumBackward1', y, [x], (g) => [expandBack(g, keepShape, shape)]);
  if (op === 'mean') return record('MeanBackward1', y, [x], (g) => [mul(expandBack(g, keepShape, shape), 1 / n)]);
  return record('ProdBackward1', y, [x], (g, [sx, sy]) => {
    const xz = compare('eq', sx!, 0);
    const dims = p.dims;
    const nz = sum(xz, dims, { keepdim: true });
    const pnz = prod(where(xz, 1, sx!), dims, { keepdim: true });
    const yk = reshape(sy!, keepShape);
    const noZero = div(yk, sx!);
    const oneZero = where(compare('eq', nz, 1).logicalAnd(xz), pnz, 0);
    return [mul(where(compare('eq', nz, 0), noZero, oneZero), expandBack(g, keepShape, shape))];
  }, [x, y]);
}

export function sum(x: Tensor, dim?: number | readonly number[] | null, opts: ReduceOptions = {}): Tensor {
  return sumLike('sum', x, dim, opts);
}
export function mean(x: Tensor, dim?: number | readonly number[] | null, opts: ReduceOptions = {}): Tensor {
  return sumLike('mean', x, dim, opts);
}
/** Product over one dim or all elements (dim null). */
export function prod(x: Tensor, dim?: number | readonly number[] | null, opts: ReduceOptions = {}): Tensor {
  return sumLike('prod', x, dim, opts);
}

/** max/min over all elements (a 0-dim tensor), or over one dim ({ values, indices }). */
export function maxmin(op: 'max' | 'min', x: Tensor, dim: number | undefined | null, opts: { keepdim?: boolean }): Tensor | ValuesIndices {
  opts = optsArg(opts, op, KEEPDIM_OPTIONS);
  if (dim === undefined || dim === null) return amaxmin(op, x, null, {});
  if (typeof dim !== 'number') throw createError('ERR_INVALID_ARG', `${op}: dim must be a single integer`);
  const keepdim = opts.keepdim ?? false;
  const p = plan(x, dim, keepdim, op);
  const indices = emptyTensor(p.outShape, 'int64', x.device, op);
  const values = reduceRaw(op, p, x.dtype, op, 1, indices);
  release(p, x);
  const d = p.dims[0] ?? 0;
  const shape = [...x.shape];
  const keepShape = p.keepShape;
  record(op === 'max' ? 'MaxBackward0' : 'MinBackward0', values, [x], (g, [idx]) => {
    if (x.ndim === 0) return [g];
    const out = zeros(shape, { dtype: g.dtype, device: g.device });
    scatterAddRaw(out, d, reshape(idx!, keepShape), reshape(g, keepShape));
    return [out];
  }, [indices]);
  return { values, indices };
}

/** max/min over dims; ties share the gradient evenly (torch.amax). */
export function amaxmin(op: 'max' | 'min', x: Tensor, dim: number | readonly number[] | null | undefined, opts: { keepdim?: boolean }): Tensor {
  opts = optsArg(opts, op, KEEPDIM_OPTIONS);
  const name = op === 'max' ? 'amax' : 'amin';
  const p = plan(x, dim, opts.keepdim ?? false, name);
  const y = reduceRaw(op, p, x.dtype, name);
  release(p, x);
  const { keepShape } = p;
  const shape = [...x.shape];
  return record(op === 'max' ? 'AmaxBackward0' : 'AminBackward0', y, [x], (g, [sx, sy]) => {
    const mask = compare('eq', sx!, reshape(sy!, keepShape));
    const count = sum(mask, p.dims, { keepdim: true });
    return [where(mask, div(expandBack(g, keepShape, shape), count), 0)];
  }, [x, y]);
}

/**
 * any/all over all elements or dims (torch.any / torch.all): bool out, except uint8 in gives
 * uint8 out (as torch 1.13). NaN counts as true. Over an empty dim any is false and all is true.
 * The inputs are tested against zero, then max/min-reduced as bools (the reduce kernel).
 */
export function anyAll(op: 'any' | 'all', x: Tensor, dim: number | readonly number[] | null | undefined, opts: { keepdim?: boolean } = {}): Tensor {
  opts = optsArg(opts, op, KEEPDIM_OPTIONS);
  tensorArg(x, op, 'input');
  const keepdim = opts.keepdim ?? false;
  if (typeof keepdim !== 'boolean') throw createError('ERR_INVALID_ARG', `${op}: option 'keepdim' must be a boolean, got ${String(keepdim)}`);
  const b = x.dtype === 'bool' ? x.detach() : compare('ne', x.detach(), 0);
  const p = plan(b, dim, keepdim, op);
  let out: Tensor;
  if (p.size === 0) {
    out = emptyTensor(p.outShape, 'bool', x.device, op);
    if (out.numel()) fillScalar(out, op === 'all');
  } else {
    out = reduceRaw(op === 'any' ? 'max' : 'min', p, 'bool', op);
  }
  release(p, b);
  b.dispose();
  if (x.dtype !== 'uint8') return out;
  const u = castRaw(out, 'uint8');
  out.dispose();
  return u;
}

/** True if any element (over dim(s), or all) is non-zero (torch.any). */
export function any(x: Tensor, dim?: number | readonly number[] | null, opts: { keepdim?: boolean } = {}): Tensor {
  return anyAll('any', x, dim, opts);
}
/** True if every element (over dim(s), or all) is non-zero (torch.all). */
export function all(x: Tensor, dim?: number | readonly number[] | null, opts: { keepdim?: boolean } = {}): Tensor {
  return anyAll('all', x, dim, opts);
}

export function argmaxmin(op: 'argmax' | 'argmin', x: Tensor, dim: number | null | undefined, opts: { keepdim?: boolean }): Tensor {
  opts = optsArg(opts, op, KEEPDIM_OPTIONS);
  if (dim === undefined || dim === null) {
    const flat = reshape(x._check(op), [-1]);
    const r = argmaxmin(op, flat, 0, {});
    flat.dispose();
    if (opts.keepdim) {
      const k = reshape(r, x.shape.map(() => 1));
      r.dispose();
      return k;
    }
    return r;
  }
  const p = plan(x, dim, opts.keepdim ?? false, op);
  const out = reduceRaw(op, p, 'int64', op);
  release(p, x);
  return out;
}

export function variance(x: Tensor, dim: number | readonly number[] | null | undefined, opts: VarOptions = {}): Tensor {
  opts = optsArg(opts, 'var', VAR_OPTIONS);
  tensorArg(x, 'var', 'input');
  if (!isFloating(x.dtype)) throw createError('ERR_DTYPE', `var: input dtype must be floating point, got ${x.dtype}`);
  const correction = opts.correction ?? 1;
  if (typeof correction !== 'number' || !(correction >= 0)) throw createError('ERR_INVALID_ARG', `var: correction must be a non-negative number, got ${String(correction)}`);
  const p = plan(x, dim, opts.keepdim ?? false, 'var');
  const y = reduceRaw('var', p, x.dtype, 'var', correction);
  release(p, x);
  const { keepShape } = p;
  const n = p.size;
  return record('VarBackward0', y, [x], (g, [sx]) => {
    const m = mean(sx!, p.dims, { keepdim: true });
    return [mul(mul(sub(sx!, m), expandBack(g, keepShape, sx!.shape)), 2 / Math.max(n - correction, 0))];
  }, [x]);
}

export function std(x: Tensor, dim: number | readonly number[] | null | undefined, opts: VarOptions = {}): Tensor {
  opts = optsArg(opts, 'std', VAR_OPTIONS);
  return tidy(() => sqrt(variance(x, dim, opts)));
}

/** log(sum(exp(x))) over dims, computed stably. */
export function logsumexp(x: Tensor, dim: number | readonly number[], opts: { keepdim?: boolean } = {}): Tensor {
  opts = optsArg(opts, 'logsumexp', KEEPDIM_OPTIONS);
  tensorArg(x, 'logsumexp', 'input');
  return tidy(() => logsumexpImpl(x, dim, opts));
}

function logsumexpImpl(x: Tensor, dim: number | readonly number[], opts: { keepdim?: boolean }): Tensor {
  const dims = wrapDims(dim, x.ndim, 'logsumexp');
  const m = amaxmin('max', x.detach(), dims, { keepdim: true });
  const finite = where(compare('eq', abs(m), Infinity), 0, m);
  const r = add(log(sum(exp(sub(x, finite)), dims, { keepdim: true })), finite);
  return opts.keepdim ? r : squeeze(r, dims);
}

/** p-norm (p = 2 default; Infinity and -Infinity give max/min of |x|). */
export function norm(x: Tensor, p: number, dim: number | readonly number[] | null | undefined, opts: { keepdim?: boolean } = {}): Tensor {
  opts = optsArg(opts, 'norm', KEEPDIM_OPTIONS);
  tensorArg(x, 'norm', 'input');
  return tidy(() => normImpl(x, p, dim, opts));
}

function normImpl(x: Tensor, p: number, dim: number | readonly number[] | null | undefined, opts: { keepdim?: boolean }): Tensor {
  const keepdim = opts.keepdim ?? false;
  const ax = abs(x);
  if (p === Infinity) return amaxmin('max', ax, dim, { keepdim });
  if (p === -Infinity) return amaxmin('min', ax, dim, { keepdim });
  if (p === 1) return sum(ax, dim, { keepdim });
  if (p === 2) return sqrt(sum(mul(x, x), dim, { keepdim }));
  if (typeof p !== 'number' || !(p > 0)) throw createError('ERR_INVALID_ARG', `norm: p must be a positive number or ±Infinity, got ${String(p)}`);
  return pow(sum(pow(ax, p), dim, { keepdim }), 1 / p);
}

/** Sums g over broadcast dims so it has `shape` (used by autograd for broadcasting ops). */
export function sumToShape(g: Tensor, shape: readonly number[]): Tensor {
  tensorArg(g, 'sumToShape', 'input');
  shape = checkShape(shape, 'sumToShape');
  if (shapesEqual(g.shape, shape)) return g;
  const lead = g.ndim - shape.length;
  if (lead < 0) {
    throw createError('ERR_INTERNAL', `sumToShape: gradient of shape ${fmtShape(g.shape)} has fewer dims than ${fmtShape(shape)}`);
  }
  const dims: number[] = [];
  for (let i = 0; i < g.ndim; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) dims.push(i);
  }
  const r = dims.length ? sum(g, dims, { keepdim: true }) : g;
  const out = reshape(r, [...shape]);
  if (r !== g && out !== r) r.dispose();
  return out;
}
