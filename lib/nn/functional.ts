/**
 * nn.functional: losses and activations with torch.nn.functional's meanings and defaults, composed
 * from Tensor ops, so autograd differentiates them (no hand-written backward here).
 */
import { createError } from '../errors.js';
import { Tensor, rand, type DType } from '../tensor/index.js';
import * as T from '../tensor/index.js';
import { noGrad } from '../autograd/index.js';
import { checkOptions, optionKeys } from '../options.js';

export type Reduction = 'mean' | 'sum' | 'none';

function checkReduction(r: unknown, who: string): asserts r is Reduction {
  if (r !== 'mean' && r !== 'sum' && r !== 'none') throw createError('ERR_INVALID_ARG', `${who}: reduction must be 'mean', 'sum' or 'none', got ${String(r)}`);
}
function checkTensor(t: unknown, who: string, what: string): asserts t is Tensor {
  if (!(t instanceof Tensor)) throw createError('ERR_INVALID_ARG', `${who}: ${what} must be a Tensor, got ${String(t)}`);
}
function reduce(loss: Tensor, reduction: Reduction): Tensor {
  return reduction === 'mean' ? loss.mean() : reduction === 'sum' ? loss.sum() : loss;
}
const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

// ---- activations --------------------------------------------------------------------------------
export const relu = (x: Tensor): Tensor => x.relu();
export const tanh = (x: Tensor): Tensor => x.tanh();
export const sigmoid = (x: Tensor): Tensor => x.sigmoid();
export const silu = (x: Tensor): Tensor => x.silu();

export interface GeluOptions {
  /** 'none' (exact, with erf; default) or 'tanh' (the tanh approximation). */
  approximate?: 'none' | 'tanh';
}
const GELU_OPTIONS = optionKeys<GeluOptions>({ approximate: true });
export function gelu(x: Tensor, options: GeluOptions = {}): Tensor {
  const { approximate = 'none' } = checkOptions(options, GELU_OPTIONS, 'gelu');
  if (approximate !== 'none' && approximate !== 'tanh') throw createError('ERR_INVALID_ARG', `gelu: approximate must be 'none' or 'tanh', got ${String(approximate)}`);
  return x.gelu({ approximate });
}

export function softmax(x: Tensor, dim: number): Tensor {
  return x.softmax(dim);
}
export function logSoftmax(x: Tensor, dim: number): Tensor {
  return x.logSoftmax(dim);
}

// ---- layers -------------------------------------------------------------------------------------
/** y = x @ weight^T + bias, weight [out, in]. */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  checkTensor(x, 'linear', 'input');
  checkTensor(weight, 'linear', 'weight');
  if (weight.ndim !== 2) throw createError('ERR_SHAPE_MISMATCH', `linear: weight must be 2-D [out, in], got ${fmt(weight.shape)}`);
  if (x.shape[x.ndim - 1] !== weight.shape[1]) {
    throw createError('ERR_SHAPE_MISMATCH', `linear: input of shape ${fmt(x.shape)} has ${x.shape[x.ndim - 1]} features, the weight ${fmt(weight.shape)} expects ${weight.shape[1]}`);
  }
  const y = x.matmul(weight.transpose(0, 1));
  return bias ? y.add(bias) : y;
}

export interface DropoutOptions {
  /** Probability of zeroing an element. Default 0.5. */
  p?: number;
  /** Apply it (training mode). Default true, as torch.nn.functional.dropout. */
  training?: boolean;
}
const DROPOUT_OPTIONS = optionKeys<DropoutOptions>({ p: true, training: true });
/** Zeroes elements with probability p and scales the rest by 1 / (1 - p) (in training only). */
export function dropout(x: Tensor, options: DropoutOptions = {}): Tensor {
  const { p = 0.5, training = true } = checkOptions(options, DROPOUT_OPTIONS, 'dropout');
  if (!(p >= 0 && p <= 1)) throw createError('ERR_INVALID_ARG', `dropout probability has to be between 0 and 1, but got ${p}`);
  if (!training || p === 0) return x;
  if (p === 1) return x.mul(0);
  const mask = noGrad(() => rand([...x.shape], { dtype: 'float32', device: x.device.toString() }).ge(p).to({ dtype: x.dtype }).mul(1 / (1 - p)));
  return x.mul(mask);
}

/**
 * Channel-wise dropout (torch.nn.functional.dropout2d, torch's feature dropout): each channel of
 * each sample of input [N, C, ...] is zeroed as a whole with probability p, the kept ones scaled by
 * 1 / (1 - p), in training only. As in torch 1.13, a 3-D input is read as [N, C, L].
 */
