/**
 * The 'nccl' backend: one NCCL communicator per process group (ncclCommInitRank; rank 0 draws the
 * unique id and shares it through the group's store), on one CUDA device per process.
 *
 * Ordering: every op runs on a dedicated stream of the group, which first waits (an Event) for
 * what the caller's current stream has queued; `done` settles when an Event recorded after the op
 * has completed (polled, the event loop never blocks), and `onWait` makes the caller's current
 * stream wait for that Event. While an op is in flight the communicator's asynchronous error is
 * polled too: on an NCCL error or after the group's timeout the communicator is aborted and the
 * op rejects with ERR_DIST_PEER_FAILURE / ERR_DIST_TIMEOUT naming the collective (every later op
 * rejects with ERR_DIST_ABORTED). Point-to-point batches, gather, scatter and allToAll are grouped
 * send/recv calls (ncclGroupStart/End), as in PyTorch; barrier is an all-reduce of one element.
 *
 * Memory: every device buffer an op uses is held until the op is on the group's stream, then
 * recordStream'ed there (as PyTorch's ProcessGroupNCCL does), so a tensor disposed or collected
 * while NCCL still reads or writes it goes back to the caching allocator only once that work is
 * done, even when NCCL was still issuing the op when the tensor was disposed.
 *
 * Issuing: the communicator is non-blocking, so NCCL may still be issuing an op when the call
 * returns (connecting to a peer). Then the op's completion Event is recorded once the communicator
 * has settled (native settle(), polled off the JS thread within the group's timeout), and later
 * ops wait in order behind it; only a synchronous wait (onWait) on such an op blocks until then.
 */
import type { NativeDeviceBuffer, NativeEvent, NativeNcclCommunicator, NativeStream, NcclDTypeName, NcclOpName } from '../../../typings/native.js';
import { createError } from '../../errors.js';
import { native } from '../../native/index.js';
import { failedWork, type Backend, type BackendInit, type BackendWork, type P2PDesc } from '../backend.js';
import { DTYPE_BYTES, type Buf, type DType, type DistTensor, type ReduceOpName } from '../types.js';

/** ncclDataType_t of each tensor dtype (bool travels as uint8). */
const NCCL_DTYPE: Record<DType, NcclDTypeName> = {
  int32: 'int32', int64: 'int64', float16: 'float16', float32: 'float32', float64: 'float64', bfloat16: 'bfloat16', uint8: 'uint8', bool: 'uint8',
};
const POLL_MAX_MS = 4;
const IMMEDIATE_POLLS = 64;

function opCode(dtype: DType, op: ReduceOpName, who: string): NcclOpName {
  if (dtype !== 'bool') return op;
  // As PyTorch: on bool, sum is a logical or (max) and prod a logical and (min).
  if (op === 'sum') return 'max';
  if (op === 'prod') return 'min';
  if (op === 'avg') throw createError('ERR_UNSUPPORTED', `${who}: op 'avg' is not defined for bool tensors`);
  return op;
}

function dev(b: Buf | null, who: string): NativeDeviceBuffer {
  const m = b?.mem;
  if (!m || m instanceof ArrayBuffer || ArrayBuffer.isView(m)) {
    throw createError('ERR_DEVICE_MISMATCH', `${who}: the nccl backend works on CUDA memory, got host memory`);
  }
  return m;
}

/** One op on its way to NCCL: `issued` resolves once its completion Event is recorded. */
class QueuedOp {
  readonly issued: Promise<void>;
  isIssued = false;
  failed: Error | null = null;
  #resolve!: () => void;
  #reject!: (e: Error) => void;

  /**
   * `mems` are held (a dispose meanwhile frees them only later) until the op is on the group's
   * stream; then they are recordStream'ed there, so the allocator reuses them only after NCCL's use.
   */
  constructor(
    readonly what: string,
    readonly mems: NativeDeviceBuffer[],
    readonly enqueue: (s: NativeStream) => boolean,
    readonly after: NativeEvent,
  ) {
    for (const m of mems) m.hold();
    this.issued = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  markIssued(stream: NativeStream): void {
    try {
      this.after.record(stream);
      for (const m of this.mems) m.recordStream(stream);
    } catch (e) {
      this.fail(e as Error);
      return;
    }
    this.#unhold();
    this.isIssued = true;
    this.#resolve();
  }

  fail(e: Error): void {
    this.failed = e;
    this.#unhold();
    if (!this.after.disposed) this.after.dispose();
    this.#reject(e);
  }

  #unhold(): void {
    for (const m of this.mems.splice(0)) m.unhold();
  }
}

