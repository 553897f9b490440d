/**
 * The default process group's lifecycle, like torch.distributed: initProcessGroup (rendezvous
 * through a TCPStore on rank 0, or a store you pass), destroyProcessGroup, isInitialized,
 * getRank/getWorldSize/getBackend, newGroup. Collectives live in collectives.ts.
 */
import { createError } from '../errors.js';
import { native } from '../native/index.js';
import type { Backend, BackendInit } from './backend.js';
import { CpuBackend } from './backends/cpu.js';
import { NcclBackend } from './backends/nccl.js';
import { resolveInitConfig } from './env.js';
import { ProcessGroup } from './process_group.js';
import { distributedDebugLevel } from './debug.js';
import { acquireDefaultStore, type StoreLease } from './default-store.js';
import { PrefixStore, type Store } from './store.js';
import type { BackendName } from './types.js';
import { checkOptions, optionKeys } from '../options.js';

export interface InitProcessGroupOptions {
  /**
   * 'nccl' (CUDA tensors) or 'cpu' (host tensors; shared memory between the processes of a host).
   * Default: NODE_NCCL_BACKEND, else 'nccl' when a CUDA device is present, else 'cpu'.
   */
  backend?: BackendName;
  /** 'env://' (default: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, or Slurm / Open MPI) or 'tcp://host:port'. */
  initMethod?: string;
  /** This process's rank (default: from the environment / initMethod). */
  rank?: number;
  /** Number of processes (default: from the environment / initMethod). */
  worldSize?: number;
  /** Timeout of the rendezvous and of every collective, ms. Default NODE_NCCL_TIMEOUT_MS, else 600000 (10 min, as PyTorch). */
  timeoutMs?: number;
  /** A store to rendezvous through instead of creating a TCPStore (torch's `store=`); needs rank and worldSize. */
  store?: Store;
  /** nccl: the CUDA device of this rank (default LOCAL_RANK % device count). */
  deviceId?: number;
}

export interface NewGroupOptions {
  /** Timeout of the group's collectives, ms. Default: the default group's. */
  timeoutMs?: number;
  /** Backend of the new group. Default: the default group's. */
  backend?: BackendName;
}

const INIT_PROCESS_GROUP_OPTIONS = optionKeys<InitProcessGroupOptions>({
  backend: true, initMethod: true, rank: true, worldSize: true, timeoutMs: true, store: true, deviceId: true,
});
const NEW_GROUP_OPTIONS = optionKeys<NewGroupOptions>({ timeoutMs: true, backend: true });

interface World {
  store: Store;
  /** The shared env:// store when this group made it (null: the caller's own store). */
  lease: StoreLease | null;
  rank: number;
  worldSize: number;
  localRank: number;
  timeoutMs: number;
  deviceId: number | undefined;
  defaultGroup: ProcessGroup;
  groups: ProcessGroup[];
  groupCount: number;
}

let world: World | null = null;
let initializing = false;

const BACKENDS: readonly BackendName[] = ['nccl', 'cpu'];

function checkBackend(name: unknown, where: string): BackendName {
  if (typeof name !== 'string' || !(BACKENDS as readonly string[]).includes(name.toLowerCase())) {
    throw createError('ERR_INVALID_ARG', `unknown backend ${JSON.stringify(name)} (${where}): expected 'nccl' or 'cpu'`);
  }
  return name.toLowerCase() as BackendName;
}

function defaultBackend(): BackendName {
  const env = process.env.NODE_NCCL_BACKEND;
  if (env !== undefined && env !== '') return checkBackend(env, 'from NODE_NCCL_BACKEND');
  return native.cuda.deviceCount() > 0 ? 'nccl' : 'cpu';
}

async function createBackend(name: BackendName, init: BackendInit, w: { localRank: number; deviceId: number | undefined }): Promise<Backend> {
  if (name === 'cpu') return CpuBackend.create(init);
  const count = native.cuda.deviceCount();
  if (count === 0) throw createError('ERR_NO_GPU', `process group ${init.name}: the nccl backend needs a CUDA device (${native.cuda.noGpuReason()}); use backend 'cpu'`);
  const device = w.deviceId ?? w.localRank % count;
  return NcclBackend.create(init, { device });
}

