/**
 * One rank of a multi-process test of the nccl backend on cuda:LOCAL_RANK (real GPUs, or simulated
 * devices under NODE_NCCL_SIM_DEVICES). argv[2] names the scenario; each rank checks its own results
 * against references computed locally from every rank's seeded input (test/helpers/dist-ref.ts),
 * prints `RESULT {...}` and exits 0, or exits 1 with the reason on stderr.
 */
import { cuda, distributed as dist, tensor, zeros, type Tensor } from '../../../lib/index.js';
import { P2POp } from '../../../lib/distributed/index.js';
import type { DType, ReduceOpName } from '../../../lib/distributed/types.js';
import { bf16ToF32, f16ToF32, firstDiff, randomInput, reduceRef } from '../../helpers/dist-ref.js';
import type { Arr } from '../../helpers/host-tensor.js';

const scenario = process.argv[2] ?? '';
const rank = Number(process.env.RANK);
const size = Number(process.env.WORLD_SIZE);
const device = `cuda:${process.env.LOCAL_RANK ?? 0}`;
const timeoutMs = Number(process.env.TEST_DIST_TIMEOUT_MS ?? 30000);
// Real NCCL reduces floats in its own order (rings, trees); the simulation in rank order, exactly.
const exact = cuda.isSimulated();

const DTYPES: DType[] = ['float32', 'float64', 'float16', 'bfloat16', 'int32', 'int64', 'uint8', 'bool'];
const OPS: ReduceOpName[] = ['sum', 'prod', 'min', 'max', 'avg'];

function fail(msg: string): never {
  throw new Error(msg);
}

function seedOf(...parts: (string | number)[]): number {
  let h = 2166136261;
  for (const ch of parts.join('|')) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
  return h >>> 0;
}

/** The values of a dist-ref array as lib/tensor reads them back (half types widened). */
function values(dtype: DType, a: Arr): ArrayLike<number | bigint> {
  if (dtype === 'float16') return Float32Array.from(a as Uint16Array, f16ToF32);
  if (dtype === 'bfloat16') return Float32Array.from(a as Uint16Array, bf16ToF32);
  return a;
}

function onDevice(dtype: DType, a: Arr): Tensor {
  const v = values(dtype, a);
  return tensor(v as Float32Array, { dtype, device });
}

async function expectValues(what: string, t: Tensor, dtype: DType, want: Arr): Promise<void> {
  const got = await t.data();
  const w = values(dtype, want);
  if (exact || dtype === 'int32' || dtype === 'int64' || dtype === 'uint8' || dtype === 'bool') {
    const i = firstDiff(got as ArrayLike<number | bigint>, w);
    if (i >= 0) fail(`${what}: element ${i} is ${String(got[i])}, expected ${String(w[i])}`);
    return;
  }
  const tol = dtype === 'float16' ? 1e-2 : dtype === 'bfloat16' ? 6e-2 : 1e-5;
  for (let i = 0; i < w.length; i++) {
    const x = Number(got[i]), y = Number(w[i]);
    if (!(Math.abs(x - y) <= tol * (1 + Math.abs(y)))) fail(`${what}: element ${i} is ${x}, expected ${y}`);
  }
}

const inputsOf = (tag: string, dtype: DType, n: number): Arr[] =>
  Array.from({ length: size }, (_, r) => randomInput(dtype, n, seedOf(tag, dtype, n, r)));

