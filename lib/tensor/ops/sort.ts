/**
 * Sorting, scans and selection by mask, as torch 1.13 has them: sort, argsort, topk, cumsum,
 * cumprod, nonzero, maskedSelect. The native kernels (cpp/kernels/sort.*) sort the rows of a
 * contiguous [rows, n] layout (the sorted dim moved last), scan the middle axis of [outer, size,
 * inner], and compact by a mask through its prefix count. Sorting is always stable and puts NaN
 * above every number, as torch does. nonzero and maskedSelect have a data-dependent size: the
 * count is read back to the host (on a GPU that read waits for the stream, like torch's).
 */
import { optsArg, tensorArg } from '../args.js';
import { createError } from '../../errors.js';
import { record } from '../../autograd/function.js';
import { checkDType, dtypeCode, isFloating, type DType } from '../dtype.js';
import { checkSameDevice, K, spanOf } from '../kernels.js';
import { broadcastShapes, fmtShape, wrapDim } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { optionKeys } from '../../options.js';
import { describe } from '../describe.js';
import { contiguous, copyInto, detach, emptyTensor } from './copy.js';
import { add, castRaw, compare, div, logical, mul, sub, where } from './elementwise.js';
import { reshape, transpose } from './view.js';
import { indexSelect, scatterAddRaw } from './indexing.js';
import { zeros } from '../creation.js';
import { tidy } from '../scope.js';

export interface SortOptions {
  /** Largest first (default false: ascending). */
  descending?: boolean;
  /**
   * Keep equal elements in their original order (default false, as torch; every sort here is
   * stable, so both values give the same, stable result).
   */
  stable?: boolean;
}
export interface TopkOptions {
  /** The k largest (default true) or the k smallest. */
  largest?: boolean;
  /** Return them in sorted order (default true; false is accepted and also gives sorted order). */
  sorted?: boolean;
}
export interface ScanOptions {
  /** Cast the input to this dtype first; default: int64 for integer and bool inputs, else the input's dtype. */
  dtype?: DType;
}
export interface SortResult {
  values: Tensor;
  /** int64 positions of the values along the sorted dim. */
  indices: Tensor;
}

export const SORT_OPTIONS = optionKeys<SortOptions>({ descending: true, stable: true });
export const TOPK_OPTIONS = optionKeys<TopkOptions>({ largest: true, sorted: true });
export const SCAN_OPTIONS = optionKeys<ScanOptions>({ dtype: true });

function boolOpt(v: unknown, op: string, key: string, dflt: boolean): boolean {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') throw createError('ERR_INVALID_ARG', `${op}: option '${key}' must be a boolean, got ${describe(v)}`);
  return v;
}

function dimOf(x: Tensor, dim: unknown, op: string): number {
  if (typeof dim !== 'number' || !Number.isInteger(dim)) {
    throw createError('ERR_INVALID_ARG', `${op}: dim must be an integer, got ${describe(dim)}`);
  }
  return wrapDim(dim, x.ndim, op);
}

/** The first k of each row of x along d after a stable sort (NaN greatest); no autograd. */
function sortRaw(x: Tensor, d: number, k: number, descending: boolean, op: string): SortResult {
  const xd = detach(x);
  const last = x.ndim <= 1 || d === x.ndim - 1;
  const moved = last ? xd : transpose(xd, d, -1);
  const c = contiguous(moved);
  const n = x.ndim === 0 ? 1 : x.shape[d]!;
  const lead = x.ndim === 0 ? [] : moved.shape.slice(0, -1);
  const rows = lead.reduce((a, b) => a * b, 1);
  const outMoved = x.ndim === 0 ? [] : [...lead, k];
  let values = emptyTensor(outMoved, x.dtype, x.device, op);
  let indices = emptyTensor(outMoved, 'int64', x.device, op);
  if (rows * k > 0) K().sort(dtypeCode(x.dtype), rows, n, k, spanOf(values), spanOf(indices), spanOf(c), descending);
  if (c !== moved) c.dispose();
  if (moved !== xd) moved.dispose();
  xd.dispose();
  if (!last) {
    const back = (t: Tensor): Tensor => {
      const v = transpose(t, d, -1);
      const r = contiguous(v);
      if (r !== v) v.dispose();
      t.dispose();
      return r;
    };
    values = back(values);
    indices = back(indices);
  }
  return { values, indices };
}

/** values = x's elements at indices along d: the gradient goes back to those positions. */
function recordSelect(name: string, x: Tensor, d: number, r: SortResult): SortResult {
  const shape = [...x.shape];
  record(name, r.values, [x], (g, [idx]) => {
    if (x.ndim === 0) return [g];
    const z = zeros(shape, { dtype: g.dtype, device: g.device });
    scatterAddRaw(z, d, idx!, g);
    return [z];
  }, [r.indices]);
  return r;
}

/** The checked arguments of sort and argsort: the dim, its length and the direction. */
function sortArgs(x: Tensor, dim: unknown, opts: SortOptions, op: string): { d: number; n: number; descending: boolean } {
  tensorArg(x, op, 'input');
  opts = optsArg(opts, op, SORT_OPTIONS);
  const descending = boolOpt(opts.descending, op, 'descending', false);
  boolOpt(opts.stable, op, 'stable', false);
  const d = dimOf(x, dim, op);
  return { d, n: x.ndim === 0 ? 1 : x.shape[d]!, descending };
}

