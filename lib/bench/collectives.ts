/**
 * The collectives as table entries (nccl-tests' `testColl`): how a byte size becomes element
 * counts, the bus-bandwidth factor, how to run it out of place / in place, what each rank's input
 * is and what each result must be. The driver (driver.ts) is the same for all of them.
 */
import type { BenchBuffer, BenchComm, Pending } from './comm.js';
import type { BenchDType, ReduceOp } from './dtypes.js';
import { patternValue, reducedValue } from './pattern.js';

export type CollectiveName =
  | 'all-reduce'
  | 'all-gather'
  | 'reduce-scatter'
  | 'broadcast'
  | 'reduce'
  | 'all-to-all'
  | 'send-recv';

export const COLLECTIVE_NAMES: readonly CollectiveName[] = [
  'all-reduce',
  'all-gather',
  'reduce-scatter',
  'broadcast',
  'reduce',
  'all-to-all',
  'send-recv',
];

/** Element counts of one size step (nccl-tests' getCollByteCount), in elements. */
export interface CollCounts {
  sendCount: number;
  recvCount: number;
  /** The count argument of the collective; the `count` column; the basis of algbw. */
  paramCount: number;
  /** In place, rank r's send buffer starts at recvbuff + sendInplaceOffset * r. */
  sendInplaceOffset: number;
  /** In place, rank r's receive buffer starts at recvbuff + recvInplaceOffset * r. */
  recvInplaceOffset: number;
}

export interface CollContext {
  dtype: BenchDType;
  op: ReduceOp;
  root: number;
  rank: number;
  nranks: number;
  counts: CollCounts;
  rep: number;
}

export interface CollectiveSpec {
  name: CollectiveName;
  /** The nccl-tests binary it mirrors. */
  ncclTestsName: string;
  /** The redop column shows the op (otherwise "none"); -o applies. */
  usesOp: boolean;
  /** The root column shows the root (otherwise -1); -r applies. */
  usesRoot: boolean;
  /** nccl-tests does not check in-place all-to-all and send-recv: #wrong shows N/A. */
  checkInPlace: boolean;
  /** The smallest world size it makes sense at. */
  minRanks: number;
  counts(count: number, nranks: number): CollCounts;
  /** busbw = algbw * factor. */
  busBwFactor(nranks: number): number;
  /** algbw's bytes: paramCount * elementSize * (nranks for the gather/scatter family). */
  algBytes(paramCount: number, elementSize: number, nranks: number): number;
  run(comm: BenchComm, send: BenchBuffer, recv: BenchBuffer, ctx: CollContext): Pending;
  /** The value of element i of this rank's send buffer. */
  input(ctx: CollContext, i: number): number;
  /** The value element i of this rank's receive buffer must hold, or null if it is not checked. */
  expected(ctx: CollContext, i: number): number | null;
}

const same = (count: number): CollCounts => ({
  sendCount: count,
  recvCount: count,
  paramCount: count,
  sendInplaceOffset: 0,
  recvInplaceOffset: 0,
});