export function dropout2d(x: Tensor, options: DropoutOptions = {}): Tensor {
  const { p = 0.5, training = true } = checkOptions(options, DROPOUT_OPTIONS, 'dropout2d');
  checkTensor(x, 'dropout2d', 'input');
  if (!(p >= 0 && p <= 1)) throw createError('ERR_INVALID_ARG', `dropout probability has to be between 0 and 1, but got ${p}`);
  if (x.ndim < 2) throw createError('ERR_SHAPE_MISMATCH', `dropout2d: channel-wise dropout needs an input of at least 2 dims [N, C, ...], got ${fmt(x.shape)}`);
  if (!training || p === 0) return x;
  if (p === 1) return x.mul(0);
  const maskShape = [x.shape[0]!, x.shape[1]!, ...x.shape.slice(2).map(() => 1)];
  const mask = noGrad(() => rand(maskShape, { dtype: 'float32', device: x.device.toString() }).ge(p).to({ dtype: x.dtype }).mul(1 / (1 - p)));
  return x.mul(mask);
}

/**
 * Layer normalization over the last normalizedShape.length dims:
 * (x - mean) / sqrt(var + eps) * weight + bias, with the biased variance (the fused row kernel).
 */
export { batchNorm, type BatchNormOptions } from './batchnorm.js';

export function layerNorm(x: Tensor, normalizedShape: number[], weight: Tensor | null = null, bias: Tensor | null = null, eps = 1e-5): Tensor {
  return T.layerNorm(x, normalizedShape, weight, bias, eps);
}

/**
 * Rows of `weight` [num, dim] picked by the int64 `input` (any shape): [...input.shape, dim].
 * Rows picked by `paddingIdx` (default null: none) get no gradient.
 */
const EMBEDDING_OPTIONS = optionKeys<{ paddingIdx?: number | null }>({ paddingIdx: true });
export function embedding(input: Tensor, weight: Tensor, options: { paddingIdx?: number | null } = {}): Tensor {
  const { paddingIdx = null } = checkOptions(options, EMBEDDING_OPTIONS, 'embedding');
  checkTensor(input, 'embedding', 'input');
  checkTensor(weight, 'embedding', 'weight');
  if (input.dtype !== 'int64') throw createError('ERR_DTYPE', `embedding: indices must be int64 (torch's Long), got ${input.dtype}`);
  return T.embedding(input, weight, { paddingIdx });
}

/** One-hot encoding of an int64 tensor of class indices: int64 [...t.shape, numClasses]; -1 means max + 1. */
export function oneHot(t: Tensor, numClasses = -1): Tensor {
  checkTensor(t, 'oneHot', 'input');
  return T.oneHot(t, numClasses);
}

// ---- convolution and pooling (NCHW) ----------------------------------------------------------------
export { conv1d, conv2d, type Conv1dOptions, type Conv2dOptions, type Size2 } from '../tensor/ops/conv.js';
export {
  maxPool2d, avgPool2d, adaptiveAvgPool2d, type MaxPool2dOptions, type AvgPool2dOptions, type AdaptiveSize,
} from '../tensor/ops/pool.js';

// ---- losses -------------------------------------------------------------------------------------
export interface NllLossOptions {
  /** A weight per class ([C]); the mean then divides by the sum of the targets' weights. Default null. */
  weight?: Tensor | null;
  /** Target value that contributes nothing (nor to the mean's normalizer). Default -100. */
  ignoreIndex?: number;
  /** Default 'mean' (over the targets that are not ignored). */
  reduction?: Reduction;
}

export interface CrossEntropyOptions extends NllLossOptions {
  /** Mixes the target with the uniform distribution: (1 - ls) * onehot + ls / C. Default 0. */
  labelSmoothing?: number;
}

const NLL_LOSS_OPTIONS = optionKeys<NllLossOptions>({ weight: true, ignoreIndex: true, reduction: true });
const CROSS_ENTROPY_OPTIONS = optionKeys<CrossEntropyOptions>({ weight: true, ignoreIndex: true, reduction: true, labelSmoothing: true });

interface ClassForms {
  /** input as [rows, C] */
  x: Tensor;
  /** target as [rows] */
  t: Tensor;
  /** the shape of a reduction 'none' result (the target's shape) */
  outShape: number[];
}

/**
 * Brings input [N, C] / [C] / [N, C, d1, ..., dk] and target [N] / [] / [N, d1, ..., dk] to the 2-D
 * form [rows, C] / [rows] every class loss below works on (the class dim moved last).
 */