/** Sorts along dim (default -1): { values, indices }, as torch.sort. */
export function sort(x: Tensor, dim = -1, opts: SortOptions = {}): SortResult {
  const { d, n, descending } = sortArgs(x, dim, opts, 'sort');
  return recordSelect('SortBackward0', x, d, sortRaw(x, d, n, descending, 'sort'));
}

/** The int64 indices that sort x along dim (torch.argsort). */
export function argsort(x: Tensor, dim = -1, opts: SortOptions = {}): Tensor {
  const { d, n, descending } = sortArgs(x, dim, opts, 'argsort');
  const r = sortRaw(x, d, n, descending, 'argsort');
  r.values.dispose();
  return r.indices;
}

/** The k largest (or smallest) elements along dim (default -1): { values, indices }, as torch.topk. */
export function topk(x: Tensor, k: number, dim = -1, opts: TopkOptions = {}): SortResult {
  tensorArg(x, 'topk', 'input');
  opts = optsArg(opts, 'topk', TOPK_OPTIONS);
  const largest = boolOpt(opts.largest, 'topk', 'largest', true);
  boolOpt(opts.sorted, 'topk', 'sorted', true);
  const d = dimOf(x, dim, 'topk');
  if (typeof k !== 'number' || !Number.isInteger(k)) throw createError('ERR_INVALID_ARG', `topk: k must be an integer, got ${describe(k)}`);
  const n = x.ndim === 0 ? 1 : x.shape[d]!;
  if (k < 0 || k > n) {
    throw createError('ERR_INDEX_OUT_OF_RANGE', `topk: k (${k}) is out of range for dimension ${d} of size ${n} (shape ${fmtShape(x.shape)}); expected 0 <= k <= ${n}`);
  }
  return recordSelect('TopkBackward0', x, d, sortRaw(x, d, k, largest, 'topk'));
}

// ---- scans ----------------------------------------------------------------------------------

type ScanOpName = 'cumsum' | 'cumprod';

/** The scan kernel over x (already of the output dtype) along d; no autograd. */
function scanRaw(op: ScanOpName, x: Tensor, d: number, reverse: boolean): Tensor {
  const xd = detach(x);
  const c = contiguous(xd);
  if (c !== xd) xd.dispose();
  const shape = x.shape;
  const outer = shape.slice(0, d).reduce((a, b) => a * b, 1);
  const size = x.ndim === 0 ? 1 : shape[d]!;
  const inner = shape.slice(d + 1).reduce((a, b) => a * b, 1);
  const out = emptyTensor(shape, x.dtype, x.device, op);
  if (out.numel()) K().scan(op, dtypeCode(x.dtype), outer, size, inner, spanOf(out), spanOf(c), reverse);
  c.dispose();
  return out;
}

/** cumsum along d, from the end when reverse; differentiable (its gradient is the opposite scan). */
function cumsumAlong(x: Tensor, d: number, reverse: boolean): Tensor {
  const out = scanRaw('cumsum', x, d, reverse);
  return record('CumsumBackward0', out, [x], (g) => [cumsumAlong(g, d, !reverse)]);
}

/** cumprod along d; its gradient handles zeros in the input as torch's does. */
function cumprodAlong(x: Tensor, d: number): Tensor {
  const out = scanRaw('cumprod', x, d, false);
  return record('CumprodBackward0', out, [x], (g, [xs, ys]) => [cumprodGrad(g, xs!, ys!, d)], [x, out]);
}

/**
 * d/dx_i of sum_j g_j * prod_{k<=j} x_k, exact with zeros: with z the first zero of the line,
 * positions before z get revcumsum(g * out) / x; position z gets revcumsum(g * cumprod(x with
 * x_z = 1)) (the product of the others up to each j); positions after z get 0.
 */
function cumprodGrad(g: Tensor, x: Tensor, y: Tensor, d: number): Tensor {
  return tidy(() => {
    const isZero = compare('eq', x, 0);
    const zc = cumsumAlong(castRaw(isZero, 'int64'), d, false);
    const before = compare('eq', zc, 0);
    const first = logical('logical_and', isZero, compare('eq', zc, 1));
    const t1 = div(cumsumAlong(mul(g, y), d, true), where(before, x, 1));
    const x2 = where(first, 1, x);
    const t2 = cumsumAlong(mul(g, cumprodAlong(x2, d)), d, true);
    return add(where(before, t1, 0), where(first, t2, 0));
  });
}

function scanDtype(x: Tensor, opts: ScanOptions, op: string): DType {
  if (opts.dtype !== undefined && opts.dtype !== null) return checkDType(opts.dtype, `${op}: dtype`);
  return isFloating(x.dtype) ? x.dtype : 'int64';
}

