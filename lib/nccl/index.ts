/**
 * The `nccl` namespace: NCCL, loaded at run time (see README "Finding NCCL and cuBLAS"), and
 * low-level communicators for people who bring their own memory (lib/cuda DeviceBuffers).
 *
 * ```ts
 * const [a, b] = await nccl.Communicator.initAll([0, 1]);
 * nccl.groupStart();
 * a.allReduce(bufA, bufA, n, 'float32', 'sum');
 * b.allReduce(bufB, bufB, n, 'float32', 'sum');
 * nccl.groupEnd();
 * ```
 *
 * Every call is enqueued on a CUDA stream (the device's current stream unless one is given) and
 * returns at once; once it is issued (see settling below), synchronize the stream (or record an
 * Event) to know when the data is in place.
 *
 * Communicators are non-blocking (NCCL >= 2.14): NCCL may still be issuing a call in the
 * background when it returns (while it connects to a peer, say). The communicator is then
 * `settling`; `await comm.settle()` waits for that without blocking the event loop. The next call
 * on a settling communicator waits for it first, blocking the JS thread (within the
 * communicator's timeout): await settle() before it to avoid that.
 */
import { ArgumentError } from '../errors.js';
import { native } from '../native/index.js';
import type { LibraryInfo, NativeNcclCommunicator, NcclAsyncError, NcclDTypeName, NcclOpName } from '../../typings/native.js';
import type { DeviceBuffer } from '../cuda/memory.js';
import type { Stream } from '../cuda/stream.js';
import { checkOptions, optionKeys } from '../options.js';

export type { LibraryInfo, NcclAsyncError };

/** True when NCCL was found and loaded. */
export function isAvailable(): boolean {
  return native.loader.info('nccl').loaded;
}

/** What the loader found: path and version, or why not with every place tried. */
export function libraryInfo(): LibraryInfo {
  return native.loader.info('nccl');
}

/**
 * [major, minor, patch] of the loaded NCCL, like torch.cuda.nccl.version(). Throws
 * ERR_LIB_NOT_FOUND (listing every place tried) when NCCL is not found.
 */
export function version(): [number, number, number] {
  const info = native.loader.load('nccl');
  const v = info.version ?? 0;
  return v >= 10000 ? [Math.floor(v / 10000), Math.floor((v % 10000) / 100), v % 100] : [Math.floor(v / 1000), Math.floor((v % 1000) / 100), v % 100];
}

/** The element types NCCL reduces and moves. 'bfloat16' needs NCCL >= 2.10. */
export type NcclDType = NcclDTypeName;
/** Reductions. 'avg' needs NCCL >= 2.10. */
export type NcclOp = NcclOpName;

const DTYPES: readonly string[] = ['int8', 'uint8', 'int32', 'uint32', 'int64', 'uint64', 'float16', 'float32', 'float64', 'bfloat16'];
const OPS: readonly string[] = ['sum', 'prod', 'max', 'min', 'avg'];

function dtypeCode(fn: string, dtype: NcclDType): NcclDType {
  if (!DTYPES.includes(dtype)) throw new ArgumentError(`${fn}: dtype ${JSON.stringify(dtype)} is not one of ${DTYPES.join(', ')}`);
  return dtype;
}
function opCode(fn: string, op: NcclOp): NcclOp {
  if (!OPS.includes(op)) throw new ArgumentError(`${fn}: op ${JSON.stringify(op)} is not one of ${OPS.join(', ')}`);
  return op;
}

/** A call may not be made while the communicator settles: wait for it (blocking) first. */
function ready(n: NativeNcclCommunicator): NativeNcclCommunicator {
  if (n.settling) n.settleSync();
  return n;
}

/** A 128-byte ncclUniqueId (ncclGetUniqueId): create it on one rank and share it with all. */
export function getUniqueId(): Uint8Array {
  return native.nccl.getUniqueId();
}

/**
 * Starts a group (ncclGroupStart): the calls up to groupEnd() are launched together (needed for
 * send/recv pairs and for driving several devices from one thread).
 */
export function groupStart(): void {
  native.nccl.groupStart();
}

/**
 * Ends a group (ncclGroupEnd). Returns true when NCCL has issued every grouped call, false when a
 * communicator of the group is still settling (see Communicator.settle).
 */
export function groupEnd(): boolean {
  return native.nccl.groupEnd();
}

/** Options of a two-buffer collective. */
export interface CollectiveOptions {
  /** Byte offset into the send buffer. Default 0. */
  sendOffset?: number;
  /** Byte offset into the receive buffer. Default 0. */
  recvOffset?: number;
  /** The stream it is queued on. Default: the device's current stream. */
  stream?: Stream | null;
}

