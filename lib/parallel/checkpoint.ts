/**
 * Training checkpoints (layer: lib/parallel → lib/io, lib/distributed).
 *
 * Layout of a checkpoint directory:
 *
 *     <dir>/latest                      the name of the newest complete checkpoint (replaced atomically)
 *     <dir>/step-00000120/model.safetensors      the model's stateDict (ddp.module's: no 'module.' prefix)
 *     <dir>/step-00000120/optimizer.safetensors  every tensor of optimizer.stateDict(), keyed by its path
 *     <dir>/step-00000120/state.json             step, epoch, the optimizer's non-tensor state, extra
 *
 * Rank 0 writes each checkpoint into a hidden temporary directory, fsyncs it and renames it into
 * place, then rewrites `latest` (temporary file + rename): a crash at any moment leaves the previous
 * checkpoint whole and `latest` pointing at a complete one. Rank 0 then broadcasts whether the
 * save succeeded, which doubles as the barrier the other ranks wait on — so they fail too if rank
 * 0 could not write, instead of training on.
 */
import { mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createError, ArgumentError } from '../errors.js';
import { load, save } from '../io/safetensors.js';
import { tensor, Tensor, type DeviceLike } from '../tensor/index.js';
import { commFor, isDistributedInitialized, type ProcessGroup } from './comm.js';
import type { ModuleLike } from './module-like.js';
import { checkOptions, optionKeys } from '../options.js';

export const CHECKPOINT_FORMAT = 'node-nccl-checkpoint';
export const CHECKPOINT_VERSION = 1;

interface OptimizerLike {
  stateDict(): unknown;
  loadStateDict(sd: never): unknown;
}

/** A model, or a DistributedDataParallel / DataParallel wrapping one (its `.module` is saved). */
type ModelOrWrapper = ModuleLike | { module: ModuleLike };

export interface SaveCheckpointOptions {
  model: ModelOrWrapper;
  optimizer?: OptimizerLike;
  /** Optimizer steps taken so far (names the checkpoint: step-00000120). */
  step: number;
  epoch?: number;
  /** Any JSON-serializable data to keep with the checkpoint (scheduler state, metrics, args). */
  extra?: unknown;
  /** Process group whose rank 0 writes (default: the default group; none initialized: this process writes). */
  processGroup?: ProcessGroup;
  /** Keep only the newest `keep` checkpoints (default: keep all). */
  keep?: number;
}

export interface LoadCheckpointOptions {
  /** Loads the weights into it (strictly: missing or unexpected keys are errors). */
  model?: ModelOrWrapper;
  optimizer?: OptimizerLike;
  /**
   * torch's map_location: where the tensors go. A device ('cpu', 'cuda:1'), a map from the device
   * the checkpoint was saved from to a device ({ 'cuda:0': 'cuda:1' }), or a function of it.
   * Default: the device of the model's first parameter (else the device it was saved from).
   */
  mapLocation?: DeviceLike | Record<string, DeviceLike> | ((savedFrom: string) => DeviceLike);
}

const SAVE_CHECKPOINT_OPTIONS = optionKeys<SaveCheckpointOptions>({ model: true, optimizer: true, step: true, epoch: true, extra: true, processGroup: true, keep: true });
const LOAD_CHECKPOINT_OPTIONS = optionKeys<LoadCheckpointOptions>({ model: true, optimizer: true, mapLocation: true });

export interface CheckpointInfo {
  path: string;
  step: number;
  epoch: number | null;
  extra: unknown;
  savedFrom: string;
  worldSize: number;
}

function unwrap(m: ModelOrWrapper): ModuleLike {
  const inner = (m as { module?: ModuleLike }).module;
  return inner && typeof inner.stateDict === 'function' ? inner : (m as ModuleLike);
}

function toRecord(sd: unknown, who: string): Record<string, Tensor> {
  const entries = sd instanceof Map ? [...sd.entries()] : Object.entries(sd as Record<string, unknown>);
  const out: Record<string, Tensor> = {};
  for (const [k, v] of entries) {
    if (!(v instanceof Tensor)) throw new ArgumentError(`${who}: state dict entry '${String(k)}' is not a Tensor`);
    out[String(k)] = v;
  }
  return out;
}