function classForms(input: Tensor, target: Tensor, who: string): ClassForms {
  checkTensor(input, who, 'input');
  checkTensor(target, who, 'target');
  if (target.dtype !== 'int64') {
    throw createError('ERR_DTYPE', `${who}: target must hold class indices as int64 (torch's Long), got ${target.dtype}`);
  }
  if (input.ndim === 1 && target.ndim === 0) return { x: input.unsqueeze(0), t: target.reshape([1]), outShape: [] };
  const expected = input.ndim >= 2 ? [input.shape[0]!, ...input.shape.slice(2)] : null;
  if (!expected || target.ndim !== expected.length || target.shape.some((d, i) => d !== expected[i])) {
    throw createError(
      'ERR_SHAPE_MISMATCH',
      `${who}: expected input [N, C] with target [N], input [C] with a scalar target, or input [N, C, d1, ...] with target [N, d1, ...]; got input ${fmt(input.shape)} and target ${fmt(target.shape)}`,
    );
  }
  if (input.ndim === 2) return { x: input, t: target, outShape: [...target.shape] };
  const C = input.shape[1]!;
  const perm = [0, ...Array.from({ length: input.ndim - 2 }, (_, i) => i + 2), 1];
  return { x: input.permute(perm).reshape([-1, C]), t: target.reshape([-1]), outShape: [...target.shape] };
}

function checkClassWeight(weight: Tensor | null, C: number, who: string): void {
  if (weight === null) return;
  checkTensor(weight, who, 'weight');
  if (weight.ndim !== 1 || weight.shape[0] !== C) throw createError('ERR_SHAPE_MISMATCH', `${who}: weight must be a 1-D tensor of ${C} class weights, got ${fmt(weight.shape)}`);
}

/** Validity mask (target != ignoreIndex) and targets with ignored entries replaced by 0. */
function prepareTargets(t: Tensor, ignoreIndex: number): { valid: Tensor; safe: Tensor } {
  return noGrad(() => {
    const valid = t.ne(ignoreIndex);
    return { valid, safe: t.mul(valid.to({ dtype: 'int64' })) };
  });
}

/**
 * -logp[i, target[i]] for every row. The range of the targets is checked by gather (on the host
 * as it reads them, on the GPU by one reduction before launch); its error is restated in terms of
 * the loss's arguments.
 */
function pickTargets(logp: Tensor, safe: Tensor, ignoreIndex: number, who: string): Tensor {
  try {
    return logp.gather(1, safe.unsqueeze(1)).reshape([logp.shape[0]!]).neg();
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_INDEX_OUT_OF_RANGE') {
      throw createError('ERR_INDEX_OUT_OF_RANGE', `${who}: target values must be class indices in [0, ${logp.shape[1]}) or equal ignoreIndex (${ignoreIndex}); ${(e as Error).message}`);
    }
    throw e;
  }
}

/**
 * Zeroes the ignored rows and reduces; the mean divides by the normalizer: the number of
 * non-ignored rows, or the sum of their class weights (torch's weighted mean).
 */
function reduceMasked(perRow: Tensor, valid: Tensor, reduction: Reduction, outShape: number[], rowWeight: Tensor | null): Tensor {
  const mask = valid.to({ dtype: perRow.dtype });
  const masked = perRow.mul(mask);
  if (reduction === 'none') return masked.reshape(outShape);
  if (reduction === 'sum') return masked.sum();
  const norm = rowWeight ? rowWeight.mul(mask).sum() : mask.sum();
  return masked.sum().div(norm);
}

/**
 * The negative log-likelihood of log-probabilities input [N, C] (or [C], or [N, C, d1, ...]) at
 * int64 class-index targets [N] (or [], or [N, d1, ...]).
 */
export function nllLoss(input: Tensor, target: Tensor, options: NllLossOptions = {}): Tensor {
  const { weight = null, ignoreIndex = -100, reduction = 'mean' } = checkOptions(options, NLL_LOSS_OPTIONS, 'nllLoss');
  checkReduction(reduction, 'nllLoss');
  const { x, t, outShape } = classForms(input, target, 'nllLoss');
  checkClassWeight(weight, x.shape[1]!, 'nllLoss');
  const { valid, safe } = prepareTargets(t, ignoreIndex);
  let per = pickTargets(x, safe, ignoreIndex, 'nllLoss');
  const rowWeight = weight ? weight.indexSelect(0, safe) : null;
  if (rowWeight) per = per.mul(rowWeight);
  return reduceMasked(per, valid, reduction, outShape, rowWeight);
}

