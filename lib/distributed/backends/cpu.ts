/**
 * The 'cpu' backend: a native communicator (cpp/cpu_comm.*) per process group, run on its own
 * native thread, over one of two transports: shared memory (cpp/cpu_shm.*, one POSIX segment
 * between the processes of one host) or TCP (cpp/cpu_tcp.*, a full mesh of sockets, any hosts).
 * Setup through the group's store: every rank publishes its host identity; with every rank on one
 * host the transport is shm (rank 0 draws a random group id, the segment's name), else tcp: rank 0
 * draws the group's secret, every rank publishes the address it listens on (`cpu/addr/<rank>`) and
 * connects to the others with the secret.
 *
 * Environment (read at group creation):
 *   NODE_NCCL_CPU_TRANSPORT   auto (default: shm when every rank is on this host, else tcp) | shm | tcp
 *   NODE_NCCL_SOCKET_ADDR     tcp: the local IP address to listen on (default: the local address of
 *                             this process's connection to the store; on the store's server, the
 *                             address it was bound with, MASTER_ADDR)
 *   NODE_NCCL_CPU_SLOT_BYTES  chunk size of large ops per rank (default: shm 256 KiB, which keeps a
 *                             phase's data in the caches; tcp 1 MiB per slice round)
 *   NODE_NCCL_CPU_SPIN_US     shm: busy-wait budget before a wait sleeps (default 50 us)
 *   NODE_NCCL_CPU_DIRECT_US   shm: small collectives first try to complete on the JS thread, spinning
 *                             at most this long for the peers (default 50 us; 0: always use the
 *                             communication thread)
 *   NODE_NCCL_CPU_MAX_P2P     sends and receives pending at most per group (default 4096); one more
 *                             is refused at once with ERR_DIST (an unmatched isend cannot pile up)
 */
import { randomBytes } from 'node:crypto';
import type { HostMemory, NativeCpuComm, NativeCpuCommDesc } from '../../../typings/native.js';
import { createError } from '../../errors.js';
import { native } from '../../native/index.js';
import { failedWork, type Backend, type BackendInit, type BackendWork, type P2PDesc } from '../backend.js';
import { hostIdentity, listenAddress } from '../host.js';
import { DTYPE_CODE, type Buf, type DType, type DistTensor, type GroupStore, type ReduceOpName } from '../types.js';

export type CpuTransport = 'shm' | 'tcp';
const TRANSPORT_SETTINGS = ['auto', 'shm', 'tcp'] as const;
type TransportSetting = (typeof TRANSPORT_SETTINGS)[number];

/** NODE_NCCL_CPU_TRANSPORT's value, checked ('auto' when unset or empty). */
export function cpuTransportSetting(value: string | undefined): TransportSetting {
  const v = (value ?? '').trim().toLowerCase();
  if (v === '') return 'auto';
  if (!(TRANSPORT_SETTINGS as readonly string[]).includes(v)) {
    throw createError(
      'ERR_INVALID_ARG',
      `NODE_NCCL_CPU_TRANSPORT=${JSON.stringify(value)} is not valid: expected 'auto', 'shm' or 'tcp'`,
    );
  }
  return v as TransportSetting;
}

/**
 * The transport of a cpu group from the setting (NODE_NCCL_CPU_TRANSPORT) and every rank's host
 * identity (by rank): auto is shm when they are all the same host, else tcp. shm forced on a group
 * spread over hosts is ERR_UNSUPPORTED.
 */
export function chooseCpuTransport(setting: string | undefined, hosts: readonly string[], group = 'default'): CpuTransport {
  const s = cpuTransportSetting(setting);
  const other = hosts.findIndex((h) => h !== hosts[0]);
  if (s === 'tcp') return 'tcp';
  if (other < 0) return 'shm';
  if (s === 'auto') return 'tcp';
  throw createError(
    'ERR_UNSUPPORTED',
    `process group ${group}: NODE_NCCL_CPU_TRANSPORT=shm connects the processes of one host (shared memory), but ` +
      `rank ${other} runs on ${hosts[other]!.split('/')[0]!}, rank 0 on ${hosts[0]!.split('/')[0]!}. ` +
      `Use NODE_NCCL_CPU_TRANSPORT=tcp or auto.`,
  );
}

