/**
 * The one benchmark driver for every collective (nccl-tests' TimeTest/BenchTime): warm up, then
 * for each size time `iters` out-of-place and in-place iterations, aggregate the time over ranks
 * (-a), compute algbw/busbw with the collective's factor, and check the results against the
 * locally computed pattern (-c). Every rank runs it; only rank 0 emits lines.
 */
import { ArgumentError, UnsupportedError } from '../errors.js';
import type { BenchBuffer, BenchComm, Pending } from './comm.js';
import { type CollContext, type CollectiveSpec, COLLECTIVES, bandwidth } from './collectives.js';
import { type BenchDType, type ReduceOp, allocHost, setValue } from './dtypes.js';
import { footerLines, headerLines, rowLine } from './format.js';
import type { CollectiveOptions } from './options.js';
import { sizeSteps } from './options.js';
import { countWrong, tolerance } from './pattern.js';
import type { CollectiveConfig, CollectiveResult, CollectiveRow, TimingCell } from './schema.js';

export interface DriverHooks {
  /** Receives each output line as soon as it is known (rank 0 only). */
  emit(line: string): void;
}

/** What the driver returns on every rank (rank 0 emitted it). */
export type CollectiveOutcome = Pick<CollectiveResult, 'config' | 'devices' | 'rows' | 'summary'>;

function now(): number {
  return performance.now();
}

export function configOf(opts: CollectiveOptions, comm: BenchComm, maxBytes: number): CollectiveConfig {
  return {
    backend: comm.backend,
    worldSize: comm.worldSize,
    minBytes: opts.minBytes,
    maxBytes,
    stepFactor: opts.stepFactor,
    stepBytes: opts.stepBytes,
    iters: opts.iters,
    warmupIters: opts.warmupIters,
    check: opts.check,
    blocking: opts.blocking,
    average: opts.average,
    graphLaunches: opts.graphLaunches,
  };
}

/** Refuses what this world and backend cannot run, before any collective is issued. */
export function validateAgainstWorld(opts: CollectiveOptions, comm: BenchComm): void {
  const spec = COLLECTIVES[opts.collective];
  if (spec.usesRoot && opts.root >= comm.worldSize) {
    throw new ArgumentError(
      `-r ${opts.root}: root out of range for world size ${comm.worldSize} (expected 0..${comm.worldSize - 1})`,
      'ERR_INDEX_OUT_OF_RANGE',
    );
  }
  if (opts.graphLaunches > 0) {
    const g = comm.graphSupport();
    if (!g.ok) throw new UnsupportedError(`-G ${opts.graphLaunches}: CUDA graphs are not available here: ${g.reason}`);
  }
}

interface Layout {
  send: BenchBuffer;
  recv: BenchBuffer;
}