/**
 * Cross entropy of logits and int64 class-index targets (the shapes of nllLoss),
 * = nllLoss(logSoftmax(input, classDim), target), with class weights and label smoothing as
 * torch defines them: (1 - ls) * nll + ls / C * sum over classes of -w_c logp_c, both normalized
 * (for 'mean') by the targets' total weight; ignored targets contribute nothing.
 */
export function crossEntropy(input: Tensor, target: Tensor, options: CrossEntropyOptions = {}): Tensor {
  const { weight = null, ignoreIndex = -100, reduction = 'mean', labelSmoothing = 0 } = checkOptions(options, CROSS_ENTROPY_OPTIONS, 'crossEntropy');
  checkReduction(reduction, 'crossEntropy');
  if (!(labelSmoothing >= 0 && labelSmoothing <= 1)) throw createError('ERR_INVALID_ARG', `crossEntropy: labelSmoothing must be in [0, 1], got ${labelSmoothing}`);
  const { x, t, outShape } = classForms(input, target, 'crossEntropy');
  const C = x.shape[1]!;
  checkClassWeight(weight, C, 'crossEntropy');
  const { valid, safe } = prepareTargets(t, ignoreIndex);
  const logp = x.logSoftmax(1);
  let per = pickTargets(logp, safe, ignoreIndex, 'crossEntropy');
  const rowWeight = weight ? weight.indexSelect(0, safe) : null;
  if (rowWeight) per = per.mul(rowWeight);
  if (labelSmoothing > 0) {
    const smooth = (weight ? logp.mul(weight) : logp).sum(1).neg();
    per = per.mul(1 - labelSmoothing).add(smooth.mul(labelSmoothing / C));
  }
  return reduceMasked(per, valid, reduction, outShape, rowWeight);
}

export interface MseLossOptions {
  /** Default 'mean'. */
  reduction?: Reduction;
}
const MSE_LOSS_OPTIONS = optionKeys<MseLossOptions>({ reduction: true });
/** Mean squared error; input and target must have the same shape. */
export function mseLoss(input: Tensor, target: Tensor, options: MseLossOptions = {}): Tensor {
  const { reduction = 'mean' } = checkOptions(options, MSE_LOSS_OPTIONS, 'mseLoss');
  checkReduction(reduction, 'mseLoss');
  checkTensor(input, 'mseLoss', 'input');
  checkTensor(target, 'mseLoss', 'target');
  if (input.ndim !== target.ndim || input.shape.some((d, i) => d !== target.shape[i])) {
    throw createError('ERR_SHAPE_MISMATCH', `mseLoss: input ${fmt(input.shape)} and target ${fmt(target.shape)} must have the same shape`);
  }
  const d = input.sub(target);
  return reduce(d.mul(d), reduction);
}

export interface BCEWithLogitsOptions {
  /** Weight of each element's loss (broadcast to the input). */
  weight?: Tensor | null;
  /** Weight of the positive class, broadcast along the last dim (per class). */
  posWeight?: Tensor | null;
  /** Default 'mean'. */
  reduction?: Reduction;
}
const BCE_WITH_LOGITS_OPTIONS = optionKeys<BCEWithLogitsOptions>({ weight: true, posWeight: true, reduction: true });
/**
 * Binary cross entropy on logits, in torch's numerically stable form:
 * (1 - y) x + w_p (log(1 + exp(-|x|)) + max(-x, 0)), w_p = 1 + (posWeight - 1) y.
 */
export function binaryCrossEntropyWithLogits(input: Tensor, target: Tensor, options: BCEWithLogitsOptions = {}): Tensor {
  const { weight = null, posWeight = null, reduction = 'mean' } = checkOptions(options, BCE_WITH_LOGITS_OPTIONS, 'binaryCrossEntropyWithLogits');
  checkReduction(reduction, 'binaryCrossEntropyWithLogits');
  checkTensor(input, 'binaryCrossEntropyWithLogits', 'input');
  checkTensor(target, 'binaryCrossEntropyWithLogits', 'target');
  if (input.ndim !== target.ndim || input.shape.some((d, i) => d !== target.shape[i])) {
    throw createError('ERR_SHAPE_MISMATCH', `binaryCrossEntropyWithLogits: target size ${fmt(target.shape)} must be the same as input size ${fmt(input.shape)}`);
  }
  const softplusNeg = input.abs().neg().exp().log1p().add(input.neg().relu());
  let loss: Tensor;
  if (posWeight) {
    const logWeight = posWeight.sub(1).mul(target).add(1);
    loss = target.neg().add(1).mul(input).add(logWeight.mul(softplusNeg));
  } else {
    loss = target.neg().add(1).mul(input).add(softplusNeg);
  }
  if (weight) loss = loss.mul(weight);
  return reduce(loss, reduction);
}
