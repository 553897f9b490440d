/**
 * One rank of a multi-process distributed test (spawned by test/helpers/spawn-ranks.ts with
 * RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT set). argv[2] names the scenario. Each rank checks
 * its own results against reference values computed locally (every rank can regenerate every
 * other rank's random input), prints `OK <scenario>` and exits 0; any failure exits 1 with the
 * reason on stderr. Fault scenarios print one JSON line `RESULT {...}` describing the error seen.
 */
import { dist, tensor } from '../../lib/index.js';
import type { DType, ReduceOpName } from '../../lib/distributed/types.js';
import { randomInput, reduceRef, firstDiff } from './dist-ref.js';
import { HostTensor, makeArray, type Arr } from './host-tensor.js';

const scenario = process.argv[2] ?? '';
const timeoutMs = Number(process.env.TEST_DIST_TIMEOUT_MS ?? 20000);
const ALL_DTYPES: DType[] = ['float32', 'float64', 'float16', 'bfloat16', 'int32', 'int64', 'uint8', 'bool'];
const OPS: ReduceOpName[] = ['sum', 'prod', 'min', 'max', 'avg'];

function fail(msg: string): never {
  throw new Error(msg);
}

function expectSame(what: string, got: ArrayLike<number | bigint>, want: ArrayLike<number | bigint>): void {
  const i = firstDiff(got, want);
  if (i >= 0) fail(`${what}: element ${i} is ${String(got[i])}, expected ${String(want[i])} (length ${got.length} vs ${want.length})`);
}

function seedOf(...parts: (string | number)[]): number {
  let h = 2166136261;
  for (const ch of parts.join('|')) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
  return h >>> 0;
}

async function expectCode(what: string, p: PromiseLike<unknown> | (() => unknown), code: string): Promise<Error> {
  try {
    if (typeof p === 'function') await p();
    else await p;
  } catch (e) {
    const c = (e as { code?: string }).code;
    if (c !== code) fail(`${what}: expected ${code}, got ${String(c)}: ${(e as Error).message}`);
    return e as Error;
  }
  return fail(`${what}: expected ${code}, but it succeeded`);
}

async function allReduceAll(rank: number, size: number): Promise<void> {
  const sizes = [0, 1, 2, 13, 1031, 9973];
  for (const dtype of ALL_DTYPES) {
    for (const op of OPS) {
      for (const n of sizes) {
        const inputs = Array.from({ length: size }, (_, r) => randomInput(dtype, n, seedOf('ar', dtype, op, n, r)));
        const t = HostTensor.from(dtype, inputs[rank]!.slice() as Arr);
        if (op === 'avg' && dtype === 'bool') {
          await expectCode('allReduce avg bool', () => dist.allReduce(t, { op }), 'ERR_DTYPE');
          continue;
        }
        await dist.allReduce(t, { op });
        expectSame(`allReduce ${dtype} ${op} n=${n}`, t.data, reduceRef(dtype, op, inputs));
      }
    }
  }
  // Large (chunked, pipelined path): several MiB, a prime count, and several ops in flight at once.
  for (const [dtype, n] of [['float32', 1_500_007], ['int64', 262_147], ['bfloat16', 300_007]] as [DType, number][]) {
    const inputs = Array.from({ length: size }, (_, r) => randomInput(dtype, n, seedOf('big', dtype, r)));
    const a = HostTensor.from(dtype, inputs[rank]!.slice() as Arr);
    const b = HostTensor.from(dtype, inputs[rank]!.slice() as Arr);
    const w1 = dist.allReduce(a, { op: 'sum' });
    const w2 = dist.allReduce(b, { op: 'max', asyncOp: true });
    await w2.wait();
    await w1;
    if (!w1.isCompleted() || !w1.isSuccess() || w1.error) fail('work state after completion');
    expectSame(`big allReduce ${dtype} sum`, a.data, reduceRef(dtype, 'sum', inputs));
    expectSame(`big allReduce ${dtype} max`, b.data, reduceRef(dtype, 'max', inputs));
  }
  // Non-contiguous: a transposed view is reduced and written back through the view.
  const rows = 37, cols = 11;
  const inputs = Array.from({ length: size }, (_, r) => randomInput('float32', rows * cols, seedOf('nc', r)));
  const base = HostTensor.from('float32', inputs[rank]!.slice() as Arr, [rows, cols]);
  await dist.allReduce(base.transpose(), { op: 'sum' });
  expectSame('allReduce of a transposed view', base.data, reduceRef('float32', 'sum', inputs));
}