export const COLLECTIVES: Record<CollectiveName, CollectiveSpec> = {
  'all-reduce': {
    name: 'all-reduce',
    ncclTestsName: 'all_reduce_perf',
    usesOp: true,
    usesRoot: false,
    checkInPlace: true,
    minRanks: 1,
    counts: same,
    busBwFactor: (n) => (2 * (n - 1)) / n,
    algBytes: (c, s) => c * s,
    run: (comm, send, recv, ctx) => comm.allReduce(send, recv, ctx.op),
    input: (ctx, i) => patternValue(ctx.op, ctx.rank, i, ctx.rep),
    expected: (ctx, i) => reducedValue(ctx.dtype, ctx.op, ctx.nranks, i, ctx.rep),
  },
  'all-gather': {
    name: 'all-gather',
    ncclTestsName: 'all_gather_perf',
    usesOp: false,
    usesRoot: false,
    checkInPlace: true,
    minRanks: 1,
    counts: (count, n) => {
      const per = Math.floor(count / n);
      return { sendCount: per, recvCount: per * n, paramCount: per, sendInplaceOffset: per, recvInplaceOffset: 0 };
    },
    busBwFactor: (n) => (n - 1) / n,
    algBytes: (c, s, n) => c * s * n,
    run: (comm, send, recv) => comm.allGather(send, recv),
    input: (ctx, i) => patternValue(null, ctx.rank, i, ctx.rep),
    expected: (ctx, i) => {
      const per = ctx.counts.paramCount;
      return patternValue(null, Math.floor(i / per), i % per, ctx.rep);
    },
  },
  'reduce-scatter': {
    name: 'reduce-scatter',
    ncclTestsName: 'reduce_scatter_perf',
    usesOp: true,
    usesRoot: false,
    checkInPlace: true,
    minRanks: 1,
    counts: (count, n) => {
      const per = Math.floor(count / n);
      return { sendCount: per * n, recvCount: per, paramCount: per, sendInplaceOffset: 0, recvInplaceOffset: per };
    },
    busBwFactor: (n) => (n - 1) / n,
    algBytes: (c, s, n) => c * s * n,
    run: (comm, send, recv, ctx) => comm.reduceScatter(send, recv, ctx.op),
    input: (ctx, i) => patternValue(ctx.op, ctx.rank, i, ctx.rep),
    expected: (ctx, i) =>
      reducedValue(ctx.dtype, ctx.op, ctx.nranks, ctx.rank * ctx.counts.paramCount + i, ctx.rep),
  },
  broadcast: {
    name: 'broadcast',
    ncclTestsName: 'broadcast_perf',
    usesOp: false,
    usesRoot: true,
    checkInPlace: true,
    minRanks: 1,
    counts: same,
    busBwFactor: () => 1,
    algBytes: (c, s) => c * s,
    run: (comm, send, recv, ctx) => comm.broadcast(send, recv, ctx.root),
    input: (ctx, i) => patternValue(null, ctx.rank, i, ctx.rep),
    expected: (ctx, i) => patternValue(null, ctx.root, i, ctx.rep),
  },
  reduce: {
    name: 'reduce',
    ncclTestsName: 'reduce_perf',
    usesOp: true,
    usesRoot: true,
    checkInPlace: true,
    minRanks: 1,
    counts: same,
    busBwFactor: () => 1,
    algBytes: (c, s) => c * s,
    run: (comm, send, recv, ctx) => comm.reduce(send, recv, ctx.op, ctx.root),
    input: (ctx, i) => patternValue(ctx.op, ctx.rank, i, ctx.rep),
    expected: (ctx, i) =>
      ctx.rank === ctx.root ? reducedValue(ctx.dtype, ctx.op, ctx.nranks, i, ctx.rep) : null,
  },
  'all-to-all': {
    name: 'all-to-all',
    ncclTestsName: 'alltoall_perf',
    usesOp: false,
    usesRoot: false,
    checkInPlace: false,
    minRanks: 1,
    counts: (count, n) => {
      const per = Math.floor(count / n);
      return { sendCount: per * n, recvCount: per * n, paramCount: per, sendInplaceOffset: 0, recvInplaceOffset: 0 };
    },
    busBwFactor: (n) => (n - 1) / n,
    algBytes: (c, s, n) => c * s * n,
    run: (comm, send, recv) => comm.allToAll(send, recv),
    // Block j of rank r's input (destined to rank j) holds logical indices j*per.. of rank r.
    input: (ctx, i) => patternValue(null, ctx.rank, i, ctx.rep),
    expected: (ctx, i) => {
      const per = ctx.counts.paramCount;
      const from = Math.floor(i / per);
      return patternValue(null, from, ctx.rank * per + (i % per), ctx.rep);
    },
  },
  'send-recv': {
    name: 'send-recv',
    ncclTestsName: 'sendrecv_perf',
    usesOp: false,
    usesRoot: false,
    checkInPlace: false,
    minRanks: 1,
    counts: same,
    busBwFactor: () => 1,
    algBytes: (c, s) => c * s,
    run: (comm, send, recv, ctx) =>
      comm.sendRecv(send, recv, (ctx.rank + 1) % ctx.nranks, (ctx.rank - 1 + ctx.nranks) % ctx.nranks),
    input: (ctx, i) => patternValue(null, ctx.rank, i, ctx.rep),
    expected: (ctx, i) => patternValue(null, (ctx.rank - 1 + ctx.nranks) % ctx.nranks, i, ctx.rep),
  },
};

export function isCollectiveName(s: string): s is CollectiveName {
  return (COLLECTIVE_NAMES as readonly string[]).includes(s);
}

/** algbw and busbw in GB/s (1e9 bytes per second) for one timing, as nccl-tests computes them. */
export function bandwidth(
  spec: CollectiveSpec,
  paramCount: number,
  elementSize: number,
  nranks: number,
  seconds: number,
): { algBw: number; busBw: number } {
  const algBw = seconds > 0 ? spec.algBytes(paramCount, elementSize, nranks) / 1e9 / seconds : 0;
  return { algBw, busBw: algBw * spec.busBwFactor(nranks) };
}
