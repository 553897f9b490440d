/**
 * Tensor = storage + shape + strides + offset (elements) + dtype + device, plus autograd fields.
 * The methods are thin: each forwards to the op in lib/tensor/ops, where forward and backward of
 * that op sit together.
 */
import { inspect } from 'node:util';
import { createError } from '../errors.js';
import type { NativeMemory } from '../../typings/native.js';
import { AccumulateGrad, type GradHook, type Node, type PostAccumulateGradHook, type RemovableHandle } from '../autograd/node.js';
import { isFloating, type DType, type DTypeLike, type Scalar, type TypedArray } from './dtype.js';
import type { Device, DeviceLike } from './device.js';
import { isContiguous as stridesContiguous } from './shape.js';
import type { PendingWrite, Storage } from './storage.js';
import { track, untrackLive, type Disposable } from './scope.js';
import * as E from './ops/elementwise.js';
import * as C from './ops/copy.js';
import * as V from './ops/view.js';
import * as R from './ops/reduce.js';
import * as W from './ops/rows.js';
import * as M from './ops/matmul.js';
import * as J from './ops/join.js';
import * as X from './ops/indexing.js';
import * as I from './ops/inplace.js';
import * as Rd from './ops/random.js';
import * as So from './ops/sort.js';
import * as Ra from './ops/rearrange.js';
import { readData, readDataSync, toNested } from './read.js';
import { ALPHA_OPTIONS, BACKWARD_OPTIONS, GELU_OPTIONS, KEEPDIM_OPTIONS, REDUCE_OPTIONS, VAR_OPTIONS, optsArg } from './args.js';
import { formatTensor } from './format.js';
import { backward as runBackward } from '../autograd/engine.js';

export type TensorLike = Tensor | Scalar;
/** Nested arrays as returned by `array()`. */
export type NestedArray = number | boolean | NestedArray[];

const finalizer = new FinalizationRegistry<{ storage: Storage; node: Node | null }>((h) => {
  untrackLive();
  h.storage.release();
  h.node?.drop();
});

export interface ToOptions {
  /** A dtype name or alias ('float32', 'float', 'half', ...). */
  dtype?: DTypeLike;
  device?: DeviceLike;
  /** Copy even when nothing changes (default false: return `this`). */
  copy?: boolean;
  /**
   * Host-to-device: return as soon as the copy is queued on the current stream (default false:
   * wait for the bytes, like torch's non_blocking=False). Do not modify the source meanwhile.
   */
  nonBlocking?: boolean;
}

export interface BackwardOptions {
  /** Keep the graph's saved tensors so backward can run again (default false). */
  retainGraph?: boolean;
}

export class Tensor implements Disposable {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  /** Offset of element [0, ..., 0] in the storage, in elements. */
  readonly offset: number;
  readonly dtype: DType;
  readonly device: Device;
  /** @internal */ readonly _storage: Storage;
  /** @internal The tensor whose storage this view shares (null for a base). */
  _base: Tensor | null = null;
  /** @internal */ _accumulator: AccumulateGrad | null = null;
  /** @internal registerHook() on a leaf. */ _leafHooks: GradHook[] = [];
  /** @internal */ _postAccHooks: PostAccumulateGradHook[] = [];
  /**
   * @internal Finishes a gradient sync in flight that will write .grad (DDP sets it); optimizers
   * call it before reading or clearing gradients.
   */ _gradSync: (() => void) | null = null;
  private _requiresGrad = false;
  private _gradFn: Node | null = null;
  /** The accumulated gradient (leaves and retainGrad() tensors). */
  grad: Tensor | null = null;
  kept = false;
  private disposed = false;
  private handle: { storage: Storage; node: Node | null };

