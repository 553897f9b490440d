/** Index-driven ops: gather, scatterAdd, indexSelect, embedding, oneHot. Indices are int64. */
import { EMBEDDING_OPTIONS, optsArg, tensorArg } from '../args.js';
import { createError } from '../../errors.js';
import { record } from '../../autograd/function.js';
import { dtypeCode, isIntegral } from '../dtype.js';
import { checkSameDevice, K, spanOf } from '../kernels.js';
import { fmtShape, wrapDim } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { clone, contiguous, emptyTensor } from './copy.js';
import { castRaw, compare, mul } from './elementwise.js';
import { makeView, reshape, unsqueeze } from './view.js';
import { zeros, arange } from '../creation.js';

/** Checks an index tensor's dtype (int64, or int32 converted) and returns an int64 contiguous copy. */
function indexTensor(index: Tensor, op: string, allowInt32 = true): Tensor {
  tensorArg(index, op, 'input');
  if (index.dtype !== 'int64' && !(allowInt32 && isIntegral(index.dtype))) {
    throw createError('ERR_DTYPE', `${op}: index must be an int64 tensor, got ${index.dtype}`);
  }
  return contiguous(castRaw(index, 'int64'));
}

/** ERR_INDEX_OUT_OF_RANGE unless every index is in [0, size) (device tensors: checked by reduction). */
export function checkIndexRange(index: Tensor, size: number, op: string): void {
  if (index.numel() === 0) return;
  if (index.device.type === 'cpu') {
    const bytes = index._storage.hostBytes();
    const arr = new BigInt64Array(bytes.buffer, bytes.byteOffset + index.offset * 8, index.numel());
    for (const v of arr) if (v < 0n || v >= BigInt(size)) throw outOfRange(Number(v), size, op);
    return;
  }
  const lo = index.amin().item() as number;
  const hi = index.amax().item() as number;
  if (lo < 0) throw outOfRange(lo, size, op);
  if (hi >= size) throw outOfRange(hi, size, op);
}

function outOfRange(v: number, size: number, op: string): Error {
  return createError('ERR_INDEX_OUT_OF_RANGE', `${op}: index ${v} is out of bounds for dimension with size ${size}`);
}

/** out[..i..] = x[..index[..i..]..] along dim. */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  tensorArg(x, 'gather', 'input');
  tensorArg(index, 'gather', 'index');
  checkSameDevice('gather', x, index);
  const d = wrapDim(dim, x.ndim, 'gather');
  const idx = indexTensor(index, 'gather', false);
  if (idx.ndim !== x.ndim || idx.shape.some((s, i) => i !== d && s > x.shape[i]!)) {
    throw createError('ERR_SHAPE_MISMATCH', `gather: index of shape ${fmtShape(index.shape)} must have the same number of dims as the input ${fmtShape(x.shape)} and be no larger outside dim ${d}`);
  }
  checkIndexRange(idx, x.shape[d] ?? 1, 'gather');
  const xc = contiguous(x);
  const out = emptyTensor(idx.shape, x.dtype, x.device, 'gather');
  if (out.numel()) K().gather(dtypeCode(x.dtype), d, idx.shape as number[], xc.shape as number[], spanOf(out), spanOf(xc), spanOf(idx));
  if (xc !== x) xc.dispose();
  const shape = [...x.shape];
  const r = record('GatherBackward0', out, [x], (g, [si]) => {
    const z = zeros(shape, { dtype: g.dtype, device: g.device });
    scatterAddRaw(z, d, si!, g);
    return [z];
  }, [idx]);
  if (idx !== index) idx.dispose();
  return r;
}

/** In place, no autograd: out[..index[..i..]..] += src[..i..] (out contiguous). */
export function scatterAddRaw(out: Tensor, d: number, index: Tensor, src: Tensor): void {
  const idx = indexTensor(index, 'scatterAdd', false);
  let s = src;
  if (s.shape.some((v, i) => v !== idx.shape[i])) s = makeView(src, idx.shape, src.strides, src.offset);
  const sc = contiguous(castRaw(s, out.dtype));
  if (idx.numel()) K().scatterAdd(dtypeCode(out.dtype), d, idx.shape as number[], out.shape as number[], spanOf(out), spanOf(sc), spanOf(idx));
  if (sc !== s) sc.dispose();
  if (s !== src) s.dispose();
  if (idx !== index) idx.dispose();
}

/** A copy of x with src added at index along dim (torch.scatter_add). */
export function scatterAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  tensorArg(x, 'scatterAdd', 'input');
  tensorArg(index, 'scatterAdd', 'index');
  tensorArg(src, 'scatterAdd', 'src');
  checkSameDevice('scatterAdd', x, index, src);
  const d = wrapDim(dim, x.ndim, 'scatterAdd');
  const idx = indexTensor(index, 'scatterAdd', false);
  if (idx.ndim !== x.ndim || src.ndim !== x.ndim || idx.shape.some((s, i) => s > src.shape[i]! || (i !== d && s > x.shape[i]!))) {
    throw createError('ERR_SHAPE_MISMATCH', `scatterAdd: index ${fmtShape(index.shape)} must be no larger than src ${fmtShape(src.shape)} in every dim and than self ${fmtShape(x.shape)} outside dim ${d}`);
  }
  if (src.dtype !== x.dtype) throw createError('ERR_DTYPE', `scatterAdd: expected self (${x.dtype}) and src (${src.dtype}) to have the same dtype`);
  checkIndexRange(idx, x.shape[d] ?? 1, 'scatterAdd');
  const out = contiguous(clone(x));
  scatterAddRaw(out, d, idx, src);
  const r = record('ScatterAddBackward0', out, [x, src], (g, [si], needs) => [
    g, needs[1] ? gatherPadded(g, d, si!, src.shape) : null,
  ], [idx]);
  if (idx !== index) idx.dispose();
  return r;
}

