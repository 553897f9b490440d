/**
 * ProcessGroup: the collectives on tensors, with PyTorch's meanings, over one Backend. It checks
 * arguments (synchronously: a wrong call throws at once), stages non-contiguous tensors through
 * contiguous copies (copied back on completion), packs list forms into flat buffers, converts
 * global src/dst ranks to group ranks (as torch.distributed does), and with NODE_NCCL_DEBUG=detail
 * compares every collective's fingerprint across ranks before running it.
 */
import { createError } from '../errors.js';
import type { Backend, BackendWork, P2PDesc } from './backend.js';
import { checkCollectiveFingerprint, distributedDebugLevel, type CollectiveFingerprint } from './debug.js';
import {
  DTYPE_BYTES,
  DTYPE_CODE,
  checkReduceOp,
  type BackendName,
  type Buf,
  type DType,
  type DistTensor,
  type GroupStore,
  type ReduceOpName,
} from './types.js';
import { Work } from './work.js';
import { checkOptions, optionKeys } from '../options.js';

function bufOf(t: DistTensor): Buf {
  const s = t.span();
  return { mem: s.mem, byteOffset: s.offset * DTYPE_BYTES[t.dtype] };
}

/** A contiguous stand-in for t and what to do when the op is done (copy back into t). */
interface Staged {
  buf: Buf;
  finish(): void;
}
function stageIn(t: DistTensor): Staged {
  if (t.isContiguous()) return { buf: bufOf(t), finish: () => {} };
  const c = t.contiguous();
  return { buf: bufOf(c), finish: () => {} };
}
function stageInOut(t: DistTensor): Staged {
  if (t.isContiguous()) return { buf: bufOf(t), finish: () => {} };
  const c = t.contiguous();
  return {
    buf: bufOf(c),
    finish: () => {
      t.copy_(c as never); // c came from t.contiguous(): the same tensor class
    },
  };
}

/** The object that owns a buffer's bytes (the ArrayBuffer behind a view). */
function storageOf(b: Buf): unknown {
  const m = b.mem;
  return ArrayBuffer.isView(m) ? m.buffer : m;
}

function isTensor(t: unknown): t is DistTensor {
  return (
    t !== null &&
    typeof t === 'object' &&
    typeof (t as DistTensor).span === 'function' &&
    typeof (t as DistTensor).isContiguous === 'function' &&
    typeof (t as DistTensor).dtype === 'string'
  );
}

/**
 * What NODE_NCCL_DEBUG=detail compares across ranks for one call. Element counts, not shapes:
 * a [10] tensor reduced with a [2, 5] one is a valid call. All-to-all's splits differ by rank
 * by design; the backend checks that they pair up.
 */
function fp(op: string, t: DistTensor, extra: Partial<CollectiveFingerprint> = {}): CollectiveFingerprint {
  return { op, dtype: t.dtype, count: t.numel(), ...extra, device: t.device.type };
}

function shapeStr(t: DistTensor): string {
  return `[${t.shape.join(', ')}]`;
}

const P2P_OP_OPTIONS = optionKeys<{ group?: ProcessGroup; tag?: number }>({ group: true, tag: true });

/** One point-to-point op for batchIsendIrecv (PyTorch's P2POp). */

export class P2POp {
  readonly op: 'isend' | 'irecv';
  readonly tensor: DistTensor;
  /** Global rank of the peer. */
  readonly peer: number;
  readonly group: ProcessGroup | undefined;
  readonly tag: number;
  /**
   * @param op 'isend' | 'irecv', or the functions dist.isend / dist.irecv themselves.
   * @param opts.group the group (default: the default group); opts.tag default 0.
   */
  constructor(
    op: 'isend' | 'irecv' | ((...args: never[]) => unknown),
    tensor: DistTensor,
    peer: number,
    opts: { group?: ProcessGroup; tag?: number } = {},
  ) {
    opts = checkOptions(opts, P2P_OP_OPTIONS, 'P2POp');
    const name = typeof op === 'function' ? op.name : op;
    if (name !== 'isend' && name !== 'irecv') {
      throw createError('ERR_INVALID_ARG', `P2POp: op must be 'isend' or 'irecv' (or dist.isend / dist.irecv), got ${String(name)}`);
    }
    this.op = name;
    this.tensor = tensor;
    this.peer = peer;
    this.group = opts.group;
    this.tag = opts.tag ?? 0;
  }
}