export async function runCollectiveBenchmark(
  comm: BenchComm,
  opts: CollectiveOptions,
  hooks: DriverHooks,
): Promise<CollectiveOutcome> {
  validateAgainstWorld(opts, comm);
  const spec = COLLECTIVES[opts.collective];
  const n = comm.worldSize;
  const emit = (line: string): void => {
    if (comm.rank === 0) hooks.emit(line);
  };

  // nccl-tests shrinks maxBytes to what memory holds (send + recv + expected); so do we.
  let maxBytes = opts.maxBytes;
  const memMax = Math.floor(comm.maxBufferBytes());
  if (maxBytes > memMax) {
    if (opts.minBytes > memMax) {
      throw new ArgumentError(`-b ${opts.minBytes}: larger than the ${memMax} bytes a buffer may use on this ${comm.backend} backend`, 'ERR_INDEX_OUT_OF_RANGE');
    }
    maxBytes = memMax;
  }
  const sizes = sizeSteps(opts.minBytes, maxBytes, opts.stepFactor, opts.stepBytes);
  const devices = (await comm.allGatherString(comm.deviceLine())).map((d, r) => `Rank ${String(r).padStart(2)} ${d}`);
  const config = configOf(opts, comm, maxBytes);
  for (const l of headerLines({ config, devices })) emit(l);
  if (maxBytes !== opts.maxBytes) emit(`#\n# Reducing maxBytes to ${maxBytes} due to memory limitation`);

  const rows: CollectiveRow[] = [];
  let busBwSum = 0;
  let busBwCount = 0;
  let errors = 0;
  const ops: (ReduceOp | null)[] = spec.usesOp ? opts.ops : [null];
  for (const dtype of opts.dtypes) {
    for (const op of ops) {
      const bufs = allocBuffers(comm, spec, dtype, maxBytes);
      try {
        await warmup(comm, spec, bufs, dtype, op ?? 'sum', opts, maxBytes);
        for (const size of sizes) {
          const ctxBase = contextFor(spec, comm, dtype, op ?? 'sum', opts.root, size);
          const cells: TimingCell[] = [];
          for (const inPlace of [false, true]) {
            const cell = await benchTime(comm, spec, bufs, ctxBase, inPlace, opts);
            if (cell.wrong) errors++;
            busBwSum += cell.busBw;
            busBwCount++;
            cells.push(cell);
          }
          const c = ctxBase.counts;
          const row: CollectiveRow = {
            size: Math.max(c.sendCount, c.recvCount) * dtype.size,
            count: c.paramCount,
            type: dtype.ncclName,
            redop: op ?? 'none',
            root: spec.usesRoot ? opts.root : -1,
            outOfPlace: cells[0]!,
            inPlace: cells[1]!,
          };
          rows.push(row);
          emit(rowLine(row));
        }
      } finally {
        comm.free(bufs.send);
        comm.free(bufs.recv);
      }
    }
  }
  const summary = { outOfBounds: errors, avgBusBw: busBwCount ? busBwSum / busBwCount : 0 };
  for (const l of footerLines({ summary })) emit(l);
  return { config, devices, rows, summary };
}

function allocBuffers(comm: BenchComm, spec: CollectiveSpec, dtype: BenchDType, maxBytes: number): Layout {
  const c = spec.counts(Math.floor(maxBytes / dtype.size), comm.worldSize);
  // In place, rank r's send/recv regions sit at offsets into the receive buffer (all-gather,
  // reduce-scatter): the receive buffer holds max(send, recv) elements.
  const total = Math.max(c.sendCount, c.recvCount, 1);
  return { send: comm.allocate(dtype, total), recv: comm.allocate(dtype, total) };
}

function contextFor(
  spec: CollectiveSpec,
  comm: BenchComm,
  dtype: BenchDType,
  op: ReduceOp,
  root: number,
  size: number,
): CollContext {
  const counts = spec.counts(Math.floor(size / dtype.size), comm.worldSize);
  return { dtype, op, root, rank: comm.rank, nranks: comm.worldSize, counts, rep: 0 };
}

/** The send and receive views of one step, out of place or in place (nccl-tests' startColl). */
function views(comm: BenchComm, bufs: Layout, ctx: CollContext, inPlace: boolean): Layout {
  const c = ctx.counts;
  if (!inPlace) return { send: comm.slice(bufs.send, 0, c.sendCount), recv: comm.slice(bufs.recv, 0, c.recvCount) };
  return {
    send: comm.slice(bufs.recv, c.sendInplaceOffset * ctx.rank, c.sendCount),
    recv: comm.slice(bufs.recv, c.recvInplaceOffset * ctx.rank, c.recvCount),
  };
}

async function warmup(
  comm: BenchComm,
  spec: CollectiveSpec,
  bufs: Layout,
  dtype: BenchDType,
  op: ReduceOp,
  opts: CollectiveOptions,
  maxBytes: number,
): Promise<void> {
  await comm.barrier();
  for (const size of new Set([maxBytes, opts.minBytes])) {
    const ctx = contextFor(spec, comm, dtype, op, opts.root, size);
    const v = views(comm, bufs, ctx, false);
    const pending: Pending[] = [];
    for (let i = 0; i < opts.warmupIters; i++) pending.push(spec.run(comm, v.send, v.recv, ctx));
    await comm.complete(pending);
  }
  await comm.barrier();
}