  /** @internal Use tensor(), zeros(), ... to make tensors. */
  constructor(storage: Storage, shape: readonly number[], strides: readonly number[], offset: number, dtype: DType) {
    this._storage = storage;
    this.shape = shape;
    this.strides = strides;
    this.offset = offset;
    this.dtype = dtype;
    this.device = storage.device;
    storage.retain();
    this.handle = { storage, node: null };
    finalizer.register(this, this.handle, this);
    track(this);
  }

  // ---- basic properties ----------------------------------------------------------------------
  get ndim(): number {
    return this.shape.length;
  }
  /** The number of dims (torch: t.dim(), the same as ndim). */
  dim(): number {
    return this.shape.length;
  }
  /** The number of elements (torch: t.numel()). */
  numel(): number {
    let n = 1;
    for (const d of this.shape) n *= d;
    return n;
  }
  /** Size of one dim (negative dims count from the end), or the shape. */
  size(): number[];
  size(dim: number): number;
  size(dim?: number): number | number[] {
    if (dim === undefined) return [...this.shape];
    return this.shape[V.dimArg(dim, this.ndim, 'size')]!;
  }
  get isDisposed(): boolean {
    return this.disposed || this._storage.disposed;
  }
  isContiguous(): boolean {
    return stridesContiguous(this.shape, this.strides);
  }
  /** @internal The storage's version counter (bumped by in-place writes). */
  get _version(): number {
    return this._storage.version;
  }
  /** @internal Throws ERR_DISPOSED when this tensor or its storage was disposed. */
  _check(op: string): this {
    if (this.disposed || this._storage.disposed) {
      throw createError('ERR_DISPOSED', `${op}: the tensor (shape [${this.shape.join(', ')}], ${this.dtype}, ${this.device}) was disposed`);
    }
    return this;
  }
  /** The raw memory of a contiguous tensor: for kernels, copies and collectives. */
  /** A collective in flight writes this tensor: reading its values waits for it (lib/distributed calls this). */
  _pendingWrite(w: PendingWrite): void {
    this._storage.addPendingWrite(w);
  }

  span(): { mem: NativeMemory; offset: number } {
    this._check('span');
    if (!this.isContiguous()) {
      throw createError('ERR_INVALID_ARG', `span(): the tensor (shape [${this.shape.join(', ')}], strides [${this.strides.join(', ')}]) is not contiguous; call contiguous() first`);
    }
    return { mem: this._storage.mem, offset: this.offset };
  }