function blocks(dtype: DType, tag: string, n: number, size: number): Arr[] {
  return Array.from({ length: size }, (_, r) => randomInput(dtype, n, seedOf(tag, dtype, n, r)));
}

function concat(dtype: DType, parts: Arr[]): Arr {
  const out = makeArray(dtype, parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    (out as unknown as { set(a: ArrayLike<number | bigint>, o: number): void }).set(p as ArrayLike<number | bigint>, o);
    o += p.length;
  }
  return out;
}

async function collectives(rank: number, size: number): Promise<void> {
  const dtypes: DType[] = ['float32', 'int64', 'bfloat16', 'bool', 'uint8'];
  for (const dtype of dtypes) {
    // several chunks of the 1 MiB slots for one dtype; small and odd sizes for all
    for (const n of dtype === 'float32' ? [0, 1, 7, 1031, 300_007] : [0, 1, 7, 1031]) {
      const label = `${dtype} n=${n}`;
      // broadcast from each root
      for (const src of [0, size - 1]) {
        const data = blocks(dtype, `bc${src}`, n, size);
        const t = HostTensor.from(dtype, data[rank]!.slice() as Arr);
        await dist.broadcast(t, { src });
        expectSame(`broadcast src=${src} ${label}`, t.data, data[src]!);
      }
      // reduce to a root
      const op: ReduceOpName = dtype === 'bool' ? 'max' : 'sum';
      for (const dst of [0, size - 1]) {
        const data = blocks(dtype, `rd${dst}`, n, size);
        const t = HostTensor.from(dtype, data[rank]!.slice() as Arr);
        await dist.reduce(t, { dst, op });
        expectSame(`reduce dst=${dst} ${label}`, t.data, rank === dst ? reduceRef(dtype, op, data) : data[rank]!);
      }
      // allGather: list form, tensor form, and in place (the input is this rank's block of the output)
      {
        const data = blocks(dtype, 'ag', n, size);
        const outs = Array.from({ length: size }, () => HostTensor.zeros(dtype, [n]));
        await dist.allGather(outs, HostTensor.from(dtype, data[rank]!));
        outs.forEach((o, r) => expectSame(`allGather list [${r}] ${label}`, o.data, data[r]!));
        const flat = HostTensor.zeros(dtype, [size * n]);
        await dist.allGatherIntoTensor(flat, HostTensor.from(dtype, data[rank]!));
        expectSame(`allGatherIntoTensor ${label}`, flat.data, concat(dtype, data));
        const inplace = HostTensor.zeros(dtype, [size, n]);
        const mine = inplace.narrow(rank, 1);
        mine.copy_(HostTensor.from(dtype, data[rank]!, [1, n]));
        await dist.allGatherIntoTensor(inplace, mine);
        expectSame(`allGatherIntoTensor in place ${label}`, inplace.data, concat(dtype, data));
      }
      // reduceScatter: list form, tensor form, in place (the output is this rank's block of the input)
      {
        const data = Array.from({ length: size }, (_, r) => blocks(dtype, `rs${r}`, n, size)); // data[r][j]: rank r's block j
        const want = reduceRef(dtype, op, data.map((d) => d[rank]!));
        const out = HostTensor.zeros(dtype, [n]);
        await dist.reduceScatter(out, data[rank]!.map((b) => HostTensor.from(dtype, b)), { op });
        expectSame(`reduceScatter list ${label}`, out.data, want);
        const out2 = HostTensor.zeros(dtype, [n]);
        await dist.reduceScatterTensor(out2, HostTensor.from(dtype, concat(dtype, data[rank]!)), { op });
        expectSame(`reduceScatterTensor ${label}`, out2.data, want);
        const whole = HostTensor.from(dtype, concat(dtype, data[rank]!), [size, n]);
        const block = whole.narrow(rank, 1);
        await dist.reduceScatterTensor(block, whole, { op });
        expectSame(`reduceScatterTensor in place ${label}`, block.values(), want);
      }
      // gather / scatter
      {
        const dst = size - 1;
        const data = blocks(dtype, 'ga', n, size);
        const list = rank === dst ? Array.from({ length: size }, () => HostTensor.zeros(dtype, [n])) : undefined;
        await dist.gather(HostTensor.from(dtype, data[rank]!), { gatherList: list, dst });
        list?.forEach((o, r) => expectSame(`gather [${r}] ${label}`, o.data, data[r]!));
        const src = 0;
        const sdata = blocks(dtype, 'sc', n, size);
        const t = HostTensor.zeros(dtype, [n]);
        await dist.scatter(t, { scatterList: rank === src ? sdata.map((b) => HostTensor.from(dtype, b)) : null, src });
        expectSame(`scatter ${label}`, t.data, sdata[rank]!);
      }
    }
    // allToAll with uneven sizes: rank i sends (i + 2*j) % 5 * k elements to rank j.
    for (const k of dtype === 'float32' ? [1, 40_009] : [1, 13]) {
      const cnt = (i: number, j: number) => ((i + 2 * j) % 5) * k;
      const piece = (i: number, j: number) => randomInput(dtype, cnt(i, j), seedOf('a2a', dtype, k, i, j));
      const ins = Array.from({ length: size }, (_, j) => HostTensor.from(dtype, piece(rank, j)));
      const outs = Array.from({ length: size }, (_, j) => HostTensor.zeros(dtype, [cnt(j, rank)]));
      await dist.allToAll(outs, ins);
      outs.forEach((o, j) => expectSame(`allToAll from ${j} k=${k} ${dtype}`, o.data, piece(j, rank)));
      // allToAllSingle with split sizes along dim 0 (rows of 3)
      const input = HostTensor.from(dtype, concat(dtype, Array.from({ length: size }, (_, j) => randomInput(dtype, cnt(rank, j) * 3, seedOf('a2as', dtype, k, rank, j)))), [Array.from({ length: size }, (_, j) => cnt(rank, j)).reduce((a, b) => a + b, 0), 3]);
      const outRows = Array.from({ length: size }, (_, j) => cnt(j, rank));
      const output = HostTensor.zeros(dtype, [outRows.reduce((a, b) => a + b, 0), 3]);
      await dist.allToAllSingle(output, input, {
        outputSplitSizes: outRows,
        inputSplitSizes: Array.from({ length: size }, (_, j) => cnt(rank, j)),
      });
      expectSame(`allToAllSingle k=${k} ${dtype}`, output.data, concat(dtype, Array.from({ length: size }, (_, j) => randomInput(dtype, cnt(j, rank) * 3, seedOf('a2as', dtype, k, j, rank)))));
    }
  }
  // equal splits, in place
  const t = HostTensor.from('int32', Int32Array.from({ length: size * 4 }, (_, i) => rank * 1000 + i));
  await dist.allToAllSingle(t, t);
  expectSame('allToAllSingle in place', t.data, Int32Array.from({ length: size * 4 }, (_, i) => Math.floor(i / 4) * 1000 + rank * 4 + (i % 4)));
  await dist.barrier();
}

