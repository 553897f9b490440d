/**
 * What the benchmark driver needs from a communication backend, and nothing more. The driver is
 * written against this interface; lib/bench/dist-comm.ts implements it on lib/distributed (cpu and
 * nccl backends), and tests can implement it in memory.
 */
import type { BenchDType, HostArray, ReduceOp } from './dtypes.js';

/** A contiguous run of `count` elements of one dtype in the backend's memory (host or device). */
export interface BenchBuffer {
  readonly dtype: BenchDType;
  readonly count: number;
}

/** Something issued and not yet known complete: a Work, a Promise, or anything awaitable. */
export type Pending = PromiseLike<unknown>;

export interface BenchComm {
  readonly rank: number;
  readonly worldSize: number;
  /** 'cpu' | 'nccl' | another name for test backends. */
  readonly backend: string;
  /** One `# Using devices` line for this rank, without the leading '#  Rank N'. */
  deviceLine(): string;
  /** Allocates `count` elements (zeroed or not: the driver writes before it reads). */
  allocate(dtype: BenchDType, count: number): BenchBuffer;
  /** A view of `count` elements starting at element `offset` of `buf` (shares memory). */
  slice(buf: BenchBuffer, offset: number, count: number): BenchBuffer;
  /** Copies host data into the buffer (all of it; `data.length === buf.count`). */
  write(buf: BenchBuffer, data: HostArray): Promise<void>;
  /** Copies the buffer to the host. */
  read(buf: BenchBuffer): Promise<HostArray>;
  free(buf: BenchBuffer): void;

  allReduce(send: BenchBuffer, recv: BenchBuffer, op: ReduceOp): Pending;
  /** `send` holds recv.count / worldSize elements; recv gets every rank's block in rank order. */
  allGather(send: BenchBuffer, recv: BenchBuffer): Pending;
  /** `send` holds recv.count * worldSize elements; rank r gets the reduction of block r. */
  reduceScatter(send: BenchBuffer, recv: BenchBuffer, op: ReduceOp): Pending;
  /** Root sends `send`; every rank receives into `recv` (root's send and recv may be the same). */
  broadcast(send: BenchBuffer, recv: BenchBuffer, root: number): Pending;
  /** The reduction lands in root's `recv`; other ranks' recv is scratch (may be overwritten). */
  reduce(send: BenchBuffer, recv: BenchBuffer, op: ReduceOp, root: number): Pending;
  /** Block j of `send` goes to rank j, block j of `recv` comes from rank j. */
  allToAll(send: BenchBuffer, recv: BenchBuffer): Pending;
  /** Sends `send` to `sendPeer` while receiving `recv` from `recvPeer` (one grouped operation). */
  sendRecv(send: BenchBuffer, recv: BenchBuffer, sendPeer: number, recvPeer: number): Pending;

  /** Waits until everything issued so far has completed (nccl-tests' completeColl). */
  complete(pending: readonly Pending[]): Promise<void>;
  barrier(): Promise<void>;
  /** Reduces one number across ranks (timings and wrong-element counts). */
  allReduceNumber(value: number, op: 'sum' | 'min' | 'max'): Promise<number>;
  /** Gathers one string per rank on every rank (the `# Using devices` lines). */
  allGatherString(value: string): Promise<string[]>;
  /** Whether CUDA-graph capture of the collectives is available (-G); a reason when not. */
  graphSupport(): { ok: true } | { ok: false; reason: string };
  /** Captures `fn`'s collectives into a graph and returns a launcher (only when graphSupport is ok). */
  captureGraph?(fn: () => Pending[]): Promise<{ launch(): Pending; dispose(): void }>;
  /** Bytes of memory one buffer may use (device memory for nccl), or Infinity. */
  maxBufferBytes(): number;
  close(): Promise<void>;
}