/** Splits an arbitrary state (optimizer.stateDict()) into JSON and a flat map of tensors. */
export function splitState(value: unknown, tensors: Record<string, Tensor>, path = 'state'): unknown {
  if (value instanceof Tensor) {
    tensors[path] = value;
    return { $tensor: path };
  }
  if (typeof value === 'bigint') return { $bigint: value.toString() };
  if (typeof value === 'number' && !Number.isFinite(value)) return { $number: String(value) };
  if (value instanceof Map) return { $map: [...value.entries()].map(([k, v], i) => [splitState(k, tensors, `${path}.k${i}`), splitState(v, tensors, `${path}.${String(k)}`)]) };
  if (Array.isArray(value)) return value.map((v, i) => splitState(v, tensors, `${path}.${i}`));
  if (value && typeof value === 'object') {
    if (ArrayBuffer.isView(value)) throw new ArgumentError(`checkpoint: typed arrays are not supported in a state dict (at ${path}); use a Tensor`);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, splitState(v, tensors, `${path}.${k}`)]));
  }
  return value;
}

/** The inverse of splitState. */
export function joinState(value: unknown, tensors: Record<string, Tensor>): unknown {
  if (Array.isArray(value)) return value.map((v) => joinState(v, tensors));
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.$tensor === 'string') {
      const t = tensors[o.$tensor];
      if (!t) throw createError('ERR_STATE_DICT', `checkpoint: optimizer tensor '${o.$tensor}' is missing from optimizer.safetensors`);
      return t;
    }
    if (typeof o.$bigint === 'string') return BigInt(o.$bigint);
    if (typeof o.$number === 'string') return Number(o.$number);
    if (Array.isArray(o.$map)) return new Map((o.$map as [unknown, unknown][]).map(([k, v]) => [joinState(k, tensors), joinState(v, tensors)]));
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, joinState(v, tensors)]));
  }
  return value;
}

const stepName = (step: number): string => `step-${String(step).padStart(8, '0')}`;

