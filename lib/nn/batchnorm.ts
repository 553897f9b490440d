/**
 * Batch normalization with torch.nn's semantics: nn.functional.batchNorm, nn.BatchNorm1d,
 * nn.BatchNorm2d and nn.SyncBatchNorm (statistics over the whole global batch of a process group,
 * with SyncBatchNorm.convertSyncBatchnorm to convert a model).
 *
 * Buffers are registered under torch's names (`running_mean`, `running_var`,
 * `num_batches_tracked`), so stateDict() keys map 1:1 to a torch checkpoint; the JavaScript
 * spellings `runningMean`, `runningVar` and `numBatchesTracked` read and assign the same buffers.
 * The running variance is updated with the unbiased batch variance, the normalization uses the
 * biased one, as torch does.
 */
import { createError } from '../errors.js';
import { Tensor, cat, empty, zeros, ones, tensor as makeTensor } from '../tensor/index.js';
import { noGrad } from '../autograd/index.js';
import { batchNormApply, batchNormStats, bnStatsDtype } from '../tensor/ops/batchnorm.js';
import * as dist from '../distributed/index.js';
import type { ProcessGroup } from '../distributed/index.js';
import * as init from './init.js';
import { Module } from './module.js';
import { Parameter } from './parameter.js';
import type { FactoryOptions } from './layers.js';
import { checkOptions, optionKeys } from '../options.js';

const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

export interface BatchNormOptions {
  /** Scale per channel ([C]); null: 1. Default null. */
  weight?: Tensor | null;
  /** Shift per channel ([C]); null: 0. Default null. */
  bias?: Tensor | null;
  /** Normalize with the batch's statistics and update the running ones. Default false (as torch's F.batch_norm). */
  training?: boolean;
  /** Weight of the new batch in the running statistics' update. Default 0.1. */
  momentum?: number;
  /** Added to the variance. Default 1e-5. */
  eps?: number;
}
const BATCH_NORM_OPTIONS = optionKeys<BatchNormOptions>({ weight: true, bias: true, training: true, momentum: true, eps: true });

function checkTensorArg(t: unknown, who: string, what: string): asserts t is Tensor {
  if (!(t instanceof Tensor)) throw createError('ERR_INVALID_ARG', `${who}: ${what} must be a Tensor, got ${String(t)}`);
}

function checkChannelTensor(t: Tensor | null, C: number, who: string, what: string, x: Tensor): void {
  if (t === null) return;
  checkTensorArg(t, who, what);
  if (t.ndim !== 1 || t.shape[0] !== C) throw createError('ERR_SHAPE_MISMATCH', `${who}: ${what} must have shape [${C}] (one value per channel of the input ${fmt(x.shape)}), got ${fmt(t.shape)}`);
  if (!t.device.equals(x.device)) throw createError('ERR_DEVICE_MISMATCH', `${who}: ${what} is on ${t.device} but the input is on ${x.device}`);
}

/** Values per channel in a training batch of this shape (N x spatial); torch refuses 1. */
function checkTrainingSize(x: Tensor, who: string): void {
  const per = x.shape[0]! * x.shape.slice(2).reduce((a, b) => a * b, 1);
  if (per === 1) throw createError('ERR_INVALID_ARG', `${who}: expected more than 1 value per channel when training, got input of shape ${fmt(x.shape)}`);
}

/** The running-statistics update: r = (1 - m) r + m v (in place, under noGrad). */
function blend(running: Tensor, value: Tensor, momentum: number): void {
  running.mul_(1 - momentum).add_(value.to({ dtype: running.dtype }), { alpha: momentum });
}

/**
 * Batch normalization of input [N, C, *] over N and the spatial dims, per channel:
 * (x - mean) / sqrt(var + eps) * weight + bias, as torch.nn.functional.batch_norm. In training
 * the batch's mean and biased variance normalize it and the running statistics (when given) are
 * updated in place with `momentum`, the variance unbiased; otherwise the running statistics
 * normalize it (they are then required). Autograd for input, weight and bias.
 */
