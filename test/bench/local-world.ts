/**
 * An in-memory world of N ranks in one process, implementing BenchComm with plain host arrays and
 * an independent, element-by-element implementation of every collective. It lets the driver's
 * timing, checking and output be tested without processes, and a deliberately broken collective
 * (`corrupt`) proves that #wrong counts real mistakes.
 */
import type { BenchBuffer, BenchComm, Pending } from '../../lib/bench/comm.js';
import { type BenchDType, type HostArray, type ReduceOp, allocHost, getValue, setValue } from '../../lib/bench/dtypes.js';

class LocalBuffer implements BenchBuffer {
  constructor(
    readonly dtype: BenchDType,
    readonly mem: HostArray,
    readonly offset: number,
    readonly count: number,
  ) {}
  get(i: number): number {
    return getValue(this.dtype, this.mem, this.offset + i);
  }
  set(i: number, v: number): void {
    setValue(this.dtype, this.mem, this.offset + i, v);
  }
}

type Op = { kind: string; send: LocalBuffer; recv: LocalBuffer; op?: ReduceOp; root?: number; peer?: number; value?: number | string };

function wrapInt(d: BenchDType, v: number): number {
  if (d.name === 'uint8') return ((v % 256) + 256) % 256;
  if (d.name === 'int32') return v | 0;
  return v;
}

function combine(d: BenchDType, op: ReduceOp, a: number, b: number): number {
  switch (op) {
    case 'sum':
    case 'avg':
      return wrapInt(d, a + b);
    case 'prod':
      return wrapInt(d, a * b);
    case 'min':
      return Math.min(a, b);
    case 'max':
      return Math.max(a, b);
  }
}

export interface WorldOptions {
  /** Make rank `rank`'s result of `kind` wrong at element `index` (tests that #wrong sees it). */
  corrupt?: { kind: string; rank: number; index: number };
  /** Make a rank throw on its first collective (tests that errors propagate). */
  failRank?: number;
}

export class LocalWorld {
  private readonly pending = new Map<number, (Op | undefined)[]>();
  private readonly waiters = new Map<number, ((results: Op[]) => void)[]>();
  private readonly seq: number[];
  readonly comms: LocalComm[];
  constructor(
    readonly size: number,
    readonly options: WorldOptions = {},
  ) {
    this.seq = new Array<number>(size).fill(0);
    this.comms = Array.from({ length: size }, (_, r) => new LocalComm(this, r));
  }

  /** Each rank's k-th call meets the others' k-th call; the last to arrive executes it. */
  meet(rank: number, op: Op): Promise<Op[]> {
    const k = this.seq[rank]!++;
    const slot = this.pending.get(k) ?? new Array<Op | undefined>(this.size).fill(undefined);
    this.pending.set(k, slot);
    slot[rank] = op;
    return new Promise<Op[]>((resolve, reject) => {
      const list = this.waiters.get(k) ?? [];
      list.push(resolve);
      this.waiters.set(k, list);
      if (slot.every((x) => x !== undefined)) {
        const ops = slot as Op[];
        const kinds = new Set(ops.map((o) => o.kind));
        if (kinds.size !== 1) {
          reject(new Error(`mismatched collectives at call ${k}: ${[...kinds].join(', ')}`));
          return;
        }
        this.execute(ops);
        this.pending.delete(k);
        const ws = this.waiters.get(k)!;
        this.waiters.delete(k);
        // Complete asynchronously, like a real backend.
        setImmediate(() => ws.forEach((w) => w(ops)));
      }
    });
  }

  private execute(ops: Op[]): void {
    const n = this.size;
    const kind = ops[0]!.kind;
    const d = ops[0]!.send.dtype;
    const snapshot = ops.map((o) => Array.from({ length: o.send.count }, (_, i) => o.send.get(i)));
    const reduceAt = (op: ReduceOp, at: (r: number) => number): number => {
      let acc = at(0);
      for (let r = 1; r < n; r++) acc = combine(d, op, acc, at(r));
      if (op === 'avg') acc = d.float ? acc / n : Math.trunc(acc / n);
      return acc;
    };
    switch (kind) {
      case 'allReduce':
        ops.forEach((o) => {
          for (let i = 0; i < o.recv.count; i++) o.recv.set(i, reduceAt(o.op!, (r) => snapshot[r]![i]!));
        });
        break;
      case 'allGather':
        ops.forEach((o) => {
          const per = o.send.count;
          for (let i = 0; i < o.recv.count; i++) o.recv.set(i, snapshot[Math.floor(i / per)]![i % per]!);
        });
        break;
      case 'reduceScatter':
        ops.forEach((o, rank) => {
          for (let i = 0; i < o.recv.count; i++) o.recv.set(i, reduceAt(o.op!, (r) => snapshot[r]![rank * o.recv.count + i]!));
        });
        break;
      case 'broadcast':
        ops.forEach((o) => {
          for (let i = 0; i < o.recv.count; i++) o.recv.set(i, snapshot[o.root!]![i]!);
        });
        break;
      case 'reduce': {
        const o = ops[ops[0]!.root!]!;
        for (let i = 0; i < o.recv.count; i++) o.recv.set(i, reduceAt(o.op!, (r) => snapshot[r]![i]!));
        break;
      }
      case 'allToAll':
        ops.forEach((o, rank) => {
          const per = o.recv.count / n;
          for (let i = 0; i < o.recv.count; i++) o.recv.set(i, snapshot[Math.floor(i / per)]![rank * per + (i % per)]!);
        });
        break;
      case 'sendRecv':
        ops.forEach((o) => {
          for (let i = 0; i < o.recv.count; i++) o.recv.set(i, snapshot[o.peer!]![i]!);
        });
        break;
      case 'number': {
        const vals = ops.map((o) => o.value as number);
        const how = ops[0]!.op as unknown as 'sum' | 'min' | 'max';
        const v = how === 'sum' ? vals.reduce((a, b) => a + b, 0) : how === 'min' ? Math.min(...vals) : Math.max(...vals);
        ops.forEach((o) => (o.value = v));
        break;
      }
      case 'strings': {
        const vals = ops.map((o) => o.value as string);
        ops.forEach((o) => (o.value = JSON.stringify(vals)));
        break;
      }
      case 'barrier':
        break;
    }
    const c = this.options.corrupt;
    if (c && c.kind === kind) {
      const o = ops[c.rank]!;
      if (c.index < o.recv.count) o.recv.set(c.index, o.recv.get(c.index) + 1);
    }
  }
}