  // ---- autograd fields -----------------------------------------------------------------------
  get requiresGrad(): boolean {
    return this._requiresGrad;
  }
  set requiresGrad(v: boolean) {
    this.requiresGrad_(v);
  }
  /** Sets requiresGrad on a leaf (in place, returns this). */
  requiresGrad_(v = true): this {
    if (!v && this._gradFn) {
      throw createError('ERR_AUTOGRAD', 'requiresGrad_(false): you can only change requiresGrad of leaf tensors; use detach() for a non-leaf');
    }
    if (v && !isFloating(this.dtype)) {
      throw createError('ERR_AUTOGRAD', `requiresGrad_: only tensors of floating point dtype can require gradients (got ${this.dtype})`);
    }
    this._requiresGrad = v;
    return this;
  }
  get gradFn(): Node | null {
    return this._gradFn;
  }
  /** @internal Sets the node producing this tensor (reference-counted). */
  _setGradFn(node: Node | null): void {
    if (node) node.retain();
    this._gradFn?.drop();
    this._gradFn = node;
    this.handle.node = node;
    if (node) this._requiresGrad = true;
  }
  get isLeaf(): boolean {
    return this._gradFn === null;
  }
  /** @internal The edge to this tensor for a new node: its gradFn, its AccumulateGrad, or null. */
  _gradEdge(): Node | null {
    if (!this._requiresGrad) return null;
    if (this._gradFn) return this._gradFn;
    return (this._accumulator ??= new AccumulateGrad(this));
  }
  /** Computes gradients of this tensor w.r.t. graph leaves (grad: required unless a scalar). */
  backward(grad?: Tensor | null, opts: BackwardOptions = {}): void {
    runBackward(this._check('backward'), grad ?? null, optsArg(opts, 'backward', BACKWARD_OPTIONS));
  }
  /** Makes backward() fill .grad of this non-leaf tensor too. */
  retainGrad(): void {
    if (!this._requiresGrad) throw createError('ERR_AUTOGRAD', "retainGrad(): can't retain the gradient of a tensor that does not require grad");
    if (this._gradFn) this._gradFn.retained = this;
  }
  get retainsGrad(): boolean {
    return this._gradFn !== null && this._gradFn.retained === this;
  }
  /** Runs fn on this tensor's gradient when it is computed; fn may return a replacement. */
  registerHook(fn: GradHook): RemovableHandle {
    if (!this._requiresGrad) throw createError('ERR_AUTOGRAD', "registerHook(): can't register a hook on a tensor that doesn't require gradient");
    if (typeof fn !== 'function') throw createError('ERR_INVALID_ARG', 'registerHook(fn): fn must be a function');
    const list = this._gradFn ? this._gradFn.hooks : this._leafHooks;
    list.push(fn);
    return { remove: () => { const i = list.indexOf(fn); if (i >= 0) list.splice(i, 1); } };
  }
  /** On a leaf: runs fn(this) right after backward accumulated into this.grad. */
  registerPostAccumulateGradHook(fn: PostAccumulateGradHook): RemovableHandle {
    if (!this._requiresGrad || this._gradFn) {
      throw createError('ERR_AUTOGRAD', 'registerPostAccumulateGradHook(): only leaf tensors that require grad can have post-accumulate-grad hooks');
    }
    if (typeof fn !== 'function') throw createError('ERR_INVALID_ARG', 'registerPostAccumulateGradHook(fn): fn must be a function');
    const list = this._postAccHooks;
    list.push(fn);
    return { remove: () => { const i = list.indexOf(fn); if (i >= 0) list.splice(i, 1); } };
  }
  /** A tensor sharing this one's data, cut out of the graph. */
  detach(): Tensor {
    return C.detach(this);
  }
  /** Detaches this tensor from the graph in place. */
  detach_(): this {
    this._setGradFn(null);
    this._requiresGrad = false;
    return this;
  }

  // ---- lifetime ------------------------------------------------------------------------------
  /** Frees this tensor's reference to its storage now (the memory goes when no view holds it). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    finalizer.unregister(this);
    untrackLive();
    this._storage.release();
    const n = this._gradFn;
    this._gradFn = null;
    this.handle.node = null;
    n?.drop();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
  /** @internal A new handle on the same data and metadata (own storage reference, no graph). */
  _alias(): Tensor {
    const t = new Tensor(this._storage, this.shape, this.strides, this.offset, this.dtype);
    t.kept = true;
    return t;
  }

  // ---- reading values ------------------------------------------------------------------------
  /** The values as a new TypedArray (float16/bfloat16 widened to Float32Array; bool as 0/1 Uint8Array). */
  data(): Promise<TypedArray> {
    return readData(this._check('data'));
  }
  /** data(), blocking until a device tensor's values arrive. */
  dataSync(): TypedArray {
    return readDataSync(this._check('dataSync'));
  }
  /** The values as nested arrays of numbers (booleans for bool; int64 as numbers). */
  async array(): Promise<NestedArray> {
    return toNested(this, await this.data());
  }
  arraySync(): NestedArray {
    return toNested(this, this.dataSync());
  }
  /** The value of a one-element tensor. */
  item(): number | boolean {
    this._check('item');
    if (this.numel() !== 1) {
      throw createError('ERR_INVALID_ARG', `item(): a tensor with ${this.numel()} elements cannot be converted to a scalar (shape [${this.shape.join(', ')}])`);
    }
    const v = readDataSync(this)[0]!;
    return this.dtype === 'bool' ? v !== 0 : Number(v);
  }
  toString(): string {
    return formatTensor(this);
  }
  [inspect.custom](): string {
    if (this.isDisposed || this._storage.detached) {
      return `tensor(<${this.isDisposed ? 'disposed' : 'detached'}>, size=(${this.shape.join(', ')}), dtype=torch.${this.dtype})`;
    }
    return formatTensor(this);
  }

