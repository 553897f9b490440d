/**
 * Ops that move elements without computing on them, as torch 1.13 has them: flip, roll, repeat,
 * tile (strided copies through the copy kernel: a flipped dim is read with a negative stride, a
 * rolled dim as two blocks, a repeated dim through a zero-stride dim of the source), and tril /
 * triu (their own kernel, cpp/kernels/triangle.*). Each is differentiable: flip and roll map the
 * gradient back the same way, repeat sums it over the copies, tril/triu mask it.
 */
import { tensorArg } from '../args.js';
import { describe } from '../describe.js';
import { createError } from '../../errors.js';
import { record } from '../../autograd/function.js';
import type { View } from '../../../typings/native.js';
import { dtypeCode } from '../dtype.js';
import { K, spanOf, viewOf } from '../kernels.js';
import { contiguousStrides, fmtShape, MAX_DIMS, wrapDim } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { contiguous, detach, emptyTensor } from './copy.js';
import { reshape } from './view.js';
import { sum } from './reduce.js';

/** An integer or a list of integers (a list given as separate arguments is flattened by the callers). */
function intList(v: unknown, op: string, what: string): number[] {
  const list = typeof v === 'number' ? [v] : v;
  if (!Array.isArray(list) || list.some((d) => typeof d !== 'number' || !Number.isSafeInteger(d))) {
    throw createError('ERR_INVALID_ARG', `${op}: ${what} must be an integer or an array of integers, got ${describe(v)}`);
  }
  return list as number[];
}

/** Accepts f(x, 0, 1) and f(x, [0, 1]) (torch's varargs and tuple forms). */
export function listArgs(args: readonly (number | readonly number[])[], op: string, what: string): number[] {
  if (args.length === 1 && Array.isArray(args[0])) return intList(args[0], op, what);
  return intList(args as unknown as number[], op, what);
}

/** A raw strided copy src -> dst of `shape` (views of any strides, same dtype); no autograd. */
function copyView(x: Tensor, shape: readonly number[], dst: View, src: View): void {
  if (shape.some((s) => s === 0)) return;
  const code = dtypeCode(x.dtype);
  K().copy(code, code, shape as number[], dst, src);
}

// ---- flip ---------------------------------------------------------------------------------------

/** The elements of x reversed along each of dims (torch.flip); always a copy. */
export function flip(x: Tensor, dims: number | readonly number[]): Tensor {
  tensorArg(x, 'flip', 'input');
  const list = intList(dims, 'flip', 'dims');
  const ds = list.map((d) => wrapDim(d, x.ndim, 'flip'));
  const seen = new Set<number>();
  for (const d of ds) {
    if (seen.has(d)) throw createError('ERR_INVALID_ARG', `flip: dim ${d} appears multiple times in the list of dims ${describe(list)}`);
    seen.add(d);
  }
  const out = emptyTensor(x.shape, x.dtype, x.device, 'flip');
  if (out.numel()) {
    const strides = [...x.strides];
    let offset = x.offset;
    for (const d of x.ndim === 0 ? [] : ds) {
      offset += (x.shape[d]! - 1) * strides[d]!;
      strides[d] = -strides[d]!;
    }
    copyView(x, x.shape, viewOf(out), { mem: x._storage.mem, offset, strides });
  }
  const dd = x.ndim === 0 ? [] : ds;
  return record('FlipBackward0', out, [x], (g) => [flip(g, dd)]);
}

// ---- roll ---------------------------------------------------------------------------------------

/** At most this many dims are rolled in one pass (2^n block copies). */
const ROLL_DIMS_PER_PASS = 4;

