/** Row-wise ops: softmax / logSoftmax over a dim and layerNorm over the trailing dims. */
import { describe } from '../describe.js';
import { tensorArg } from '../args.js';
import { createError } from '../../errors.js';
import { record } from '../../autograd/function.js';
import { dtypeCode, isFloating } from '../dtype.js';
import { checkSameDevice, K, spanOf } from '../kernels.js';
import { fmtShape, wrapDim } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { contiguous, emptyTensor } from './copy.js';
import { transpose } from './view.js';

function softmaxImpl(x: Tensor, dim: number, log: boolean): Tensor {
  const op = log ? 'logSoftmax' : 'softmax';
  tensorArg(x, op, 'input');
  if (!isFloating(x.dtype)) throw createError('ERR_DTYPE', `${op}: expected a floating point tensor, got ${x.dtype}`);
  if (typeof dim !== 'number') throw createError('ERR_INVALID_ARG', `${op}: dim is required (an integer)`);
  const d = wrapDim(dim, x.ndim, op);
  const last = Math.max(x.ndim - 1, 0);
  const moved = d === last ? x : transpose(x, d, last);
  const xc = contiguous(moved);
  const cols = x.ndim === 0 ? 1 : x.shape[d]!;
  const rows = cols === 0 ? 0 : x.numel() / cols;
  const yc = emptyTensor(xc.shape, x.dtype, x.device, op);
  if (yc.numel()) K().softmax(dtypeCode(x.dtype), rows, cols, spanOf(yc), spanOf(xc), log);
  if (xc !== moved) xc.dispose();
  if (moved !== x) moved.dispose();
  const y = d === last ? yc : transpose(yc, d, last);
  if (y !== yc) yc.dispose();
  return record(log ? 'LogSoftmaxBackward0' : 'SoftmaxBackward0', y, [x], (g, [sy]) => {
    const gm = d === last ? g : transpose(g, d, last);
    const gc = contiguous(gm);
    const ym = d === last ? sy! : transpose(sy!, d, last);
    const yy = contiguous(ym);
    const gi = emptyTensor(gc.shape, gc.dtype, gc.device, op);
    if (gi.numel()) K().softmaxBackward(dtypeCode(gc.dtype), rows, cols, spanOf(gi), spanOf(gc), spanOf(yy), log);
    return [d === last ? gi : transpose(gi, d, last)];
  }, [y]);
}

export const softmax = (x: Tensor, dim: number): Tensor => softmaxImpl(x, dim, false);
export const logSoftmax = (x: Tensor, dim: number): Tensor => softmaxImpl(x, dim, true);

/**
 * Layer normalization over the trailing `normalizedShape` dims: (x - mean) / sqrt(var + eps) *
 * weight + bias (biased variance, as torch.nn.functional.layer_norm). weight/bias optional.
 */
export function layerNorm(x: Tensor, normalizedShape: number[], weight: Tensor | null = null, bias: Tensor | null = null, eps = 1e-5): Tensor {
  tensorArg(x, 'layerNorm', 'input');
  if (weight !== null && weight !== undefined) tensorArg(weight, 'layerNorm', 'weight');
  if (bias !== null && bias !== undefined) tensorArg(bias, 'layerNorm', 'bias');
  const ns = typeof normalizedShape === 'number' ? [normalizedShape] : normalizedShape;
  if (!Array.isArray(ns) || ns.some((d) => typeof d !== 'number')) {
    throw createError('ERR_INVALID_ARG', `layerNorm: normalizedShape must be an integer or an array of integers, got ${describe(normalizedShape)}`);
  }
  if ( ns.length === 0 || ns.length > x.ndim || ns.some((s, i) => s !== x.shape[x.ndim - ns.length + i])) {
    throw createError('ERR_SHAPE_MISMATCH', `layerNorm: input of shape ${fmtShape(x.shape)} does not end with normalizedShape ${fmtShape(ns ?? [])}`);
  }
  if (!isFloating(x.dtype)) throw createError('ERR_DTYPE', `layerNorm: expected a floating point input, got ${x.dtype}`);
  for (const [name, p] of [['weight', weight], ['bias', bias]] as const) {
    if (!p) continue;
    tensorArg(p, 'layerNorm', 'input');
    checkSameDevice('layerNorm', x, p);
    if (p.ndim !== ns.length || p.shape.some((s, i) => s !== ns[i])) {
      throw createError('ERR_SHAPE_MISMATCH', `layerNorm: ${name} of shape ${fmtShape(p.shape)} does not match normalizedShape ${fmtShape(ns)}`);
    }
    if (p.dtype !== x.dtype) throw createError('ERR_DTYPE', `layerNorm: ${name} is ${p.dtype} but the input is ${x.dtype}`);
  }
  if (typeof eps !== 'number' || !(eps >= 0)) throw createError('ERR_INVALID_ARG', `layerNorm: eps must be a non-negative number, got ${String(eps)}`);
  const cols = ns.reduce((a, b) => a * b, 1);
  const rows = cols === 0 ? 0 : x.numel() / cols;
  const xc = contiguous(x);
  const wc = weight ? contiguous(weight) : null;
  const bc = bias ? contiguous(bias) : null;
  const y = emptyTensor(x.shape, x.dtype, x.device, 'layerNorm');
  // Saved statistics in the compute type, as torch's: float64 for float64 inputs, else float32.
  const statsDtype = x.dtype === 'float64' ? 'float64' : 'float32';
  const meanT = emptyTensor([rows], statsDtype, x.device, 'layerNorm');
  const rstdT = emptyTensor([rows], statsDtype, x.device, 'layerNorm');
  if (y.numel()) {
    K().layerNorm(dtypeCode(x.dtype), rows, cols, spanOf(y), spanOf(meanT), spanOf(rstdT), spanOf(xc),
      wc ? spanOf(wc) : null, bc ? spanOf(bc) : null, eps);
  }
  const out = record('NativeLayerNormBackward0', y, [x, weight, bias], (g, s, needs) => {
    const [sx, sm, sr, sw] = s as [Tensor, Tensor, Tensor, Tensor | undefined];
    const gc = contiguous(g);
    const gx = emptyTensor(sx.shape, sx.dtype, sx.device, 'layerNorm');
    const gw = needs[1] && sw ? emptyTensor(sw.shape, sw.dtype, sw.device, 'layerNorm') : null;
    const gb = needs[2] ? emptyTensor(ns, sx.dtype, sx.device, 'layerNorm') : null;
    if (gx.numel() || gw || gb) {
      K().layerNormBackward(dtypeCode(sx.dtype), rows, cols, spanOf(gx), gw ? spanOf(gw) : null, gb ? spanOf(gb) : null,
        spanOf(gc), spanOf(sx), spanOf(sm), spanOf(sr), sw ? spanOf(sw) : null);
    }
    return [gx, gw, gb];
  }, wc ? [xc, meanT, rstdT, wc] : [xc, meanT, rstdT]);
  if (xc !== x) xc.dispose();
  if (wc && wc !== weight) wc.dispose();
  if (bc && bc !== bias) bc.dispose();
  meanT.dispose();
  rstdT.dispose();
  return out;
}