export function batchNorm(input: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, options: BatchNormOptions = {}): Tensor {
  const { weight = null, bias = null, training = false, momentum = 0.1, eps = 1e-5 } = checkOptions(options, BATCH_NORM_OPTIONS, 'batchNorm');
  const who = 'batchNorm';
  checkTensorArg(input, who, 'input');
  if (input.ndim < 2) throw createError('ERR_SHAPE_MISMATCH', `${who}: expected an input of at least 2 dims [N, C, ...], got ${fmt(input.shape)}`);
  const C = input.shape[1]!;
  checkChannelTensor(runningMean, C, who, 'runningMean', input);
  checkChannelTensor(runningVar, C, who, 'runningVar', input);
  checkChannelTensor(weight, C, who, 'weight', input);
  checkChannelTensor(bias, C, who, 'bias', input);
  if (typeof training !== 'boolean') throw createError('ERR_INVALID_ARG', `${who}: training must be a boolean, got ${String(training)}`);
  if (typeof eps !== 'number' || !(eps >= 0) || !Number.isFinite(eps)) throw createError('ERR_INVALID_ARG', `${who}: eps must be a finite number >= 0, got ${String(eps)}`);
  if (typeof momentum !== 'number' || !Number.isFinite(momentum)) throw createError('ERR_INVALID_ARG', `${who}: momentum must be a finite number, got ${String(momentum)}`);
  if (!training && (runningMean === null || runningVar === null)) {
    throw createError('ERR_INVALID_ARG', `${who}: runningMean and runningVar must be given in evaluation mode (training: false)`);
  }
  const sd = bnStatsDtype(input.dtype);
  if (training) {
    checkTrainingSize(input, who);
    const { mean, var: v, count } = batchNormStats(input);
    if (count > 0) {
      noGrad(() => {
        if (runningMean) blend(runningMean, mean, momentum);
        if (runningVar) {
          const unbiased = v.mul(count / (count - 1));
          blend(runningVar, unbiased, momentum);
          unbiased.dispose();
        }
      });
    }
    const invstd = noGrad(() => v.add(eps).rsqrt());
    const y = batchNormApply(input, weight, bias, mean, invstd, { training: true, count });
    mean.dispose();
    v.dispose();
    invstd.dispose();
    return y;
  }
  const { mean, invstd } = noGrad(() => {
    const m = runningMean!.detach().to({ dtype: sd });
    const rv = runningVar!.detach().to({ dtype: sd });
    const is = rv.add(eps).rsqrt();
    rv.dispose();
    return { mean: m, invstd: is };
  });
  const y = batchNormApply(input, weight, bias, mean, invstd, { training: false });
  mean.dispose();
  invstd.dispose();
  return y;
}

export interface BatchNormModuleOptions extends FactoryOptions {
  /** Added to the variance. Default 1e-5. */
  eps?: number;
  /** Weight of each new batch in the running statistics; null: a cumulative moving average. Default 0.1. */
  momentum?: number | null;
  /** Learn weight (init 1) and bias (init 0). Default true. */
  affine?: boolean;
  /** Keep running statistics (used in eval mode); false: always the batch's. Default true. */
  trackRunningStats?: boolean;
}
const BN_MODULE_OPTIONS = optionKeys<BatchNormModuleOptions>({ eps: true, momentum: true, affine: true, trackRunningStats: true, device: true, dtype: true });

type Slots = Record<string, Tensor | null | undefined>;

/** The shared implementation of BatchNorm1d, BatchNorm2d and SyncBatchNorm (torch's _BatchNorm). */
export abstract class BatchNormBase extends Module {
  declare weight: Parameter | null;
  declare bias: Parameter | null;
  readonly numFeatures: number;
  readonly eps: number;
  momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;

  constructor(numFeatures: number, options: BatchNormModuleOptions = {}, who = 'BatchNorm') {
    super();
    const { eps = 1e-5, momentum = 0.1, affine = true, trackRunningStats = true, device = 'cpu', dtype = 'float32' } = checkOptions(options, BN_MODULE_OPTIONS, who);
    if (!Number.isInteger(numFeatures) || numFeatures < 0) throw createError('ERR_INVALID_ARG', `${who}: numFeatures must be a non-negative integer, got ${String(numFeatures)}`);
    if (typeof eps !== 'number' || !(eps >= 0) || !Number.isFinite(eps)) throw createError('ERR_INVALID_ARG', `${who}: eps must be a finite number >= 0, got ${String(eps)}`);
    if (momentum !== null && (typeof momentum !== 'number' || !Number.isFinite(momentum))) throw createError('ERR_INVALID_ARG', `${who}: momentum must be a finite number or null (cumulative average), got ${String(momentum)}`);
    if (typeof affine !== 'boolean') throw createError('ERR_INVALID_ARG', `${who}: affine must be a boolean, got ${String(affine)}`);
    if (typeof trackRunningStats !== 'boolean') throw createError('ERR_INVALID_ARG', `${who}: trackRunningStats must be a boolean, got ${String(trackRunningStats)}`);
    this.numFeatures = numFeatures;
    this.eps = eps;
    this.momentum = momentum;
    this.affine = affine;
    this.trackRunningStats = trackRunningStats;
    this.registerParameter('weight', affine ? new Parameter(empty([numFeatures], { device, dtype })) : null);
    this.registerParameter('bias', affine ? new Parameter(empty([numFeatures], { device, dtype })) : null);
    if (trackRunningStats) {
      this.registerBuffer('running_mean', zeros([numFeatures], { device, dtype }));
      this.registerBuffer('running_var', ones([numFeatures], { device, dtype }));
      this.registerBuffer('num_batches_tracked', makeTensor(0, { dtype: 'int64', device }));
    } else {
      this.registerBuffer('running_mean', null);
      this.registerBuffer('running_var', null);
      this.registerBuffer('num_batches_tracked', null);
    }
    this.resetParameters();
  }