async function p2p(rank: number, size: number): Promise<void> {
  const next = (rank + 1) % size, prev = (rank + size - 1) % size;
  for (const n of [0, 1, 1021, 700_001]) {
    // ring: isend to next and irecv from prev, issued separately (they progress together)
    const out = HostTensor.from('float32', randomInput('float32', n, seedOf('p2p', rank, n)));
    const inn = HostTensor.zeros('float32', [n]);
    const ws = dist.isend(out, { dst: next, tag: 3 });
    const wr = dist.irecv(inn, { src: prev, tag: 3 });
    await Promise.all([ws, wr]);
    expectSame(`ring p2p n=${n}`, inn.data, randomInput('float32', n, seedOf('p2p', prev, n)));
    // batchIsendIrecv: exchange with every peer in both directions at once
    const ops: InstanceType<typeof dist.P2POp>[] = [];
    const got = new Map<number, HostTensor>();
    for (let p = 0; p < size; p++) {
      if (p === rank) continue;
      ops.push(new dist.P2POp(dist.isend, HostTensor.from('int64', randomInput('int64', n, seedOf('b', rank, p, n))), p));
      const r = HostTensor.zeros('int64', [n]);
      got.set(p, r);
      ops.push(new dist.P2POp('irecv', r, p));
    }
    await Promise.all(dist.batchIsendIrecv(ops));
    for (const [p, r] of got) expectSame(`batch p2p from ${p} n=${n}`, r.data, randomInput('int64', n, seedOf('b', p, rank, n)));
  }
  // blocking-style send/recv between 0 and 1 (await each), into a non-contiguous view
  if (rank <= 1 && size >= 2) {
    const src = HostTensor.from('float64', Float64Array.from({ length: 12 }, (_, i) => i + 100 * rank), [3, 4]);
    const dstT = HostTensor.zeros('float64', [4, 3]).transpose();
    if (rank === 0) {
      await dist.send(src, { dst: 1 });
      await dist.recv(dstT, { src: 1 });
    } else {
      await dist.recv(dstT, { src: 0 });
      await dist.send(src, { dst: 0 });
    }
    expectSame('send/recv into a view', dstT.contiguous().data, Float64Array.from({ length: 12 }, (_, i) => i + 100 * (1 - rank)));
  }
  await dist.barrier();
}

