/**
 * Batch normalization's fused kernels over the channel axis of x [N, C, *], in torch's native split
 * (batch_norm_stats / batch_norm_elemt / batch_norm_backward_reduce / batch_norm_backward_elemt),
 * so that nn.SyncBatchNorm can combine the per-channel pieces across ranks between the steps:
 *   batchNormStats(x)           per-channel mean and biased variance of this tensor (no autograd)
 *   batchNormApply(x, w, b, mean, invstd, { training, count, reduceGradSums })
 *                               (x - mean) * invstd * w + b, with autograd for x, w and b. In
 *                               training the statistics are the batch's own (the gradient flows
 *                               through them, torch's formula); `count` is the number of values
 *                               per channel they were taken over; reduceGradSums (SyncBatchNorm)
 *                               sums the per-channel [sum(dy), sum(dy * (x - mean))] across ranks
 *                               in place before the gradient is formed. In eval mode they are
 *                               constants: gradX = dy * invstd * w.
 * Statistics are float32 (float64 for float64 inputs), torch's accumulate type.
 */
import { createError } from '../../errors.js';
import { record } from '../../autograd/function.js';
import { dtypeCode, isFloating, type DType } from '../dtype.js';
import { checkSameDevice, K, spanOf } from '../kernels.js';
import { fmtShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { contiguous, emptyTensor } from './copy.js';
import type { Span } from '../../../typings/native.js';

/** The dtype of batch norm's per-channel statistics for an input dtype. */
export const bnStatsDtype = (dt: DType): DType => (dt === 'float64' ? 'float64' : 'float32');

interface Layout {
  outer: number;
  channels: number;
  inner: number;
}

function layout(x: Tensor, op: string): Layout {
  if (x.ndim < 2) throw createError('ERR_SHAPE_MISMATCH', `${op}: expected an input of at least 2 dims [N, C, ...], got ${fmtShape(x.shape)}`);
  if (!isFloating(x.dtype)) throw createError('ERR_DTYPE', `${op}: expected a floating point input, got ${x.dtype}`);
  const inner = x.shape.slice(2).reduce((a, b) => a * b, 1);
  return { outer: x.shape[0]!, channels: x.shape[1]!, inner };
}

const at = (t: Tensor, offset: number): Span => ({ mem: t._storage.mem, offset: t.offset + offset });

/** A contiguous handle of t's values, detached (disposable by the caller). */
function detachedContiguous(t: Tensor): Tensor {
  const d = t.detach();
  const c = contiguous(d);
  if (c !== d) d.dispose();
  return c;
}

/** Per-channel mean and biased variance of x [N, C, *] (statistics dtype, not differentiable). */
export function batchNormStats(x: Tensor): { mean: Tensor; var: Tensor; count: number } {
  const L = layout(x, 'batchNormStats');
  const sd = bnStatsDtype(x.dtype);
  const mean = emptyTensor([L.channels], sd, x.device, 'batchNorm');
  const v = emptyTensor([L.channels], sd, x.device, 'batchNorm');
  const xc = detachedContiguous(x);
  if (L.channels) K().batchNormStats(dtypeCode(x.dtype), L.outer, L.channels, L.inner, spanOf(mean), spanOf(v), spanOf(xc));
  xc.dispose();
  return { mean, var: v, count: L.outer * L.inner };
}

export interface BatchNormApplyOptions {
  /** The statistics are the batch's own (gradients flow through them). */
  training: boolean;
  /** Values per channel the statistics cover (in training): a number, or a 1-element statistics-dtype tensor. */
  count?: number | Tensor;
  /** Sums the per-channel gradient sums [sum(dy) (C), sum(dy * (x - mean)) (C)] across ranks, in place. */
  reduceGradSums?: ((sums: Tensor) => void) | null;
}

/** (x - mean) * invstd * weight + bias over the channel axis of x [N, C, *]; see the file comment. */
export function batchNormApply(x: Tensor, weight: Tensor | null, bias: Tensor | null, mean: Tensor, invstd: Tensor, options: BatchNormApplyOptions): Tensor {
  const op = 'batchNorm';
  const L = layout(x, op);
  const sd = bnStatsDtype(x.dtype);
  for (const [name, t, dt] of [['weight', weight, x.dtype], ['bias', bias, x.dtype], ['mean', mean, sd], ['invstd', invstd, sd]] as const) {
    if (!t) continue;
    checkSameDevice(op, x, t);
    if (t.numel() !== L.channels || t.ndim !== 1) throw createError('ERR_SHAPE_MISMATCH', `${op}: ${name} must have one value per channel (${L.channels}), got ${fmtShape(t.shape)}`);
    if (t.dtype !== dt) throw createError('ERR_DTYPE', `${op}: ${name} is ${t.dtype}, expected ${dt}`);
  }
  const { training, count = L.outer * L.inner, reduceGradSums = null } = options;
  const code = dtypeCode(x.dtype);
  const xc = contiguous(x);
  const wc = weight ? contiguous(weight) : null;
  const bc = bias ? contiguous(bias) : null;
  const mc = detachedContiguous(mean);
  const ic = detachedContiguous(invstd);
  const y = emptyTensor(x.shape, x.dtype, x.device, op);
  if (y.numel()) K().batchNormElemt(code, L.outer, L.channels, L.inner, spanOf(y), spanOf(xc), spanOf(mc), spanOf(ic), wc ? spanOf(wc) : null, bc ? spanOf(bc) : null);
  const save = wc ? [xc, mc, ic, wc] : [xc, mc, ic];
  const out = record('NativeBatchNormBackward0', y, [x, weight, bias], (g, s, needs) => {
    const [sx, sm, si, sw] = s as [Tensor, Tensor, Tensor, Tensor | undefined];
    const C = L.channels;
    const gc = contiguous(g);
    const gw = needs[1] && sw ? emptyTensor([C], x.dtype, x.device, op) : null;
    const gb = needs[2] ? emptyTensor([C], x.dtype, x.device, op) : null;
    const gx = needs[0] ? emptyTensor(x.shape, x.dtype, x.device, op) : null;
    // training: gradX needs the per-channel sums [sum(dy), sum(dy * (x - mean))], as means over
    // `count` (scaled in the kernel when the count is a local number)
    const sums = gx && training ? emptyTensor([2 * C], sd, x.device, op) : null;
    const scaleInKernel = sums !== null && reduceGradSums === null && typeof count === 'number';
    if (sums || gw || gb) {
      K().batchNormBackwardReduce(code, L.outer, C, L.inner, sums ? at(sums, 0) : null, sums ? at(sums, C) : null,
        gw ? spanOf(gw) : null, gb ? spanOf(gb) : null, spanOf(gc), spanOf(sx), spanOf(sm), spanOf(si),
        scaleInKernel && (count as number) > 0 ? 1 / (count as number) : 1);
    }
    let means = sums;
    if (sums && !scaleInKernel) {
      reduceGradSums?.(sums);
      means = sums.div(count);
    }
    if (gx && gx.numel()) {
      K().batchNormBackwardElemt(code, L.outer, C, L.inner, spanOf(gx), spanOf(gc), spanOf(sx), spanOf(sm), spanOf(si),
        sw ? spanOf(sw) : null, means ? at(means, 0) : null, means ? at(means, C) : null);
    }
    if (means && means !== sums) means.dispose();
    sums?.dispose();
    if (gc !== g) gc.dispose();
    return [gx, gw, gb];
  }, save);
  if (xc !== x) xc.dispose();
  if (wc && wc !== weight) wc.dispose();
  if (bc && bc !== bias) bc.dispose();
  mc.dispose();
  ic.dispose();
  return out;
}
