/**
 * BenchComm on node-nccl's public distributed API (lib/distributed's collectives on Tensors), for
 * the cpu and nccl backends. Buffers are 1-D tensors on the rank's device; slices are narrow()
 * views, so in-place runs really share memory as nccl-tests' do.
 */
import os from 'node:os';
import { findFreePort } from '../cli/run.js';
import { loadLib } from './api.js';
import type { BenchBuffer, BenchComm, Pending } from './comm.js';
import { type BenchDType, type HostArray, type ReduceOp, allocHost, getValue, setValue } from './dtypes.js';

/** The Tensor surface used here (lib/tensor's Tensor has it). */
interface DTensor {
  readonly numel: number;
  readonly device: { type: string; index: number; toString(): string };
  narrow(dim: number, start: number, length: number): DTensor;
  copy_(src: DTensor): unknown;
  data(): Promise<ArrayLike<number | bigint | boolean>>;
  dispose(): void;
}

type Opts = Record<string, unknown>;
interface DistApi {
  initProcessGroup(o: Opts): Promise<unknown>;
  destroyProcessGroup(): unknown;
  getRank(): number;
  getWorldSize(): number;
  allReduce(t: DTensor, o?: Opts): Pending;
  allGather(out: DTensor[] | DTensor, t: DTensor, o?: Opts): Pending;
  allGatherIntoTensor?(out: DTensor, t: DTensor, o?: Opts): Pending;
  reduceScatter(out: DTensor, input: DTensor[] | DTensor, o?: Opts): Pending;
  reduceScatterTensor?(out: DTensor, input: DTensor, o?: Opts): Pending;
  broadcast(t: DTensor, o?: Opts): Pending;
  reduce(t: DTensor, o?: Opts): Pending;
  allToAll(out: DTensor[], input: DTensor[], o?: Opts): Pending;
  allToAllSingle?(out: DTensor, input: DTensor, o?: Opts): Pending;
  isend(t: DTensor, o: Opts): Pending;
  irecv(t: DTensor, o: Opts): Pending;
  barrier(o?: Opts): Pending;
}
interface TensorFns {
  empty(shape: number[], o: Opts): DTensor;
  tensor(data: ArrayLike<number> | BigInt64Array, o: Opts): DTensor;
}

class DistBuffer implements BenchBuffer {
  constructor(
    readonly dtype: BenchDType,
    readonly t: DTensor,
    readonly count: number,
  ) {}
}

/** The host array tensor() accepts for a dtype (half types travel as float32 values). */
function toTensorInput(dtype: BenchDType, data: HostArray): ArrayLike<number> | BigInt64Array {
  switch (dtype.name) {
    case 'float16':
    case 'bfloat16': {
      const f = new Float32Array(data.length);
      for (let i = 0; i < f.length; i++) f[i] = getValue(dtype, data, i);
      return f;
    }
    default:
      return data as ArrayLike<number> | BigInt64Array;
  }
}

export interface DistCommOptions {
  backend: 'cpu' | 'nccl';
  /** Seconds before a collective is an error; 0 keeps the process group's default. */
  timeoutSec: number;
}

export async function createDistComm(o: DistCommOptions): Promise<BenchComm> {
  const lib = await loadLib('collectives', ['distributed.initProcessGroup', 'distributed.allReduce', 'empty', 'tensor']);
  const dist = lib.distributed as unknown as DistApi;
  const fns = lib as unknown as TensorFns;
  const cuda = lib.cuda;
  const localRank = Number(process.env.LOCAL_RANK ?? 0);
  let device = 'cpu';
  if (o.backend === 'nccl') {
    const n = cuda?.deviceCount() ?? 0;
    device = `cuda:${n > 0 ? localRank % n : 0}`;
    const setDevice = (cuda as unknown as { setDevice?(i: number): void }).setDevice;
    setDevice?.call(cuda, n > 0 ? localRank % n : 0);
  }
  if (process.env.RANK === undefined) {
    // A single process without a launcher: a world of one, rendezvous on a free local port.
    const port = await findFreePort('127.0.0.1');
    Object.assign(process.env, { RANK: '0', WORLD_SIZE: '1', LOCAL_RANK: '0', LOCAL_WORLD_SIZE: '1', MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) });
  }
  await dist.initProcessGroup({ backend: o.backend, ...(o.timeoutSec ? { timeoutMs: o.timeoutSec * 1000 } : {}) });
  return new DistComm(dist, fns, cuda, o.backend, device);
}

