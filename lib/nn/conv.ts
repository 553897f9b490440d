/**
 * Convolution and pooling layers with torch.nn's constructor arguments (options objects),
 * default initializations, state-dict names and reprs: Conv1d, Conv2d, MaxPool2d, AvgPool2d,
 * AdaptiveAvgPool2d.
 */
import { createError } from '../errors.js';
import { Tensor, empty } from '../tensor/index.js';
import { pairArg, type Size2 } from '../tensor/ops/conv.js';
import { AVG_POOL2D_OPTIONS, MAX_POOL2D_OPTIONS, type AdaptiveSize, type AvgPool2dOptions, type MaxPool2dOptions } from '../tensor/ops/pool.js';
import * as F from './functional.js';
import * as init from './init.js';
import { Module } from './module.js';
import { Parameter } from './parameter.js';
import type { FactoryOptions } from './layers.js';
import { checkOptions, optionKeys } from '../options.js';

export interface ConvOptions extends FactoryOptions {
  /** Default 1. */
  stride?: Size2;
  /** A number, [h, w], 'valid' or 'same' (stride 1 only). Default 0. */
  padding?: Size2 | 'same' | 'valid';
  /** Default 1. */
  dilation?: Size2;
  /** Default 1: in and out channels must both be divisible by it. */
  groups?: number;
  /** Learn an additive bias. Default true. */
  bias?: boolean;
  /** How the padding is filled: only 'zeros' (torch's default) is supported. */
  paddingMode?: 'zeros';
}

export interface Conv1dOptions extends FactoryOptions {
  stride?: number | [number];
  padding?: number | [number] | 'same' | 'valid';
  dilation?: number | [number];
  groups?: number;
  bias?: boolean;
  paddingMode?: 'zeros';
}

const CONV_OPTIONS = optionKeys<ConvOptions>({
  stride: true, padding: true, dilation: true, groups: true, bias: true, paddingMode: true, device: true, dtype: true,
});

const tuple = (v: readonly (number | null)[]): string => `(${v.map((d) => d ?? 'None').join(', ')}${v.length === 1 ? ',' : ''})`;
const size = (v: Size2): string => (Array.isArray(v) ? tuple(v) : String(v));

/** The shared part of Conv1d and Conv2d (torch's _ConvNd). */
abstract class ConvNd extends Module {
  declare weight: Parameter;
  declare bias: Parameter | null;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: number[];
  readonly stride: number[];
  readonly padding: number[] | 'same' | 'valid';
  readonly dilation: number[];
  readonly groups: number;
  readonly paddingMode: 'zeros';

  protected constructor(who: string, dims: number, inChannels: number, outChannels: number, kernelSize: unknown, options: ConvOptions | Conv1dOptions) {
    super();
    const { stride = 1, padding = 0, dilation = 1, groups = 1, bias = true, paddingMode = 'zeros', ...factory } = checkOptions(options as ConvOptions, CONV_OPTIONS, who);
    for (const [what, v] of [['inChannels', inChannels], ['outChannels', outChannels]] as const) {
      if (!Number.isInteger(v) || v < 1) throw createError('ERR_INVALID_ARG', `${who}: ${what} must be a positive integer, got ${String(v)}`);
    }
    if (!Number.isInteger(groups) || groups < 1) throw createError('ERR_INVALID_ARG', `${who}: groups must be a positive integer, got ${String(groups)}`);
    if (inChannels % groups !== 0) throw createError('ERR_INVALID_ARG', `${who}: inChannels (${inChannels}) must be divisible by groups (${groups})`);
    if (outChannels % groups !== 0) throw createError('ERR_INVALID_ARG', `${who}: outChannels (${outChannels}) must be divisible by groups (${groups})`);
    if (paddingMode !== 'zeros') {
      const known = ['reflect', 'replicate', 'circular'].includes(String(paddingMode));
      throw createError(known ? 'ERR_UNSUPPORTED' : 'ERR_INVALID_ARG', `${who}: paddingMode '${String(paddingMode)}' is ${known ? 'not supported (only \'zeros\')' : "not one of 'zeros', 'reflect', 'replicate', 'circular'"}`);
    }
    this.kernelSize = pairArg(kernelSize, who, 'kernelSize', 1, dims);
    this.stride = pairArg(stride, who, 'stride', 1, dims);
    this.dilation = pairArg(dilation, who, 'dilation', 1, dims);
    if (typeof padding === 'string') {
      if (padding !== 'same' && padding !== 'valid') throw createError('ERR_INVALID_ARG', `${who}: invalid padding string '${padding}', should be one of 'valid', 'same'`);
      if (padding === 'same' && this.stride.some((s) => s !== 1)) throw createError('ERR_INVALID_ARG', `${who}: padding='same' is not supported for strided convolutions`);
      this.padding = padding;
    } else {
      this.padding = pairArg(padding, who, 'padding', 0, dims);
    }
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.groups = groups;
    this.paddingMode = paddingMode;
    const { device = 'cpu', dtype = 'float32' } = factory;
    this.registerParameter('weight', new Parameter(empty([outChannels, inChannels / groups, ...this.kernelSize], { device, dtype })));
    this.registerParameter('bias', bias ? new Parameter(empty([outChannels], { device, dtype })) : null);
    this.resetParameters();
  }

