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
 * Rank 0 writes; the others wait for its status (a broadcast, which doubles as the barrier, so
 * they fail too if rank 0 could not write instead of training on). The write never deletes or
 * overwrites anything before its replacement is durable, so a crash at any moment leaves every
 * previous checkpoint whole and `latest` naming a complete one:
 *
 *   1. leftovers of interrupted writes are finished or removed (see recover());
 *   2. the checkpoint is written into a new hidden directory `.tmp-<step>-<pid>-<hex>`: the
 *      safetensors files (each fsynced), then state.json last (fsynced), then the directory and
 *      its parent are fsynced. state.json's presence marks a complete checkpoint;
 *   3. a new step: rename(tmp, step-N), fsync the parent. Re-saving an existing step-N: `latest`
 *      first names the temporary directory (atomically: temporary file, fsync, rename, fsync),
 *      then step-N is renamed aside to `.old-<step>-<pid>-<hex>`, then rename(tmp, step-N). While
 *      `latest` names `.tmp-step-N-…` and that is gone, it means step-N (the same directory);
 *   4. `latest` is rewritten to name step-N (atomically);
 *   5. only then are the replaced step, the steps past `keep` (each renamed aside first, so none
 *      is ever half deleted in place) and every other leftover removed.
 *
 * loadCheckpoint follows `latest`; when it is missing, unreadable or names an incomplete
 * directory (what older versions could leave), it uses the newest complete step-N instead and
 * says so (CheckpointInfo.fallback and a process warning NODE_NCCL_CHECKPOINT_FALLBACK).
 * File-system failures are ERR_OS naming the path (ENOSPC, EACCES, ...).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createError, osError, ArgumentError } from '../errors.js';
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
  /**
   * null when the checkpoint was found as asked (a checkpoint directory, or the one `latest`
   * names); otherwise why `latest` could not be used and the newest complete step was taken.
   */
  fallback: string | null;
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
const STEP_RE = /^step-\d{8}$/;
/** A temporary (.tmp-) or replaced (.old-) directory of step-N: `.tmp-step-00000120-<pid>-<hex>`. */
const TEMP_RE = /^\.(tmp|old)-(step-\d{8})-\d+(?:-[0-9a-f]+)?$/;
/** Anything an interrupted write leaves behind (this version's names and older ones'). */
const LEFTOVER_RE = /^(?:\.tmp-step-|\.old-step-|latest\.tmp-)/;