function utf8(b: Uint8Array): string {
  return Buffer.from(b).toString('utf8');
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
    const setting = cpuTransportSetting(process.env.NODE_NCCL_CPU_TRANSPORT);
    // Every rank publishes "<setting>\n<host identity>": the transport must be chosen alike everywhere.
    const me = hostIdentity();
    await store.set(`cpu/host/${rank}`, `${setting}\n${me}`);
    const hosts: string[] = [];
    for (let r = 0; r < size; r++) {
      const [theirs, host] = r === rank ? [setting, me] : utf8(await store.get(`cpu/host/${r}`, { timeoutMs })).split('\n');
      if (theirs !== setting) {
        throw createError(
          'ERR_INVALID_ARG',
          `process group ${init.name}: NODE_NCCL_CPU_TRANSPORT differs across ranks (rank ${r}: ${String(theirs)}, ` +
            `rank ${rank}: ${setting}); set it alike everywhere`,
        );
      }
      hosts.push(host ?? '');
    }
    const transport = chooseCpuTransport(setting, hosts, init.name);
    const slotBytes = envInt('NODE_NCCL_CPU_SLOT_BYTES', transport === 'tcp' ? 1 << 20 : 256 << 10) || undefined;
    const maxPendingP2P = envInt('NODE_NCCL_CPU_MAX_P2P', 4096);
    if (maxPendingP2P < 1) throw createError('ERR_INVALID_ARG', `NODE_NCCL_CPU_MAX_P2P=${maxPendingP2P} is not valid: expected an integer >= 1`);
    if (transport === 'tcp') {
      const listenHost = await listenAddress(store, hosts.every((h) => h === me), `process group ${init.name}: the cpu backend (tcp)`);
      const comm = new native.dist.CpuComm({ transport: 'tcp', listenHost, rank, size, timeoutMs, slotBytes, maxPendingP2P });
      try {
        let secret: Uint8Array;
        if (rank === 0) {
          secret = randomBytes(16);
          await store.set('cpu/secret', secret);
        } else {
          secret = await store.get('cpu/secret', { timeoutMs });
        }
        await store.set(`cpu/addr/${rank}`, comm.address);
        const peers: string[] = [];
        for (let r = 0; r < size; r++) peers.push(r === rank ? comm.address : utf8(await store.get(`cpu/addr/${r}`, { timeoutMs })));
        await comm.connect({ peers, secret: new Uint8Array(secret) });
      } catch (e) {
        comm.destroy();
        throw e;
      }
      return new CpuBackend(comm);
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
      slotBytes,
      spinUs: envInt('NODE_NCCL_CPU_SPIN_US', 50),
      directUs: envInt('NODE_NCCL_CPU_DIRECT_US', 50),
      maxPendingP2P,
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
    // shared memory: the native side uses it in place (an ArrayBuffer would be staged, see cpp/cpu_comm_napi.cc)
    return { mem: new Uint8Array(new SharedArrayBuffer(bytes)), byteOffset: 0 };
  }

  copy(dst: Buf, src: Buf, bytes: number): void {
    if (bytes === 0) return;
    hostBytes(dst).set(hostBytes(src).subarray(0, bytes));
  }

  #submit(desc: NativeCpuCommDesc): BackendWork {
    try {
      const done = this.#comm.submit(desc);
      if (done === undefined) return COMPLETED;
      const comm = this.#comm;
      const seq = comm.lastSeq;
      return { done, waitSync: () => comm.waitSync(seq) };
    } catch (e) {
      return failedWork(e);
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

  get deadRanks(): readonly number[] {
    return this.#comm.destroyed ? [] : this.#comm.deadRanks;
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