  /** torch's init: weight ~ kaiming_uniform(a = sqrt(5)) = U(±1/sqrt(fanIn)), bias ~ U(±1/sqrt(fanIn)), fanIn = in / groups * prod(kernel). */
  resetParameters(): void {
    init.kaimingUniform_(this.weight, { a: Math.sqrt(5) });
    if (this.bias) {
      const [fanIn] = init.calculateFanInAndFanOut(this.weight);
      const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
      init.uniform_(this.bias, -bound, bound);
    }
  }

  override extraRepr(): string {
    let s = `${this.inChannels}, ${this.outChannels}, kernel_size=${tuple(this.kernelSize)}, stride=${tuple(this.stride)}`;
    if (typeof this.padding === 'string') s += `, padding=${this.padding}`;
    else if (this.padding.some((p) => p !== 0)) s += `, padding=${tuple(this.padding)}`;
    if (this.dilation.some((d) => d !== 1)) s += `, dilation=${tuple(this.dilation)}`;
    if (this.groups !== 1) s += `, groups=${this.groups}`;
    if (!this.bias) s += ', bias=false';
    return s;
  }
}

/** torch.nn.Conv2d: input [n, in, h, w] (or [in, h, w]) → [n, out, oh, ow]; weight [out, in / groups, kh, kw]. */
export class Conv2d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: Size2, options: ConvOptions = {}) {
    super('Conv2d', 2, inChannels, outChannels, kernelSize, options);
  }
  forward(x: Tensor): Tensor {
    const padding = typeof this.padding === 'string' ? this.padding : (this.padding as [number, number]);
    return F.conv2d(x, this.weight, this.bias, {
      stride: this.stride as [number, number], padding, dilation: this.dilation as [number, number], groups: this.groups,
    });
  }
}

/** torch.nn.Conv1d: input [n, in, l] (or [in, l]) → [n, out, ol]; weight [out, in / groups, k]. */
export class Conv1d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: number | [number], options: Conv1dOptions = {}) {
    super('Conv1d', 1, inChannels, outChannels, kernelSize, options);
  }
  forward(x: Tensor): Tensor {
    const padding = typeof this.padding === 'string' ? this.padding : this.padding[0]!;
    return F.conv1d(x, this.weight, this.bias, { stride: this.stride[0]!, padding, dilation: this.dilation[0]!, groups: this.groups });
  }
}

type PoolResult<R extends boolean> = R extends true ? [Tensor, Tensor] : Tensor;

/**
 * torch.nn.MaxPool2d. With returnIndices: true, forward returns [output, indices] (as torch's
 * tuple), so such a layer cannot sit in a Sequential (as in torch).
 */
