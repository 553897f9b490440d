/**
 * Layers with torch.nn's constructor arguments (as options objects), default initializations and
 * state-dict names.
 */
import { createError } from '../errors.js';
import { Tensor, empty, type DType } from '../tensor/index.js';
import { noGrad } from '../autograd/index.js';
import * as F from './functional.js';
import * as init from './init.js';
import { Module } from './module.js';
import { Parameter } from './parameter.js';
import { checkOptions, optionKeys } from '../options.js';

/** Where and how new parameters are created. */
export interface FactoryOptions {
  /** Default 'cpu'. */
  device?: string;
  /** Default 'float32'. */
  dtype?: DType;
}

function checkPositive(v: unknown, who: string, what: string): asserts v is number {
  if (!Number.isInteger(v) || (v as number) < 0) throw createError('ERR_INVALID_ARG', `${who}: ${what} must be a non-negative integer, got ${String(v)}`);
}

function param(shape: number[], { device = 'cpu', dtype = 'float32' }: FactoryOptions): Parameter {
  return new Parameter(empty(shape, { device, dtype }));
}

export interface LinearOptions extends FactoryOptions {
  /** Learn an additive bias. Default true. */
  bias?: boolean;
}

const LINEAR_OPTIONS = optionKeys<LinearOptions>({ bias: true, device: true, dtype: true });

/**
 * y = x W^T + b. Weight [out, in] ~ kaiming_uniform(a = sqrt(5)) = U(±1/sqrt(in)); bias ~ U(±1/sqrt(in)).
 */