/** Options of send/recv. */
export interface P2POptions {
  /** Byte offset into the buffer. Default 0. */
  offset?: number;
  /** The stream it is queued on. Default: the device's current stream. */
  stream?: Stream | null;
}

/** Options of Communicator.initRank. */
export interface InitRankOptions {
  /** The CUDA device of this rank. Default: the current device. */
  device?: number;
  /** ERR_DIST_TIMEOUT when the other ranks do not join within it (NCCL >= 2.14). Default 600000 (10 min). */
  timeoutMs?: number;
}

const COLLECTIVE_OPTIONS = optionKeys<CollectiveOptions>({ sendOffset: true, recvOffset: true, stream: true });
const P2P_OPTIONS = optionKeys<P2POptions>({ offset: true, stream: true });
const INIT_RANK_OPTIONS = optionKeys<InitRankOptions>({ device: true, timeoutMs: true });

/**
 * An NCCL communicator (ncclComm_t) on one device. Buffers are DeviceBuffers on that device
 * (else ERR_DEVICE_MISMATCH); counts are in elements and are checked against the buffers' sizes.
 * Release it with destroy() (after `await synchronize()`: it refuses while queued work may still
 * run) or abort(); one that is garbage-collected while live is aborted.
 */
export class Communicator {
  /** @internal */
  readonly native: NativeNcclCommunicator;

  private constructor(n: NativeNcclCommunicator) {
    this.native = n;
  }

  /**
   * ncclCommInitRank on a worker thread: resolves when all `nranks` ranks have joined with the same
   * `id` (from getUniqueId() on one of them). Throws ERR_LIB_NOT_FOUND when NCCL is not found.
   */
  static async initRank(nranks: number, id: Uint8Array, rank: number, options: InitRankOptions = {}): Promise<Communicator> {
    options = checkOptions(options, INIT_RANK_OPTIONS, 'nccl.Communicator.initRank');
    native.loader.load('nccl');
    const device = options.device ?? native.cuda.currentDevice();
    return new Communicator(await native.nccl.initRank(nranks, id, rank, device, options.timeoutMs));
  }

  /**
   * One communicator per device of this process, rank i on devices[i] (ncclCommInitAll's meaning),
   * initialized on a worker thread. Drive them from one thread inside groupStart()/groupEnd().
   */
  static async initAll(devices: number[], options: { timeoutMs?: number } = {}): Promise<Communicator[]> {
    return (await native.nccl.initAll(devices, options.timeoutMs)).map((n) => new Communicator(n));
  }

  /** This rank in [0, size). */
  get rank(): number {
    return this.native.rank;
  }
  /** The number of ranks. */
  get size(): number {
    return this.native.size;
  }
  /** The CUDA device. */
  get device(): number {
    return this.native.device;
  }
  /** True after destroy() or abort(). */
  get destroyed(): boolean {
    return this.native.destroyed;
  }
  /** True while NCCL is still issuing an earlier call of this communicator in the background. */
  get settling(): boolean {
    return this.native.settling;
  }
  /**
   * Resolves once NCCL has issued the calls it was still issuing (at once when there are none),
   * without blocking the event loop; after `timeoutMs` (default: initRank's) the communicator is
   * aborted and this rejects with ERR_DIST_TIMEOUT.
   */
  settle(timeoutMs?: number): Promise<void> {
    return this.native.settle(timeoutMs);
  }
  /** The blocking form of settle(): returns once NCCL has issued the calls (blocks the JS thread). */
  settleSync(timeoutMs?: number): void {
    this.native.settleSync(timeoutMs);
  }


