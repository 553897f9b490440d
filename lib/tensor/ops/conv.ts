/**
 * Convolution (torch.nn.functional.conv2d / conv1d): NCHW input, weight [out, in / groups, kh, kw],
 * torch's argument rules, output sizes and error messages. The native kernel is im2col + GEMM on
 * the host and on CUDA (cpp/kernels/conv.cc, cpp/conv.cc); autograd gives the input, weight and
 * bias gradients (the bias's as a sum of the output gradient over batch and positions).
 */
import { createError } from '../../errors.js';
import { record } from '../../autograd/function.js';
import type { ConvGeometry } from '../../../typings/native.js';
import { tensorArg, describe, optsArg } from '../args.js';
import { allowTf32 } from '../cuda-bridge.js';
import { dtypeCode, isFloating } from '../dtype.js';
import { checkSameDevice, K, spanOf } from '../kernels.js';
import { fmtShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { contiguous, emptyTensor } from './copy.js';
import { squeeze, unsqueeze } from './view.js';
import { tidy } from '../scope.js';
import { optionKeys } from '../../options.js';

/** A size that is one number for every spatial dim, or one per dim. */
export type Size2 = number | [number, number];

export interface Conv2dOptions {
  /** Step of the kernel over the input: a number or [h, w]. Default 1. */
  stride?: Size2;
  /**
   * Zeros added around the input: a number, [h, w], 'valid' (none, = 0) or 'same' (the output
   * keeps the input's size; stride 1 only; an even effective kernel pads one more on the
   * bottom/right, as torch). Default 0.
   */
  padding?: Size2 | 'same' | 'valid';
  /** Spacing between kernel taps: a number or [h, w]. Default 1. */
  dilation?: Size2;
  /** Channel groups: input and output channels are split into `groups` independent convolutions. Default 1. */
  groups?: number;
}

export interface Conv1dOptions {
  /** Default 1. */
  stride?: number | [number];
  /** A number, 'valid' or 'same' (stride 1 only). Default 0. */
  padding?: number | [number] | 'same' | 'valid';
  /** Default 1. */
  dilation?: number | [number];
  /** Default 1. */
  groups?: number;
}

export const CONV2D_OPTIONS = optionKeys<Conv2dOptions>({ stride: true, padding: true, dilation: true, groups: true });
export const CONV1D_OPTIONS = optionKeys<Conv1dOptions>({ stride: true, padding: true, dilation: true, groups: true });

/** [h, w] from a number or a pair of integers >= min (ERR_INVALID_ARG naming the argument). */
export function pairArg(v: unknown, op: string, what: string, min: number, dims = 2): number[] {
  const list = typeof v === 'number' ? new Array<number>(dims).fill(v) : v;
  if (!Array.isArray(list) || list.length !== dims || list.some((d) => !Number.isInteger(d) || (d as number) < min)) {
    throw createError('ERR_INVALID_ARG', `${op}: ${what} must be an integer >= ${min} or an array of ${dims} such integers, got ${describe(v)}`);
  }
  return list as number[];
}

interface Padding {
  top: number;
  left: number;
  /** total padding per dim (top + bottom, left + right) */
  h: number;
  w: number;
}

function resolvePadding(padding: unknown, stride: number[], dilation: number[], kernel: number[], op: string, dims: number): Padding {
  if (typeof padding === 'string') {
    if (padding === 'valid') return { top: 0, left: 0, h: 0, w: 0 };
    if (padding !== 'same') throw createError('ERR_INVALID_ARG', `${op}: invalid padding string '${padding}', should be one of 'valid', 'same'`);
    if (stride.some((s) => s !== 1)) throw createError('ERR_INVALID_ARG', `${op}: padding='same' is not supported for strided convolutions`);
    const total = kernel.map((k, i) => dilation[i]! * (k - 1));
    return { top: Math.floor(total[0]! / 2), left: Math.floor(total[1]! / 2), h: total[0]!, w: total[1]! };
  }
  const p = pairArg(padding, op, 'padding', 0, dims);
  const [ph, pw] = dims === 1 ? [0, p[0]!] : p;
  return { top: ph!, left: pw!, h: 2 * ph!, w: 2 * pw! };
}

/**
 * The checked geometry of conv2d(x [n, c, h, w], w [outC, c / groups, kh, kw]) with torch's
 * messages for channel, group, bias and size mismatches.
 */
function convGeometry(x: Tensor, weight: Tensor, bias: Tensor | null, opts: Conv2dOptions, op: string): ConvGeometry {
  const groups = opts.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) throw createError('ERR_INVALID_ARG', `${op}: groups must be a positive integer, got ${describe(groups)}`);
  const stride = pairArg(opts.stride ?? 1, op, 'stride', 1);
  const dilation = pairArg(opts.dilation ?? 1, op, 'dilation', 1);
  if (weight.ndim !== 4) {
    throw createError('ERR_SHAPE_MISMATCH', `${op}: expected a 4-dimensional weight [out, in / groups, kh, kw] for input ${fmtShape(x.shape)}, but got a ${weight.ndim}-dimensional weight of size ${fmtShape(weight.shape)}`);
  }
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const [outC, cg, kh, kw] = weight.shape as [number, number, number, number];
  if (outC < 1 || outC % groups !== 0) {
    throw createError('ERR_SHAPE_MISMATCH', `${op}: given groups=${groups}, expected the weight to be divisible by ${groups} at dimension 0 (and not empty), but got a weight of size ${fmtShape(weight.shape)}`);
  }
  if (cg * groups !== c || cg < 1) {
    throw createError('ERR_SHAPE_MISMATCH', `${op}: given groups=${groups}, weight of size ${fmtShape(weight.shape)}, expected input${fmtShape(x.shape)} to have ${cg * groups} channels, but got ${c} channels instead`);
  }
  if (kh < 1 || kw < 1) throw createError('ERR_SHAPE_MISMATCH', `${op}: the kernel size must be positive, got a weight of size ${fmtShape(weight.shape)}`);
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== outC)) {
    throw createError('ERR_SHAPE_MISMATCH', `${op}: given a weight of size ${fmtShape(weight.shape)}, expected the bias to be 1-dimensional with ${outC} elements, but got a bias of size ${fmtShape(bias.shape)} instead`);
  }
  const pad = resolvePadding(opts.padding ?? 0, stride, dilation, [kh, kw], op, 2);
  const ekh = dilation[0]! * (kh - 1) + 1;
  const ekw = dilation[1]! * (kw - 1) + 1;
  if (h + pad.h < ekh || w + pad.w < ekw) {
    throw createError('ERR_SHAPE_MISMATCH', `${op}: calculated padded input size per channel: (${h + pad.h} x ${w + pad.w}). Kernel size: (${ekh} x ${ekw}). Kernel size can't be greater than actual input size`);
  }
  const oh = Math.floor((h + pad.h - ekh) / stride[0]!) + 1;
  const ow = Math.floor((w + pad.w - ekw) / stride[1]!) + 1;
  return {
    n, c, h, w, outC, kh, kw, oh, ow, strideH: stride[0]!, strideW: stride[1]!, padH: pad.top, padW: pad.left,
    dilH: dilation[0]!, dilW: dilation[1]!, groups,
  };
}