/** out = x rolled by amount[d] (0 <= amount < size) along each listed dim, as block copies. */
function rollRaw(x: Tensor, rolls: [number, number][]): Tensor {
  if (rolls.length > ROLL_DIMS_PER_PASS) {
    const first = rollRaw(x, rolls.slice(0, ROLL_DIMS_PER_PASS));
    const r = rollRaw(first, rolls.slice(ROLL_DIMS_PER_PASS));
    first.dispose();
    return r;
  }
  const out = emptyTensor(x.shape, x.dtype, x.device, 'roll');
  if (!out.numel()) return out;
  // per dim, the pieces [dstStart, srcStart, length]: out[k:] = x[:n-k], out[:k] = x[n-k:]
  const pieces = rolls.map(([d, k]) => {
    const n = x.shape[d]!;
    return { d, parts: k === 0 ? [[0, 0, n]] : [[k, 0, n - k], [0, n - k, k]] };
  });
  const total = pieces.reduce((a, p) => a * p.parts.length, 1);
  for (let c = 0; c < total; c++) {
    const shape = [...x.shape];
    let dstOff = out.offset;
    let srcOff = x.offset;
    let rest = c;
    for (const p of pieces) {
      const [dst, src, len] = p.parts[rest % p.parts.length]!;
      rest = Math.floor(rest / p.parts.length);
      shape[p.d] = len!;
      dstOff += dst! * out.strides[p.d]!;
      srcOff += src! * x.strides[p.d]!;
    }
    copyView(x, shape, { mem: out._storage.mem, offset: dstOff, strides: [...out.strides] },
      { mem: x._storage.mem, offset: srcOff, strides: [...x.strides] });
  }
  return out;
}

/**
 * x with its elements shifted by shifts along dims, wrapping around (torch.roll). Without dims,
 * the flattened tensor is rolled by the single shift and reshaped back. Repeated dims add up.
 */
export function roll(x: Tensor, shifts: number | readonly number[], dims?: number | readonly number[] | null): Tensor {
  tensorArg(x, 'roll', 'input');
  const s = intList(shifts, 'roll', 'shifts');
  const ds = dims === undefined || dims === null ? [] : intList(dims, 'roll', 'dims');
  if (ds.length === 0) {
    if (s.length !== 1) {
      throw createError('ERR_INVALID_ARG', `roll: shifts and dims must align: ${s.length} shifts but no dims (without dims, one shift rolls the flattened tensor)`);
    }
    const flat = reshape(x, [-1]);
    const r = roll(flat, s, [0]);
    const out = reshape(r, [...x.shape]);
    if (out !== r) r.dispose();
    if (flat !== x) flat.dispose();
    return out;
  }
  if (s.length !== ds.length) {
    throw createError('ERR_INVALID_ARG', `roll: shifts and dims must align: ${s.length} shift${s.length === 1 ? '' : 's'} ${describe(shifts)} but ${ds.length} dims ${describe(dims)}`);
  }
  if (x.ndim === 0) {
    // torch: a 0-dim tensor has no dim to roll
    throw createError('ERR_INDEX_OUT_OF_RANGE', `roll: dims ${describe(dims)} given for a 0-dim tensor, which has no dimensions (omit dims to roll it)`);
  }
  const amount = new Map<number, number>();
  ds.forEach((d, i) => {
    const w = wrapDim(d, x.ndim, 'roll');
    amount.set(w, (amount.get(w) ?? 0) + s[i]!);
  });
  const rolls: [number, number][] = [];
  for (const [d, k] of [...amount].sort((a, b) => a[0] - b[0])) {
    const n = x.shape[d]!;
    const m = n === 0 ? 0 : ((k % n) + n) % n;
    if (m !== 0) rolls.push([d, m]);
  }
  const xd = detach(x);
  const out = rolls.length ? rollRaw(xd, rolls) : contiguousCopy(xd);
  xd.dispose();
  // the gradient rolls back (recorded, so it differentiates again)
  const backShifts = rolls.map(([, m]) => -m);
  const backDims = rolls.map(([d]) => d);
  return record('RollBackward0', out, [x], (g) => [backDims.length ? roll(g, backShifts, backDims) : g]);
}

