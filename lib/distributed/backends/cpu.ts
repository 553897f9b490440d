/**
 * The 'cpu' backend: a native communicator (cpp/cpu_comm.*) per process group, over one POSIX
 * shared-memory segment between the processes of one host, run on its own native thread.
 * Setup through the group's store: rank 0 draws a random group id (the segment's name), every
 * rank publishes its host identity so a group spread over several hosts is refused clearly.
 *
 * Environment (read at group creation):
 *   NODE_NCCL_CPU_SLOT_BYTES  chunk size of large ops per rank (default 1 MiB)
 *   NODE_NCCL_CPU_SPIN_US     busy-wait budget before a wait sleeps (default 50 us)
 *   NODE_NCCL_CPU_DIRECT_US   small collectives first try to complete on the JS thread, spinning
 *                             at most this long for the peers (default 50 us; 0: always use the
 *                             communication thread)
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { HostMemory, NativeCpuComm, NativeCpuCommDesc } from '../../../typings/native.js';
import { createError } from '../../errors.js';
import { native } from '../../native/index.js';
import type { Backend, BackendInit, BackendWork, P2PDesc } from '../backend.js';
import { DTYPE_CODE, type Buf, type DType, type DistTensor, type ReduceOpName } from '../types.js';

function hostIdentity(): string {
  let boot = '';
  try {
    boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    // not Linux: the host name alone
  }
  return `${hostname()}/${boot}`;
}

function envInt(name: string, dflt: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw createError('ERR_INVALID_ARG', `${name}=${JSON.stringify(v)} is not valid: expected a non-negative integer`);
  }
  return n;
}

function host(b: Buf): HostMemory {
  const m = b.mem;
  if (m instanceof ArrayBuffer || ArrayBuffer.isView(m)) return m;
  throw createError('ERR_DEVICE_MISMATCH', 'the cpu backend works on host memory, got a device buffer');
}

function hostBytes(b: Buf): Uint8Array {
  const m = b.mem;
  if (m instanceof ArrayBuffer) return new Uint8Array(m, b.byteOffset);
  if (ArrayBuffer.isView(m)) return new Uint8Array(m.buffer, m.byteOffset + b.byteOffset, m.byteLength - b.byteOffset);
  throw createError('ERR_DEVICE_MISMATCH', 'the cpu backend works on host memory, got a device buffer');
}

/** What submit gives for an op that completed directly (on the calling thread). */
const COMPLETED: BackendWork = Object.freeze({ done: Promise.resolve(), completed: true });

export class CpuBackend implements Backend {
  readonly name = 'cpu' as const;
  readonly rank: number;
  readonly size: number;
  readonly #comm: NativeCpuComm;

  private constructor(comm: NativeCpuComm) {
    this.#comm = comm;
    this.rank = comm.rank;
    this.size = comm.size;
  }

  /** Creates the group's communicator; every rank of the group calls it. */
  static async create(init: BackendInit): Promise<CpuBackend> {
    const { store, rank, size, timeoutMs } = init;
    const me = hostIdentity();
    await store.set(`cpu/host/${rank}`, me);
    for (let r = 0; r < size; r++) {
      if (r === rank) continue;
      const other = Buffer.from(await store.get(`cpu/host/${r}`)).toString('utf8');
      if (other !== me) {
        throw createError(
          'ERR_UNSUPPORTED',
          `process group ${init.name}: the cpu backend connects processes on one host (shared memory); ` +
            `rank ${r} runs on ${other.split('/')[0]}, rank ${rank} on ${me.split('/')[0]}. ` +
            `Use the nccl backend across hosts.`,
        );
      }
    }
    let id: string;
    if (rank === 0) {
      id = `${process.pid.toString(36)}-${randomBytes(8).toString('hex')}`;
      await store.set('cpu/id', id);
    } else {
      id = Buffer.from(await store.get('cpu/id')).toString('utf8');
    }
    const comm = new native.dist.CpuComm({
      name: `/nnccl-${id}`,
      rank,
      size,
      timeoutMs,
      slotBytes: envInt('NODE_NCCL_CPU_SLOT_BYTES', 1 << 20) || undefined,
      spinUs: envInt('NODE_NCCL_CPU_SPIN_US', 50),
      directUs: envInt('NODE_NCCL_CPU_DIRECT_US', 50),
    });
    try {
      await comm.connect();
    } catch (e) {
      comm.destroy();
      throw e;
    }
    return new CpuBackend(comm);
  }