class DistComm implements BenchComm {
  readonly rank: number;
  readonly worldSize: number;
  private readonly scalar: DTensor;
  constructor(
    private readonly dist: DistApi,
    private readonly fns: TensorFns,
    private readonly cuda: { getDeviceProperties?(i: number): { name?: string }; synchronize(d?: number): unknown } | undefined,
    readonly backend: 'cpu' | 'nccl',
    private readonly device: string,
  ) {
    this.rank = dist.getRank();
    this.worldSize = dist.getWorldSize();
    this.scalar = fns.empty([1], { dtype: 'float64', device });
  }
  deviceLine(): string {
    const host = os.hostname();
    if (this.backend === 'nccl') {
      const idx = Number(this.device.split(':')[1]);
      let name = 'GPU';
      try {
        name = this.cuda?.getDeviceProperties?.(idx)?.name ?? name;
      } catch {
        /* name stays generic */
      }
      return `Group  0 Pid ${String(process.pid).padStart(6)} on ${host.padStart(10)} device ${String(idx).padStart(2)} ${name}`;
    }
    return `Group  0 Pid ${String(process.pid).padStart(6)} on ${host.padStart(10)} cpu [${os.cpus()[0]?.model.trim() ?? 'cpu'}]`;
  }
  allocate(dtype: BenchDType, count: number): BenchBuffer {
    return new DistBuffer(dtype, this.fns.empty([count], { dtype: dtype.name, device: this.device }), count);
  }
  slice(buf: BenchBuffer, offset: number, count: number): BenchBuffer {
    const b = buf as DistBuffer;
    return new DistBuffer(b.dtype, b.t.narrow(0, offset, count), count);
  }
  async write(buf: BenchBuffer, data: HostArray): Promise<void> {
    const b = buf as DistBuffer;
    if (b.count === 0) return;
    const src = this.fns.tensor(toTensorInput(b.dtype, data), { dtype: b.dtype.name, device: this.device });
    try {
      b.t.copy_(src);
    } finally {
      src.dispose();
    }
  }
  async read(buf: BenchBuffer): Promise<HostArray> {
    const b = buf as DistBuffer;
    const out = allocHost(b.dtype, b.count);
    if (b.count === 0) return out;
    const vals = await b.t.data();
    for (let i = 0; i < b.count; i++) {
      const v = vals[i];
      setValue(b.dtype, out, i, typeof v === 'bigint' ? Number(v) : Number(v));
    }
    return out;
  }
  free(buf: BenchBuffer): void {
    (buf as DistBuffer).t.dispose();
  }
  /** Out of place through an in-place API: copy send into recv, then reduce recv in place. */
  private prepare(send: BenchBuffer, recv: BenchBuffer): DTensor {
    const s = send as DistBuffer;
    const r = recv as DistBuffer;
    if (s.t !== r.t) r.t.copy_(s.t);
    return r.t;
  }
  allReduce(send: BenchBuffer, recv: BenchBuffer, op: ReduceOp): Pending {
    return this.dist.allReduce(this.prepare(send, recv), { op });
  }
  allGather(send: BenchBuffer, recv: BenchBuffer): Pending {
    const s = (send as DistBuffer).t;
    const r = (recv as DistBuffer).t;
    if (this.dist.allGatherIntoTensor) return this.dist.allGatherIntoTensor(r, s);
    return this.dist.allGather(r, s);
  }
  reduceScatter(send: BenchBuffer, recv: BenchBuffer, op: ReduceOp): Pending {
    const s = (send as DistBuffer).t;
    const r = (recv as DistBuffer).t;
    if (this.dist.reduceScatterTensor) return this.dist.reduceScatterTensor(r, s, { op });
    return this.dist.reduceScatter(r, s, { op });
  }
  broadcast(send: BenchBuffer, recv: BenchBuffer, root: number): Pending {
    const t = this.rank === root ? this.prepare(send, recv) : (recv as DistBuffer).t;
    return this.dist.broadcast(t, { src: root });
  }
  reduce(send: BenchBuffer, recv: BenchBuffer, op: ReduceOp, root: number): Pending {
    // The result lands in recv on the root; other ranks reduce from a scratch copy of send.
    return this.dist.reduce(this.prepare(send, recv), { dst: root, op });
  }
  allToAll(send: BenchBuffer, recv: BenchBuffer): Pending {
    const s = (send as DistBuffer).t;
    const r = (recv as DistBuffer).t;
    if (this.dist.allToAllSingle) return this.dist.allToAllSingle(r, s);
    const per = send.count / this.worldSize;
    const ins = Array.from({ length: this.worldSize }, (_, j) => s.narrow(0, j * per, per));
    const outs = Array.from({ length: this.worldSize }, (_, j) => r.narrow(0, j * per, per));
    return this.dist.allToAll(outs, ins);
  }
  sendRecv(send: BenchBuffer, recv: BenchBuffer, sendPeer: number, recvPeer: number): Pending {
    const a = this.dist.isend((send as DistBuffer).t, { dst: sendPeer });
    const b = this.dist.irecv((recv as DistBuffer).t, { src: recvPeer });
    return Promise.all([a, b]);
  }
  async complete(pending: readonly Pending[]): Promise<void> {
    await Promise.all(pending);
    if (this.backend === 'nccl') await this.cuda?.synchronize();
  }
  async barrier(): Promise<void> {
    await this.dist.barrier();
  }
  async allReduceNumber(value: number, op: 'sum' | 'min' | 'max'): Promise<number> {
    const src = this.fns.tensor(new Float64Array([value]), { dtype: 'float64', device: this.device });
    try {
      this.scalar.copy_(src);
    } finally {
      src.dispose();
    }
    await this.dist.allReduce(this.scalar, { op });
    return Number((await this.scalar.data())[0]);
  }
  async allGatherString(value: string): Promise<string[]> {
    const bytes = new TextEncoder().encode(value.slice(0, 255));
    const row = new Uint8Array(256);
    row[0] = bytes.length;
    row.set(bytes, 1);
    const mine = this.fns.tensor(row, { dtype: 'uint8', device: this.device });
    const all = this.fns.empty([256 * this.worldSize], { dtype: 'uint8', device: this.device });
    try {
      await (this.dist.allGatherIntoTensor ? this.dist.allGatherIntoTensor(all, mine) : this.dist.allGather(all, mine));
      const data = await all.data();
      const out: string[] = [];
      for (let r = 0; r < this.worldSize; r++) {
        const len = Number(data[r * 256]);
        const b = Uint8Array.from({ length: len }, (_, i) => Number(data[r * 256 + 1 + i]));
        out.push(new TextDecoder().decode(b));
      }
      return out;
    } finally {
      mine.dispose();
      all.dispose();
    }
  }
  graphSupport(): { ok: false; reason: string } {
    if (this.backend === 'cpu') return { ok: false, reason: 'the cpu backend runs no GPU work to capture' };
    return { ok: false, reason: 'node-nccl does not expose CUDA stream capture (cudaStreamBeginCapture) yet' };
  }
  maxBufferBytes(): number {
    // Two buffers of the largest size, as nccl-tests allocates, within a quarter of host memory on the
    // cpu backend (ranks share the host) or the device memory less 1 GiB on a GPU.
    if (this.backend === 'cpu') return Math.floor(os.totalmem() / 4 / Math.max(1, this.worldSize) / 2);
    // nccl-tests: (device memory - 1 GiB) / 3 (send, recv, expected); 8 GiB when it cannot be read.
    try {
      const p = this.cuda?.getDeviceProperties?.(Number(this.device.split(':')[1])) as
        | { totalMemory?: number; totalGlobalMem?: number }
        | undefined;
      const total = p?.totalMemory ?? p?.totalGlobalMem;
      if (typeof total === 'number' && total > 2 * 1024 ** 3) return Math.floor((total - 1024 ** 3) / 3);
    } catch {
      /* fall through */
    }
    return 8 * 1024 ** 3;
  }
  async close(): Promise<void> {
    this.scalar.dispose();
    await this.dist.destroyProcessGroup();
  }
}

