/**
 * Matrix products with torch.matmul's rules: 1-D operands are promoted (and the added dim
 * removed), batch dims broadcast. Operands go to the batched GEMM kernel as they are when their
 * last two dims are row- or column-major (a transposed view is passed as transA/transB, without a
 * copy) and their batch dims collapse to one stride; anything else is made contiguous first.
 */
import { tensorArg } from '../args.js';
import { createError } from '../../errors.js';
import { record } from '../../autograd/function.js';
import type { Span } from '../../../typings/native.js';
import { allowTf32 } from '../cuda-bridge.js';
import { dtypeCode, isFloating } from '../dtype.js';
import { castRaw } from './elementwise.js';
import { checkSameDevice, K, spanOf } from '../kernels.js';
import { broadcastShapes, broadcastStrides, fmtShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { contiguous, emptyTensor } from './copy.js';
import { fillScalar } from './inplace.js';
import { makeView, squeeze, transpose, unsqueeze } from './view.js';

function rawExpand(t: Tensor, shape: number[]): Tensor {
  return makeView(t, shape, broadcastStrides(t.shape, t.strides, shape), t.offset);
}

interface Operand {
  span: Span;
  ld: number;
  trans: boolean;
  batchStride: number;
  temp: Tensor | null;
}

function batchStrideOf(t: Tensor): number | null {
  const nb = t.ndim - 2;
  const dims: [number, number][] = [];
  for (let i = 0; i < nb; i++) if (t.shape[i]! > 1) dims.push([t.shape[i]!, t.strides[i]!]);
  if (dims.length === 0) return 0;
  for (let j = 0; j + 1 < dims.length; j++) {
    if (dims[j]![1] !== dims[j + 1]![1] * dims[j + 1]![0]) return null;
  }
  return dims[dims.length - 1]![1];
}

function layout(t: Tensor, rows: number, cols: number): Operand | null {
  const sr = t.strides[t.ndim - 2]!;
  const sc = t.strides[t.ndim - 1]!;
  const bs = batchStrideOf(t);
  if (bs === null) return null;
  if ((cols <= 1 || sc === 1) && (rows <= 1 || sr >= Math.max(cols, 1))) {
    return { span: spanOf(t), ld: rows <= 1 ? Math.max(cols, 1) : sr, trans: false, batchStride: bs, temp: null };
  }
  if ((rows <= 1 || sr === 1) && (cols <= 1 || sc >= Math.max(rows, 1))) {
    return { span: spanOf(t), ld: cols <= 1 ? Math.max(rows, 1) : sc, trans: true, batchStride: bs, temp: null };
  }
  return null;
}

function operand(t: Tensor, rows: number, cols: number): Operand {
  const direct = layout(t, rows, cols);
  if (direct) return direct;
  const c = contiguous(t);
  const o = layout(c, rows, cols)!;
  o.temp = c;
  return o;
}

/** [..., m, k] @ [..., k, n] with broadcast batch dims (both operands at least 2-D). */
function core(a: Tensor, b: Tensor): Tensor {
  const m = a.shape[a.ndim - 2]!;
  const k = a.shape[a.ndim - 1]!;
  const k2 = b.shape[b.ndim - 2]!;
  const n = b.shape[b.ndim - 1]!;
  if (k !== k2) {
    throw createError('ERR_SHAPE_MISMATCH', `matmul: shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} cannot be multiplied (${m}x${k} and ${k2}x${n})`);
  }
  const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2), 'matmul');
  const count = batch.reduce((p, v) => p * v, 1);
  const ae = rawExpand(a, [...batch, m, k]);
  const be = rawExpand(b, [...batch, k, n]);
  if (!isFloating(a.dtype)) {
    // integer products: exact in float64 while |sums| < 2^53 (the kernels are floating point only)
    const af = castRaw(a, 'float64');
    const bf = castRaw(b, 'float64');
    const cf = core(af, bf);
    const r = castRaw(cf, a.dtype);
    for (const t of [af, bf, cf]) t.dispose();
    return r;
  }
  const out = emptyTensor([...batch, m, n], a.dtype, a.device, 'matmul');
  if (out.numel() > 0) {
    if (k === 0) fillScalar(out, 0);
    else {
      const A = operand(ae, m, k);
      const B = operand(be, k, n);
      K().matmul(dtypeCode(a.dtype), count, m, n, k, A.span, A.ld, A.batchStride, A.trans, B.span, B.ld, B.batchStride, B.trans,
        spanOf(out), n, m * n, 1, 0, allowTf32());
      A.temp?.dispose();
      B.temp?.dispose();
    }
  }
  ae.dispose();
  be.dispose();
  return record('MmBackward0', out, [a, b], (g, [sa, sb], needs) => [
    needs[0] ? core(g, transpose(sb!, -2, -1)) : null,
    needs[1] ? core(transpose(sa!, -2, -1), g) : null,
  ], [a, b]);
}

function checkOperands(op: string, a: Tensor, b: Tensor): void {
  tensorArg(a, op, 'input');
  tensorArg(b, op, 'other');
  checkSameDevice(op, a, b);
  if (a.dtype !== b.dtype) throw createError('ERR_DTYPE', `${op}: expected both operands to have the same dtype, but got ${a.dtype} and ${b.dtype}`);
  if (a.dtype === 'bool') throw createError('ERR_DTYPE', `${op}: not supported for bool tensors`);
  if (a.ndim === 0 || b.ndim === 0) {
    throw createError('ERR_INVALID_ARG', `${op}: both arguments need at least 1 dimension, got shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  }
}

/** torch.matmul. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  checkOperands('matmul', a, b);
  if (a.ndim === 1 && b.ndim === 1) {
    if (a.shape[0] !== b.shape[0]) {
      throw createError('ERR_SHAPE_MISMATCH', `matmul: 1-D tensors of shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} have different lengths`);
    }
    return squeeze(core(unsqueeze(a, 0), unsqueeze(b, 1)), [0, 1]);
  }
  if (a.ndim === 1) return squeeze(core(unsqueeze(a, 0), b), -2);
  if (b.ndim === 1) return squeeze(core(a, unsqueeze(b, 1)), -1);
  return core(a, b);
}

/** 2-D x 2-D (torch.mm). */
export function mm(a: Tensor, b: Tensor): Tensor {
  checkOperands('mm', a, b);
  if (a.ndim !== 2 || b.ndim !== 2) throw createError('ERR_INVALID_ARG', `mm: expected 2-D tensors, got shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  return core(a, b);
}

/** 3-D x 3-D with equal batch sizes (torch.bmm). */
export function bmm(a: Tensor, b: Tensor): Tensor {
  checkOperands('bmm', a, b);
  if (a.ndim !== 3 || b.ndim !== 3 || a.shape[0] !== b.shape[0]) {
    throw createError('ERR_SHAPE_MISMATCH', `bmm: expected 3-D tensors with equal batch sizes, got shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  }
  return core(a, b);
}