export interface GroupInit {
  name: string;
  /** Global ranks of the members, in group-rank order. */
  ranks: number[];
  /** This process's global rank. */
  globalRank: number;
  backendName: BackendName;
  backend: Backend | null;
  store: GroupStore | null;
  timeoutMs: number;
}

export class ProcessGroup {
  /** The group's name ('default' or 'group<N>'). */
  readonly name: string;
  /** Global ranks of the members, in group-rank order. */
  readonly ranks: readonly number[];
  readonly backendName: BackendName;
  readonly timeoutMs: number;
  readonly #globalRank: number;
  readonly #groupRank: number;
  #backend: Backend | null;
  readonly #store: GroupStore | null;
  #seq = 0;
  #chain: Promise<void> = Promise.resolve();
  readonly #inflight = new Set<Promise<void>>();
  #destroyed = false;
  /** NODE_NCCL_DEBUG=detail, read when the group is made (as torch reads TORCH_DISTRIBUTED_DEBUG at init). */
  readonly #debugDetail = distributedDebugLevel() === 'detail';

  /**
   * Whether work.wait() can block on this group's ops: not with NODE_NCCL_DEBUG=detail, whose
   * cross-rank check of each collective goes through the store on the event loop first.
   */
  get supportsSyncWait(): boolean {
    return !(this.#debugDetail && this.#store);
  }

  constructor(init: GroupInit) {
    this.name = init.name;
    this.ranks = Object.freeze([...init.ranks]);
    this.backendName = init.backendName;
    this.timeoutMs = init.timeoutMs;
    this.#globalRank = init.globalRank;
    this.#groupRank = init.ranks.indexOf(init.globalRank);
    this.#backend = init.backend;
    this.#store = init.store;
  }

  /** This process's rank in the group; -1 when it is not a member (as torch's get_rank(group)). */
  get rank(): number {
    return this.#groupRank;
  }
  get size(): number {
    return this.ranks.length;
  }
  isMember(): boolean {
    return this.#groupRank >= 0;
  }
  get destroyed(): boolean {
    return this.#destroyed;
  }

  #be(who: string): Backend {
    if (this.#destroyed) {
      throw createError('ERR_DIST_NOT_INITIALIZED', `${who}: process group '${this.name}' was destroyed`);
    }
    if (!this.#backend) {
      throw createError(
        'ERR_DIST',
        `${who}: rank ${this.#globalRank} is not a member of process group '${this.name}' (ranks ${this.ranks.join(', ')})`,
      );
    }
    return this.#backend;
  }