function checkOperands(op: string, x: Tensor, weight: Tensor, bias: Tensor | null, batchedDims: number): void {
  tensorArg(x, op, 'input');
  tensorArg(weight, op, 'weight');
  if (bias !== null) tensorArg(bias, op, 'bias');
  if (x.ndim !== batchedDims && x.ndim !== batchedDims - 1) {
    throw createError('ERR_SHAPE_MISMATCH', `${op}: expected ${batchedDims - 1}D (unbatched) or ${batchedDims}D (batched) input, but got input of size ${fmtShape(x.shape)}`);
  }
  for (const [name, t] of [['weight', weight], ['bias', bias]] as const) {
    if (!t) continue;
    checkSameDevice(op, x, t);
    if (t.dtype !== x.dtype) throw createError('ERR_DTYPE', `${op}: input type (${x.dtype}) and ${name} type (${t.dtype}) should be the same`);
  }
  if (!isFloating(x.dtype)) throw createError('ERR_DTYPE', `${op}: expected a floating point input (float32, float64, float16 or bfloat16), got ${x.dtype}`);
}

/** The convolution of a 4-D input, recorded for autograd. */
function conv2dCore(x: Tensor, weight: Tensor, bias: Tensor | null, g: ConvGeometry): Tensor {
  const dt = dtypeCode(x.dtype);
  const xc = contiguous(x);
  const wc = contiguous(weight);
  const bc = bias ? contiguous(bias) : null;
  const out = emptyTensor([g.n, g.outC, g.oh, g.ow], x.dtype, x.device, 'conv2d');
  K().conv2d(dt, g, spanOf(out), spanOf(xc), spanOf(wc), bc ? spanOf(bc) : null, allowTf32());
  const y = record('ConvolutionBackward0', out, [x, weight, bias], (grad, [sx, sw], needs) => {
    const gc = contiguous(grad);
    let gx: Tensor | null = null;
    if (needs[0]) {
      gx = emptyTensor(sx!.shape, sx!.dtype, sx!.device, 'conv2d backward');
      K().conv2dBackwardInput(dt, g, spanOf(gx), spanOf(gc), spanOf(sw!), allowTf32());
    }
    const gw = needs[1] ? emptyTensor(sw!.shape, sw!.dtype, sw!.device, 'conv2d backward') : null;
    const gb = needs[2] ? emptyTensor([g.outC], sw!.dtype, sw!.device, 'conv2d backward') : null;
    if (gw || gb) K().conv2dBackwardWeight(dt, g, gw ? spanOf(gw) : null, gb ? spanOf(gb) : null, spanOf(gc), spanOf(sx!), allowTf32());
    if (gc !== grad) gc.dispose();
    return [gx, gw, gb];
  }, [xc, wc]);
  if (xc !== x) xc.dispose();
  if (wc !== weight) wc.dispose();
  if (bc && bc !== bias) bc.dispose();
  return y;
}