  // ---- conversion ----------------------------------------------------------------------------
  /** t.to('cuda:0'), t.to('float16') (or torch's aliases 'float', 'double', 'half', 'long', 'int'), t.to({ dtype, device, copy, nonBlocking }). */
  to(target: DTypeLike | DeviceLike | ToOptions): Tensor {
    return C.to(this, target);
  }
  cpu(): Tensor {
    return C.to(this, { device: 'cpu' });
  }
  cuda(index?: number): Tensor {
    return C.to(this, { device: index === undefined ? 'cuda' : `cuda:${index}` });
  }
  float(): Tensor { return C.to(this, 'float32'); }
  double(): Tensor { return C.to(this, 'float64'); }
  half(): Tensor { return C.to(this, 'float16'); }
  bfloat16(): Tensor { return C.to(this, 'bfloat16'); }
  int(): Tensor { return C.to(this, 'int32'); }
  long(): Tensor { return C.to(this, 'int64'); }
  bool(): Tensor { return C.to(this, 'bool'); }
  contiguous(): Tensor { return C.contiguous(this); }
  clone(): Tensor { return C.clone(this); }

  // ---- views ---------------------------------------------------------------------------------
  reshape(...shape: (number | number[])[]): Tensor { return V.reshape(this, V.shapeArgs(shape)); }
  view(...shape: (number | number[])[]): Tensor { return V.view(this, V.shapeArgs(shape)); }
  viewAs(other: Tensor): Tensor { return V.view(this, [...other.shape]); }
  reshapeAs(other: Tensor): Tensor { return V.reshape(this, [...other.shape]); }
  flatten(startDim = 0, endDim = -1): Tensor { return V.flatten(this, startDim, endDim); }
  transpose(dim0: number, dim1: number): Tensor { return V.transpose(this, dim0, dim1); }
  /** Transpose of a ≤2-D tensor (torch.Tensor.t). */
  t(): Tensor { return V.t(this); }
  /** Shorthand for t() on 2-D tensors, reversed dims otherwise (torch.Tensor.T). */
  get T(): Tensor { return V.permute(this, this.shape.map((_, i) => this.ndim - 1 - i)); }
  get mT(): Tensor { return V.transpose(this, -2, -1); }
  permute(...dims: (number | number[])[]): Tensor { return V.permute(this, V.shapeArgs(dims)); }
  squeeze(dim?: number | number[]): Tensor { return V.squeeze(this, dim); }
  unsqueeze(dim: number): Tensor { return V.unsqueeze(this, dim); }
  expand(...shape: (number | number[])[]): Tensor { return V.expand(this, V.shapeArgs(shape)); }
  expandAs(other: Tensor): Tensor { return V.expand(this, [...other.shape]); }
  narrow(dim: number, start: number, length: number): Tensor { return V.narrow(this, dim, start, length); }
  /** Python's t[..., start:end:step, ...] along dim (end exclusive, negatives count from the end). */
  slice(dim: number, start?: number | null, end?: number | null, step = 1): Tensor { return V.slice(this, dim, start, end, step); }
  select(dim: number, index: number): Tensor { return V.select(this, dim, index); }
  split(splitSize: number | number[], dim = 0): Tensor[] { return J.split(this, splitSize, dim); }
  chunk(chunks: number, dim = 0): Tensor[] { return J.chunk(this, chunks, dim); }
  unbind(dim = 0): Tensor[] { return J.unbind(this, dim); }

