/**
 * 2-D pooling (torch.nn.functional.max_pool2d, avg_pool2d, adaptive_avg_pool2d) over the last two
 * dims of [n, c, h, w] or [c, h, w] inputs, with torch's output sizes (ceilMode included), argument
 * rules and messages. Max pooling's indices are torch's: the flat index iy * w + ix of each maximum
 * within its [h, w] plane (int64), what maxUnpool2d and the backward pass use.
 */
import { createError } from '../../errors.js';
import { record } from '../../autograd/function.js';
import type { AdaptivePoolGeometry, PoolGeometry } from '../../../typings/native.js';
import { describe, optsArg, tensorArg } from '../args.js';
import { dtypeCode, isFloating } from '../dtype.js';
import { K, spanOf } from '../kernels.js';
import { fmtShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { contiguous, emptyTensor } from './copy.js';
import { fillScalar } from './inplace.js';
import { pairArg, type Size2 } from './conv.js';
import { optionKeys } from '../../options.js';

export interface MaxPool2dOptions {
  /** Step of the window: a number or [h, w]. Default: the kernel size. */
  stride?: Size2 | null;
  /** Implicit -infinity padding on each side (at most half the kernel). Default 0. */
  padding?: Size2;
  /** Spacing between window elements. Default 1. */
  dilation?: Size2;
  /** Also return the flat per-plane indices of the maxima (int64). Default false. */
  returnIndices?: boolean;
  /** Round the output size up instead of down (a last window may start in the padding, never past it). Default false. */
  ceilMode?: boolean;
}

export interface AvgPool2dOptions {
  /** Default: the kernel size. */
  stride?: Size2 | null;
  /** Implicit zero padding on each side (at most half the kernel). Default 0. */
  padding?: Size2;
  /** Default false. */
  ceilMode?: boolean;
  /** Count the padding zeros in each window's divisor. Default true. */
  countIncludePad?: boolean;
  /** Divide every window's sum by this instead of its size. Default null. */
  divisorOverride?: number | null;
}

export const MAX_POOL2D_OPTIONS = optionKeys<MaxPool2dOptions>({ stride: true, padding: true, dilation: true, returnIndices: true, ceilMode: true });
export const AVG_POOL2D_OPTIONS = optionKeys<AvgPool2dOptions>({ stride: true, padding: true, ceilMode: true, countIncludePad: true, divisorOverride: true });

/** torch's pooling_output_shape. */
function outputSize(input: number, kernel: number, pad: number, stride: number, dilation: number, ceil: boolean): number {
  let out = Math.floor((input + 2 * pad - dilation * (kernel - 1) - 1 + (ceil ? stride - 1 : 0)) / stride) + 1;
  if (ceil && (out - 1) * stride >= input + pad) out--;
  return out;
}

function checkInput(op: string, x: unknown): Tensor {
  const t = tensorArg(x, op, 'input');
  if (t.ndim !== 3 && t.ndim !== 4) {
    throw createError('ERR_SHAPE_MISMATCH', `${op}: expected a 3D (unbatched) or 4D (batched) input, but got input of size ${fmtShape(t.shape)}`);
  }
  if (!isFloating(t.dtype)) throw createError('ERR_DTYPE', `${op}: expected a floating point input (float32, float64, float16 or bfloat16), got ${t.dtype}`);
  if (t.shape[t.ndim - 1] === 0 || t.shape[t.ndim - 2] === 0) {
    throw createError('ERR_SHAPE_MISMATCH', `${op}: expected an input with non-zero height and width, but got input of size ${fmtShape(t.shape)}`);
  }
  return t;
}

interface Window {
  g: PoolGeometry;
  outShape: number[];
}

function windowGeometry(op: string, x: Tensor, kernelSize: unknown, stride: unknown, padding: unknown, dilation: unknown, ceil: unknown): Window {
  const k = pairArg(kernelSize, op, 'kernelSize', 1);
  const s = stride === undefined || stride === null ? k : pairArg(stride, op, 'stride', 1);
  const p = pairArg(padding ?? 0, op, 'padding', 0);
  const d = pairArg(dilation ?? 1, op, 'dilation', 1);
  if (typeof ceil !== 'boolean') throw createError('ERR_INVALID_ARG', `${op}: ceilMode must be a boolean, got ${describe(ceil)}`);
  if (p[0]! > Math.floor(k[0]! / 2) || p[1]! > Math.floor(k[1]! / 2)) {
    throw createError('ERR_INVALID_ARG', `${op}: pad should be at most half of the kernel size, but got padH = ${p[0]}, padW = ${p[1]}, kH = ${k[0]}, kW = ${k[1]}`);
  }
  const h = x.shape[x.ndim - 2]!;
  const w = x.shape[x.ndim - 1]!;
  const oh = outputSize(h, k[0]!, p[0]!, s[0]!, d[0]!, ceil);
  const ow = outputSize(w, k[1]!, p[1]!, s[1]!, d[1]!, ceil);
  if (oh < 1 || ow < 1) {
    throw createError('ERR_SHAPE_MISMATCH', `${op}: given input size ${fmtShape(x.shape)}, the calculated output size ${oh}x${ow} is too small (kernel ${k[0]}x${k[1]}, stride ${s[0]}x${s[1]}, padding ${p[0]}x${p[1]}, dilation ${d[0]}x${d[1]})`);
  }
  const planes = x.numel() / (h * w);
  return {
    g: { planes, h, w, oh, ow, kh: k[0]!, kw: k[1]!, strideH: s[0]!, strideW: s[1]!, padH: p[0]!, padW: p[1]!, dilH: d[0]!, dilW: d[1]! },
    outShape: [...x.shape.slice(0, -2), oh, ow],
  };
}

/**
 * torch.nn.functional.max_pool2d; with returnIndices, [output, indices] (indices int64, the flat
 * position of each maximum within its plane). NaN counts as the maximum.
 */
export function maxPool2d(input: Tensor, kernelSize: Size2, options: MaxPool2dOptions & { returnIndices: true }): [Tensor, Tensor];
export function maxPool2d(input: Tensor, kernelSize: Size2, options?: MaxPool2dOptions & { returnIndices?: false }): Tensor;
export function maxPool2d(input: Tensor, kernelSize: Size2, options?: MaxPool2dOptions): Tensor | [Tensor, Tensor];
export function maxPool2d(input: Tensor, kernelSize: Size2, options: MaxPool2dOptions = {}): Tensor | [Tensor, Tensor] {
  const op = 'maxPool2d';
  const { stride = null, padding = 0, dilation = 1, returnIndices = false, ceilMode = false } = optsArg(options, op, MAX_POOL2D_OPTIONS);
  const x = checkInput(op, input);
  if (typeof returnIndices !== 'boolean') throw createError('ERR_INVALID_ARG', `${op}: returnIndices must be a boolean, got ${describe(returnIndices)}`);
  const { g, outShape } = windowGeometry(op, x, kernelSize, stride, padding, dilation, ceilMode);
  const dt = dtypeCode(x.dtype);
  const xc = contiguous(x);
  const out = emptyTensor(outShape, x.dtype, x.device, op);
  const indices = emptyTensor(outShape, 'int64', x.device, op);
  K().maxPool2d(dt, g, spanOf(out), spanOf(indices), spanOf(xc));
  if (xc !== x) xc.dispose();
  const shape = [...x.shape];
  const y = record('MaxPool2DWithIndicesBackward0', out, [x], (grad, [idx]) => {
    const gc = contiguous(grad);
    const gx = emptyTensor(shape, grad.dtype, grad.device, `${op} backward`);
    fillScalar(gx, 0);
    K().maxPool2dBackward(dtypeCode(grad.dtype), g, spanOf(gx), spanOf(gc), spanOf(idx!));
    if (gc !== grad) gc.dispose();
    return [gx];
  }, [indices]);
  if (returnIndices) return [y, indices];
  indices.dispose();
  return y;
}

/** torch.nn.functional.avg_pool2d (no dilation, as torch). */
export function avgPool2d(input: Tensor, kernelSize: Size2, options: AvgPool2dOptions = {}): Tensor {
  const op = 'avgPool2d';
  const { stride = null, padding = 0, ceilMode = false, countIncludePad = true, divisorOverride = null } = optsArg(options, op, AVG_POOL2D_OPTIONS);
  const x = checkInput(op, input);
  if (typeof countIncludePad !== 'boolean') throw createError('ERR_INVALID_ARG', `${op}: countIncludePad must be a boolean, got ${describe(countIncludePad)}`);
  if (divisorOverride !== null && (!Number.isInteger(divisorOverride) || divisorOverride < 1)) {
    throw createError('ERR_INVALID_ARG', `${op}: divisorOverride must be a positive integer or null, got ${describe(divisorOverride)}`);
  }
  const { g, outShape } = windowGeometry(op, x, kernelSize, stride, padding, 1, ceilMode);
  const divisor = divisorOverride ?? 0;
  const dt = dtypeCode(x.dtype);
  const xc = contiguous(x);
  const out = emptyTensor(outShape, x.dtype, x.device, op);
  K().avgPool2d(dt, g, spanOf(out), spanOf(xc), countIncludePad, divisor);
  if (xc !== x) xc.dispose();
  const shape = [...x.shape];
  return record('AvgPool2DBackward0', out, [x], (grad) => {
    const gc = contiguous(grad);
    const gx = emptyTensor(shape, grad.dtype, grad.device, `${op} backward`);
    K().avgPool2dBackward(dtypeCode(grad.dtype), g, spanOf(gx), spanOf(gc), countIncludePad, divisor);
    if (gc !== grad) gc.dispose();
    return [gx];
  });
}

/** An adaptive pooling's output size: a number, or [h, w] where null keeps the input's size. */
export type AdaptiveSize = number | [number | null, number | null];

/**
 * torch.nn.functional.adaptive_avg_pool2d: output [..., oh, ow]; output (i, j) averages input rows
 * [floor(i * h / oh), ceil((i + 1) * h / oh)) and the columns likewise.
 */
export function adaptiveAvgPool2d(input: Tensor, outputSize: AdaptiveSize): Tensor {
  const op = 'adaptiveAvgPool2d';
  const x = checkInput(op, input);
  const h = x.shape[x.ndim - 2]!;
  const w = x.shape[x.ndim - 1]!;
  const sizes = typeof outputSize === 'number' ? [outputSize, outputSize] : outputSize;
  if (!Array.isArray(sizes) || sizes.length !== 2 || sizes.some((s) => s !== null && (!Number.isInteger(s) || (s as number) < 1))) {
    throw createError('ERR_INVALID_ARG', `${op}: outputSize must be a positive integer or an array [h, w] of positive integers or nulls, got ${describe(outputSize)}`);
  }
  const oh = sizes[0] ?? h;
  const ow = sizes[1] ?? w;
  const g: AdaptivePoolGeometry = { planes: x.numel() / (h * w), h, w, oh, ow };
  const dt = dtypeCode(x.dtype);
  const xc = contiguous(x);
  const out = emptyTensor([...x.shape.slice(0, -2), oh, ow], x.dtype, x.device, op);
  if (out.numel() > 0) K().adaptiveAvgPool2d(dt, g, spanOf(out), spanOf(xc));
  if (xc !== x) xc.dispose();
  const shape = [...x.shape];
  return record('AdaptiveAvgPool2DBackward0', out, [x], (grad) => {
    const gc = contiguous(grad);
    const gx = emptyTensor(shape, grad.dtype, grad.device, `${op} backward`);
    fillScalar(gx, 0);
    if (gc.numel() > 0) K().adaptiveAvgPool2dBackward(dtypeCode(grad.dtype), g, spanOf(gx), spanOf(gc));
    if (gc !== grad) gc.dispose();
    return [gx];
  });
}
