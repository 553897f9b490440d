/**
 * `rpc` (also `dist.rpc`): remote procedure calls and remote references between the processes of
 * a job, after torch.distributed.rpc.
 *
 * ```ts
 * import { rpc } from 'node-nccl';
 * rpc.register('add', (a: Tensor, b: Tensor) => a.add(b));       // on the callee, before initRpc
 * await rpc.initRpc({ name: `worker${rank}` });                   // rank, world size from the launcher's env
 * const sum = await rpc.rpcSync('worker1', 'add', [ones(2), ones(2)]);
 * const rref = rpc.remote('worker1', 'add', [ones(2), 1]);        // the value stays on worker1
 * const here = await rref.toHere();
 * await rpc.shutdown();                                           // waits for every worker's outstanding work
 * ```
 */
import { createError } from '../../errors.js';
import { acquireDefaultStore, type StoreLease } from '../default-store.js';
import { resolveInitConfig } from '../env.js';
import type { Store } from '../store.js';
import { DEFAULT_RPC_TIMEOUT_MS, RpcAgent, type RpcDebugInfo, type RpcTransport } from './agent.js';
import { targetSpec, type RpcTarget } from './functions.js';
import { RRef, setRRefContext, type RRefCallOptions } from './rref.js';
import { WorkerInfo } from './worker-info.js';
import { checkOptions, optionKeys } from '../../options.js';

export { register, unregister, registeredNames, type RpcFunction, type RpcTarget, type ModuleFunction } from './functions.js';
export { RRef, type RRefCallOptions, type RRefProxy, type RRefRemoteProxy } from './rref.js';
export { WorkerInfo } from './worker-info.js';
export { DEFAULT_RPC_TIMEOUT_MS, type RpcDebugInfo, type RpcTransport } from './agent.js';

export interface InitRpcOptions {
  /** This worker's name, unique in the job: letters, digits, `_`, `-`, `:` (at most 128), as torch requires. */
  name: string;
  /** This process's rank (default: from the environment / initMethod, as initProcessGroup). */
  rank?: number;
  /** Number of workers (default: from the environment / initMethod). */
  worldSize?: number;
  /** 'env://' (default) or 'tcp://host:port', as initProcessGroup. */
  initMethod?: string;
  /** Rendezvous through this store instead (needs rank and worldSize). */
  store?: Store;
  /** Timeout of the rendezvous and of the graceful shutdown, ms. Default NODE_NCCL_TIMEOUT_MS, else 600000. */
  timeoutMs?: number;
  /** Default timeout of every call, ms (torch's rpc_timeout); 0: no timeout. Default 60000. */
  rpcTimeoutMs?: number;
  /**
   * 'auto' (default: a Unix socket to workers on this host, TCP to the others) or 'tcp' (TCP to
   * everyone). Default NODE_NCCL_RPC_TRANSPORT, else 'auto'.
   */
  transport?: RpcTransport;
}

export interface RpcCallOptions {
  /** Milliseconds before the call fails with ERR_DIST_TIMEOUT (default: initRpc's rpcTimeoutMs; 0 = no timeout). */
  timeoutMs?: number;
}

export interface ShutdownOptions {
  /**
   * true (default): wait until every worker has called shutdown and all outstanding work
   * (calls, remote() values being computed, RRef messages) is done everywhere; false: close now,
   * failing this worker's pending calls and, on the others, calls to it.
   */
  graceful?: boolean;
  /** How long a graceful shutdown may wait, ms (default: initRpc's timeoutMs). */
  timeoutMs?: number;
}

let agent: RpcAgent | null = null;
let initializing = false;
let initTimeoutMs = 0;

function requireAgent(who: string): RpcAgent {
  if (!agent) {
    throw createError('ERR_DIST_NOT_INITIALIZED', `${who}: RPC is not initialized; call \`await rpc.initRpc({ name, ... })\` first`);
  }
  return agent;
}

const NAME_RE = /^[A-Za-z0-9_:-]{1,128}$/;