  // ---- element-wise --------------------------------------------------------------------------
  neg(): Tensor { return E.neg(this); }
  abs(): Tensor { return E.abs(this); }
  exp(): Tensor { return E.exp(this); }
  log(): Tensor { return E.log(this); }
  sqrt(): Tensor { return E.sqrt(this); }
  rsqrt(): Tensor { return E.rsqrt(this); }
  sin(): Tensor { return E.sin(this); }
  cos(): Tensor { return E.cos(this); }
  tanh(): Tensor { return E.tanh(this); }
  sigmoid(): Tensor { return E.sigmoid(this); }
  relu(): Tensor { return E.relu(this); }
  /** GELU; approximate 'none' (erf, default) or 'tanh'. */
  gelu(opts: { approximate?: 'none' | 'tanh' } = {}): Tensor { opts = optsArg(opts, 'gelu', GELU_OPTIONS); return E.gelu(this, opts.approximate ?? 'none'); }
  silu(): Tensor { return E.silu(this); }
  sign(): Tensor { return E.sign(this); }
  square(): Tensor { return E.square(this); }
  reciprocal(): Tensor { return E.reciprocal(this); }
  log1p(): Tensor { return E.log1p(this); }
  expm1(): Tensor { return E.expm1(this); }
  erf(): Tensor { return E.erf(this); }
  logicalNot(): Tensor { return E.logicalNot(this); }
  /** Rounds half to even; { decimals } rounds to that many decimal places (torch.round). */
  round(opts: E.RoundOptions = {}): Tensor { return E.round(this, opts); }
  floor(): Tensor { return E.floor(this); }
  ceil(): Tensor { return E.ceil(this); }
  /** Rounds toward zero. */
  trunc(): Tensor { return E.trunc(this); }
  /** Bool: true where NaN. */
  isnan(): Tensor { return E.isnan(this); }
  /** Bool: true where +inf or -inf. */
  isinf(): Tensor { return E.isinf(this); }
  /** Bool: true where neither NaN nor infinite. */
  isfinite(): Tensor { return E.isfinite(this); }
  clamp(min?: number | null, max?: number | null): Tensor { return E.clamp(this, min ?? null, max ?? null); }
  add(other: TensorLike, opts: { alpha?: number } = {}): Tensor { opts = optsArg(opts, 'add', ALPHA_OPTIONS); return E.add(this, other, opts.alpha); }
  sub(other: TensorLike, opts: { alpha?: number } = {}): Tensor { opts = optsArg(opts, 'sub', ALPHA_OPTIONS); return E.sub(this, other, opts.alpha); }
  /** other - this (torch.rsub). */
  rsub(other: TensorLike): Tensor { return E.sub(other, this); }
  mul(other: TensorLike): Tensor { return E.mul(this, other); }
  div(other: TensorLike): Tensor { return E.div(this, other); }
  pow(exponent: TensorLike): Tensor { return E.pow(this, exponent); }
  maximum(other: TensorLike): Tensor { return E.maximum(this, other); }
  minimum(other: TensorLike): Tensor { return E.minimum(this, other); }
  atan2(other: TensorLike): Tensor { return E.atan2(this, other); }
  eq(other: TensorLike): Tensor { return E.compare('eq', this, other); }
  ne(other: TensorLike): Tensor { return E.compare('ne', this, other); }
  lt(other: TensorLike): Tensor { return E.compare('lt', this, other); }
  le(other: TensorLike): Tensor { return E.compare('le', this, other); }
  gt(other: TensorLike): Tensor { return E.compare('gt', this, other); }
  ge(other: TensorLike): Tensor { return E.compare('ge', this, other); }
  logicalAnd(other: TensorLike): Tensor { return E.logical('logical_and', this, other); }
  logicalOr(other: TensorLike): Tensor { return E.logical('logical_or', this, other); }
  /** where(cond, this, other). */
  where(cond: Tensor, other: TensorLike): Tensor { return E.where(cond, this, other); }
  maskedFill(mask: Tensor, value: Scalar): Tensor { return E.where(mask, value, this); }