function requireWorld(who: string): World {
  if (!world) {
    throw createError(
      'ERR_DIST_NOT_INITIALIZED',
      `${who}: the default process group is not initialized; call \`await dist.initProcessGroup(...)\` first`,
    );
  }
  return world;
}

/**
 * Initializes the default process group (every rank calls it). Resolves when every rank has
 * joined. Throws ERR_INVALID_ARG for a wrong rank / world size / backend, ERR_DIST_TIMEOUT when
 * the others do not join within the timeout, ERR_LIB_NOT_FOUND for nccl without NCCL.
 */
export async function initProcessGroup(opts: InitProcessGroupOptions = {}): Promise<ProcessGroup> {
  opts = checkOptions(opts, INIT_PROCESS_GROUP_OPTIONS, 'initProcessGroup');
  if (world || initializing) {
    throw createError('ERR_DIST', 'initProcessGroup: the default process group is already initialized (call destroyProcessGroup() first)');
  }
  const backendName = opts.backend === undefined ? defaultBackend() : checkBackend(opts.backend, 'the backend option');
  if (opts.store !== undefined && (opts.rank === undefined || opts.worldSize === undefined)) {
    throw createError('ERR_INVALID_ARG', 'initProcessGroup: with a store, pass rank and worldSize too');
  }
  const cfg = resolveInitConfig(
    { initMethod: opts.initMethod, rank: opts.rank, worldSize: opts.worldSize, timeoutMs: opts.timeoutMs },
    process.env,
  );
  if (backendName === 'nccl') native.loader.load('nccl'); // ERR_LIB_NOT_FOUND, naming every place tried
  distributedDebugLevel(); // a bad NODE_NCCL_DEBUG is ERR_INVALID_ARG before anything is set up
  initializing = true;
  let lease: StoreLease | null = null;
  try {
    if (opts.store === undefined) lease = await acquireDefaultStore(cfg, 'initProcessGroup');
    const store: Store = lease ? lease.store : (opts.store as Store);
    const ranks = Array.from({ length: cfg.worldSize }, (_, i) => i);
    const groupStore = new PrefixStore('pg/default', store);
    const backend = await createBackend(
      backendName,
      { store: groupStore, rank: cfg.rank, size: cfg.worldSize, timeoutMs: cfg.timeoutMs, name: 'default' },
      { localRank: cfg.localRank, deviceId: opts.deviceId },
    );
    const defaultGroup = new ProcessGroup({
      name: 'default',
      ranks,
      globalRank: cfg.rank,
      backendName,
      backend,
      store: groupStore,
      timeoutMs: cfg.timeoutMs,
    });
    world = {
      store,
      lease,
      rank: cfg.rank,
      worldSize: cfg.worldSize,
      localRank: cfg.localRank,
      timeoutMs: cfg.timeoutMs,
      deviceId: opts.deviceId,
      defaultGroup,
      groups: [],
      groupCount: 0,
    };
    return defaultGroup;
  } catch (e) {
    await lease?.release({ waitForOthers: false });
    throw e;
  } finally {
    initializing = false;
  }
}

/** Whether the default process group is initialized. */
export function isInitialized(): boolean {
  return world !== null;
}

/** The default group (ERR_DIST_NOT_INITIALIZED before initProcessGroup). */
export function defaultGroup(who = 'defaultGroup'): ProcessGroup {
  return requireWorld(who).defaultGroup;
}

/** The group an op runs on: `group`, or the default one. */
export function resolveGroup(who: string, group: ProcessGroup | undefined): ProcessGroup {
  if (group === undefined) return requireWorld(who).defaultGroup;
  if (!(group instanceof ProcessGroup)) throw createError('ERR_INVALID_ARG', `${who}: group must be a ProcessGroup from newGroup()`);
  return group;
}