  private slot(name: string): Tensor | null {
    return (this as unknown as Slots)[name] ?? null;
  }
  /** The running mean buffer ([C]; state-dict key `running_mean`), null without trackRunningStats. */
  get runningMean(): Tensor | null {
    return this.slot('running_mean');
  }
  set runningMean(t: Tensor | null) {
    this.registerBuffer('running_mean', t);
  }
  /** The running variance buffer ([C]; `running_var`). */
  get runningVar(): Tensor | null {
    return this.slot('running_var');
  }
  set runningVar(t: Tensor | null) {
    this.registerBuffer('running_var', t);
  }
  /** Batches seen in training (int64 scalar; `num_batches_tracked`). */
  get numBatchesTracked(): Tensor | null {
    return this.slot('num_batches_tracked');
  }
  set numBatchesTracked(t: Tensor | null) {
    this.registerBuffer('num_batches_tracked', t);
  }

  /** Running mean 0, running variance 1, no batches tracked. */
  resetRunningStats(): void {
    noGrad(() => {
      this.runningMean?.zero_();
      this.runningVar?.fill_(1);
      this.numBatchesTracked?.zero_();
    });
  }
  resetParameters(): void {
    this.resetRunningStats();
    if (this.weight) init.ones_(this.weight);
    if (this.bias) init.zeros_(this.bias);
  }

  /** Throws unless the input has the dims this layer takes. */
  protected abstract checkInputDim(x: Tensor): void;

  /** The momentum of this step's update (after counting the batch), as torch's exponential_average_factor. */
  protected averagingFactor(): number {
    let factor = this.momentum ?? 0;
    if (this.training && this.trackRunningStats && this.numBatchesTracked) {
      const nbt = this.numBatchesTracked;
      noGrad(() => nbt.add_(1));
      factor = this.momentum === null ? 1 / Number(nbt.item()) : this.momentum;
    }
    return factor;
  }

  /** Use the batch's statistics (training, or no running statistics kept). */
  protected usesBatchStats(): boolean {
    return this.training || (this.runningMean === null && this.runningVar === null);
  }

  forward(x: Tensor): Tensor {
    checkTensorArg(x, this.constructor.name, 'input');
    this.checkInputDim(x);
    const factor = this.averagingFactor();
    const useRunning = !this.training || this.trackRunningStats;
    return batchNorm(x, useRunning ? this.runningMean : null, useRunning ? this.runningVar : null, {
      weight: this.weight, bias: this.bias, training: this.usesBatchStats(), momentum: factor, eps: this.eps,
    });
  }

  override extraRepr(): string {
    return `${this.numFeatures}, eps=${this.eps}, momentum=${this.momentum === null ? 'None' : this.momentum}, affine=${this.affine ? 'True' : 'False'}, track_running_stats=${this.trackRunningStats ? 'True' : 'False'}`;
  }
}

/** Batch normalization of [N, C] or [N, C, L] inputs (torch.nn.BatchNorm1d). */
export class BatchNorm1d extends BatchNormBase {
  constructor(numFeatures: number, options: BatchNormModuleOptions = {}) {
    super(numFeatures, options, 'BatchNorm1d');
  }
  protected checkInputDim(x: Tensor): void {
    if (x.ndim !== 2 && x.ndim !== 3) throw createError('ERR_SHAPE_MISMATCH', `BatchNorm1d: expected 2D or 3D input (got ${x.ndim}D input of shape ${fmt(x.shape)})`);
    this.checkChannels(x);
  }
  protected checkChannels(x: Tensor): void {
    if (x.shape[1] !== this.numFeatures) throw createError('ERR_SHAPE_MISMATCH', `${this.constructor.name}: expected ${this.numFeatures} channels (dim 1) in the input, got ${fmt(x.shape)}`);
  }
}