  // ---- reductions ----------------------------------------------------------------------------
  sum(dim?: number | number[] | null, opts: R.ReduceOptions = {}): Tensor { opts = optsArg(opts, 'sum', REDUCE_OPTIONS); return R.sum(this, dim, opts); }
  mean(dim?: number | number[] | null, opts: R.ReduceOptions = {}): Tensor { opts = optsArg(opts, 'mean', REDUCE_OPTIONS); return R.mean(this, dim, opts); }
  prod(dim?: number | number[] | null, opts: R.ReduceOptions = {}): Tensor { opts = optsArg(opts, 'prod', REDUCE_OPTIONS); return R.prod(this, dim, opts); }
  /** max() of all elements; max(dim) returns { values, indices }. */
  max(): Tensor;
  max(dim: number, opts?: { keepdim?: boolean }): R.ValuesIndices;
  max(dim?: number, opts: { keepdim?: boolean } = {}): Tensor | R.ValuesIndices { opts = optsArg(opts, 'max', KEEPDIM_OPTIONS); return R.maxmin('max', this, dim, opts); }
  min(): Tensor;
  min(dim: number, opts?: { keepdim?: boolean }): R.ValuesIndices;
  min(dim?: number, opts: { keepdim?: boolean } = {}): Tensor | R.ValuesIndices { opts = optsArg(opts, 'min', KEEPDIM_OPTIONS); return R.maxmin('min', this, dim, opts); }
  amax(dim?: number | number[] | null, opts: { keepdim?: boolean } = {}): Tensor { opts = optsArg(opts, 'amax', KEEPDIM_OPTIONS); return R.amaxmin('max', this, dim, opts); }
  amin(dim?: number | number[] | null, opts: { keepdim?: boolean } = {}): Tensor { opts = optsArg(opts, 'amin', KEEPDIM_OPTIONS); return R.amaxmin('min', this, dim, opts); }
  argmax(dim?: number | null, opts: { keepdim?: boolean } = {}): Tensor { opts = optsArg(opts, 'argmax', KEEPDIM_OPTIONS); return R.argmaxmin('argmax', this, dim, opts); }
  argmin(dim?: number | null, opts: { keepdim?: boolean } = {}): Tensor { opts = optsArg(opts, 'argmin', KEEPDIM_OPTIONS); return R.argmaxmin('argmin', this, dim, opts); }
  /** True if any element (over dim(s), or all elements) is non-zero: bool (uint8 for uint8 input), as torch.any. */
  any(dim?: number | number[] | null, opts: { keepdim?: boolean } = {}): Tensor { return R.anyAll('any', this, dim, opts); }
  /** True if every element (over dim(s), or all elements) is non-zero: bool (uint8 for uint8 input), as torch.all. */
  all(dim?: number | number[] | null, opts: { keepdim?: boolean } = {}): Tensor { return R.anyAll('all', this, dim, opts); }
  /** Variance with `correction` (default 1: unbiased, as torch.var). */
  var(dim?: number | number[] | null, opts: R.VarOptions = {}): Tensor { opts = optsArg(opts, 'var', VAR_OPTIONS); return R.variance(this, dim, opts); }
  std(dim?: number | number[] | null, opts: R.VarOptions = {}): Tensor { opts = optsArg(opts, 'std', VAR_OPTIONS); return R.std(this, dim, opts); }
  logsumexp(dim: number | number[], opts: { keepdim?: boolean } = {}): Tensor { opts = optsArg(opts, 'logsumexp', KEEPDIM_OPTIONS); return R.logsumexp(this, dim, opts); }
  /** p-norm over all elements or dims (p = 2 default). */
  norm(p = 2, dim?: number | number[] | null, opts: { keepdim?: boolean } = {}): Tensor { opts = optsArg(opts, 'norm', KEEPDIM_OPTIONS); return R.norm(this, p, dim, opts); }