function transportSetting(v: unknown, from: string): RpcTransport {
  const s = typeof v === 'string' ? v.trim().toLowerCase() : v;
  if (s === undefined || s === '') return 'auto';
  if (s === 'auto' || s === 'tcp') return s;
  throw createError('ERR_INVALID_ARG', `${from} ${JSON.stringify(v)} is not valid: expected 'auto' or 'tcp'`);
}

const INIT_RPC_OPTIONS = optionKeys<InitRpcOptions>({
  name: true, rank: true, worldSize: true, initMethod: true, store: true, timeoutMs: true, rpcTimeoutMs: true, transport: true,
});
const CALL_OPTIONS = optionKeys<RpcCallOptions>({ timeoutMs: true });
const SHUTDOWN_OPTIONS = optionKeys<ShutdownOptions>({ graceful: true, timeoutMs: true });

/**
 * Joins this process to the job's RPC group as worker `name` (every worker calls it). Resolves
 * when it is connected to every other worker. ERR_INVALID_ARG for bad options or a name another
 * rank also uses, ERR_DIST_TIMEOUT when a worker does not join within `timeoutMs`.
 */
export async function initRpc(opts: InitRpcOptions): Promise<WorkerInfo> {
  if (opts === null || typeof opts !== 'object') throw createError('ERR_INVALID_ARG', 'initRpc: options must be an object with at least { name }');
  checkOptions(opts, INIT_RPC_OPTIONS, 'initRpc');
  if (agent || initializing) throw createError('ERR_DIST', 'initRpc: RPC is already initialized in this process (call rpc.shutdown() first)');
  const { name } = opts;
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw createError(
      'ERR_INVALID_ARG',
      `initRpc: name must be 1 to 128 letters, digits, '_', '-' or ':' (as torch requires), got ${JSON.stringify(name)}`,
    );
  }
  if (opts.store !== undefined && (opts.rank === undefined || opts.worldSize === undefined)) {
    throw createError('ERR_INVALID_ARG', 'initRpc: with a store, pass rank and worldSize too');
  }
  const rpcTimeoutMs = opts.rpcTimeoutMs ?? DEFAULT_RPC_TIMEOUT_MS;
  if (typeof rpcTimeoutMs !== 'number' || !(rpcTimeoutMs >= 0) || !Number.isFinite(rpcTimeoutMs)) {
    throw createError('ERR_INVALID_ARG', `initRpc: rpcTimeoutMs must be a number of milliseconds >= 0 (0: no timeout), got ${String(opts.rpcTimeoutMs)}`);
  }
  const transport =
    opts.transport !== undefined ? transportSetting(opts.transport, 'initRpc: transport') : transportSetting(process.env.NODE_NCCL_RPC_TRANSPORT, 'NODE_NCCL_RPC_TRANSPORT=');
  const cfg = resolveInitConfig({ initMethod: opts.initMethod, rank: opts.rank, worldSize: opts.worldSize, timeoutMs: opts.timeoutMs }, process.env);
  let lease: StoreLease | null = null;
  let a: RpcAgent | null = null;
  initializing = true;
  try {
    if (opts.store === undefined) lease = await acquireDefaultStore(cfg, 'initRpc');
    a = new RpcAgent({
      name,
      rank: cfg.rank,
      worldSize: cfg.worldSize,
      store: lease ? lease.store : (opts.store as Store),
      lease,
      timeoutMs: cfg.timeoutMs,
      rpcTimeoutMs,
      transport,
    });
    // Set before the rendezvous ends: another worker may call in (and its function use rpc.*)
    // as soon as this one is connected to it, before this await returns.
    agent = a;
    initTimeoutMs = cfg.timeoutMs;
    setRRefContext(a.rrefs);
    await a.start();
    return a.worker(cfg.rank);
  } catch (e) {
    agent = null;
    setRRefContext(null);
    if (a) await a.shutdown(false, 1).catch(() => {});
    else await lease?.release({ waitForOthers: false });
    throw e;
  } finally {
    initializing = false;
  }
}

/**
 * Stops RPC on this worker. Graceful (the default) waits until every worker has called shutdown
 * and no work is outstanding anywhere, as torch's: calls still running for others finish, their
 * results are delivered, remote() values are computed, and user RRefs are released. A worker
 * that dies meanwhile makes it fail with ERR_DIST_PEER_FAILURE (ERR_DIST_TIMEOUT after
 * `timeoutMs`); either way RPC is closed afterwards.
 */