function uniqueSuffix(): string {
  return `${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Runs one file-system call; a failure becomes ERR_OS saying what was done to which path. */
async function fsDo<T>(who: string, what: string, path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw osError(e, `${who}: cannot ${what} ${path}`);
  }
}

async function fsyncPath(who: string, p: string): Promise<void> {
  await fsDo(who, 'fsync', p, async () => {
    const fh = await open(p, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  });
}

/** Writes a small file durably: the bytes are on disk when this returns (no rename). */
async function writeDurable(who: string, path: string, data: string): Promise<void> {
  await fsDo(who, 'write', path, async () => {
    const fh = await open(path, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
  });
}

/** Replaces `name` in dir atomically and durably (temporary file, fsync, rename, fsync of dir). */
async function replaceFile(who: string, dir: string, name: string, data: string): Promise<void> {
  const tmp = join(dir, `${name}.tmp-${uniqueSuffix()}`);
  await writeDurable(who, tmp, data);
  await fsDo(who, 'rename', tmp, () => rename(tmp, join(dir, name)));
  await fsyncPath(who, dir);
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

type Meta = {
  format?: string;
  version?: number;
  step?: number;
  epoch?: number | null;
  savedFrom?: string;
  worldSize?: number;
  optimizer?: unknown;
  extra?: unknown;
};

/**
 * A checkpoint directory's metadata when the directory is complete: state.json (written last)
 * parses as one of ours and the safetensors files it implies exist; else why not.
 */
async function completeMeta(path: string): Promise<{ meta: Meta } | { why: string }> {
  let meta: Meta;
  try {
    meta = JSON.parse(await readFile(join(path, 'state.json'), 'utf8')) as Meta;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { why: code === 'ENOENT' ? `${path} has no state.json` : `${path}/state.json is unreadable (${(e as Error).message})` };
  }
  if (!meta || meta.format !== CHECKPOINT_FORMAT || meta.version !== CHECKPOINT_VERSION || !Number.isSafeInteger(meta.step)) {
    return { why: `${path} is not a ${CHECKPOINT_FORMAT} v${CHECKPOINT_VERSION} checkpoint` };
  }
  const files = ['model.safetensors', ...(meta.optimizer === null || meta.optimizer === undefined ? [] : ['optimizer.safetensors'])];
  for (const f of files) if (!(await exists(join(path, f)))) return { why: `${path} has no ${f}` };
  return { meta };
}

/** The directories `latest`'s content may stand for, in order (see the top of this file). */
function latestCandidates(content: string): string[] | null {
  if (STEP_RE.test(content)) return [content];
  const m = TEMP_RE.exec(content);
  if (m && m[1] === 'tmp') return [content, m[2]!];
  return null;
}

interface Resolved {
  path: string;
  meta: Meta;
  fallback: string | null;
}

/** What `latest` in dir names, as a complete checkpoint; else the newest complete step-N. */
async function resolveLatest(dir: string): Promise<Resolved | null> {
  let problem: string;
  let content: string | null = null;
  try {
    content = (await readFile(join(dir, 'latest'), 'utf8')).trim();
  } catch (e) {
    problem = (e as NodeJS.ErrnoException).code === 'ENOENT' ? `${dir} has no 'latest'` : `${join(dir, 'latest')} is unreadable (${(e as Error).message})`;
  }
  if (content !== null) {
    const names = latestCandidates(content);
    problem = `${join(dir, 'latest')} names ${JSON.stringify(content.slice(0, 80))}, which is not a checkpoint name`;
    for (const n of names ?? []) {
      const c = await completeMeta(join(dir, n));
      if ('meta' in c) return { path: join(dir, n), meta: c.meta, fallback: null };
      problem = `${join(dir, 'latest')} names ${n}, but ${c.why}`;
    }
  }
  let entries: string[] = [];
  try {
    entries = await readdir(dir);
  } catch {
    return null;
  }
  for (const n of entries.filter((f) => STEP_RE.test(f)).sort().reverse()) {
    const c = await completeMeta(join(dir, n));
    if ('meta' in c) return { path: join(dir, n), meta: c.meta, fallback: `${problem!}; using the newest complete checkpoint, ${n}` };
  }
  return null;
}

/**
 * Before a save: finishes a re-save that a crash interrupted after `latest` named its temporary
 * directory (step 3 above), so that directory becomes step-N again, then removes every leftover
 * (temporary and replaced directories, temporary `latest` files).
 */
async function recover(who: string, dir: string): Promise<void> {
  let content = '';
  try {
    content = (await readFile(join(dir, 'latest'), 'utf8')).trim();
  } catch {
    // no latest: nothing to finish
  }
  const m = TEMP_RE.exec(content);
  if (m && m[1] === 'tmp' && 'meta' in (await completeMeta(join(dir, content)))) {
    const final = join(dir, m[2]!);
    if (await exists(final)) {
      const aside = join(dir, `.old-${m[2]!}-${uniqueSuffix()}`);
      await fsDo(who, 'rename', final, () => rename(final, aside));
    }
    await fsDo(who, 'rename', join(dir, content), () => rename(join(dir, content), final));
    await fsyncPath(who, dir);
    await replaceFile(who, dir, 'latest', `${m[2]!}\n`);
  }
  await removeLeftovers(who, dir, null);
}

async function removeLeftovers(who: string, dir: string, except: string | null): Promise<void> {
  for (const f of await fsDo(who, 'list', dir, () => readdir(dir))) {
    if (f === except || !LEFTOVER_RE.test(f)) continue;
    await fsDo(who, 'remove', join(dir, f), () => rm(join(dir, f), { recursive: true, force: true }));
  }
}

async function writeCheckpoint(dir: string, opts: SaveCheckpointOptions, worldSize: number): Promise<string> {
  const who = 'saveCheckpoint';
  const model = unwrap(opts.model);
  const weights = toRecord(model.stateDict(), who);
  const first = Object.values(weights)[0];
  const optTensors: Record<string, Tensor> = {};
  const optJson = opts.optimizer ? splitState(opts.optimizer.stateDict(), optTensors) : null;
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
  const stateJson = JSON.stringify(meta, null, 1);
  const name = stepName(opts.step);
  const final = join(dir, name);
  await fsDo(who, 'create', dir, () => mkdir(dir, { recursive: true }));
  await recover(who, dir);
  const tmpName = `.tmp-${name}-${uniqueSuffix()}`;
  const tmp = join(dir, tmpName);
  await fsDo(who, 'create', tmp, () => mkdir(tmp));
  try {
    await save(weights, join(tmp, 'model.safetensors'));
    if (opts.optimizer) await save(optTensors, join(tmp, 'optimizer.safetensors'));
    await writeDurable(who, join(tmp, 'state.json'), stateJson); // last: marks the directory complete
    await fsyncPath(who, tmp);
    await fsyncPath(who, dir);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined); // best effort: frees the space
    throw osError(e, `${who}: cannot write ${tmp}`);
  }
  let aside: string | null = null;
  if (await exists(final)) {
    await replaceFile(who, dir, 'latest', `${tmpName}\n`);
    aside = join(dir, `.old-${name}-${uniqueSuffix()}`);
    await fsDo(who, 'rename', final, () => rename(final, aside!));
  }
  await fsDo(who, 'rename', tmp, () => rename(tmp, final));
  await fsyncPath(who, dir);
  await replaceFile(who, dir, 'latest', `${name}\n`);
  if (aside) await fsDo(who, 'remove', aside, () => rm(aside!, { recursive: true, force: true }));
  if (opts.keep !== undefined) {
    const all = (await fsDo(who, 'list', dir, () => readdir(dir))).filter((f) => STEP_RE.test(f)).sort();
    for (const old of all.slice(0, Math.max(0, all.length - opts.keep))) {
      if (old === name) continue;
      const gone = join(dir, `.old-${old}-${uniqueSuffix()}`);
      await fsDo(who, 'rename', join(dir, old), () => rename(join(dir, old), gone));
      await fsDo(who, 'remove', gone, () => rm(gone, { recursive: true, force: true }));
    }
  }
  await removeLeftovers(who, dir, null);
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

/**
 * The checkpoint under dir that `latest` names, or when `latest` is broken (missing, unreadable,
 * naming an incomplete directory) the newest complete step; null when there is none.
 */
export async function latestCheckpoint(dir: string): Promise<string | null> {
  return (await resolveLatest(dir))?.path ?? null;
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
  let meta: Meta;
  let fallback: string | null = null;
  if (await exists(join(path, 'state.json'))) {
    const c = await completeMeta(path);
    if ('why' in c) throw createError('ERR_STATE_DICT', `loadCheckpoint: ${c.why}`);
    meta = c.meta;
  } else {
    const r = await resolveLatest(path);
    if (!r) {
      throw createError(
        'ERR_STATE_DICT',
        `loadCheckpoint: no complete checkpoint at ${path} (neither a checkpoint directory with state.json nor a directory holding a complete step-N)`,
      );
    }
    ({ path: dir, meta, fallback } = r);
    if (fallback) process.emitWarning(`loadCheckpoint: ${fallback}`, { code: 'NODE_NCCL_CHECKPOINT_FALLBACK' });
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
    fallback,
  };
}