  // ---- rows, products, indexing --------------------------------------------------------------
  softmax(dim: number): Tensor { return W.softmax(this, dim); }
  logSoftmax(dim: number): Tensor { return W.logSoftmax(this, dim); }
  matmul(other: Tensor): Tensor { return M.matmul(this, other); }
  mm(other: Tensor): Tensor { return M.mm(this, other); }
  bmm(other: Tensor): Tensor { return M.bmm(this, other); }
  gather(dim: number, index: Tensor): Tensor { return X.gather(this, dim, index); }
  indexSelect(dim: number, index: Tensor): Tensor { return X.indexSelect(this, dim, index); }
  /** Out of place: a copy of this with src added at index along dim. */
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor { return X.scatterAdd(this, dim, index, src); }

  // ---- sorting, scans, selection by mask (ops/sort.ts) ---------------------------------------
  /** Sorted along dim (default -1; stable, NaN greatest): { values, indices (int64) }. */
  sort(dim = -1, opts: So.SortOptions = {}): So.SortResult { return So.sort(this, dim, opts); }
  /** The int64 indices that sort this along dim (default -1). */
  argsort(dim = -1, opts: So.SortOptions = {}): Tensor { return So.argsort(this, dim, opts); }
  /** The k largest (or smallest: { largest: false }) along dim (default -1): { values, indices }. */
  topk(k: number, dim = -1, opts: So.TopkOptions = {}): So.SortResult { return So.topk(this, k, dim, opts); }
  /** Cumulative sum along dim; integer and bool inputs give int64 unless { dtype } says. */
  cumsum(dim: number, opts: So.ScanOptions = {}): Tensor { return So.cumsum(this, dim, opts); }
  /** Cumulative product along dim; integer and bool inputs give int64 unless { dtype } says. */
  cumprod(dim: number, opts: So.ScanOptions = {}): Tensor { return So.cumprod(this, dim, opts); }
  /** int64 coordinates [n, ndim] of the non-zero elements, row-major (reads the count back to the host). */
  nonzero(): Tensor { return So.nonzero(this); }
  /** The elements where the bool mask (broadcast with this) is true, as a 1-D tensor. */
  maskedSelect(mask: Tensor): Tensor { return So.maskedSelect(this, mask); }

  // ---- rearranging copies (ops/rearrange.ts) -------------------------------------------------
  /** Reversed along the given dims: flip(0, 1) or flip([0, 1]) (a copy, as torch.flip). */
  flip(...dims: (number | number[])[]): Tensor { return Ra.flip(this, Ra.listArgs(dims, 'flip', 'dims')); }
  /** Shifted by shifts along dims, wrapping around; without dims the flattened tensor is rolled (torch.roll). */
  roll(shifts: number | number[], dims?: number | number[] | null): Tensor { return Ra.roll(this, shifts, dims); }
  /** Copied sizes[i] times along each dim: repeat(2, 3) or repeat([2, 3]) (torch.Tensor.repeat). */
  repeat(...sizes: (number | number[])[]): Tensor { return Ra.repeat(this, Ra.listArgs(sizes, 'repeat', 'sizes')); }
  /** repeat, with fewer dims than the tensor's padded by leading 1s (torch.tile). */
  tile(...dims: (number | number[])[]): Tensor { return Ra.tile(this, Ra.listArgs(dims, 'tile', 'dims')); }
  /** The lower triangle of the last two dims (j - i <= diagonal), zeros elsewhere. */
  tril(diagonal = 0): Tensor { return Ra.tril(this, diagonal); }
  /** The upper triangle of the last two dims (j - i >= diagonal), zeros elsewhere. */
  triu(diagonal = 0): Tensor { return Ra.triu(this, diagonal); }

