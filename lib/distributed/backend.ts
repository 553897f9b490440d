/**
 * The interface every backend implements (backends/cpu.ts, backends/nccl.ts): collectives on flat
 * buffers with element counts, one communicator per process group. ProcessGroup (tensors,
 * validation, lists, debug checks) sits on top of it.
 */
import type { BackendName, Buf, DType, DistTensor, GroupStore, ReduceOpName } from './types.js';

/**
 * One backend op: `done` settles when it completes; `onWait` orders the caller after it.
 * `completed` says it already completed when it was submitted (`done` is then resolved).
 */
export interface BackendWork {
  done: Promise<void>;
  onWait?: () => void;
  completed?: boolean;
  /**
   * The synchronous wait (torch's work.wait()): on the cpu backend it blocks until the op has
   * completed and throws its error; on the nccl backend it is onWait (the caller's stream waits,
   * the host does not). Absent: the op cannot be waited for synchronously (await `done`).
   */
  waitSync?: () => void;
}

/** A BackendWork that failed as it was submitted (its synchronous wait throws at once). */
export function failedWork(e: unknown): BackendWork {
  const err = e instanceof Error ? e : new Error(String(e));
  return {
    done: Promise.reject(err),
    waitSync: () => {
      throw err;
    },
  };
}

export interface P2PDesc {
  kind: 'send' | 'recv';
  buf: Buf;
  count: number;
  dtype: DType;
  /** Peer's rank in the group. */
  peer: number;
  tag: number;
}

export interface BackendInit {
  /** A store private to this group (a PrefixStore). */
  store: GroupStore;
  rank: number;
  size: number;
  timeoutMs: number;
  /** The group's name, for messages. */
  name: string;
}

export interface Backend {
  readonly name: BackendName;
  readonly rank: number;
  readonly size: number;
  /** Checks a tensor's device for this backend (ERR_DEVICE_MISMATCH otherwise). */
  checkDevice(who: string, t: DistTensor): void;
  /** A temporary buffer of `bytes` on the same device as `like`. */
  alloc(bytes: number, like: DistTensor): Buf;
  /** Copies bytes between two buffers on this backend's device (ordered before later ops). */
  copy(dst: Buf, src: Buf, bytes: number): void;

  allReduce(send: Buf, recv: Buf, count: number, dtype: DType, op: ReduceOpName): BackendWork;
  broadcast(buf: Buf, count: number, dtype: DType, root: number): BackendWork;
  reduce(send: Buf, recv: Buf, count: number, dtype: DType, op: ReduceOpName, root: number): BackendWork;
  /** recv holds size * count elements. */
  allGather(send: Buf, recv: Buf, count: number, dtype: DType): BackendWork;
  /** send holds size * count elements. */
  reduceScatter(send: Buf, recv: Buf, count: number, dtype: DType, op: ReduceOpName): BackendWork;
  /** recv (size * count) is used on the root only. */
  gather(send: Buf, recv: Buf | null, count: number, dtype: DType, root: number): BackendWork;
  /** send (size * count) is used on the root only. */
  scatter(send: Buf | null, recv: Buf, count: number, dtype: DType, root: number): BackendWork;
  allToAll(send: Buf, recv: Buf, sendCounts: number[], recvCounts: number[], dtype: DType): BackendWork;
  /** Point-to-point ops that progress together (a batch). One BackendWork per op. */
  p2p(ops: P2PDesc[]): BackendWork[];
  barrier(): BackendWork;
  /** Fails everything in flight and later (ERR_DIST_ABORTED). */
  abort(reason: string): void;
  /** Releases the communicator (in-flight ops fail); the nccl backend finalizes it off the JS thread. */
  destroy(): void | Promise<void>;
  /** Ranks of the group a peer failure named (processes known to be gone), where the backend knows. */
  readonly deadRanks?: readonly number[];
}