async function groups(rank: number, size: number): Promise<void> {
  const members = [size - 1, 0]; // unsorted on purpose: the group is ranks [0, size-1]
  const g = await dist.newGroup(members);
  const t = HostTensor.from('int32', Int32Array.from([rank + 1, 10]));
  if (rank === 0 || rank === size - 1) {
    if (dist.getRank(g) !== (rank === 0 ? 0 : 1) || dist.getWorldSize(g) !== 2) fail('group rank/size');
    await dist.allReduce(t, { group: g });
    expectSame('group allReduce', t.data, [1 + size, 20]);
    const b = HostTensor.from('int32', Int32Array.from([rank]));
    await dist.broadcast(b, { src: size - 1, group: g }); // src is a global rank
    expectSame('group broadcast', b.data, [size - 1]);
    if (size > 2) await expectCode('src outside the group', () => dist.broadcast(b, { src: 1, group: g }), 'ERR_INVALID_ARG');
  } else {
    if (dist.getRank(g) !== -1) fail('non-member rank should be -1');
    await expectCode('non-member collective', () => dist.allReduce(t, { group: g }), 'ERR_DIST');
  }
  // the default group still works alongside
  const all = HostTensor.from('float64', Float64Array.from([rank]));
  await dist.allReduce(all);
  expectSame('default group after newGroup', all.data, [(size * (size - 1)) / 2]);
  const whole = await dist.newGroup();
  const x = HostTensor.from('float32', Float32Array.from([1]));
  await dist.allReduce(x, { group: whole, op: 'avg' });
  expectSame('newGroup() of everyone, avg', x.data, [1]);
  await dist.destroyProcessGroup(g);
  if (rank === 0 || rank === size - 1) await expectCode('destroyed group', () => dist.allReduce(t, { group: g }), 'ERR_DIST_NOT_INITIALIZED');
}