export class MaxPool2d<R extends boolean = false> extends Module {
  readonly kernelSize: Size2;
  readonly stride: Size2;
  readonly padding: Size2;
  readonly dilation: Size2;
  readonly returnIndices: R;
  readonly ceilMode: boolean;
  constructor(kernelSize: Size2, options: MaxPool2dOptions & { returnIndices?: R } = {}) {
    super();
    // argument errors at construction (the functional checks them again on forward)
    const { stride, padding = 0, dilation = 1, returnIndices = false, ceilMode = false } = checkOptions(options, MAX_POOL2D_OPTIONS, 'MaxPool2d');
    pairArg(kernelSize, 'MaxPool2d', 'kernelSize', 1);
    this.kernelSize = kernelSize;
    this.stride = stride ?? kernelSize;
    pairArg(this.stride, 'MaxPool2d', 'stride', 1);
    this.padding = padding;
    pairArg(padding, 'MaxPool2d', 'padding', 0);
    this.dilation = dilation;
    pairArg(dilation, 'MaxPool2d', 'dilation', 1);
    if (typeof returnIndices !== 'boolean' || typeof ceilMode !== 'boolean') throw createError('ERR_INVALID_ARG', 'MaxPool2d: returnIndices and ceilMode must be booleans');
    this.returnIndices = returnIndices as R;
    this.ceilMode = ceilMode;
  }
  forward(x: Tensor): PoolResult<R> {
    const opts = { stride: this.stride, padding: this.padding, dilation: this.dilation, ceilMode: this.ceilMode };
    if (this.returnIndices) return F.maxPool2d(x, this.kernelSize, { ...opts, returnIndices: true }) as PoolResult<R>;
    return F.maxPool2d(x, this.kernelSize, opts) as PoolResult<R>;
  }
  override extraRepr(): string {
    return `kernel_size=${size(this.kernelSize)}, stride=${size(this.stride)}, padding=${size(this.padding)}, dilation=${size(this.dilation)}, ceil_mode=${this.ceilMode}`;
  }
}

/** torch.nn.AvgPool2d. */
export class AvgPool2d extends Module {
  readonly kernelSize: Size2;
  readonly stride: Size2;
  readonly padding: Size2;
  readonly ceilMode: boolean;
  readonly countIncludePad: boolean;
  readonly divisorOverride: number | null;
  constructor(kernelSize: Size2, options: AvgPool2dOptions = {}) {
    super();
    const { stride, padding = 0, ceilMode = false, countIncludePad = true, divisorOverride = null } = checkOptions(options, AVG_POOL2D_OPTIONS, 'AvgPool2d');
    pairArg(kernelSize, 'AvgPool2d', 'kernelSize', 1);
    this.kernelSize = kernelSize;
    this.stride = stride ?? kernelSize;
    pairArg(this.stride, 'AvgPool2d', 'stride', 1);
    pairArg(padding, 'AvgPool2d', 'padding', 0);
    this.padding = padding;
    this.ceilMode = ceilMode;
    this.countIncludePad = countIncludePad;
    this.divisorOverride = divisorOverride;
  }
  forward(x: Tensor): Tensor {
    return F.avgPool2d(x, this.kernelSize, {
      stride: this.stride, padding: this.padding, ceilMode: this.ceilMode, countIncludePad: this.countIncludePad,
      divisorOverride: this.divisorOverride,
    });
  }
  override extraRepr(): string {
    return `kernel_size=${size(this.kernelSize)}, stride=${size(this.stride)}, padding=${size(this.padding)}`;
  }
}

/** torch.nn.AdaptiveAvgPool2d: outputSize a number or [h, w] (null keeps that input dim). */
export class AdaptiveAvgPool2d extends Module {
  readonly outputSize: AdaptiveSize;
  constructor(outputSize: AdaptiveSize) {
    super();
    const sizes = typeof outputSize === 'number' ? [outputSize, outputSize] : outputSize;
    if (!Array.isArray(sizes) || sizes.length !== 2 || sizes.some((s) => s !== null && (!Number.isInteger(s) || (s as number) < 1))) {
      throw createError('ERR_INVALID_ARG', `AdaptiveAvgPool2d: outputSize must be a positive integer or [h, w] of positive integers or nulls, got ${String(outputSize)}`);
    }
    this.outputSize = outputSize;
  }
  forward(x: Tensor): Tensor {
    return F.adaptiveAvgPool2d(x, this.outputSize);
  }
  override extraRepr(): string {
    return `output_size=${Array.isArray(this.outputSize) ? tuple(this.outputSize) : this.outputSize}`;
  }
}