  #tensor(who: string, t: unknown, what = 'tensor'): DistTensor {
    if (!isTensor(t)) throw createError('ERR_INVALID_ARG', `${who}: ${what} must be a Tensor, got ${t === null ? 'null' : typeof t}`);
    if (!(t.dtype in DTYPE_CODE)) throw createError('ERR_DTYPE', `${who}: ${what} has unsupported dtype ${String(t.dtype)}`);
    this.#be(who).checkDevice(who, t);
    return t;
  }

  #list(who: string, list: unknown, what: string, like: DistTensor, n = this.size): DistTensor[] {
    if (!Array.isArray(list)) throw createError('ERR_INVALID_ARG', `${who}: ${what} must be an array of ${n} tensors`);
    if (list.length !== n) {
      throw createError('ERR_INVALID_ARG', `${who}: ${what} must hold one tensor per rank of the group (${n}), got ${list.length}`);
    }
    return list.map((x, i) => {
      const t = this.#tensor(who, x, `${what}[${i}]`);
      if (t.dtype !== like.dtype) {
        throw createError('ERR_DTYPE', `${who}: ${what}[${i}] is ${t.dtype} but the tensor is ${like.dtype}`);
      }
      if (t.numel() !== like.numel()) {
        throw createError(
          'ERR_SHAPE_MISMATCH',
          `${who}: ${what}[${i}] has ${t.numel()} elements (shape ${shapeStr(t)}), the tensor has ${like.numel()} (shape ${shapeStr(like)})`,
        );
      }
      return t;
    });
  }

  /** Global rank → group rank (src/dst arguments are global ranks, as in torch.distributed). */
  #peer(who: string, what: string, global: unknown): number {
    if (typeof global !== 'number' || !Number.isInteger(global) || global < 0) {
      throw createError('ERR_INVALID_ARG', `${who}: ${what} must be a rank (a non-negative integer), got ${String(global)}`);
    }
    const r = this.ranks.indexOf(global);
    if (r < 0) {
      throw createError('ERR_INVALID_ARG', `${who}: ${what} ${global} is not a rank of process group '${this.name}' (ranks ${this.ranks.join(', ')})`);
    }
    return r;
  }

  /**
   * Runs one op: `fp` is its fingerprint (null for point-to-point); `start` submits it to the
   * backend; `after` runs once it completed (copies back). Returns the Work.
   */
  #run(fp: CollectiveFingerprint | null, start: () => BackendWork, after?: () => void): Work {
    const seq = fp === null ? 0 : ++this.#seq;
    let work: BackendWork;
    let done: Promise<void>;
    if (fp !== null && this.#debugDetail && this.#store) {
      const store = this.#store;
      const check = this.#chain.then(() => checkCollectiveFingerprint(store, this.name, this.#groupRank, this.size, seq, fp, this.timeoutMs));
      let onWait: (() => void) | undefined;
      const started = check.then(() => {
        work = start();
        onWait = work.onWait;
        return work.done;
      });
      this.#chain = check.then(
        () => {},
        () => {},
      );
      done = started.then(() => after?.());
      const noSyncReason =
        'NODE_NCCL_DEBUG=detail checks every collective across ranks through the store first, which needs the event loop';
      return this.#track(new Work(done, { onWait: () => onWait?.(), noSyncReason }), done);
    }
    work = start();
    if (work.completed) {
      // Completed as it was submitted (the cpu backend's direct path): nothing is in flight.
      try {
        after?.();
      } catch (e) {
        return Work.failed(e instanceof Error ? e : new Error(String(e)));
      }
      return Work.completed({ onWait: work.onWait });
    }
    return this.#work(work, after);
  }

  /** The Work of a submitted backend op; `after` (copy-back) runs once, on whichever wait comes first. */
  #work(work: BackendWork, after: (() => void) | undefined): Work {
    let finished = after === undefined;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      after!();
    };
    const done = after ? work.done.then(finish) : work.done;
    const sync = work.waitSync;
    const waitSync = sync
      ? (): void => {
          sync();
          finish();
        }
      : undefined;
    return this.#track(new Work(done, { onWait: work.onWait, waitSync }), done);
  }

  /** Makes reads of `outs` wait for w while it is in flight (DistTensor._pendingWrite). */
  #writes(w: Work, outs: readonly DistTensor[]): Work {
    if (!w.isCompleted()) for (const t of outs) t._pendingWrite?.(w);
    return w;
  }

  #track(w: Work, done: Promise<void>): Work {
    const p = done.then(
      () => {},
      () => {},
    );
    this.#inflight.add(p);
    void p.then(() => this.#inflight.delete(p));
    return w;
  }

  // ---- collectives ----

  allReduce(tensor: DistTensor, op: ReduceOpName = 'sum'): Work {
    const who = 'allReduce';
    const t = this.#tensor(who, tensor);
    const o = checkReduceOp(who, op, t.dtype);
    const be = this.#be(who);
    const s = stageInOut(t);
    return this.#writes(this.#run(fp('allReduce', t, { reduceOp: o }), () => be.allReduce(s.buf, s.buf, t.numel(), t.dtype, o), s.finish), [t]);
  }

  broadcast(tensor: DistTensor, src: number): Work {
    const who = 'broadcast';
    const t = this.#tensor(who, tensor);
    const root = this.#peer(who, 'src', src);
    const be = this.#be(who);
    const s = stageInOut(t);
    return this.#writes(this.#run(fp('broadcast', t, { root: src }), () => be.broadcast(s.buf, t.numel(), t.dtype, root), s.finish), root === this.rank ? [] : [t]);
  }

  reduce(tensor: DistTensor, dst: number, op: ReduceOpName = 'sum'): Work {
    const who = 'reduce';
    const t = this.#tensor(who, tensor);
    const o = checkReduceOp(who, op, t.dtype);
    const root = this.#peer(who, 'dst', dst);
    const be = this.#be(who);
    const s = root === this.rank ? stageInOut(t) : stageIn(t);
    return this.#writes(this.#run(fp('reduce', t, { reduceOp: o, root: dst }), () => be.reduce(s.buf, s.buf, t.numel(), t.dtype, o, root), s.finish), root === this.rank ? [t] : []);
  }

  allGather(outputList: DistTensor[], tensor: DistTensor): Work {
    const who = 'allGather';
    const t = this.#tensor(who, tensor);
    const outs = this.#list(who, outputList, 'outputList', t);
    const be = this.#be(who);
    const bytes = t.numel() * DTYPE_BYTES[t.dtype];
    const s = stageIn(t);
    const tmp = be.alloc(bytes * this.size, t);
    return this.#writes(
      this.#run(
        fp('allGather', t),
        () => be.allGather(s.buf, tmp, t.numel(), t.dtype),
        () => outs.forEach((o, i) => this.#copyOut(be, o, tmp, i * bytes, bytes)),
      ),
      outs,
    );
  }

  allGatherIntoTensor(output: DistTensor, input: DistTensor): Work {
    const who = 'allGatherIntoTensor';
    const t = this.#tensor(who, input, 'input');
    const out = this.#tensor(who, output, 'output');
    this.#sameDtype(who, out, t);
    if (out.numel() !== t.numel() * this.size) {
      throw createError('ERR_SHAPE_MISMATCH', `${who}: output must have world size (${this.size}) x ${t.numel()} = ${t.numel() * this.size} elements, got ${out.numel()}`);
    }
    const be = this.#be(who);
    const si = stageIn(t);
    const so = stageInOut(out);
    return this.#writes(this.#run(fp('allGatherIntoTensor', t), () => be.allGather(si.buf, so.buf, t.numel(), t.dtype), so.finish), [out]);
  }

  reduceScatter(output: DistTensor, inputList: DistTensor[], op: ReduceOpName = 'sum'): Work {
    const who = 'reduceScatter';
    const out = this.#tensor(who, output, 'output');
    const ins = this.#list(who, inputList, 'inputList', out);
    const o = checkReduceOp(who, op, out.dtype);
    const be = this.#be(who);
    const bytes = out.numel() * DTYPE_BYTES[out.dtype];
    const tmp = be.alloc(bytes * this.size, out);
    ins.forEach((x, i) => be.copy({ mem: tmp.mem, byteOffset: tmp.byteOffset + i * bytes }, stageIn(x).buf, bytes));
    const so = stageInOut(out);
    return this.#writes(this.#run(fp('reduceScatter', out, { reduceOp: o }), () => be.reduceScatter(tmp, so.buf, out.numel(), out.dtype, o), so.finish), [out]);
  }

  reduceScatterTensor(output: DistTensor, input: DistTensor, op: ReduceOpName = 'sum'): Work {
    const who = 'reduceScatterTensor';
    const out = this.#tensor(who, output, 'output');
    const t = this.#tensor(who, input, 'input');
    this.#sameDtype(who, out, t);
    const o = checkReduceOp(who, op, out.dtype);
    if (t.numel() !== out.numel() * this.size) {
      throw createError('ERR_SHAPE_MISMATCH', `${who}: input must have world size (${this.size}) x ${out.numel()} = ${out.numel() * this.size} elements, got ${t.numel()}`);
    }
    const be = this.#be(who);
    const si = stageIn(t);
    const so = stageInOut(out);
    return this.#writes(this.#run(fp('reduceScatterTensor', out, { reduceOp: o }), () => be.reduceScatter(si.buf, so.buf, out.numel(), out.dtype, o), so.finish), [out]);
  }

  gather(tensor: DistTensor, gatherList: DistTensor[] | undefined | null, dst: number): Work {
    const who = 'gather';
    const t = this.#tensor(who, tensor);
    const root = this.#peer(who, 'dst', dst);
    const be = this.#be(who);
    const bytes = t.numel() * DTYPE_BYTES[t.dtype];
    let outs: DistTensor[] | null = null;
    if (root === this.rank) {
      outs = this.#list(who, gatherList, 'gatherList', t);
    } else if (gatherList && gatherList.length > 0) {
      throw createError('ERR_INVALID_ARG', `${who}: gatherList must not be given on ranks other than dst (${dst})`);
    }
    const s = stageIn(t);
    const tmp = outs ? be.alloc(bytes * this.size, t) : null;
    return this.#writes(
      this.#run(
        fp('gather', t, { root: dst }),
        () => be.gather(s.buf, tmp, t.numel(), t.dtype, root),
        () => outs?.forEach((o, i) => this.#copyOut(be, o, tmp as Buf, i * bytes, bytes)),
      ),
      outs ?? [],
    );
  }

  scatter(tensor: DistTensor, scatterList: DistTensor[] | undefined | null, src: number): Work {
    const who = 'scatter';
    const t = this.#tensor(who, tensor);
    const root = this.#peer(who, 'src', src);
    const be = this.#be(who);
    const bytes = t.numel() * DTYPE_BYTES[t.dtype];
    let tmp: Buf | null = null;
    if (root === this.rank) {
      const ins = this.#list(who, scatterList, 'scatterList', t);
      const buf = be.alloc(bytes * this.size, t);
      ins.forEach((x, i) => be.copy({ mem: buf.mem, byteOffset: buf.byteOffset + i * bytes }, stageIn(x).buf, bytes));
      tmp = buf;
    } else if (scatterList && scatterList.length > 0) {
      throw createError('ERR_INVALID_ARG', `${who}: scatterList must not be given on ranks other than src (${src})`);
    }
    const so = stageInOut(t);
    return this.#writes(this.#run(fp('scatter', t, { root: src }), () => be.scatter(tmp, so.buf, t.numel(), t.dtype, root), so.finish), [t]);
  }

  allToAll(outputList: DistTensor[], inputList: DistTensor[]): Work {
    const who = 'allToAll';
    if (!Array.isArray(inputList) || inputList.length !== this.size || !Array.isArray(outputList) || outputList.length !== this.size) {
      throw createError('ERR_INVALID_ARG', `${who}: outputList and inputList must each hold one tensor per rank of the group (${this.size})`);
    }
    const ins = inputList.map((x, i) => this.#tensor(who, x, `inputList[${i}]`));
    const outs = outputList.map((x, i) => this.#tensor(who, x, `outputList[${i}]`));
    const dtype = ins[0]!.dtype;
    [...ins, ...outs].forEach((x) => this.#sameDtype(who, x, ins[0]!));
    const be = this.#be(who);
    const es = DTYPE_BYTES[dtype];
    const sendCounts = ins.map((x) => x.numel());
    const recvCounts = outs.map((x) => x.numel());
    const send = be.alloc(sendCounts.reduce((a, b) => a + b, 0) * es, ins[0]!);
    const recv = be.alloc(recvCounts.reduce((a, b) => a + b, 0) * es, ins[0]!);
    let off = 0;
    ins.forEach((x) => {
      be.copy({ mem: send.mem, byteOffset: send.byteOffset + off }, stageIn(x).buf, x.numel() * es);
      off += x.numel() * es;
    });
    return this.#writes(
      this.#run(
        { op: 'allToAll', dtype },
        () => be.allToAll(send, recv, sendCounts, recvCounts, dtype),
        () => {
          let o = 0;
          outs.forEach((x) => {
            this.#copyOut(be, x, recv, o, x.numel() * es);
            o += x.numel() * es;
          });
        },
      ),
      outs,
    );
  }

  allToAllSingle(output: DistTensor, input: DistTensor, outputSplitSizes?: number[] | null, inputSplitSizes?: number[] | null): Work {
    const who = 'allToAllSingle';
    const out = this.#tensor(who, output, 'output');
    const t = this.#tensor(who, input, 'input');
    this.#sameDtype(who, out, t);
    const counts = (x: DistTensor, splits: number[] | null | undefined, what: string): number[] => {
      const rows = x.shape.length === 0 ? 1 : x.shape[0]!;
      const rowElems = x.shape.length === 0 ? 1 : x.shape.slice(1).reduce((a, b) => a * b, 1);
      if (!splits || splits.length === 0) {
        if (rows % this.size !== 0) {
          throw createError('ERR_SHAPE_MISMATCH', `${who}: ${what}'s first dimension (${rows}) must divide evenly by the group size (${this.size}) when no split sizes are given`);
        }
        return new Array<number>(this.size).fill((rows / this.size) * rowElems);
      }
      if (splits.length !== this.size || splits.some((v) => !Number.isInteger(v) || v < 0) || splits.reduce((a, b) => a + b, 0) !== rows) {
        throw createError('ERR_INVALID_ARG', `${who}: ${what} split sizes must be ${this.size} non-negative integers summing to its first dimension (${rows}), got [${splits.join(', ')}]`);
      }
      return splits.map((v) => v * rowElems);
    };
    const sendCounts = counts(t, inputSplitSizes, 'input');
    const recvCounts = counts(out, outputSplitSizes, 'output');
    const be = this.#be(who);
    const si = stageIn(t);
    const so = stageInOut(out);
    let send = si.buf;
    const sameMemory = storageOf(si.buf) === storageOf(so.buf);
    if (sameMemory) {
      // in place: send from a copy (the splits may differ)
      const bytes = t.numel() * DTYPE_BYTES[t.dtype];
      send = be.alloc(bytes, t);
      be.copy(send, si.buf, bytes);
    }
    return this.#writes(
      this.#run({ op: 'allToAllSingle', dtype: t.dtype, device: t.device.type }, () => be.allToAll(send, so.buf, sendCounts, recvCounts, t.dtype), so.finish),
      [out],
    );
  }

  barrier(): Work {
    const be = this.#be('barrier');
    return this.#run({ op: 'barrier' }, () => be.barrier());
  }

  /** Point-to-point ops (they progress together). Peers are global ranks. */
  p2p(ops: { kind: 'send' | 'recv'; tensor: DistTensor; peer: number; tag: number }[]): Work[] {
    const be = this.#be(ops[0]?.kind ?? 'send');
    const descs: P2PDesc[] = [];
    const finishes: (() => void)[] = [];
    for (const o of ops) {
      const who = o.kind;
      const t = this.#tensor(who, o.tensor);
      const peer = this.#peer(who, o.kind === 'send' ? 'dst' : 'src', o.peer);
      if (peer === this.rank) throw createError('ERR_INVALID_ARG', `${who}: cannot ${who} ${o.kind === 'send' ? 'to' : 'from'} its own rank (${o.peer})`);
      if (!Number.isSafeInteger(o.tag)) throw createError('ERR_INVALID_ARG', `${who}: tag must be an integer, got ${String(o.tag)}`);
      const s = o.kind === 'send' ? stageIn(t) : stageInOut(t);
      descs.push({ kind: o.kind, buf: s.buf, count: t.numel(), dtype: t.dtype, peer, tag: o.tag });
      finishes.push(s.finish);
    }
    const works = be.p2p(descs);
    return works.map((w, i) => this.#writes(this.#work(w, finishes[i]), ops[i]!.kind === 'recv' ? [ops[i]!.tensor] : []));
  }

  #sameDtype(who: string, a: DistTensor, b: DistTensor): void {
    if (a.dtype !== b.dtype) throw createError('ERR_DTYPE', `${who}: tensors must share a dtype, got ${a.dtype} and ${b.dtype}`);
  }

  #copyOut(be: Backend, out: DistTensor, src: Buf, byteOffset: number, bytes: number): void {
    const s = stageInOut(out);
    be.copy(s.buf, { mem: src.mem, byteOffset: src.byteOffset + byteOffset }, bytes);
    s.finish();
  }

  /** Fails every op in flight and later (ERR_DIST_ABORTED). */
  abort(reason = 'abort() was called'): void {
    this.#backend?.abort(reason);
  }

  /** Global ranks of the members a peer failure named (processes known to be gone), ascending. */
  knownDeadRanks(): number[] {
    const dead = this.#backend?.deadRanks ?? this.#dead;
    return dead.map((r) => this.ranks[r]!).filter((r) => r !== undefined).sort((a, b) => a - b);
  }
  #dead: readonly number[] = [];

  /**
   * Waits for the ops in flight to settle (they fail by the group's timeout at worst; at once
   * once a peer is known dead, which breaks the communicator), then releases the communicator.
   * Later calls on this group throw.
   */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    await Promise.all([...this.#inflight]);
    const be = this.#backend;
    this.#dead = [...(be?.deadRanks ?? [])];
    this.#backend = null;
    await be?.destroy();
  }
}