export interface NcclBackendOptions {
  /** The CUDA device of this rank. */
  device: number;
}

export class NcclBackend implements Backend {
  readonly name = 'nccl' as const;
  readonly rank: number;
  readonly size: number;
  readonly device: number;
  readonly #comm: NativeNcclCommunicator;
  readonly #stream: NativeStream;
  readonly #timeoutMs: number;
  readonly #group: string;
  #abortReason: string | null = null;
  readonly #inflight = new Set<() => void>();
  #settling = false;             // the communicator is finishing an earlier call (see the file comment)
  #settleGen = 0;                // invalidates a settle() that a settleSync() overtook
  readonly #unrecorded: QueuedOp[] = [];  // issued while settling: their events wait for it
  readonly #queued: QueuedOp[] = [];      // to issue, in order, once it has settled

  private constructor(comm: NativeNcclCommunicator, stream: NativeStream, init: BackendInit) {
    this.#comm = comm;
    this.#stream = stream;
    this.rank = comm.rank;
    this.size = comm.size;
    this.device = comm.device;
    this.#timeoutMs = init.timeoutMs;
    this.#group = init.name;
  }

  /** Creates the group's communicator; every rank of the group calls it. */
  static async create(init: BackendInit, opts: NcclBackendOptions): Promise<NcclBackend> {
    const { store, rank, size, timeoutMs } = init;
    let id: Uint8Array;
    if (rank === 0) {
      id = native.nccl.getUniqueId();
      await store.set('nccl/id', id);
    } else {
      id = await store.get('nccl/id', { timeoutMs });
    }
    if (id.byteLength !== 128) throw createError('ERR_DIST', `process group ${init.name}: the NCCL unique id in the store has ${id.byteLength} bytes, expected 128`);
    const stream = new native.cuda.Stream(opts.device);
    try {
      // Non-blocking init polled natively (NCCL >= 2.14): a missing rank is ERR_DIST_TIMEOUT.
      const comm = await native.nccl.initRank(size, Uint8Array.from(id), rank, opts.device, Math.max(1, timeoutMs));
      return new NcclBackend(comm, stream, init);
    } catch (e) {
      stream.dispose();
      throw e;
    }
  }

  checkDevice(who: string, t: DistTensor): void {
    if (t.device.type !== 'cuda' || t.device.index !== this.device) {
      throw createError(
        'ERR_DEVICE_MISMATCH',
        `${who}: the nccl backend of this process works on cuda:${this.device} tensors, got a tensor on ${t.device.toString()}`,
      );
    }
  }

  alloc(bytes: number): Buf {
    return { mem: new native.cuda.DeviceBuffer(Math.max(bytes, 1), this.device), byteOffset: 0 };
  }

  copy(dst: Buf, src: Buf, bytes: number): void {
    if (bytes === 0) return;
    native.cuda.memcpyEnqueue(dev(dst, 'copy'), dst.byteOffset, dev(src, 'copy'), src.byteOffset, bytes, native.cuda.currentStream(this.device));
  }