/** Batch normalization of [N, C, H, W] inputs (torch.nn.BatchNorm2d). */
export class BatchNorm2d extends BatchNormBase {
  constructor(numFeatures: number, options: BatchNormModuleOptions = {}) {
    super(numFeatures, options, 'BatchNorm2d');
  }
  protected checkInputDim(x: Tensor): void {
    if (x.ndim !== 4) throw createError('ERR_SHAPE_MISMATCH', `BatchNorm2d: expected 4D input (got ${x.ndim}D input of shape ${fmt(x.shape)})`);
    if (x.shape[1] !== this.numFeatures) throw createError('ERR_SHAPE_MISMATCH', `BatchNorm2d: expected ${this.numFeatures} channels (dim 1) in the input, got ${fmt(x.shape)}`);
  }
}

export interface SyncBatchNormOptions extends BatchNormModuleOptions {
  /** The group whose ranks share the statistics. Default: the default (world) group. */
  processGroup?: ProcessGroup | null;
}
const SYNC_BN_OPTIONS = optionKeys<SyncBatchNormOptions>({ eps: true, momentum: true, affine: true, trackRunningStats: true, device: true, dtype: true, processGroup: true });

export interface ConvertSyncBatchnormOptions {
  /** The group for every converted layer. Default: the default group. */
  processGroup?: ProcessGroup | null;
}
const CONVERT_OPTIONS = optionKeys<ConvertSyncBatchnormOptions>({ processGroup: true });

/**
 * Batch normalization whose training statistics cover the whole batch of a process group
 * (torch.nn.SyncBatchNorm), for inputs [N, C, *]. In training each rank computes its per-channel
 * count, mean and variance, all-gathers them and combines them (so ranks with uneven or empty
 * batches weigh by their counts); the backward pass all-reduces the per-channel gradient sums.
 * Both collectives are synchronous (work.wait(): blocking on the cpu backend, stream-ordered on
 * nccl), so every rank must run the same layers in the same order, as with torch. Gradients of
 * weight and bias are this rank's (DistributedDataParallel averages them). In eval mode, or in a
 * group of one, it is BatchNorm with no collectives.
 */
export class SyncBatchNorm extends BatchNormBase {
  processGroup: ProcessGroup | null;
  constructor(numFeatures: number, options: SyncBatchNormOptions = {}) {
    const { processGroup = null, ...rest } = checkOptions(options, SYNC_BN_OPTIONS, 'SyncBatchNorm');
    super(numFeatures, rest, 'SyncBatchNorm');
    if (processGroup !== null && !(processGroup instanceof dist.ProcessGroup)) throw createError('ERR_INVALID_ARG', 'SyncBatchNorm: processGroup must be a ProcessGroup (from dist.newGroup) or null');
    this.processGroup = processGroup;
  }

  protected checkInputDim(x: Tensor): void {
    if (x.ndim < 2) throw createError('ERR_SHAPE_MISMATCH', `SyncBatchNorm: expected at least 2D input (got ${x.ndim}D input of shape ${fmt(x.shape)})`);
    if (x.shape[1] !== this.numFeatures) throw createError('ERR_SHAPE_MISMATCH', `SyncBatchNorm: expected ${this.numFeatures} channels (dim 1) in the input, got ${fmt(x.shape)}`);
  }

  private group(): ProcessGroup | null {
    if (this.processGroup) return this.processGroup;
    return dist.isInitialized() ? dist.defaultGroup('SyncBatchNorm') : null;
  }

  override forward(x: Tensor): Tensor {
    checkTensorArg(x, 'SyncBatchNorm', 'input');
    this.checkInputDim(x);
    const batchStats = this.usesBatchStats();
    const group = batchStats && this.training ? this.group() : null;
    if (!group || group.size < 2) return super.forward(x);
    const factor = this.averagingFactor();
    const useRunning = this.trackRunningStats;
    return syncBatchNorm(x, this.weight, this.bias, useRunning ? this.runningMean : null, useRunning ? this.runningVar : null, this.eps, factor, group);
  }