function scan(op: ScanOpName, x: Tensor, dim: number, opts: ScanOptions): Tensor {
  tensorArg(x, op, 'input');
  opts = optsArg(opts, op, SCAN_OPTIONS);
  if (dim === undefined) throw createError('ERR_INVALID_ARG', `${op}: dim is required (torch.${op}(input, dim))`);
  const d = dimOf(x, dim, op);
  const dtype = scanDtype(x, opts, op);
  const xin = x.dtype === dtype ? x : castDiff(x, dtype);
  const r = op === 'cumsum' ? cumsumAlong(xin, d, false) : cumprodAlong(xin, d);
  if (xin !== x) xin.dispose();
  return r;
}

/** x cast to dtype, recording the cast (the gradient flows back through it for float dtypes). */
function castDiff(x: Tensor, dtype: DType): Tensor {
  const out = castRaw(x, dtype);
  if (!isFloating(dtype)) return out;
  return record('ToCopyBackward0', out, [x], (g) => [g]);
}

/** Cumulative sum along dim (torch.cumsum): integer and bool inputs give int64 unless dtype says. */
export function cumsum(x: Tensor, dim: number, opts: ScanOptions = {}): Tensor {
  return scan('cumsum', x, dim, opts);
}

/** Cumulative product along dim (torch.cumprod): integer and bool inputs give int64 unless dtype says. */
export function cumprod(x: Tensor, dim: number, opts: ScanOptions = {}): Tensor {
  return scan('cumprod', x, dim, opts);
}

// ---- selection by mask -------------------------------------------------------------------------

/** A contiguous bool mask, its inclusive prefix count (int64, flat) and the number of set elements. */
function maskCount(mask: Tensor): { m: Tensor; pos: Tensor; count: number } {
  const md = detach(mask);
  const mb = castRaw(md, 'bool');
  const m = contiguous(mb);
  if (mb !== m && mb !== md) mb.dispose();
  if (md !== m) md.dispose();
  const n = m.numel();
  const flat = reshape(m, [n]);
  const asInt = castRaw(flat, 'int64');
  const pos = scanRaw('cumsum', asInt, 0, false);
  asInt.dispose();
  flat.dispose();
  let count = 0;
  if (n > 0) {
    if (pos.device.type === 'cpu') {
      const bytes = pos._storage.hostBytes();
      count = Number(new BigInt64Array(bytes.buffer, bytes.byteOffset + (pos.offset + n - 1) * 8, 1)[0]);
    } else {
      const last = pos.narrow(0, n - 1, 1);
      count = Number(last.item()); // waits for the stream: the size is data-dependent
      last.dispose();
    }
  }
  return { m, pos, count };
}

/** The int64 coordinates [n, x.ndim] of the non-zero elements of x, in row-major order (torch.nonzero). */
export function nonzero(x: Tensor): Tensor {
  tensorArg(x, 'nonzero', 'input');
  const { m, pos, count } = maskCount(x);
  const out = emptyTensor([count, x.ndim], 'int64', x.device, 'nonzero');
  if (count > 0 && x.ndim > 0) K().nonzero(x.shape as number[], spanOf(out), count, spanOf(m), spanOf(pos));
  m.dispose();
  pos.dispose();
  return out;
}

/** The elements of x where the bool mask is true (both broadcast), as a 1-D tensor (torch.masked_select). */
export function maskedSelect(x: Tensor, mask: Tensor): Tensor {
  tensorArg(x, 'maskedSelect', 'input');
  tensorArg(mask, 'maskedSelect', 'mask');
  if (mask.dtype !== 'bool') {
    throw createError('ERR_DTYPE', `maskedSelect: expected a bool mask, got ${mask.dtype} (compare first, e.g. mask.ne(0))`);
  }
  checkSameDevice('maskedSelect', x, mask);
  const shape = broadcastShapes(x.shape, mask.shape, 'maskedSelect');
  const mb = emptyTensor(shape, 'bool', mask.device, 'maskedSelect');
  copyInto(mb, mask);
  const xb = emptyTensor(shape, x.dtype, x.device, 'maskedSelect');
  copyInto(xb, x);
  const { m, pos, count } = maskCount(mb);
  if (m !== mb) mb.dispose();
  const n = xb.numel();
  const out = emptyTensor([count], x.dtype, x.device, 'maskedSelect');
  if (count > 0) K().compact(dtypeCode(x.dtype), n, spanOf(out), count, spanOf(xb), spanOf(m), spanOf(pos));
  xb.dispose();
  const r = record('MaskedSelectBackward0', out, [x], (g, [ms, ps]) => [maskedSelectGrad(g, ms!, ps!, shape)], [m, pos]);
  m.dispose();
  pos.dispose();
  return r;
}

/** The broadcast-shape gradient of maskedSelect: g's elements back at the set positions, zeros elsewhere. */
function maskedSelectGrad(g: Tensor, m: Tensor, pos: Tensor, shape: number[]): Tensor {
  if (g.numel() === 0) return zeros(shape, { dtype: g.dtype, device: g.device });
  return tidy(() => {
    const flatMask = reshape(m, [m.numel()]);
    const slot = where(flatMask, sub(pos, 1), 0);
    const picked = indexSelect(g, 0, slot);
    return reshape(where(flatMask, picked, 0), shape);
  });
}