export async function shutdown(opts: ShutdownOptions = {}): Promise<void> {
  const a = requireAgent('rpc.shutdown');
  opts = checkOptions(opts, SHUTDOWN_OPTIONS, 'rpc.shutdown');
  const graceful = opts.graceful ?? true;
  const timeoutMs = opts.timeoutMs ?? initTimeoutMs;
  if (!(typeof timeoutMs === 'number' && timeoutMs > 0)) {
    throw createError('ERR_INVALID_ARG', `rpc.shutdown: timeoutMs must be a positive number of milliseconds, got ${String(opts.timeoutMs)}`);
  }
  try {
    await a.shutdown(graceful, timeoutMs);
  } finally {
    if (agent === a) {
      agent = null;
      setRRefContext(null);
    }
  }
}

/** The WorkerInfo of the worker named `name`, or of this worker (torch's get_worker_info). */
export function getWorkerInfo(name?: string): WorkerInfo {
  const a = requireAgent('rpc.getWorkerInfo');
  return name === undefined ? a.worker(a.rank) : a.worker(a.rankOf(name, 'rpc.getWorkerInfo'));
}

/** Every worker of the group, by rank. */
export function getWorkerInfos(): WorkerInfo[] {
  return requireAgent('rpc.getWorkerInfos').allWorkers();
}

function checkArgs(who: string, args: unknown): unknown[] {
  if (args === undefined) return [];
  if (!Array.isArray(args)) throw createError('ERR_INVALID_ARG', `${who}: args must be an array of the function's arguments, got ${args === null ? 'null' : typeof args}`);
  return args;
}

/**
 * Runs `fn` on worker `to` with `args` and resolves with its result (torch's rpc_sync).
 * JavaScript cannot block on the network, so this returns a Promise too: `await` it.
 * `to`: a worker name, WorkerInfo or rank; `fn`: a name registered there, a function
 * registered under a name on this worker and there, or `{ module, export }`.
 */
export function rpcSync<R = unknown>(to: string | number | WorkerInfo, fn: RpcTarget, args?: unknown[], opts: RpcCallOptions = {}): Promise<R> {
  return call('rpcSync', to, fn, args, opts) as Promise<R>;
}

/** Runs `fn` on worker `to` and returns a Promise of its result at once (torch's rpc_async). */
export function rpcAsync<R = unknown>(to: string | number | WorkerInfo, fn: RpcTarget, args?: unknown[], opts: RpcCallOptions = {}): Promise<R> {
  return call('rpcAsync', to, fn, args, opts) as Promise<R>;
}

function call(who: string, to: unknown, fn: RpcTarget, args: unknown, opts: RpcCallOptions): Promise<unknown> {
  try {
    const a = requireAgent(`rpc.${who}`);
    const rank = a.rankOf(to, `rpc.${who}`);
    return a.callAsync(rank, targetSpec(`rpc.${who}`, fn), checkArgs(`rpc.${who}`, args), checkOptions(opts, CALL_OPTIONS, `rpc.${who}`), who);
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * Runs `fn` on worker `to` and returns at once an RRef to its result, which stays there (torch's
 * remote). `rref.toHere()` fetches it; errors of fn are rethrown there.
 */
export function remote<R = unknown>(to: string | number | WorkerInfo, fn: RpcTarget, args?: unknown[], opts: RRefCallOptions = {}): RRef<R> {
  const a = requireAgent('rpc.remote');
  const rank = a.rankOf(to, 'rpc.remote');
  return a.callRemote(rank, targetSpec('rpc.remote', fn), checkArgs('rpc.remote', args), checkOptions(opts, CALL_OPTIONS, 'rpc.remote')) as RRef<R>;
}

/** This worker's counters: pending calls, messages, RRefs (torch's `_get_debug_info()`). */
export function getDebugInfo(): RpcDebugInfo {
  return requireAgent('rpc.getDebugInfo').debugInfo();
}

/** Whether RPC is initialized in this process. */
export function isInitialized(): boolean {
  return agent !== null;
}