  /** recv = op over the ranks of send (count elements; send may be recv: in place). */
  allReduce(send: DeviceBuffer, recv: DeviceBuffer, count: number, dtype: NcclDType, op: NcclOp = 'sum', options: CollectiveOptions = {}): void {
    options = checkOptions(options, COLLECTIVE_OPTIONS, 'Communicator.allReduce');
    ready(this.native).allReduce(send.native, options.sendOffset ?? 0, recv.native, options.recvOffset ?? 0, count,
      dtypeCode('allReduce', dtype), opCode('allReduce', op), options.stream?.native ?? null);
  }
  /** recv = root's send on every rank (count elements). */
  broadcast(send: DeviceBuffer, recv: DeviceBuffer, count: number, dtype: NcclDType, root = 0, options: CollectiveOptions = {}): void {
    options = checkOptions(options, COLLECTIVE_OPTIONS, 'Communicator.broadcast');
    ready(this.native).broadcast(send.native, options.sendOffset ?? 0, recv.native, options.recvOffset ?? 0, count,
      dtypeCode('broadcast', dtype), root, options.stream?.native ?? null);
  }
  /** root's recv = op over the ranks of send (count elements). */
  reduce(send: DeviceBuffer, recv: DeviceBuffer, count: number, dtype: NcclDType, op: NcclOp = 'sum', root = 0, options: CollectiveOptions = {}): void {
    options = checkOptions(options, COLLECTIVE_OPTIONS, 'Communicator.reduce');
    ready(this.native).reduce(send.native, options.sendOffset ?? 0, recv.native, options.recvOffset ?? 0, count,
      dtypeCode('reduce', dtype), opCode('reduce', op), root, options.stream?.native ?? null);
  }
  /** recv (size * sendCount elements) = every rank's send, in rank order. */
  allGather(send: DeviceBuffer, recv: DeviceBuffer, sendCount: number, dtype: NcclDType, options: CollectiveOptions = {}): void {
    options = checkOptions(options, COLLECTIVE_OPTIONS, 'Communicator.allGather');
    ready(this.native).allGather(send.native, options.sendOffset ?? 0, recv.native, options.recvOffset ?? 0, sendCount,
      dtypeCode('allGather', dtype), options.stream?.native ?? null);
  }
  /** recv (recvCount elements) = block `rank` of op over the ranks of send (size * recvCount elements). */
  reduceScatter(send: DeviceBuffer, recv: DeviceBuffer, recvCount: number, dtype: NcclDType, op: NcclOp = 'sum', options: CollectiveOptions = {}): void {
    options = checkOptions(options, COLLECTIVE_OPTIONS, 'Communicator.reduceScatter');
    ready(this.native).reduceScatter(send.native, options.sendOffset ?? 0, recv.native, options.recvOffset ?? 0, recvCount,
      dtypeCode('reduceScatter', dtype), opCode('reduceScatter', op), options.stream?.native ?? null);
  }
  /** Sends count elements to `peer` (pair it with recv there; group several with groupStart/End). */
  send(buffer: DeviceBuffer, count: number, dtype: NcclDType, peer: number, options: P2POptions = {}): void {
    options = checkOptions(options, P2P_OPTIONS, 'Communicator.send');
    ready(this.native).send(buffer.native, options.offset ?? 0, count, dtypeCode('send', dtype), peer, options.stream?.native ?? null);
  }
  /** Receives count elements from `peer`. */
  recv(buffer: DeviceBuffer, count: number, dtype: NcclDType, peer: number, options: P2POptions = {}): void {
    options = checkOptions(options, P2P_OPTIONS, 'Communicator.recv');
    ready(this.native).recv(buffer.native, options.offset ?? 0, count, dtypeCode('recv', dtype), peer, options.stream?.native ?? null);
  }

  /** null, or the asynchronous failure NCCL reports (a peer gone, a network error, ...). */
  getAsyncError(): NcclAsyncError | null {
    return this.native.getAsyncError();
  }
  /** True while work this communicator queued may still be running. */
  pending(): boolean {
    return this.native.pending();
  }
  /**
   * Resolves when the queued work is done (the event loop keeps running); rejects with the
   * asynchronous error, or aborts the communicator after `timeoutMs` (ERR_DIST_TIMEOUT).
   */
  synchronize(timeoutMs?: number): Promise<void> {
    return this.native.synchronize(timeoutMs);
  }
  /** True after abort(). */
  get aborted(): boolean {
    return this.native.aborted;
  }
  /** ncclCommAbort: stops now without waiting for peers (queued and later ops fail); idempotent. */
  abort(reason?: string): void {
    this.native.abort(reason);
  }
  /**
   * Finalizes and frees the communicator (ncclCommFinalize + ncclCommDestroy, on a worker thread);
   * refuses (ERR_DIST) while queued work may still run: `await synchronize()` first, or abort().
   * Idempotent.
   */
  destroy(): Promise<void> {
    return this.native.destroy();
  }
  /** `await using comm = ...`: destroys it when idle, else aborts it. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.native.destroyed || this.native.aborted) return;
    if (this.native.pending()) this.native.abort('disposed with work in flight');
    else await this.native.destroy();
  }
}

export const nccl = { isAvailable, libraryInfo, version, getUniqueId, groupStart, groupEnd, Communicator };