function gatherPadded(g: Tensor, d: number, idx: Tensor, srcShape: readonly number[]): Tensor {
  const part = gather(g, d, idx);
  if (part.shape.every((s, i) => s === srcShape[i])) return part;
  const z = zeros([...srcShape], { dtype: g.dtype, device: g.device });
  const target = makeView(z, part.shape, z.strides, 0);
  target.copy_(part);
  target.dispose();
  return z;
}

/** The entries of x at `index` (1-D) along dim. */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  tensorArg(x, 'indexSelect', 'input');
  tensorArg(index, 'indexSelect', 'index');
  checkSameDevice('indexSelect', x, index);
  if (index.ndim > 1) throw createError('ERR_INVALID_ARG', `indexSelect: index must be 0-D or 1-D, got shape ${fmtShape(index.shape)}`);
  const d = x.ndim === 0 ? 0 : wrapDim(dim, x.ndim, 'indexSelect');
  const idx = indexTensor(index, 'indexSelect');
  const srcSize = x.ndim === 0 ? 1 : x.shape[d]!;
  checkIndexRange(idx, srcSize, 'indexSelect');
  const outer = x.shape.slice(0, d).reduce((a, b) => a * b, 1);
  const inner = x.shape.slice(d + 1).reduce((a, b) => a * b, 1);
  const shape = x.ndim === 0 ? [] : [...x.shape];
  if (x.ndim) shape[d] = idx.numel();
  const xc = contiguous(x);
  const out = emptyTensor(shape, x.dtype, x.device, 'indexSelect');
  if (out.numel()) K().indexSelect(dtypeCode(x.dtype), outer, srcSize, inner, spanOf(out), spanOf(xc), spanOf(idx), idx.numel());
  if (xc !== x) xc.dispose();
  const xshape = [...x.shape];
  const r = record('IndexSelectBackward0', out, [x], (g, [si]) => [indexAddZeros(g, xshape, d, outer, srcSize, inner, si!)], [idx]);
  if (idx !== index) idx.dispose();
  return r;
}

function indexAddZeros(g: Tensor, shape: number[], _d: number, outer: number, outSize: number, inner: number, idx: Tensor): Tensor {
  const z = zeros(shape, { dtype: g.dtype, device: g.device });
  const gc = contiguous(g);
  if (gc.numel()) K().indexAdd(dtypeCode(g.dtype), outer, outSize, inner, spanOf(z), spanOf(gc), spanOf(idx), idx.numel());
  return z;
}

export interface EmbeddingOptions {
  /** Rows looked up at this index get no gradient (torch's padding_idx). */
  paddingIdx?: number | null;
}

/** Looks up rows of weight [num, dim] for integer indices of any shape: [...indices.shape, dim]. */
export function embedding(indices: Tensor, weight: Tensor, opts: EmbeddingOptions = {}): Tensor {
  tensorArg(weight, 'embedding', 'weight');
  tensorArg(indices, 'embedding', 'indices');
  opts = optsArg(opts, 'embedding', EMBEDDING_OPTIONS);
  if (weight.ndim !== 2) throw createError('ERR_INVALID_ARG', `embedding: weight must be 2-D [numEmbeddings, embeddingDim], got shape ${fmtShape(weight.shape)}`);
  const num = weight.shape[0]!;
  let pad = opts.paddingIdx ?? null;
  if (pad !== null) {
    if (!Number.isInteger(pad) || pad < -num || pad >= num) throw createError('ERR_INDEX_OUT_OF_RANGE', `embedding: paddingIdx ${pad} must be within [${-num}, ${num})`);
    if (pad < 0) pad += num;
  }
  const flat = reshape(indices, [-1]);
  let out: Tensor;
  if (pad === null || !weight.requiresGrad) out = indexSelect(weight, 0, flat);
  else {
    // the gradient of the padding row is masked out
    const keepRows = unsqueeze(compare('ne', flat, pad), 1);
    const sel = indexSelect(weight, 0, flat);
    out = record('EmbeddingBackward0', sel.detach(), [sel], (g, [m]) => [mul(g, m!)], [keepRows]);
    keepRows.dispose();
    sel.dispose();
  }
  flat.dispose();
  const r = reshape(out, [...indices.shape, weight.shape[1]!]);
  if (r !== out) out.dispose();
  return r;
}

/** int64 one-hot encoding [...indices.shape, numClasses]; numClasses -1 means max(indices) + 1. */
export function oneHot(indices: Tensor, numClasses = -1): Tensor {
  tensorArg(indices, 'oneHot', 'indices');
  if (indices.dtype !== 'int64') throw createError('ERR_DTYPE', `oneHot: indices must be int64, got ${indices.dtype}`);
  let c = numClasses;
  if (c === -1) c = indices.numel() ? Number(indices.amax().item()) + 1 : 0;
  if (!Number.isSafeInteger(c) || c < 0) throw createError('ERR_INVALID_ARG', `oneHot: numClasses must be a non-negative integer or -1, got ${numClasses}`);
  const ic = contiguous(indices);
  checkIndexRange(ic, c, 'oneHot');
  if (ic !== indices) ic.dispose();
  const classes = arange(c, { device: indices.device });
  const u = unsqueeze(indices.detach(), -1);
  const eq = compare('eq', u, classes);
  const out = castRaw(eq, 'int64');
  for (const t of [classes, u, eq]) t.dispose();
  return out;
}