/** Writes this rank's input (pattern `rep`) into the send view, and clears the receive view. */
async function initData(comm: BenchComm, spec: CollectiveSpec, v: Layout, ctx: CollContext, inPlace: boolean): Promise<void> {
  const { dtype } = ctx;
  if (!inPlace) {
    // A receive buffer left from the previous run could hide a collective that writes nothing.
    await comm.write(v.recv, allocHost(dtype, v.recv.count));
  }
  const data = allocHost(dtype, v.send.count);
  for (let i = 0; i < v.send.count; i++) setValue(dtype, data, i, spec.input(ctx, i));
  await comm.write(v.send, data);
}

async function aggregateTime(comm: BenchComm, sec: number, mode: CollectiveOptions['average']): Promise<number> {
  switch (mode) {
    case 0:
      return comm.allReduceNumber(comm.rank === 0 ? sec : 0, 'sum');
    case 1:
      return (await comm.allReduceNumber(sec, 'sum')) / comm.worldSize;
    case 2:
      return comm.allReduceNumber(sec, 'min');
    case 3:
      return comm.allReduceNumber(sec, 'max');
  }
}

async function benchTime(
  comm: BenchComm,
  spec: CollectiveSpec,
  bufs: Layout,
  ctx: CollContext,
  inPlace: boolean,
  opts: CollectiveOptions,
): Promise<TimingCell> {
  const v = views(comm, bufs, ctx, inPlace);
  const checked = opts.check > 0 && (!inPlace || spec.checkInPlace);
  if (opts.check > 0) await initData(comm, spec, v, { ...ctx, rep: 99 }, inPlace);

  // One synchronising iteration, then the timed loop.
  await comm.complete([spec.run(comm, v.send, v.recv, ctx)]);
  await comm.barrier();

  let seconds: number;
  if (opts.graphLaunches > 0 && comm.captureGraph) {
    const graph = await comm.captureGraph(() => {
      const p: Pending[] = [];
      for (let i = 0; i < opts.iters; i++) p.push(spec.run(comm, v.send, v.recv, ctx));
      return p;
    });
    try {
      await comm.barrier();
      const t0 = now();
      const p: Pending[] = [];
      for (let l = 0; l < opts.graphLaunches; l++) p.push(graph.launch());
      await comm.complete(p);
      seconds = (now() - t0) / 1e3 / (opts.iters * opts.graphLaunches);
    } finally {
      graph.dispose();
    }
  } else {
    const t0 = now();
    const pending: Pending[] = [];
    for (let i = 0; i < opts.iters; i++) {
      const p = spec.run(comm, v.send, v.recv, ctx);
      if (opts.blocking) {
        await comm.complete([p]);
        await comm.barrier();
      } else {
        pending.push(p);
      }
    }
    await comm.complete(pending);
    seconds = (now() - t0) / 1e3 / opts.iters;
  }
  seconds = await aggregateTime(comm, seconds, opts.average);
  const { algBw, busBw } = bandwidth(spec, ctx.counts.paramCount, ctx.dtype.size, comm.worldSize, seconds);
  await comm.barrier();

  let wrong: number | null = null;
  if (opts.check > 0) {
    wrong = 0;
    for (let c = 0; c < opts.check; c++) {
      const rep = c + 1;
      const cctx = { ...ctx, rep };
      await initData(comm, spec, v, cctx, inPlace);
      await comm.complete([spec.run(comm, v.send, v.recv, cctx)]);
      let local = 0;
      if (checked) {
        const got = await comm.read(v.recv);
        const tol = tolerance(ctx.dtype, spec.usesOp ? ctx.op : null);
        local = countWrong(ctx.dtype, got, 0, v.recv.count, (i) => spec.expected(cctx, i) ?? Number.NaN, tol);
        // Unchecked elements (a reduce's non-root ranks) yield NaN expectations: not counted.
        if (spec.expected(cctx, 0) === null) local = 0;
      }
      wrong = await comm.allReduceNumber(local, 'sum');
      if (wrong) break;
    }
    if (!checked) wrong = null;
  }
  return { timeUs: seconds * 1e6, algBw, busBw, wrong };
}