  /**
   * Runs `enqueue` on the group's stream after the caller's stream; the work settles when it is
   * done. `bufs` are the device buffers it reads or writes. `enqueue` returns whether NCCL issued
   * the op (false: the communicator is settling).
   */
  #run(what: string, bufs: ReadonlyArray<Buf | null>, enqueue: (s: NativeStream) => boolean): BackendWork {
    if (this.#abortReason !== null) return failedWork(createError('ERR_DIST_ABORTED', `${what}: process group ${this.#group} was aborted (${this.#abortReason})`));
    let op: QueuedOp;
    try {
      const before = new native.cuda.Event(this.device, false);
      before.record(native.cuda.currentStream(this.device));
      this.#stream.waitEvent(before);
      before.dispose();
      const mems = bufs.filter((b): b is Buf => b !== null).map((b) => dev(b, what));
      op = new QueuedOp(what, mems, enqueue, new native.cuda.Event(this.device, false));
    } catch (e) {
      return failedWork(e);
    }
    this.#issue(op);
    const done = op.issued.then(() => this.#watch(what, op.after));
    const onWait = (): void => {
      if (!op.isIssued) this.#drainSync(op);
      if (!op.after.disposed) native.cuda.currentStream(this.device).waitEvent(op.after);
    };
    return { done, onWait, waitSync: onWait };
  }

  /** Issues op now, or queues it behind a settling communicator. */
  #issue(op: QueuedOp): void {
    if (this.#settling) {
      this.#queued.push(op);
      return;
    }
    let issued: boolean;
    try {
      issued = op.enqueue(this.#stream);
    } catch (e) {
      op.fail(e as Error);
      return;
    }
    if (issued) {
      op.markIssued(this.#stream);
    } else {
      this.#unrecorded.push(op);
      this.#startSettle();
    }
  }

  #startSettle(): void {
    const gen = ++this.#settleGen;
    this.#settling = true;
    this.#comm.settle(this.#timeoutMs).then(
      () => {
        if (gen === this.#settleGen) this.#settled();
      },
      (e: Error) => {
        if (gen === this.#settleGen) this.#settleFailed(e);
      },
    );
  }

  /** The communicator settled: record the issued ops' events, then issue the queued ones. */
  #settled(): void {
    this.#settling = false;
    this.#settleGen++;
    for (const op of this.#unrecorded.splice(0)) op.markIssued(this.#stream);
    while (!this.#settling && this.#queued.length > 0) this.#issue(this.#queued.shift()!);
  }

  #settleFailed(e: Error): void {
    this.#settling = false;
    this.#settleGen++;
    this.abort(`issuing an op failed: ${e.message}`);
    for (const op of [...this.#unrecorded.splice(0), ...this.#queued.splice(0)]) op.fail(e);
  }

  /** A synchronous wait on an op NCCL has not issued yet: settle (blocking) until it has. */
  #drainSync(op: QueuedOp): void {
    while (!op.isIssued && !op.failed) {
      try {
        this.#comm.settleSync(this.#timeoutMs);
      } catch (e) {
        this.#settleFailed(e as Error);
        throw e;
      }
      this.#settled();
    }
    if (op.failed) throw op.failed;
  }

  /** Settles when `ev` has completed; aborts on an asynchronous NCCL error or the timeout. */
  #watch(what: string, ev: NativeEvent): Promise<void> {
    const start = Date.now();
    return new Promise<void>((resolve, reject) => {
      let polls = 0;
      let delay = 0;
      let timer: NodeJS.Timeout | undefined;
      let immediate: NodeJS.Immediate | undefined;
      const fail = (e: Error): void => {
        this.#inflight.delete(cancel);
        if (!ev.disposed) ev.dispose();
        reject(e);
      };
      const cancel = (): void => {
        clearTimeout(timer);
        if (immediate) clearImmediate(immediate);
        fail(createError('ERR_DIST_ABORTED', `${what}: process group ${this.#group} was aborted (${this.#abortReason ?? 'destroyed'})`));
      };
      const tick = (): void => {
        try {
          if (ev.query()) {
            this.#inflight.delete(cancel);
            ev.dispose(); // done: a later onWait has nothing to wait for
            resolve();
            return;
          }
          const err = this.#comm.destroyed ? null : this.#comm.getAsyncError();
          if (err) {
            this.#inflight.delete(cancel); // this op fails with the peer failure, not as "aborted"
            this.abort(`${what} failed: ${err.message}`);
            fail(createError('ERR_DIST_PEER_FAILURE', `${what} on process group ${this.#group} (rank ${this.rank} of ${this.size}) failed: ${err.name}: ${err.message}`));
            return;
          }
          if (Date.now() - start > this.#timeoutMs) {
            this.#inflight.delete(cancel);
            this.abort(`${what} timed out`);
            fail(createError('ERR_DIST_TIMEOUT', `${what} on process group ${this.#group} (rank ${this.rank} of ${this.size}) did not complete within ${this.#timeoutMs} ms; the communicator was aborted`));
            return;
          }
        } catch (e) {
          fail(e as Error);
          return;
        }
        // Small ops finish within microseconds: poll on every loop turn first, then back off.
        if (++polls <= IMMEDIATE_POLLS) {
          immediate = setImmediate(tick);
        } else {
          delay = Math.min(POLL_MAX_MS, delay + 0.25);
          timer = setTimeout(tick, delay);
        }
      };
      this.#inflight.add(cancel);
      tick();
    });
  }

  /**
   * Runs the calls between ncclGroupStart and ncclGroupEnd (the group is closed even if one
   * throws); returns whether NCCL issued them all.
   */
  #grouped(calls: Array<() => unknown>): boolean {
    native.nccl.groupStart();
    let first: unknown;
    for (const c of calls) {
      try {
        c();
      } catch (e) {
        first ??= e;
      }
    }
    const issued = native.nccl.groupEnd();
    if (first !== undefined) throw first;
    return issued;
  }

  allReduce(send: Buf, recv: Buf, count: number, dtype: DType, op: ReduceOpName): BackendWork {
    return this.#run('allReduce', [send, recv], (s) =>
      this.#comm.allReduce(dev(send, 'allReduce'), send.byteOffset, dev(recv, 'allReduce'), recv.byteOffset, count, NCCL_DTYPE[dtype], opCode(dtype, op, 'allReduce'), s));
  }

  broadcast(buf: Buf, count: number, dtype: DType, root: number): BackendWork {
    return this.#run('broadcast', [buf], (s) => this.#comm.broadcast(dev(buf, 'broadcast'), buf.byteOffset, dev(buf, 'broadcast'), buf.byteOffset, count, NCCL_DTYPE[dtype], root, s));
  }

  reduce(send: Buf, recv: Buf, count: number, dtype: DType, op: ReduceOpName, root: number): BackendWork {
    return this.#run('reduce', [send, recv], (s) =>
      this.#comm.reduce(dev(send, 'reduce'), send.byteOffset, dev(recv, 'reduce'), recv.byteOffset, count, NCCL_DTYPE[dtype], opCode(dtype, op, 'reduce'), root, s));
  }

  allGather(send: Buf, recv: Buf, count: number, dtype: DType): BackendWork {
    return this.#run('allGather', [send, recv], (s) => this.#comm.allGather(dev(send, 'allGather'), send.byteOffset, dev(recv, 'allGather'), recv.byteOffset, count, NCCL_DTYPE[dtype], s));
  }

  reduceScatter(send: Buf, recv: Buf, count: number, dtype: DType, op: ReduceOpName): BackendWork {
    return this.#run('reduceScatter', [send, recv], (s) =>
      this.#comm.reduceScatter(dev(send, 'reduceScatter'), send.byteOffset, dev(recv, 'reduceScatter'), recv.byteOffset, count, NCCL_DTYPE[dtype], opCode(dtype, op, 'reduceScatter'), s));
  }

  gather(send: Buf, recv: Buf | null, count: number, dtype: DType, root: number): BackendWork {
    const bytes = count * DTYPE_BYTES[dtype];
    const dt = NCCL_DTYPE[dtype];
    return this.#run('gather', [send, recv], (s) => {
      const calls: Array<() => void> = [];
      if (this.rank === root) {
        const r = dev(recv, 'gather');
        for (let p = 0; p < this.size; p++) {
          if (p === this.rank) {
            calls.push(() => native.cuda.memcpyEnqueue(r, recv!.byteOffset + p * bytes, dev(send, 'gather'), send.byteOffset, bytes, s));
          } else {
            calls.push(() => this.#comm.recv(r, recv!.byteOffset + p * bytes, count, dt, p, s));
          }
        }
      } else {
        calls.push(() => this.#comm.send(dev(send, 'gather'), send.byteOffset, count, dt, root, s));
      }
      return this.#grouped(calls);
    });
  }

  scatter(send: Buf | null, recv: Buf, count: number, dtype: DType, root: number): BackendWork {
    const bytes = count * DTYPE_BYTES[dtype];
    const dt = NCCL_DTYPE[dtype];
    return this.#run('scatter', [send, recv], (s) => {
      const calls: Array<() => void> = [];
      if (this.rank === root) {
        const sb = dev(send, 'scatter');
        for (let p = 0; p < this.size; p++) {
          if (p === this.rank) {
            calls.push(() => native.cuda.memcpyEnqueue(dev(recv, 'scatter'), recv.byteOffset, sb, send!.byteOffset + p * bytes, bytes, s));
          } else {
            calls.push(() => this.#comm.send(sb, send!.byteOffset + p * bytes, count, dt, p, s));
          }
        }
      } else {
        calls.push(() => this.#comm.recv(dev(recv, 'scatter'), recv.byteOffset, count, dt, root, s));
      }
      return this.#grouped(calls);
    });
  }

  allToAll(send: Buf, recv: Buf, sendCounts: number[], recvCounts: number[], dtype: DType): BackendWork {
    const eb = DTYPE_BYTES[dtype];
    const dt = NCCL_DTYPE[dtype];
    return this.#run('allToAll', [send, recv], (s) => {
      const sb = dev(send, 'allToAll');
      const rb = dev(recv, 'allToAll');
      const calls: Array<() => void> = [];
      let so = send.byteOffset;
      let ro = recv.byteOffset;
      for (let p = 0; p < this.size; p++) {
        const sc = sendCounts[p]!;
        const rc = recvCounts[p]!;
        const sOff = so;
        const rOff = ro;
        if (p === this.rank) {
          calls.push(() => native.cuda.memcpyEnqueue(rb, rOff, sb, sOff, sc * eb, s));
        } else {
          if (sc > 0) calls.push(() => this.#comm.send(sb, sOff, sc, dt, p, s));
          if (rc > 0) calls.push(() => this.#comm.recv(rb, rOff, rc, dt, p, s));
        }
        so += sc * eb;
        ro += rc * eb;
      }
      return this.#grouped(calls);
    });
  }

  p2p(ops: P2PDesc[]): BackendWork[] {
    // One group for the batch: every op shares the batch's completion.
    const w = this.#run(ops.length === 1 ? ops[0]!.kind : 'batchIsendIrecv', ops.map((o) => o.buf), (s) =>
      this.#grouped(
        ops.map((o) => () =>
          o.kind === 'send'
            ? this.#comm.send(dev(o.buf, 'send'), o.buf.byteOffset, o.count, NCCL_DTYPE[o.dtype], o.peer, s)
            : this.#comm.recv(dev(o.buf, 'recv'), o.buf.byteOffset, o.count, NCCL_DTYPE[o.dtype], o.peer, s)),
      ));
    return ops.map(() => w);
  }