async function fsyncPath(p: string): Promise<void> {
  const fh = await open(p, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function writeAtomic(path: string, data: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await fsyncPath(tmp);
  await rename(tmp, path);
}

async function writeCheckpoint(dir: string, opts: SaveCheckpointOptions, worldSize: number): Promise<string> {
  const model = unwrap(opts.model);
  const weights = toRecord(model.stateDict(), 'saveCheckpoint');
  const first = Object.values(weights)[0];
  const name = stepName(opts.step);
  const final = join(dir, name);
  const tmp = join(dir, `.tmp-${name}-${process.pid}`);
  await mkdir(dir, { recursive: true });
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  await save(weights, join(tmp, 'model.safetensors'));
  const optTensors: Record<string, Tensor> = {};
  const optJson = opts.optimizer ? splitState(opts.optimizer.stateDict(), optTensors) : null;
  if (opts.optimizer) await save(optTensors, join(tmp, 'optimizer.safetensors'));
  const meta = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    step: opts.step,
    epoch: opts.epoch ?? null,
    worldSize,
    savedFrom: first ? first.device.toString() : 'cpu',
    savedAt: new Date().toISOString(),
    optimizer: optJson,
    extra: opts.extra ?? null,
  };
  await writeFile(join(tmp, 'state.json'), JSON.stringify(meta, null, 1));
  for (const f of await readdir(tmp)) await fsyncPath(join(tmp, f));
  await fsyncPath(tmp);
  await rm(final, { recursive: true, force: true });
  await rename(tmp, final);
  await fsyncPath(dir);
  await writeAtomic(join(dir, 'latest'), name + '\n');
  if (opts.keep !== undefined) {
    const all = (await readdir(dir)).filter((f) => /^step-\d{8}$/.test(f)).sort();
    for (const old of all.slice(0, Math.max(0, all.length - opts.keep))) if (old !== name) await rm(join(dir, old), { recursive: true, force: true });
  }
  return final;
}

/**
 * Saves a checkpoint from rank 0 (every rank calls it; the others wait until it is written).
 * Resolves to the checkpoint's directory on every rank.
 */
export async function saveCheckpoint(dir: string, opts: SaveCheckpointOptions): Promise<string> {
  if (typeof dir !== 'string' || dir.length === 0) throw new ArgumentError('saveCheckpoint: dir must be a non-empty path');
  if (!opts || !opts.model) throw new ArgumentError('saveCheckpoint: opts.model is required');
  opts = checkOptions(opts, SAVE_CHECKPOINT_OPTIONS, 'saveCheckpoint');
  if (!Number.isSafeInteger(opts.step) || opts.step < 0) throw new ArgumentError(`saveCheckpoint: step must be a non-negative integer, got ${String(opts.step)}`);
  if (opts.keep !== undefined && (!Number.isSafeInteger(opts.keep) || opts.keep < 1)) throw new ArgumentError(`saveCheckpoint: keep must be an integer >= 1, got ${String(opts.keep)}`);
  const distributed = opts.processGroup !== undefined || isDistributedInitialized();
  const comm = distributed ? commFor(opts.processGroup, 'saveCheckpoint') : null;
  const rank = comm?.rank ?? 0;
  let path = join(dir, stepName(opts.step));
  let failure: unknown = null;
  if (rank === 0) {
    try {
      path = await writeCheckpoint(dir, opts, comm?.size ?? 1);
    } catch (e) {
      failure = e;
    }
  }
  if (comm) {
    // The status broadcast is the barrier: every rank learns whether rank 0's write succeeded.
    const dev = Object.values(toRecord(unwrap(opts.model).stateDict(), 'saveCheckpoint'))[0]?.device ?? 'cpu';
    const flag = tensor(Float32Array.from([failure ? 0 : 1]), { dtype: 'float32', device: dev });
    await comm.broadcast(flag, 0);
    const ok = ((await flag.data()) as Float32Array)[0] === 1;
    flag.dispose();
    if (!ok && rank !== 0) throw createError('ERR_DIST', `saveCheckpoint: rank 0 failed to write the checkpoint ${path} (see rank 0's error)`);
  }
  if (failure) throw failure;
  return path;
}

/** The newest complete checkpoint under dir (following `latest`), or null when there is none. */
export async function latestCheckpoint(dir: string): Promise<string | null> {
  try {
    const name = (await readFile(join(dir, 'latest'), 'utf8')).trim();
    if (!/^step-\d{8}$/.test(name)) return null;
    await stat(join(dir, name, 'state.json'));
    return join(dir, name);
  } catch {
    return null;
  }
}

function resolveDevice(opts: LoadCheckpointOptions, savedFrom: string, model: ModuleLike | null): DeviceLike {
  const m = opts.mapLocation;
  if (typeof m === 'function') return m(savedFrom);
  if (typeof m === 'string' || (m && typeof m === 'object' && 'type' in m && 'index' in m)) return m as DeviceLike;
  if (m && typeof m === 'object') {
    const mapped = (m as Record<string, DeviceLike>)[savedFrom];
    if (mapped !== undefined) return mapped;
  }
  if (model) {
    for (const [, p] of model.namedParameters()) return p.device;
  }
  return savedFrom;
}

/**
 * Loads a checkpoint: `path` is a checkpoint directory or a directory of checkpoints (its
 * `latest` is used). Weights go into opts.model (strict), state into opts.optimizer.
 */
export async function loadCheckpoint(path: string, opts: LoadCheckpointOptions = {}): Promise<CheckpointInfo> {
  opts = checkOptions(opts, LOAD_CHECKPOINT_OPTIONS, 'loadCheckpoint');
  let dir = path;
  try {
    await stat(join(dir, 'state.json'));
  } catch {
    const latest = await latestCheckpoint(path);
    if (!latest) throw createError('ERR_STATE_DICT', `loadCheckpoint: no checkpoint at ${path} (neither a checkpoint directory with state.json nor a directory with a valid 'latest')`);
    dir = latest;
  }
  let meta: { format?: string; version?: number; step?: number; epoch?: number | null; savedFrom?: string; worldSize?: number; optimizer?: unknown; extra?: unknown };
  try {
    meta = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8'));
  } catch (e) {
    throw createError('ERR_STATE_DICT', `loadCheckpoint: ${join(dir, 'state.json')} is unreadable: ${(e as Error).message}`);
  }
  if (meta.format !== CHECKPOINT_FORMAT || meta.version !== CHECKPOINT_VERSION || !Number.isSafeInteger(meta.step)) {
    throw createError('ERR_STATE_DICT', `loadCheckpoint: ${dir} is not a ${CHECKPOINT_FORMAT} v${CHECKPOINT_VERSION} checkpoint`);
  }
  const model = opts.model ? unwrap(opts.model) : null;
  const savedFrom = meta.savedFrom ?? 'cpu';
  const device = resolveDevice(opts, savedFrom, model);
  if (model) {
    const weights = await load(join(dir, 'model.safetensors'), { device });
    model.loadStateDict(weights as never, { strict: true });
  }
  if (opts.optimizer) {
    if (meta.optimizer === null || meta.optimizer === undefined) throw createError('ERR_STATE_DICT', `loadCheckpoint: ${dir} holds no optimizer state`);
    const tensors = (await load(join(dir, 'optimizer.safetensors'), { device })) as Record<string, Tensor>;
    opts.optimizer.loadStateDict(joinState(meta.optimizer, tensors) as never);
  }
  return {
    path: dir,
    step: meta.step!,
    epoch: meta.epoch ?? null,
    extra: meta.extra ?? null,
    savedFrom,
    worldSize: meta.worldSize ?? 1,
  };
}