/** This process's rank in `group` (default: the default group); -1 when it is not a member. */
export function getRank(group?: ProcessGroup): number {
  const w = requireWorld('getRank');
  return group === undefined ? w.rank : resolveGroup('getRank', group).rank;
}

/** The number of processes in `group` (default: the default group). */
export function getWorldSize(group?: ProcessGroup): number {
  const w = requireWorld('getWorldSize');
  return group === undefined ? w.worldSize : resolveGroup('getWorldSize', group).size;
}

/** The backend of `group` (default: the default group): 'nccl' or 'cpu'. */
export function getBackend(group?: ProcessGroup): BackendName {
  return resolveGroup('getBackend', group).backendName;
}

/**
 * A new group of the given global ranks (sorted, as torch does). Every rank of the default group
 * must call it, in the same order (it is collective); non-members get a handle whose collectives
 * throw. Each group has its own communicator and its own store namespace.
 */
export async function newGroup(ranks?: number[], opts: NewGroupOptions = {}): Promise<ProcessGroup> {
  opts = checkOptions(opts, NEW_GROUP_OPTIONS, 'newGroup');
  const w = requireWorld('newGroup');
  const list = ranks === undefined ? Array.from({ length: w.worldSize }, (_, i) => i) : ranks;
  if (!Array.isArray(list) || list.length === 0) throw createError('ERR_INVALID_ARG', 'newGroup: ranks must be a non-empty array of ranks');
  for (const r of list) {
    if (!Number.isInteger(r) || r < 0 || r >= w.worldSize) {
      throw createError('ERR_INVALID_ARG', `newGroup: rank ${String(r)} is not in [0, ${w.worldSize})`);
    }
  }
  const sorted = [...new Set(list)].sort((a, b) => a - b);
  if (sorted.length !== list.length) throw createError('ERR_INVALID_ARG', `newGroup: ranks [${list.join(', ')}] has duplicates`);
  const backendName = opts.backend === undefined ? w.defaultGroup.backendName : checkBackend(opts.backend, 'newGroup');
  const timeoutMs = opts.timeoutMs ?? w.timeoutMs;
  if (!(timeoutMs > 0)) throw createError('ERR_INVALID_ARG', `newGroup: timeoutMs must be a positive number, got ${String(timeoutMs)}`);
  const index = ++w.groupCount;
  const name = `group${index}`;
  const member = sorted.includes(w.rank);
  const groupStore = member ? new PrefixStore(`pg/${name}`, w.store) : null;
  const backend = member
    ? await createBackend(
        backendName,
        { store: groupStore as PrefixStore, rank: sorted.indexOf(w.rank), size: sorted.length, timeoutMs, name },
        { localRank: w.localRank, deviceId: w.deviceId },
      )
    : null;
  const g = new ProcessGroup({ name, ranks: sorted, globalRank: w.rank, backendName, backend, store: groupStore, timeoutMs });
  w.groups.push(g);
  return g;
}

/**
 * Destroys `group`, or (with no argument) every group and the default one, closing the store.
 * Ops in flight settle first (at worst by their timeout).
 */
export async function destroyProcessGroup(group?: ProcessGroup): Promise<void> {
  const w = requireWorld('destroyProcessGroup');
  if (group !== undefined && group !== w.defaultGroup) {
    await resolveGroup('destroyProcessGroup', group).destroy();
    w.groups = w.groups.filter((g) => g !== group);
    return;
  }
  world = null;
  await Promise.all(w.groups.map((g) => g.destroy()));
  await w.defaultGroup.destroy();
  // The store is served by rank 0: it stays up until every rank is done with it (a slower rank
  // may still be reading a NODE_NCCL_DEBUG fingerprint), or for a bounded time if one is gone
  // without a word; ranks a peer failure named are not waited for. RPC may share it
  // (default-store.ts), and the last of the two to let go closes it.
  const gone = [w.defaultGroup, ...w.groups].flatMap((g) => g.knownDeadRanks());
  await w.lease?.release({ gone });
}