/** A new contiguous copy (never x itself). */
function contiguousCopy(x: Tensor): Tensor {
  const out = emptyTensor(x.shape, x.dtype, x.device, 'copy');
  copyView(x, x.shape, viewOf(out), viewOf(x));
  return out;
}

// ---- repeat / tile ------------------------------------------------------------------------------

/**
 * out = x (padded with leading 1-dims to sizes.length) copied sizes[i] times along each dim, in
 * one strided copy: the output is read as [r0, s0, r1, s1, ...] with the source's r dims of
 * stride 0. A problem of more than MAX_DIMS such dims runs one dim at a time.
 */
function repeatRaw(x: Tensor, sizes: readonly number[]): Tensor {
  const pad = sizes.length - x.ndim;
  const xs = [...new Array<number>(pad).fill(1), ...x.shape];
  const xst = [...new Array<number>(pad).fill(0), ...x.strides];
  const outShape = xs.map((s, i) => s * sizes[i]!);
  const out = emptyTensor(outShape, x.dtype, x.device, 'repeat');
  if (!out.numel()) return out;
  const shape: number[] = [];
  const srcSt: number[] = [];
  for (let i = 0; i < xs.length; i++) {
    if (sizes[i] !== 1) { shape.push(sizes[i]!); srcSt.push(0); }
    if (xs[i] !== 1) { shape.push(xs[i]!); srcSt.push(xst[i]!); }
  }
  // merge dims the source walks contiguously (the output is contiguous throughout)
  const mShape: number[] = [];
  const mSt: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    const n = mShape.length;
    if (n > 0 && mSt[n - 1] === srcSt[i]! * shape[i]!) {
      mShape[n - 1] = mShape[n - 1]! * shape[i]!;
      mSt[n - 1] = srcSt[i]!;
    } else {
      mShape.push(shape[i]!);
      mSt.push(srcSt[i]!);
    }
  }
  if (mShape.length <= MAX_DIMS) {
    copyView(x, mShape, { mem: out._storage.mem, offset: 0, strides: contiguousStrides(mShape) },
      { mem: x._storage.mem, offset: x.offset, strides: mSt });
    return out;
  }
  out.dispose();
  // one dim at a time: [before, r, s, after] over a contiguous tensor
  const xd = detach(x);
  const xr = reshape(xd, xs);
  let cur = contiguous(xr);
  if (cur !== xr) xr.dispose();
  xd.dispose();
  for (let i = 0; i < xs.length; i++) {
    if (sizes[i] === 1) continue;
    const step = sizes.map((_, j) => (j === i ? sizes[i]! : 1));
    const next = repeatRaw(cur, step);
    cur.dispose();
    cur = next;
  }
  return cur;
}

/** The gradient of repeat: g summed over the copies, one repeated dim at a time. */
function repeatGrad(g: Tensor, xs: readonly number[], sizes: readonly number[], xShape: readonly number[]): Tensor {
  let cur = g;
  const shape = xs.map((s, i) => s * sizes[i]!);
  for (let i = 0; i < xs.length; i++) {
    if (sizes[i] === 1) continue;
    const before = shape.slice(0, i).reduce((a, b) => a * b, 1);
    const after = shape.slice(i + 1).reduce((a, b) => a * b, 1);
    const v = reshape(cur, [before, sizes[i]!, xs[i]!, after]);
    const r = sum(v, 1);
    if (v !== cur) v.dispose();
    if (cur !== g) cur.dispose();
    shape[i] = xs[i]!;
    cur = r;
  }
  const out = reshape(cur, [...xShape]);
  if (out !== cur && cur !== g) cur.dispose();
  return out;
}