async function collectives(): Promise<Record<string, unknown>> {
  let checked = 0;
  for (const dtype of DTYPES)
    for (const op of OPS) {
      if (op === 'avg' && (dtype === 'bool' || dtype === 'uint8' || dtype === 'int32' || dtype === 'int64')) continue;
      for (const n of [0, 1, 13, 1031, 70001]) {
        const inputs = inputsOf(`ar-${op}`, dtype, n);
        const t = onDevice(dtype, inputs[rank]!);
        await dist.allReduce(t, { op });
        await expectValues(`allReduce ${dtype} ${op} n=${n}`, t, dtype, reduceRef(dtype, op, inputs));
        checked++;
      }
    }
  const dtype: DType = 'float32';
  const n = 4099;
  const inputs = inputsOf('coll', dtype, n);
  for (let root = 0; root < size; root++) {
    const b = onDevice(dtype, inputs[rank]!);
    await dist.broadcast(b, { src: root });
    await expectValues(`broadcast from ${root}`, b, dtype, inputs[root]!);
    const r = onDevice(dtype, inputs[rank]!);
    await dist.reduce(r, { dst: root, op: 'max' });
    if (rank === root) await expectValues(`reduce to ${root}`, r, dtype, reduceRef(dtype, 'max', inputs));
  }
  // allGather into one tensor and into a list
  const mine = onDevice(dtype, inputs[rank]!);
  const all = zeros([size * n], { device });
  await dist.allGatherIntoTensor(all, mine);
  const list = Array.from({ length: size }, () => zeros([n], { device }));
  await dist.allGather(list, mine);
  for (let r = 0; r < size; r++) {
    await expectValues(`allGatherIntoTensor part ${r}`, all.narrow(0, r * n, n), dtype, inputs[r]!);
    await expectValues(`allGather list ${r}`, list[r]!, dtype, inputs[r]!);
  }
  // reduceScatter: rank r gets slice r of the sum of everyone's size*n input
  const big = inputsOf('rs', dtype, size * n);
  const out = zeros([n], { device });
  await dist.reduceScatterTensor(out, onDevice(dtype, big[rank]!), { op: 'sum' });
  const sum = reduceRef(dtype, 'sum', big);
  await expectValues('reduceScatterTensor', out, dtype, (sum as Float32Array).subarray(rank * n, (rank + 1) * n));
  // gather / scatter through rank 0
  const gathered = rank === 0 ? Array.from({ length: size }, () => zeros([n], { device })) : undefined;
  await dist.gather(mine, { gatherList: gathered, dst: 0 });
  if (gathered) for (let r = 0; r < size; r++) await expectValues(`gather ${r}`, gathered[r]!, dtype, inputs[r]!);
  const scattered = zeros([n], { device });
  await dist.scatter(scattered, { scatterList: rank === 0 ? inputs.map((a) => onDevice(dtype, a)) : undefined, src: 0 });
  await expectValues('scatter', scattered, dtype, inputs[rank]!);
  // allToAllSingle: piece j of rank i goes to rank j
  const a2a = inputsOf('a2a', dtype, size * 8);
  const recv = zeros([size * 8], { device });
  await dist.allToAllSingle(recv, onDevice(dtype, a2a[rank]!));
  for (let r = 0; r < size; r++)
    await expectValues(`allToAllSingle from ${r}`, recv.narrow(0, r * 8, 8), dtype, (a2a[r] as Float32Array).subarray(rank * 8, rank * 8 + 8));
  // a send/recv ring, and a batch of isend/irecv both ways
  const next = (rank + 1) % size, prev = (rank + size - 1) % size;
  const got = zeros([n], { device });
  if (rank % 2 === 0) {
    await dist.send(mine, { dst: next });
    await dist.recv(got, { src: prev });
  } else {
    await dist.recv(got, { src: prev });
    await dist.send(mine, { dst: next });
  }
  await expectValues('recv from prev', got, dtype, inputs[prev]!);
  const left = zeros([n], { device }), right = zeros([n], { device });
  const works = dist.batchIsendIrecv([
    new P2POp(dist.isend, mine, next), new P2POp(dist.isend, mine, prev),
    new P2POp(dist.irecv, left, prev), new P2POp(dist.irecv, right, next),
  ]);
  await Promise.all(works.map((w) => w.wait()));
  await expectValues('batch: from prev', left, dtype, inputs[prev]!);
  await expectValues('batch: from next', right, dtype, inputs[next]!);
  await dist.barrier();
  return { checked };
}

/**
 * D2: the input of a collective is disposed (and its memory allocated again and overwritten) while
 * NCCL still waits for a late peer. The peers must still receive this rank's real values.
 */