/**
 * torch.nn.functional.conv2d: input [n, c, h, w] (or unbatched [c, h, w]), weight
 * [out, c / groups, kh, kw], optional bias [out]; output [n, out, oh, ow] with
 * oh = floor((h + padTop + padBottom - dilation * (kh - 1) - 1) / stride) + 1.
 */
export function conv2d(input: Tensor, weight: Tensor, bias: Tensor | null = null, options: Conv2dOptions = {}): Tensor {
  const op = 'conv2d';
  const opts = optsArg(options, op, CONV2D_OPTIONS);
  const b = bias ?? null;
  checkOperands(op, input, weight, b, 4);
  if (input.ndim === 4) return conv2dCore(input, weight, b, convGeometry(input, weight, b, opts, op));
  // the unbatched form's views are released at once (autograd keeps what it saves)
  return tidy(() => {
    const x = unsqueeze(input, 0);
    return squeeze(conv2dCore(x, weight, b, convGeometry(x, weight, b, opts, op)), 0);
  });
}

/**
 * torch.nn.functional.conv1d: input [n, c, l] (or [c, l]), weight [out, c / groups, k]; a conv2d
 * over a height of 1 (views, no copies).
 */
export function conv1d(input: Tensor, weight: Tensor, bias: Tensor | null = null, options: Conv1dOptions = {}): Tensor {
  const op = 'conv1d';
  const opts = optsArg(options, op, CONV1D_OPTIONS);
  const b = bias ?? null;
  checkOperands(op, input, weight, b, 3);
  if (weight.ndim !== 3) {
    throw createError('ERR_SHAPE_MISMATCH', `${op}: expected a 3-dimensional weight [out, in / groups, k] for input ${fmtShape(input.shape)}, but got a ${weight.ndim}-dimensional weight of size ${fmtShape(weight.shape)}`);
  }
  const stride = pairArg(opts.stride ?? 1, op, 'stride', 1, 1)[0]!;
  const dilation = pairArg(opts.dilation ?? 1, op, 'dilation', 1, 1)[0]!;
  const padding = typeof opts.padding === 'string' ? opts.padding : [0, pairArg(opts.padding ?? 0, op, 'padding', 0, 1)[0]!] as [number, number];
  const batched = input.ndim === 3;
  return tidy(() => {
    const x = unsqueeze(batched ? input : unsqueeze(input, 0), 2);
    const w = unsqueeze(weight, 2);
    const g = convGeometry(x, w, b, { stride: [1, stride], padding, dilation: [1, dilation], groups: opts.groups ?? 1 }, op);
    const y = squeeze(conv2dCore(x, w, b, g), 2);
    return batched ? y : squeeze(y, 0);
  });
}
