/**
 * DataParallel (layer: lib/parallel): one process, several devices (torch.nn.DataParallel).
 *
 * Each forward: replicate the module onto every device (replica parameters are differentiable
 * copies of the originals, so backward sums every replica's gradient into the original
 * parameters on deviceIds[0]), scatter the inputs along dim 0, run the replicas' forwards, gather
 * the outputs along dim 0 on outputDevice. The replicas' forwards are issued one after another from
 * the JS thread; on GPUs their kernels run concurrently because every op is asynchronous on its
 * device's stream. On a CPU-only machine deviceIds may repeat 'cpu' to exercise the same logic.
 */
import { ArgumentError, createError } from '../errors.js';
import { cat, Tensor, type DeviceLike } from '../tensor/index.js';
import { namedParams, type ForwardArgs, type ForwardResult, type ModuleLike } from './module-like.js';
import { cudaDeviceCount } from '../tensor/cuda-bridge.js';
import { checkOptions, optionKeys } from '../options.js';

export interface DataParallelOptions {
  /** Devices to run on (default: every CUDA device, else ['cpu']). Numbers mean cuda:N. */
  deviceIds?: readonly (number | DeviceLike)[];
  /** Where outputs are gathered (default: deviceIds[0]). */
  outputDevice?: number | DeviceLike;
  /** Dimension inputs are scattered along and outputs gathered along (default 0). */
  dim?: number;
}

const DATA_PARALLEL_OPTIONS = optionKeys<DataParallelOptions>({ deviceIds: true, outputDevice: true, dim: true });

const dev = (d: number | DeviceLike): string => (typeof d === 'number' ? `cuda:${d}` : String(d));

function isModuleLike(x: unknown): x is ModuleLike {
  return !!x && typeof (x as ModuleLike).namedParameters === 'function' && typeof (x as ModuleLike).forward === 'function';
}

/**
 * A copy of the module tree whose parameters are `p.to(device)` (or a differentiable clone when
 * the device is the same), buffers copied, everything else shared. Works on any object tree:
 * modules, Maps, arrays and plain objects holding tensors are copied; shared objects stay shared.
 */
export function replicate<M extends ModuleLike>(module: M, device: string, { share = false } = {}): M {
  const params = new Set(namedParams(module).map(([, t]) => t));
  const memo = new Map<unknown, unknown>();
  const copy = (x: unknown): unknown => {
    if (x === null || typeof x !== 'object') return x;
    if (memo.has(x)) return memo.get(x);
    if (x instanceof Tensor) {
      let r: Tensor;
      if (params.has(x)) r = x.device.toString() === device ? (share ? x : x.clone()) : x.to(device);
      else r = x.device.toString() === device ? x : x.to(device);
      memo.set(x, r);
      return r;
    }
    if (x instanceof Map) {
      const m = new Map();
      memo.set(x, m);
      for (const [k, v] of x) m.set(k, copy(v));
      return m;
    }
    if (Array.isArray(x)) {
      const a: unknown[] = [];
      memo.set(x, a);
      for (const v of x) a.push(copy(v));
      return a;
    }
    const proto = Object.getPrototypeOf(x);
    const walk = isModuleLike(x) || proto === Object.prototype;
    if (!walk) return x;
    const o = Object.create(proto) as Record<PropertyKey, unknown>;
    memo.set(x, o);
    for (const key of Reflect.ownKeys(x)) {
      const desc = Object.getOwnPropertyDescriptor(x, key)!;
      if ('value' in desc) desc.value = copy(desc.value);
      Object.defineProperty(o, key, desc);
    }
    return o;
  };
  return copy(module) as M;
}