async function disposedInput(): Promise<Record<string, unknown>> {
  const n = 1 << 16;
  const inputs = inputsOf('d2', 'float32', n);
  if (rank === 1) {
    await new Promise((r) => setTimeout(r, 400)); // rank 0's collective waits for this one
    const t = onDevice('float32', inputs[rank]!);
    await dist.allReduce(t, { op: 'sum' });
    await expectValues('allReduce with a disposed peer input', t, 'float32', reduceRef('float32', 'sum', inputs));
    return { ok: true };
  }
  const t = onDevice('float32', inputs[rank]!);
  const work = dist.allReduce(t, { op: 'sum' });
  t.dispose();
  // Same size, same stream: the caching allocator would hand the freed block out again at once.
  const reuse = Array.from({ length: 4 }, () => zeros([n], { device }).add(-1e6));
  await work;
  reuse.forEach((x) => x.dispose());
  return { ok: true };
}

/**
 * D7: a peer that is seconds late must not block this rank's event loop (NCCL is still issuing
 * the op while it connects): timers keep firing while the collective waits.
 */
async function latePeer(): Promise<Record<string, unknown>> {
  const t = onDevice('float32', Float32Array.from([rank + 1]) as unknown as Arr);
  if (rank === 1) await new Promise((r) => setTimeout(r, 1500));
  let ticks = 0;
  const start = Date.now();
  let maxGap = 0;
  let last = start;
  const timer = setInterval(() => {
    const now = Date.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    ticks++;
  }, 10);
  await dist.allReduce(t, { op: 'sum' });
  clearInterval(timer);
  const v = (await t.data())[0];
  if (v !== (size * (size + 1)) / 2) fail(`allReduce gave ${v}`);
  return { ticks, maxGap, ms: Date.now() - start };
}

/** D7: a peer that never issues the collective is ERR_DIST_TIMEOUT within the group's timeout. */
async function missingPeer(afterFirst: boolean): Promise<Record<string, unknown>> {
  if (afterFirst) await dist.allReduce(onDevice('float32', Float32Array.from([1]) as unknown as Arr), { op: 'sum' });
  if (rank === 1) {
    await new Promise((r) => setTimeout(r, Number(process.env.TEST_HOLD_MS ?? 8000)));
    return { held: true };
  }
  const t = onDevice('float32', Float32Array.from([1]) as unknown as Arr);
  const start = Date.now();
  try {
    await dist.allReduce(t, { op: 'sum' });
  } catch (e) {
    return { code: (e as { code?: string }).code, message: (e as Error).message, elapsedMs: Date.now() - start };
  }
  return fail('allReduce succeeded without its peer');
}

/**
 * A peer process killed before this rank's first collective (NCCL is still connecting) or after
 * it (the collective runs on the stream): ERR_DIST_PEER_FAILURE here, well within the timeout.
 */
async function deadPeer(afterFirst: boolean): Promise<Record<string, unknown>> {
  const t = onDevice('float32', Float32Array.from([1]) as unknown as Arr);
  if (afterFirst) await dist.allReduce(t, { op: 'sum' });
  if (rank === 1) process.kill(process.pid, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 200));
  const start = Date.now();
  try {
    await dist.allReduce(t, { op: 'sum' });
  } catch (e) {
    return { code: (e as { code?: string }).code, message: (e as Error).message, elapsedMs: Date.now() - start };
  }
  return fail('allReduce succeeded with its peer dead');
}

async function main(): Promise<void> {
  const timeout = scenario.startsWith('missing') ? Number(process.env.TEST_GROUP_TIMEOUT_MS ?? 1500) : timeoutMs;
  cuda.setDevice(Number(process.env.LOCAL_RANK ?? 0));
  await dist.initProcessGroup({ backend: 'nccl', timeoutMs: timeout });
  const run = {
    collectives, disposed: disposedInput, late: latePeer, missing: () => missingPeer(false), 'missing-late': () => missingPeer(true),
    'dies-early': () => deadPeer(false), 'dies-late': () => deadPeer(true),
  }[scenario];
  if (!run) fail(`unknown scenario ${scenario}`);
  const result = await run();
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  if (scenario.startsWith('missing') || scenario.startsWith('dies')) process.exit(0); // the group was aborted: nothing to tear down
  await dist.destroyProcessGroup();
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(1);
});