/** The collectives on lib/tensor's Tensor (not the test stand-in): values, views, dtypes. */
async function realTensors(rank: number, size: number): Promise<void> {
  const rows = (r: number) => [[r + 1, 2 * r, -r], [0.5 * r, 7, r * r]];
  const t = tensor(rows(rank));
  await dist.allReduce(t.transpose(0, 1), { op: 'sum' }); // non-contiguous view, written back into t
  const want = rows(0).map((row, i) => row.map((_, j) => Array.from({ length: size }, (_, r) => rows(r)[i]![j]!).reduce((a, b) => a + b, 0)));
  expectSame('Tensor allReduce through a transposed view', (await t.data()) as Float32Array, Float32Array.from(want.flat()));
  const ids = tensor([BigInt(rank) * 10n, 5n]);
  await dist.allReduce(ids, { op: 'max' });
  expectSame('int64 Tensor allReduce max', (await ids.data()) as BigInt64Array, [BigInt(size - 1) * 10n, 5n]);
  const b = tensor([rank, rank]);
  await dist.broadcast(b, { src: size - 1 });
  expectSame('Tensor broadcast', (await b.data()) as Float32Array, [size - 1, size - 1]);
  const outs = Array.from({ length: size }, () => tensor([0, 0]));
  await dist.allGather(outs, tensor([rank, -rank]));
  for (let r = 0; r < size; r++) expectSame(`Tensor allGather [${r}]`, (await outs[r]!.data()) as Float32Array, [r, -r]);
}

// The cpu backend's direct path (small collectives completed on the calling thread when the
// peers are there, resumed on the communication thread when they are late). Prints how many
// lockstep all-reduces completed at once ("DIRECT <n>") for the test to check against the setting.
async function direct(rank: number, size: number): Promise<void> {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  // Lockstep: every rank calls at about the same time.
  let atOnce = 0;
  for (let i = 0; i < 400; i++) {
    const inputs = Array.from({ length: size }, (_, r) => randomInput('float32', 2, seedOf('d1', i, r)));
    const t = HostTensor.from('float32', inputs[rank]!.slice() as Arr);
    const w = dist.allReduce(t);
    if (w.isCompleted()) atOnce++;
    await w;
    expectSame(`lockstep allReduce #${i}`, t.data, reduceRef('float32', 'sum', inputs));
  }
  process.stdout.write(`DIRECT ${atOnce}\n`);
  // A late peer: the others give up on it and their communication thread finishes the op.
  for (const late of [0, size - 1]) {
    const inputs = Array.from({ length: size }, (_, r) => randomInput('int64', 5, seedOf('late', late, r)));
    const t = HostTensor.from('int64', inputs[rank]!.slice() as Arr);
    if (rank === late) await sleep(30);
    const w = dist.allReduce(t, { op: 'max' });
    if (rank !== late && w.isCompleted()) fail(`allReduce completed at once although rank ${late} was 30 ms late`);
    await w;
    expectSame(`allReduce with rank ${late} late`, t.data, reduceRef('int64', 'max', inputs));
  }
  // Back to back without awaiting, mixed kinds, one rank pausing mid-burst, behind a large op.
  const big = Array.from({ length: size }, (_, r) => randomInput('float32', 400_003, seedOf('bigd', r)));
  const bigT = HostTensor.from('float32', big[rank]!.slice() as Arr);
  const pending: { w: PromiseLike<void>; check: () => void }[] = [{ w: dist.allReduce(bigT), check: () => expectSame('large allReduce in a burst', bigT.data, reduceRef('float32', 'sum', big)) }];
  for (let i = 0; i < 300; i++) {
    if (rank === 1 && i % 50 === 25) await sleep(5);
    const inputs = Array.from({ length: size }, (_, r) => randomInput('float64', 3, seedOf('burst', i, r)));
    const t = HostTensor.from('float64', inputs[rank]!.slice() as Arr);
    switch (i % 4) {
      case 0:
        pending.push({ w: dist.allReduce(t, { op: 'min' }), check: () => expectSame(`burst allReduce #${i}`, t.data, reduceRef('float64', 'min', inputs)) });
        break;
      case 1:
        pending.push({ w: dist.broadcast(t, { src: i % size }), check: () => expectSame(`burst broadcast #${i}`, t.data, inputs[i % size]!) });
        break;
      case 2: {
        const outs = Array.from({ length: size }, () => HostTensor.zeros('float64', [3]));
        pending.push({ w: dist.allGather(outs, t), check: () => outs.forEach((o, r) => expectSame(`burst allGather #${i} [${r}]`, o.data, inputs[r]!)) });
        break;
      }
      default: {
        const dst = i % size;
        pending.push({ w: dist.reduce(t, { dst, op: 'sum' }), check: () => expectSame(`burst reduce #${i}`, t.data, rank === dst ? reduceRef('float64', 'sum', inputs) : inputs[rank]!) });
      }
    }
    if (i % 100 === 99) pending.push({ w: dist.barrier(), check: () => {} });
  }
  for (const p of pending) await p.w;
  for (const p of pending) p.check();
}