  checkDevice(who: string, t: DistTensor): void {
    if (t.device.type !== 'cpu') {
      throw createError(
        'ERR_DEVICE_MISMATCH',
        `${who}: the cpu backend works on cpu tensors, got a tensor on ${t.device.toString()} ` +
          `(move it with .to('cpu') or use the nccl backend)`,
      );
    }
  }

  alloc(bytes: number): Buf {
    return { mem: new ArrayBuffer(bytes), byteOffset: 0 };
  }

  copy(dst: Buf, src: Buf, bytes: number): void {
    if (bytes === 0) return;
    hostBytes(dst).set(hostBytes(src).subarray(0, bytes));
  }

  #submit(desc: NativeCpuCommDesc): BackendWork {
    try {
      const done = this.#comm.submit(desc);
      return done === undefined ? COMPLETED : { done };
    } catch (e) {
      return { done: Promise.reject(e) };
    }
  }

  allReduce(send: Buf, recv: Buf, count: number, dtype: DType, op: ReduceOpName): BackendWork {
    return this.#submit({ kind: 'allReduce', dtype: DTYPE_CODE[dtype], op, count, ...io(send, recv) });
  }

  broadcast(buf: Buf, count: number, dtype: DType, root: number): BackendWork {
    return this.#submit({ kind: 'broadcast', dtype: DTYPE_CODE[dtype], count, root, recv: host(buf), recvOffset: buf.byteOffset });
  }

  reduce(send: Buf, recv: Buf, count: number, dtype: DType, op: ReduceOpName, root: number): BackendWork {
    return this.#submit({ kind: 'reduce', dtype: DTYPE_CODE[dtype], op, count, root, ...io(send, recv) });
  }

  allGather(send: Buf, recv: Buf, count: number, dtype: DType): BackendWork {
    return this.#submit({ kind: 'allGather', dtype: DTYPE_CODE[dtype], count, ...io(send, recv) });
  }

  reduceScatter(send: Buf, recv: Buf, count: number, dtype: DType, op: ReduceOpName): BackendWork {
    return this.#submit({ kind: 'reduceScatter', dtype: DTYPE_CODE[dtype], op, count, ...io(send, recv) });
  }

  gather(send: Buf, recv: Buf | null, count: number, dtype: DType, root: number): BackendWork {
    return this.#submit({ kind: 'gather', dtype: DTYPE_CODE[dtype], count, root, ...io(send, recv) });
  }

  scatter(send: Buf | null, recv: Buf, count: number, dtype: DType, root: number): BackendWork {
    return this.#submit({ kind: 'scatter', dtype: DTYPE_CODE[dtype], count, root, ...io(send, recv) });
  }

  allToAll(send: Buf, recv: Buf, sendCounts: number[], recvCounts: number[], dtype: DType): BackendWork {
    return this.#submit({ kind: 'allToAll', dtype: DTYPE_CODE[dtype], sendCounts, recvCounts, ...io(send, recv) });
  }

  p2p(ops: P2PDesc[]): BackendWork[] {
    return ops.map((o) =>
      this.#submit(
        o.kind === 'send'
          ? { kind: 'send', dtype: DTYPE_CODE[o.dtype], count: o.count, root: o.peer, tag: o.tag, send: host(o.buf), sendOffset: o.buf.byteOffset }
          : { kind: 'recv', dtype: DTYPE_CODE[o.dtype], count: o.count, root: o.peer, tag: o.tag, recv: host(o.buf), recvOffset: o.buf.byteOffset },
      ),
    );
  }

  barrier(): BackendWork {
    return this.#submit({ kind: 'barrier' });
  }

  abort(reason: string): void {
    if (!this.#comm.destroyed) this.#comm.abort(reason);
  }

  destroy(): void {
    this.#comm.destroy();
  }

  /** Ops submitted and not yet settled (for destroy's drain). */
  get pending(): number {
    return this.#comm.pending;
  }
}

function io(send: Buf | null, recv: Buf | null): Partial<NativeCpuCommDesc> {
  const d: Partial<NativeCpuCommDesc> = {};
  if (send) {
    d.send = host(send);
    d.sendOffset = send.byteOffset;
  }
  if (recv) {
    d.recv = host(recv);
    d.recvOffset = recv.byteOffset;
  }
  return d;
}