export class Linear extends Module {
  declare weight: Parameter;
  declare bias: Parameter | null;
  readonly inFeatures: number;
  readonly outFeatures: number;
  constructor(inFeatures: number, outFeatures: number, options: LinearOptions = {}) {
    super();
    const { bias = true, ...factory } = checkOptions(options, LINEAR_OPTIONS, 'Linear');
    checkPositive(inFeatures, 'Linear', 'inFeatures');
    checkPositive(outFeatures, 'Linear', 'outFeatures');
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.registerParameter('weight', param([outFeatures, inFeatures], factory));
    this.registerParameter('bias', bias ? param([outFeatures], factory) : null);
    this.resetParameters();
  }
  resetParameters(): void {
    init.kaimingUniform_(this.weight, { a: Math.sqrt(5) });
    if (this.bias) {
      const bound = this.inFeatures > 0 ? 1 / Math.sqrt(this.inFeatures) : 0;
      init.uniform_(this.bias, -bound, bound);
    }
  }
  forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }
  override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${this.bias !== null}`;
  }
}

export interface EmbeddingOptions extends FactoryOptions {
  /** This row is initialized to zeros and gets no gradient (a padding token), as in torch. Default null. */
  paddingIdx?: number | null;
}

const EMBEDDING_OPTIONS = optionKeys<EmbeddingOptions>({ paddingIdx: true, device: true, dtype: true });

/** A lookup table [num, dim] ~ N(0, 1) (the paddingIdx row zeroed). */
export class Embedding extends Module {
  declare weight: Parameter;
  readonly numEmbeddings: number;
  readonly embeddingDim: number;
  readonly paddingIdx: number | null;
  constructor(numEmbeddings: number, embeddingDim: number, options: EmbeddingOptions = {}) {
    super();
    const { paddingIdx: pad = null, ...factory } = checkOptions(options, EMBEDDING_OPTIONS, 'Embedding');
    let paddingIdx = pad;
    checkPositive(numEmbeddings, 'Embedding', 'numEmbeddings');
    checkPositive(embeddingDim, 'Embedding', 'embeddingDim');
    if (paddingIdx !== null) {
      if (!Number.isInteger(paddingIdx) || paddingIdx >= numEmbeddings || paddingIdx < -numEmbeddings) {
        throw createError('ERR_INVALID_ARG', `Embedding: paddingIdx must be within [-${numEmbeddings}, ${numEmbeddings}), got ${paddingIdx}`);
      }
      if (paddingIdx < 0) paddingIdx += numEmbeddings;
    }
    this.numEmbeddings = numEmbeddings;
    this.embeddingDim = embeddingDim;
    this.paddingIdx = paddingIdx;
    this.registerParameter('weight', param([numEmbeddings, embeddingDim], factory));
    this.resetParameters();
  }
  resetParameters(): void {
    init.normal_(this.weight);
    if (this.paddingIdx !== null) {
      const row = this.paddingIdx;
      noGrad(() => this.weight.select(0, row).fill_(0));
    }
  }
  forward(input: Tensor): Tensor {
    return F.embedding(input, this.weight, { paddingIdx: this.paddingIdx });
  }
  override extraRepr(): string {
    return `${this.numEmbeddings}, ${this.embeddingDim}${this.paddingIdx !== null ? `, padding_idx=${this.paddingIdx}` : ''}`;
  }
}

export interface LayerNormOptions extends FactoryOptions {
  /** Default 1e-5. */
  eps?: number;
  /** Learn weight (init 1) and bias (init 0). Default true. */
  elementwiseAffine?: boolean;
  /** With elementwiseAffine, learn the bias too. Default true. */
  bias?: boolean;
}

const LAYER_NORM_OPTIONS = optionKeys<LayerNormOptions>({ eps: true, elementwiseAffine: true, bias: true, device: true, dtype: true });

export class LayerNorm extends Module {
  declare weight: Parameter | null;
  declare bias: Parameter | null;
  readonly normalizedShape: number[];
  readonly eps: number;
  constructor(normalizedShape: number | number[], options: LayerNormOptions = {}) {
    super();
    const { eps = 1e-5, elementwiseAffine = true, bias = true, ...factory } = checkOptions(options, LAYER_NORM_OPTIONS, 'LayerNorm');
    const shape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    if (shape.length === 0) throw createError('ERR_INVALID_ARG', 'LayerNorm: normalizedShape must have at least one dimension');
    shape.forEach((d) => checkPositive(d, 'LayerNorm', 'normalizedShape entries'));
    this.normalizedShape = shape;
    this.eps = eps;
    this.registerParameter('weight', elementwiseAffine ? param(shape, factory) : null);
    this.registerParameter('bias', elementwiseAffine && bias ? param(shape, factory) : null);
    this.resetParameters();
  }
  resetParameters(): void {
    if (this.weight) init.ones_(this.weight);
    if (this.bias) init.zeros_(this.bias);
  }
  forward(x: Tensor): Tensor {
    return F.layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }
  override extraRepr(): string {
    return `(${this.normalizedShape.join(', ')},), eps=${this.eps}, elementwise_affine=${this.weight !== null}`;
  }
}

export class Dropout extends Module {
  readonly p: number;
  /** @param p probability of zeroing an element (default 0.5); active in training mode only. */
  constructor(p = 0.5) {
    super();
    if (!(p >= 0 && p <= 1)) throw createError('ERR_INVALID_ARG', `dropout probability has to be between 0 and 1, but got ${p}`);
    this.p = p;
  }
  forward(x: Tensor): Tensor {
    return F.dropout(x, { p: this.p, training: this.training });
  }
  override extraRepr(): string {
    return `p=${this.p}`;
  }
}

/**
 * Channel-wise dropout (torch.nn.Dropout2d): zeroes whole channels of [N, C, H, W] inputs with
 * probability p (default 0.5), scaling the rest by 1 / (1 - p); active in training mode only.
 */
export class Dropout2d extends Module {
  readonly p: number;
  constructor(p = 0.5) {
    super();
    if (!(p >= 0 && p <= 1)) throw createError('ERR_INVALID_ARG', `dropout probability has to be between 0 and 1, but got ${p}`);
    this.p = p;
  }
  forward(x: Tensor): Tensor {
    return F.dropout2d(x, { p: this.p, training: this.training });
  }
  override extraRepr(): string {
    return `p=${this.p}, inplace=False`;
  }
}

/** Flattens dims startDim..endDim into one (torch.nn.Flatten; default 1 and -1: keeps the batch dim). */
export class Flatten extends Module {
  readonly startDim: number;
  readonly endDim: number;
  constructor(startDim = 1, endDim = -1) {
    super();
    if (!Number.isInteger(startDim) || !Number.isInteger(endDim)) throw createError('ERR_INVALID_ARG', `Flatten: startDim and endDim must be integers, got ${String(startDim)} and ${String(endDim)}`);
    this.startDim = startDim;
    this.endDim = endDim;
  }
  forward(x: Tensor): Tensor {
    return x.flatten(this.startDim, this.endDim);
  }
  override extraRepr(): string {
    return `start_dim=${this.startDim}, end_dim=${this.endDim}`;
  }
}

/** Expands dim into the shape unflattenedSize (torch.nn.Unflatten; one entry may be -1), the inverse of Flatten. */
export class Unflatten extends Module {
  readonly dim: number;
  readonly unflattenedSize: readonly number[];
  constructor(dim: number, unflattenedSize: readonly number[]) {
    super();
    if (!Number.isInteger(dim)) throw createError('ERR_INVALID_ARG', `Unflatten: dim must be an integer, got ${String(dim)}`);
    if (!Array.isArray(unflattenedSize) || unflattenedSize.length === 0 || unflattenedSize.some((d) => !Number.isInteger(d) || d < -1)) {
      throw createError('ERR_INVALID_ARG', `Unflatten: unflattenedSize must be a non-empty array of sizes (one may be -1), got ${String(unflattenedSize)}`);
    }
    this.dim = dim;
    this.unflattenedSize = [...unflattenedSize];
  }
  forward(x: Tensor): Tensor {
    const d = this.dim < 0 ? this.dim + x.ndim : this.dim;
    if (d < 0 || d >= x.ndim) throw createError('ERR_INVALID_ARG', `Unflatten: dim ${this.dim} is out of range for an input of ${x.ndim} dims`);
    return x.reshape([...x.shape.slice(0, d), ...this.unflattenedSize, ...x.shape.slice(d + 1)]);
  }
  override extraRepr(): string {
    return `dim=${this.dim}, unflattened_size=(${this.unflattenedSize.join(', ')})`;
  }
}

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return F.relu(x);
  }
}
export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return F.tanh(x);
  }
}
export class SiLU extends Module {
  forward(x: Tensor): Tensor {
    return F.silu(x);
  }
}
export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return F.sigmoid(x);
  }
}
const GELU_OPTIONS = optionKeys<F.GeluOptions>({ approximate: true });

export class GELU extends Module {
  readonly approximate: 'none' | 'tanh';
  /** @param options.approximate 'none' (default, exact erf form) or 'tanh'. */
  constructor(options: F.GeluOptions = {}) {
    super();
    const { approximate = 'none' } = checkOptions(options, GELU_OPTIONS, 'GELU');
    if (approximate !== 'none' && approximate !== 'tanh') throw createError('ERR_INVALID_ARG', `GELU: approximate must be 'none' or 'tanh', got ${String(approximate)}`);
    this.approximate = approximate;
  }
  forward(x: Tensor): Tensor {
    return F.gelu(x, { approximate: this.approximate });
  }
  override extraRepr(): string {
    return `approximate='${this.approximate}'`;
  }
}

/** A module whose forward takes one tensor and returns one (what Sequential chains). */
export interface TensorModule extends Module {
  forward(x: Tensor): Tensor;
}

/** Runs its children in order, each on the previous one's output; children are named "0", "1", … */
export class Sequential extends Module {
  constructor(...modules: TensorModule[]) {
    super();
    modules.forEach((m, i) => {
      if (!(m instanceof Module)) throw createError('ERR_INVALID_ARG', `Sequential: argument ${i} is not a Module`);
      this.registerModule(String(i), m);
    });
  }
  get length(): number {
    return this.childSlots().length;
  }
  /** The i-th module (negative counts from the end). */
  at(i: number): TensorModule {
    const list = this.childSlots() as TensorModule[];
    const m = list[i < 0 ? list.length + i : i];
    if (!m) throw createError('ERR_INDEX_OUT_OF_RANGE', `Sequential: index ${i} is out of range for ${list.length} modules`);
    return m;
  }
  append(m: TensorModule): this {
    if (!(m instanceof Module)) throw createError('ERR_INVALID_ARG', 'Sequential.append: expected a Module');
    this.registerModule(String(this.length), m);
    return this;
  }
  forward(x: Tensor): Tensor {
    let y = x;
    for (const m of this.childSlots()) y = (m as TensorModule).forward(y);
    return y;
  }
  [Symbol.iterator](): Iterator<Module> {
    return this.childSlots()[Symbol.iterator]();
  }
}

/** A list of modules, registered as "0", "1", … (its own forward is not defined, as in torch). */
export class ModuleList<M extends Module = Module> extends Module {
  private items: M[] = [];
  constructor(modules: Iterable<M> = []) {
    super();
    for (const m of modules) this.append(m);
  }
  get length(): number {
    return this.items.length;
  }
  at(i: number): M {
    const m = this.items[i < 0 ? this.items.length + i : i];
    if (!m) throw createError('ERR_INDEX_OUT_OF_RANGE', `ModuleList: index ${i} is out of range for ${this.items.length} modules`);
    return m;
  }
  append(m: M): this {
    if (!(m instanceof Module)) throw createError('ERR_INVALID_ARG', 'ModuleList.append: expected a Module');
    this.registerModule(String(this.items.length), m);
    this.items.push(m);
    return this;
  }
  extend(ms: Iterable<M>): this {
    for (const m of ms) this.append(m);
    return this;
  }
  forward(): never {
    throw createError('ERR_UNSUPPORTED', 'ModuleList has no forward(): iterate over it and call its modules');
  }
  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}