/** Blocks the thread for ms (a rank busy computing: no event loop, no timers). */
function blockFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

async function syncWait(rank: number, size: number): Promise<void> {
  // work.wait() is torch's: it returns with the data in place, no await in between. The last rank
  // arrives late so the others' ops are queued on the thread (not completed directly) when they wait.
  const cases: [string, DType, number, boolean][] = [
    ['small float32', 'float32', 13, false],
    ['large float32 (chunked)', 'float32', 1_000_003, false],
    ['int64 in an ArrayBuffer (staged, copied back)', 'int64', 4099, true],
  ];
  for (const [what, dtype, n, plain] of cases) {
    const inputs = Array.from({ length: size }, (_, r) => randomInput(dtype, n, seedOf('sync', what, r)));
    const data = inputs[rank]!.slice() as Arr;
    const t = plain ? HostTensor.from(dtype, data) : realShared(dtype, data);
    if (rank === size - 1) blockFor(300);
    const w = dist.allReduce(t, { op: 'sum' });
    w.wait();
    if (!w.isCompleted() || !w.isSuccess()) fail(`${what}: work not complete after wait()`);
    expectSame(`${what}: data right after wait()`, t.data, reduceRef(dtype, 'sum', inputs));
    w.wait(); // a second wait returns at once
    await w; // and the async form agrees
  }
  // reading a library tensor that a collective in flight writes waits for it (no wait() at all)
  for (const [what, n] of [['dataSync()', 7], ['await data()', 100_003]] as [string, number][]) {
    const x = tensor(Float32Array.from({ length: n }, (_, i) => rank + i));
    if (rank === size - 1) blockFor(300);
    dist.allReduce(x, { op: 'sum' });
    const v = what === 'dataSync()' ? x.dataSync() : await x.data();
    const want = Float32Array.from({ length: n }, (_, i) => (size * (size - 1)) / 2 + size * i);
    expectSame(`${what} of a tensor a pending allReduce writes`, v as Float32Array, want);
  }
  // list outputs are copied out of the staging buffer inside wait() too
  const mine = HostTensor.from('float32', Float32Array.from({ length: 5 }, (_, i) => rank * 10 + i));
  const outs = Array.from({ length: size }, () => HostTensor.from('float32', new Float32Array(5)));
  if (rank === 0) blockFor(200);
  dist.allGather(outs, mine).wait();
  outs.forEach((o, r) => expectSame(`allGather[${r}] after wait()`, o.data, Float32Array.from({ length: 5 }, (_, i) => r * 10 + i)));
}

/** A HostTensor over a SharedArrayBuffer (used in place by the native side, as library tensors are). */
function realShared(dtype: DType, data: Arr): HostTensor {
  const Ctor = data.constructor as new (b: SharedArrayBuffer) => Arr;
  const sab = new SharedArrayBuffer(data.byteLength);
  const view = new Ctor(sab);
  (view as unknown as { set(a: Arr): void }).set(data);
  return HostTensor.from(dtype, view);
}

async function syncWaitDead(rank: number, size: number): Promise<void> {
  // The last rank dies; wait() on every other rank throws within the timeout instead of hanging.
  const t = HostTensor.from('float32', new Float32Array(1_000_000));
  await dist.barrier();
  if (rank === size - 1) process.exit(0);
  const t0 = Date.now();
  try {
    dist.allReduce(t).wait();
    fail('wait() returned without the dead rank');
  } catch (e) {
    const err = e as { code?: string; message: string };
    report({ code: err.code, message: err.message, elapsedMs: Date.now() - t0 });
  }
}

// ---- fault scenarios: print what happened, exit 0 ----

function report(obj: Record<string, unknown>): void {
  process.stdout.write(`RESULT ${JSON.stringify(obj)}\n`);
}