function repeatSizes(sizes: readonly number[], x: Tensor, op: string): void {
  for (const r of sizes) {
    if (r < 0) throw createError('ERR_INVALID_ARG', `${op}: repeats must be non-negative, got ${describe(sizes)}`);
  }
  if (sizes.length > MAX_DIMS) throw createError('ERR_INVALID_ARG', `${op}: ${sizes.length} repeat dims exceed the ${MAX_DIMS}-dimension limit`);
  const pad = sizes.length - x.ndim;
  const total = sizes.reduce((a, r, i) => a * r * (i < pad ? 1 : x.shape[i - pad]!), 1);
  if (!Number.isSafeInteger(total)) throw createError('ERR_INVALID_ARG', `${op}: ${describe(sizes)} repeats of shape ${fmtShape(x.shape)} overflow the element count`);
}

/**
 * x copied sizes[i] times along each dim (torch.Tensor.repeat): sizes must cover every dim of x;
 * extra leading sizes add new leading dims.
 */
export function repeat(x: Tensor, sizes: readonly number[]): Tensor {
  tensorArg(x, 'repeat', 'input');
  const rs = intList(sizes, 'repeat', 'sizes');
  if (rs.length < x.ndim) {
    throw createError('ERR_INVALID_ARG', `repeat: the number of repeat dims (${rs.length}) can not be smaller than the number of dimensions of the tensor (${x.ndim}, shape ${fmtShape(x.shape)})`);
  }
  repeatSizes(rs, x, 'repeat');
  const xd = detach(x);
  const out = repeatRaw(xd, rs);
  xd.dispose();
  const xs = [...new Array<number>(rs.length - x.ndim).fill(1), ...x.shape];
  const xShape = [...x.shape];
  return record('RepeatBackward0', out, [x], (g) => [repeatGrad(g, xs, rs, xShape)]);
}

/**
 * x copied dims[i] times along each dim (torch.tile): with fewer dims than x has, dims is padded
 * with leading 1s (tile(x, [2]) repeats the last dim); with more, x gets leading 1-dims.
 */
export function tile(x: Tensor, dims: readonly number[]): Tensor {
  tensorArg(x, 'tile', 'input');
  const ds = intList(dims, 'tile', 'dims');
  const full = ds.length < x.ndim ? [...new Array<number>(x.ndim - ds.length).fill(1), ...ds] : ds;
  for (const r of full) if (r < 0) throw createError('ERR_INVALID_ARG', `tile: repeats must be non-negative, got ${describe(dims)}`);
  return repeat(x, full);
}

// ---- tril / triu --------------------------------------------------------------------------------

function triangle(op: 'tril' | 'triu', x: Tensor, diagonal: number): Tensor {
  tensorArg(x, op, 'input');
  if (typeof diagonal !== 'number' || !Number.isSafeInteger(diagonal)) {
    throw createError('ERR_INVALID_ARG', `${op}: diagonal must be an integer, got ${describe(diagonal)}`);
  }
  if (x.ndim < 2) {
    throw createError('ERR_INVALID_ARG', `${op}: input must have at least 2 dimensions (a matrix or a batch of matrices), got shape ${fmtShape(x.shape)}`);
  }
  const rows = x.shape[x.ndim - 2]!;
  const cols = x.shape[x.ndim - 1]!;
  const batch = x.shape.slice(0, -2).reduce((a, b) => a * b, 1);
  const xd = detach(x);
  const c = contiguous(xd);
  const out = emptyTensor(x.shape, x.dtype, x.device, op);
  if (out.numel()) K().triangle(dtypeCode(x.dtype), batch, rows, cols, diagonal, op === 'triu', spanOf(out), spanOf(c));
  if (c !== xd) c.dispose();
  xd.dispose();
  return record(op === 'tril' ? 'TrilBackward0' : 'TriuBackward0', out, [x], (g) => [triangle(op, g, diagonal)]);
}

/** The lower triangle of the last two dims (j - i <= diagonal kept), the rest zero (torch.tril). */
export const tril = (x: Tensor, diagonal = 0): Tensor => triangle('tril', x, diagonal);
/** The upper triangle of the last two dims (j - i >= diagonal kept), the rest zero (torch.triu). */
export const triu = (x: Tensor, diagonal = 0): Tensor => triangle('triu', x, diagonal);