  // ---- in place (names end in _; they bump the storage version and return this) --------------
  copy_(src: TensorLike): this { return I.copy_(this, src); }
  zero_(): this { return I.fill_(this, 0); }
  fill_(value: Scalar): this { return I.fill_(this, value); }
  add_(other: TensorLike, opts: { alpha?: number } = {}): this { opts = optsArg(opts, 'add_', ALPHA_OPTIONS); return I.arith_(this, 'add', other, opts.alpha ?? 1, (x) => E.add(x, other, opts.alpha)); }
  sub_(other: TensorLike, opts: { alpha?: number } = {}): this { opts = optsArg(opts, 'sub_', ALPHA_OPTIONS); return I.arith_(this, 'sub', other, opts.alpha ?? 1, (x) => E.sub(x, other, opts.alpha)); }
  mul_(other: TensorLike): this { return I.arith_(this, 'mul', other, 1, (x) => E.mul(x, other)); }
  div_(other: TensorLike): this { return I.arith_(this, 'div', other, 1, (x) => E.div(x, other)); }
  pow_(exponent: TensorLike): this { return I.assign_(this, 'pow_', (x) => E.pow(x, exponent), exponent); }
  clamp_(min?: number | null, max?: number | null): this { return I.assign_(this, 'clamp_', (x) => E.clamp(x, min ?? null, max ?? null)); }
  neg_(): this { return I.assign_(this, 'neg_', (x) => E.neg(x)); }
  exp_(): this { return I.assign_(this, 'exp_', (x) => E.exp(x)); }
  sqrt_(): this { return I.assign_(this, 'sqrt_', (x) => E.sqrt(x)); }
  relu_(): this { return I.assign_(this, 'relu_', (x) => E.relu(x)); }
  sigmoid_(): this { return I.assign_(this, 'sigmoid_', (x) => E.sigmoid(x)); }
  tanh_(): this { return I.assign_(this, 'tanh_', (x) => E.tanh(x)); }
  round_(opts: E.RoundOptions = {}): this { return I.assign_(this, 'round_', (x) => E.round(x, opts)); }
  floor_(): this { return I.assign_(this, 'floor_', (x) => E.floor(x)); }
  ceil_(): this { return I.assign_(this, 'ceil_', (x) => E.ceil(x)); }
  trunc_(): this { return I.assign_(this, 'trunc_', (x) => E.trunc(x)); }
  tril_(diagonal = 0): this { return I.assign_(this, 'tril_', (x) => Ra.tril(x, diagonal)); }
  triu_(diagonal = 0): this { return I.assign_(this, 'triu_', (x) => Ra.triu(x, diagonal)); }
  maskedFill_(mask: Tensor, value: Scalar): this { return I.assign_(this, 'maskedFill_', (x) => E.where(mask, value, x)); }
  /** this += alpha * tensor1 * tensor2 (torch.addcmul_). */
  addcmul_(t1: Tensor, t2: Tensor, opts: { value?: number } = {}): this {
    return I.assign_(this, 'addcmul_', (x) => E.add(x, E.mul(t1, t2), opts.value ?? 1), t1, t2);
  }
  /** this += value * tensor1 / tensor2 (torch.addcdiv_). */
  addcdiv_(t1: Tensor, t2: Tensor, opts: { value?: number } = {}): this {
    return I.assign_(this, 'addcdiv_', (x) => E.add(x, E.div(t1, t2), opts.value ?? 1), t1, t2);
  }
  /** this += weight * (end - this) (torch.lerp_). */
  lerp_(end: Tensor, weight: number): this { return I.assign_(this, 'lerp_', (x) => E.add(x, E.sub(end, x), weight), end); }
  /** Fills with U[from, to) from the device's generator. */
  uniform_(from = 0, to = 1): this { return Rd.fillRandom_(this, 'uniform', from, to); }
  /** Fills with N(mean, std²). */
  normal_(mean = 0, std = 1): this { return Rd.fillRandom_(this, 'normal', mean, std); }
  /** Fills with 1 with probability p, else 0. */
  bernoulli_(p = 0.5): this { return Rd.fillRandom_(this, 'bernoulli', p, 0); }
}