async function faultKill(rank: number, size: number): Promise<void> {
  // Every rank loops on large all-reduces; the test kills the last rank once it says LOOPING.
  const t = HostTensor.from('float32', new Float32Array(2_000_000));
  await dist.barrier();
  if (rank === size - 1) process.stdout.write('LOOPING\n');
  const t0 = Date.now();
  let killedAt = 0;
  for (;;) {
    try {
      await dist.allReduce(t);
    } catch (e) {
      killedAt = Date.now();
      const err = e as { code?: string; message: string };
      // later calls fail fast
      const t1 = Date.now();
      let after = '';
      try {
        await dist.barrier();
      } catch (e2) {
        after = (e2 as { code?: string }).code ?? '';
      }
      report({ code: err.code, message: err.message, elapsedMs: killedAt - t0, afterCode: after, afterMs: Date.now() - t1 });
      return;
    }
  }
}

async function faultStall(rank: number, size: number): Promise<void> {
  const t = HostTensor.from('float32', new Float32Array(16));
  await dist.barrier();
  if (rank === size - 1) {
    // alive, but never joins the next collective
    await new Promise((r) => setTimeout(r, timeoutMs * 3));
    return;
  }
  const t0 = Date.now();
  try {
    await dist.allReduce(t);
    fail('allReduce completed without the stalled rank');
  } catch (e) {
    const err = e as { code?: string; message: string };
    report({ code: err.code, message: err.message, elapsedMs: Date.now() - t0 });
  }
}

async function mismatch(rank: number): Promise<void> {
  // Different sizes: never corrupts (each rank writes only its own slot), detected natively.
  const kind = process.argv[3] ?? 'size';
  const guard = new Float32Array(64).fill(7);
  const t = kind === 'dtype'
    ? HostTensor.from(rank === 0 ? 'float32' : 'int32', rank === 0 ? new Float32Array(10).fill(1) : new Int32Array(10).fill(1))
    : HostTensor.from('float32', new Float32Array(rank === 0 ? 10 : 200_000).fill(1));
  let work;
  if (kind === 'collective' && rank === 1) work = dist.broadcast(t, { src: 0 });
  else work = dist.allReduce(t);
  try {
    await work;
    report({ code: 'none' });
  } catch (e) {
    const err = e as { code?: string; message: string };
    const intact = (t.data as ArrayLike<number>)[0] === 1 && guard.every((v) => v === 7);
    report({ code: err.code, message: err.message, intact });
  }
  await dist.destroyProcessGroup(); // rank 0 serves the store: it stays until the other rank is done with it
}

async function main(): Promise<void> {
  const pg = await dist.initProcessGroup({ backend: 'cpu', timeoutMs });
  const rank = dist.getRank();
  const size = dist.getWorldSize();
  if (pg.rank !== rank || dist.getBackend() !== 'cpu' || !dist.isInitialized()) fail('group state');
  switch (scenario) {
    case 'allreduce': await allReduceAll(rank, size); break;
    case 'collectives': await collectives(rank, size); break;
    case 'p2p': await p2p(rank, size); break;
    case 'groups': await groups(rank, size); break;
    case 'tensor': await realTensors(rank, size); break;
    case 'direct': await direct(rank, size); break;
    case 'fault-kill': await faultKill(rank, size); break;
    case 'fault-stall': await faultStall(rank, size); break;
    case 'mismatch': await mismatch(rank); break;
    case 'sync-wait': await syncWait(rank, size); break;
    case 'fault-sync-wait': await syncWaitDead(rank, size); break;
    default: fail(`unknown scenario ${scenario}`);
  }
  if (!scenario.startsWith('fault') && scenario !== 'mismatch') {
    await dist.destroyProcessGroup();
    if (dist.isInitialized()) fail('still initialized after destroyProcessGroup');
    process.stdout.write(`OK ${scenario}\n`);
  } else {
    process.exit(0);
  }
}

main().catch((e: Error & { code?: string }) => {
  process.stderr.write(`rank ${process.env.RANK} FAILED: ${e.code ?? ''} ${e.stack ?? e.message}\n`);
  process.exit(1);
});