/** Splits tensors along dim into n chunks (fewer when the batch is smaller); other values are repeated. */
export function scatter(inputs: readonly unknown[], devices: string[], dim: number): unknown[][] {
  const tensors = inputs.filter((x): x is Tensor => x instanceof Tensor);
  if (tensors.length === 0) throw new ArgumentError('DataParallel: forward needs at least one Tensor input to scatter');
  const size = tensors[0]!.shape[dim];
  if (size === undefined) throw new ArgumentError(`DataParallel: cannot scatter a ${tensors[0]!.ndim}-d tensor along dim ${dim}`);
  for (const t of tensors) {
    if (t.shape[dim] !== size) throw createError('ERR_SHAPE_MISMATCH', `DataParallel: inputs disagree on the size of dim ${dim} (${size} vs ${t.shape[dim]})`);
  }
  const n = Math.min(devices.length, size);
  if (n === 0) throw new ArgumentError('DataParallel: the batch is empty');
  // torch.chunk sizes: ceil(size / n) each, the last smaller (possibly fewer chunks).
  const per = Math.ceil(size / n);
  const bounds: [number, number][] = [];
  for (let s = 0; s < size; s += per) bounds.push([s, Math.min(per, size - s)]);
  return bounds.map(([start, len], i) =>
    inputs.map((x) => (x instanceof Tensor ? maybeTo(x.narrow(dim, start, len), devices[i]!) : x)),
  );
}

function maybeTo(t: Tensor, device: string): Tensor {
  return t.device.toString() === device ? t : t.to(device);
}

function gather(outputs: unknown[], device: string, dim: number): unknown {
  const first = outputs[0];
  if (first instanceof Tensor) {
    const parts = outputs.map((o) => maybeTo(o as Tensor, device));
    return parts.length === 1 ? parts[0] : cat(parts, dim);
  }
  if (Array.isArray(first)) return first.map((_, k) => gather(outputs.map((o) => (o as unknown[])[k]), device, dim));
  if (first && typeof first === 'object' && Object.getPrototypeOf(first) === Object.prototype) {
    return Object.fromEntries(Object.keys(first).map((k) => [k, gather(outputs.map((o) => (o as Record<string, unknown>)[k]), device, dim)]));
  }
  return first;
}

export class DataParallel<M extends ModuleLike = ModuleLike> {
  readonly module: M;
  readonly deviceIds: string[];
  readonly outputDevice: string;
  readonly dim: number;

  constructor(module: M, opts: DataParallelOptions = {}) {
    opts = checkOptions(opts, DATA_PARALLEL_OPTIONS, 'DataParallel');
    if (!isModuleLike(module)) throw new ArgumentError('DataParallel: expected an nn.Module (with namedParameters() and forward())');
    const gpus = cudaDeviceCount();
    const ids = opts.deviceIds ?? (gpus > 0 ? Array.from({ length: gpus }, (_, i) => i) : ['cpu']);
    if (!Array.isArray(ids) || ids.length === 0) throw new ArgumentError('DataParallel: deviceIds must list at least one device');
    this.module = module;
    this.deviceIds = ids.map(dev);
    this.outputDevice = dev(opts.outputDevice ?? this.deviceIds[0]!);
    this.dim = opts.dim ?? 0;
    const src = this.deviceIds[0]!;
    for (const [name, p] of namedParams(module)) {
      if (p.device.toString() !== src) {
        throw createError(
          'ERR_DEVICE_MISMATCH',
          `DataParallel: module must have its parameters and buffers on deviceIds[0] (${src}) but parameter '${name}' is on ${p.device.toString()}; call model.to('${src}') first`,
        );
      }
    }
  }

  forward(...inputs: ForwardArgs<M>): ForwardResult<M> {
    const fwd = (m: ModuleLike, args: unknown[]): unknown => (m.forward as (...a: unknown[]) => unknown)(...args);
    if (this.deviceIds.length === 1) {
      return gather([fwd(this.module, scatter(inputs, this.deviceIds, this.dim)[0]!)], this.outputDevice, this.dim) as ForwardResult<M>;
    }
    const chunks = scatter(inputs, this.deviceIds, this.dim);
    const outputs = chunks.map((args, i) => {
      // Replica 0 is the module itself (on deviceIds[0]); the others get differentiable copies.
      const replica = i === 0 ? this.module : replicate(this.module, this.deviceIds[i]!);
      return fwd(replica, args);
    });
    return gather(outputs, this.outputDevice, this.dim) as ForwardResult<M>;
  }

  parameters(): Tensor[] {
    return namedParams(this.module).map(([, t]) => t);
  }

  train(mode = true): this {
    this.module.train?.(mode);
    return this;
  }

  eval(): this {
    this.module.eval?.();
    return this;
  }
}