  barrier(): BackendWork {
    const buf = new native.cuda.DeviceBuffer(4, this.device, this.#stream);
    const w = this.#run('barrier', [{ mem: buf, byteOffset: 0 }], (s) => this.#comm.allReduce(buf, 0, buf, 0, 1, 'int32', 'sum', s));
    const release = (): void => {
      buf.dispose();
    };
    w.done.then(release, release);
    return w;
  }

  abort(reason: string): void {
    if (this.#abortReason === null) this.#abortReason = reason;
    if (!this.#comm.destroyed) this.#comm.abort(reason);
    for (const cancel of [...this.#inflight]) cancel();
  }

  async destroy(): Promise<void> {
    if (this.#abortReason === null) this.#abortReason = 'destroyed';
    for (const cancel of [...this.#inflight]) cancel();
    const waiting = [...this.#unrecorded.splice(0), ...this.#queued.splice(0)];
    this.#settleGen++;
    try {
      if (!this.#comm.destroyed && !this.#comm.aborted) {
        // NCCL frees a communicator only when its queued work is done: abort one that is still busy.
        if (this.#comm.pending()) this.#comm.abort('process group destroyed with work in flight');
        else await this.#comm.destroy();
      }
    } finally {
      const gone = createError('ERR_DIST_ABORTED', `process group ${this.#group} was destroyed`);
      for (const op of waiting) op.fail(gone);
      this.#stream.dispose();
    }
  }
}