  /**
   * Replaces every BatchNorm1d/BatchNorm2d (and other BatchNorm layers) in `module`, recursively,
   * by a SyncBatchNorm with the same settings, parameters (the same tensors, so an optimizer made
   * before still trains them), running statistics and training mode, as torch's
   * convert_sync_batchnorm. Returns the converted module (a new one when `module` itself is a
   * batch norm layer).
   */
  static convertSyncBatchnorm(module: BatchNormBase, options?: ConvertSyncBatchnormOptions): SyncBatchNorm;
  static convertSyncBatchnorm<M extends Module>(module: M, options?: ConvertSyncBatchnormOptions): M;
  static convertSyncBatchnorm(module: Module, options: ConvertSyncBatchnormOptions = {}): Module {
    const { processGroup = null } = checkOptions(options, CONVERT_OPTIONS, 'SyncBatchNorm.convertSyncBatchnorm');
    if (!(module instanceof Module)) throw createError('ERR_INVALID_ARG', 'SyncBatchNorm.convertSyncBatchnorm: module must be an nn.Module');
    if (processGroup !== null && !(processGroup instanceof dist.ProcessGroup)) throw createError('ERR_INVALID_ARG', 'SyncBatchNorm.convertSyncBatchnorm: processGroup must be a ProcessGroup or null');
    return convert(module, processGroup);
  }
}

function convert(module: Module, processGroup: ProcessGroup | null): Module {
  if (module instanceof BatchNormBase && !(module instanceof SyncBatchNorm)) {
    const w = module.weight;
    const out = new SyncBatchNorm(module.numFeatures, {
      eps: module.eps, momentum: module.momentum, affine: module.affine, trackRunningStats: module.trackRunningStats,
      processGroup, device: (w ?? module.runningMean)?.device.toString() ?? 'cpu', dtype: (w ?? module.runningMean)?.dtype ?? 'float32',
    });
    if (module.affine) {
      out.weight = module.weight;
      out.bias = module.bias;
    }
    out.runningMean = module.runningMean;
    out.runningVar = module.runningVar;
    out.numBatchesTracked = module.numBatchesTracked;
    out.training = module.training;
    return out;
  }
  for (const [name, child] of [...module.namedChildren()]) {
    const c = convert(child, processGroup);
    if (c !== child) module.registerModule(name, c);
  }
  return module;
}

/**
 * The training forward of SyncBatchNorm: global statistics from every rank's [mean, var, count],
 * the running statistics updated with them (unbiased by the global count), and the backward's
 * per-channel gradient sums all-reduced.
 */
function syncBatchNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, runningMean: Tensor | null, runningVar: Tensor | null, eps: number, momentum: number, group: ProcessGroup): Tensor {
  const C = x.shape[1]!;
  const W = group.size;
  const per = x.shape[0]! * x.shape.slice(2).reduce((a, b) => a * b, 1);
  const sd = bnStatsDtype(x.dtype);
  const local = batchNormStats(x);
  const { mean, invstd, total } = noGrad(() => {
    const count = makeTensor([per], { dtype: sd, device: x.device.toString() });
    const packed = cat([local.mean, local.var, count]);
    count.dispose();
    const gathered = empty([W, 2 * C + 1], { dtype: sd, device: x.device.toString() });
    group.allGatherIntoTensor(gathered, packed).wait();
    packed.dispose();
    const means = gathered.narrow(1, 0, C);
    const vars = gathered.narrow(1, C, C);
    const counts = gathered.narrow(1, 2 * C, 1);
    const n = counts.sum(); // [] global count
    const gmean = means.mul(counts).sum(0).div(n);
    const dev = means.sub(gmean);
    const gvar = vars.add(dev.mul(dev)).mul(counts).sum(0).div(n);
    if (runningMean) blend(runningMean, gmean, momentum);
    if (runningVar) {
      const unbiased = gvar.mul(n).div(n.sub(1));
      blend(runningVar, unbiased, momentum);
      unbiased.dispose();
    }
    const is = gvar.add(eps).rsqrt();
    for (const t of [means, vars, counts, dev, gvar, gathered]) t.dispose();
    return { mean: gmean, invstd: is, total: n.reshape([1]) };
  });
  local.mean.dispose();
  local.var.dispose();
  const y = batchNormApply(x, weight, bias, mean, invstd, {
    training: true,
    count: total,
    reduceGradSums: (sums) => group.allReduce(sums, 'sum').wait(),
  });
  mean.dispose();
  invstd.dispose();
  return y;
}