const dummy = (d: BenchDType): LocalBuffer => new LocalBuffer(d, allocHost(d, 0), 0, 0);
const f64 = { ncclName: 'double', name: 'float64', size: 8, float: true } as const satisfies BenchDType;

export class LocalComm implements BenchComm {
  readonly backend = 'local';
  private calls = 0;
  constructor(
    private readonly world: LocalWorld,
    readonly rank: number,
  ) {}
  get worldSize(): number {
    return this.world.size;
  }
  deviceLine(): string {
    return `Group  0 Pid ${process.pid} on localhost device -1 [in-memory]`;
  }
  allocate(dtype: BenchDType, count: number): BenchBuffer {
    return new LocalBuffer(dtype, allocHost(dtype, count), 0, count);
  }
  slice(buf: BenchBuffer, offset: number, count: number): BenchBuffer {
    const b = buf as LocalBuffer;
    if (offset < 0 || offset + count > b.count) throw new RangeError(`slice ${offset}+${count} out of ${b.count}`);
    return new LocalBuffer(b.dtype, b.mem, b.offset + offset, count);
  }
  async write(buf: BenchBuffer, data: HostArray): Promise<void> {
    const b = buf as LocalBuffer;
    if (data.length !== b.count) throw new RangeError(`write of ${data.length} into ${b.count}`);
    (b.mem as Uint8Array).set(data as Uint8Array, b.offset);
  }
  async read(buf: BenchBuffer): Promise<HostArray> {
    const b = buf as LocalBuffer;
    return b.mem.slice(b.offset, b.offset + b.count) as HostArray;
  }
  free(): void {}
  private issue(op: Op): Pending {
    if (this.world.options.failRank === this.rank && this.calls++ === 0) {
      return Promise.reject(new Error(`rank ${this.rank} failed on purpose`));
    }
    return this.world.meet(this.rank, op);
  }
  allReduce(send: BenchBuffer, recv: BenchBuffer, op: ReduceOp): Pending {
    return this.issue({ kind: 'allReduce', send: send as LocalBuffer, recv: recv as LocalBuffer, op });
  }
  allGather(send: BenchBuffer, recv: BenchBuffer): Pending {
    return this.issue({ kind: 'allGather', send: send as LocalBuffer, recv: recv as LocalBuffer });
  }
  reduceScatter(send: BenchBuffer, recv: BenchBuffer, op: ReduceOp): Pending {
    return this.issue({ kind: 'reduceScatter', send: send as LocalBuffer, recv: recv as LocalBuffer, op });
  }
  broadcast(send: BenchBuffer, recv: BenchBuffer, root: number): Pending {
    return this.issue({ kind: 'broadcast', send: send as LocalBuffer, recv: recv as LocalBuffer, root });
  }
  reduce(send: BenchBuffer, recv: BenchBuffer, op: ReduceOp, root: number): Pending {
    return this.issue({ kind: 'reduce', send: send as LocalBuffer, recv: recv as LocalBuffer, op, root });
  }
  allToAll(send: BenchBuffer, recv: BenchBuffer): Pending {
    return this.issue({ kind: 'allToAll', send: send as LocalBuffer, recv: recv as LocalBuffer });
  }
  sendRecv(send: BenchBuffer, recv: BenchBuffer, _sendPeer: number, recvPeer: number): Pending {
    return this.issue({ kind: 'sendRecv', send: send as LocalBuffer, recv: recv as LocalBuffer, peer: recvPeer });
  }
  async complete(pending: readonly Pending[]): Promise<void> {
    await Promise.all(pending);
  }
  async barrier(): Promise<void> {
    await this.world.meet(this.rank, { kind: 'barrier', send: dummy(f64), recv: dummy(f64) });
  }
  async allReduceNumber(value: number, op: 'sum' | 'min' | 'max'): Promise<number> {
    const ops = await this.world.meet(this.rank, { kind: 'number', send: dummy(f64), recv: dummy(f64), value, op: op as ReduceOp });
    return ops[this.rank]!.value as number;
  }
  async allGatherString(value: string): Promise<string[]> {
    const ops = await this.world.meet(this.rank, { kind: 'strings', send: dummy(f64), recv: dummy(f64), value });
    return JSON.parse(ops[this.rank]!.value as string) as string[];
  }
  graphSupport(): { ok: false; reason: string } {
    return { ok: false, reason: 'the in-memory test backend has no GPU' };
  }
  maxBufferBytes(): number {
    return 1 << 24;
  }
  async close(): Promise<void> {}
}
