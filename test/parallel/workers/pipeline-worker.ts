/**
 * One rank of the pipeline tests (spawned by test/parallel/pipeline.test.ts). Every rank builds the
 * whole model from the same seed and computes the unsplit model's loss, output and gradients on
 * the whole batch itself; its stage must match them exactly (float64: only the order of sums
 * differs). Prints `OK <scenario>`, or for the fault scenario a `RESULT {...}` line.
 */
import assert from 'node:assert/strict';
import {
  dist,
  manualSeed,
  nn,
  randn,
  randint,
  DistributedDataParallel,
  PipelineStage,
  Schedule1F1B,
  ScheduleGPipe,
  type Tensor,
} from '../../../lib/index.js';

const scenario = process.argv[2] ?? '';
const timeoutMs = Number(process.env.TEST_DIST_TIMEOUT_MS ?? 20000);

/** The model: 8 layers; `stages` consecutive slices of it, one per stage. */
function buildModel(): nn.Sequential {
  manualSeed(11);
  const dims = [6, 16, 16, 12, 12, 10, 8, 8, 5];
  const layers: nn.TensorModule[] = [];
  for (let i = 0; i < dims.length - 1; i++) {
    layers.push(new nn.Linear(dims[i]!, dims[i + 1]!, { dtype: 'float64' }));
    if (i < dims.length - 2) layers.push(i % 2 === 0 ? new nn.Tanh() : new nn.ReLU());
  }
  return new nn.Sequential(...layers);
}

function stageOf(model: nn.Sequential, stage: number, stages: number): nn.Sequential {
  const n = model.length;
  const per = Math.ceil(n / stages);
  const mods: nn.TensorModule[] = [];
  for (let i = stage * per; i < Math.min(n, (stage + 1) * per); i++) mods.push(model.at(i));
  return new nn.Sequential(...mods);
}

function batch(rows: number): { x: Tensor; y: Tensor } {
  manualSeed(5);
  return { x: randn([rows, 6], { dtype: 'float64' }), y: randint(0, 5, [rows]) };
}

const loss = (out: Tensor, y: Tensor): Tensor => nn.functional.crossEntropy(out, y);

function maxDiff(a: Tensor, b: Tensor): number {
  const x = a.dataSync() as Float64Array;
  const y = b.dataSync() as Float64Array;
  assert.equal(x.length, y.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

/** The unsplit model's mean loss, output and per-parameter gradients on `rows` rows of the batch (from `from`). */
function reference(rows: number, from: number, total: number): { loss: number; out: Tensor; grads: Map<string, Tensor> } {
  const model = buildModel();
  const { x, y } = batch(total);
  const xs = x.narrow(0, from, rows);
  const ys = y.narrow(0, from, rows);
  const out = model.forward(xs);
  const l = loss(out, ys);
  l.backward();
  const grads = new Map<string, Tensor>();
  for (const [name, p] of model.namedParameters()) grads.set(name, p.grad!);
  return { loss: Number(l.item()), out: out.detach(), grads };
}

async function grads(): Promise<void> {
  await dist.initProcessGroup({ backend: 'cpu', timeoutMs });
  const rank = dist.getRank();
  const stages = dist.getWorldSize();
  const rows = 12;
  const ref = reference(rows, 0, rows);
  const { x, y } = batch(rows);
  for (const Schedule of [ScheduleGPipe, Schedule1F1B]) {
    for (const chunks of [1, 2, 3, 4, 12]) {
      const model = buildModel();
      const per = Math.ceil(model.length / stages);
      const mod = stageOf(model, rank, stages);
      const stage = new PipelineStage(mod, rank, stages, 'cpu');
      const schedule = new Schedule(stage, chunks, loss);
      const losses: Tensor[] = [];
      const out = await schedule.step(stage.isFirst ? x : null, stage.isLast ? { target: y, losses } : {});
      const what = `${Schedule.name} with ${chunks} micro-batch(es), stage ${rank} of ${stages}`;
      if (stage.isLast) {
        assert.ok(out);
        assert.ok(maxDiff(out, ref.out) < 1e-12, `${what}: output differs from the unsplit model's`);
        assert.equal(losses.length, chunks);
        const mean = losses.reduce((a, l) => a + Number(l.item()), 0) / chunks;
        assert.ok(Math.abs(mean - ref.loss) < 1e-12, `${what}: mean loss ${mean}, unsplit ${ref.loss}`);
      } else {
        assert.equal(out, null);
      }
      for (const [name, p] of mod.namedParameters()) {
        // stage-local names: '<i>.weight' where i counts from this stage's first layer
        const [idx, leaf] = name.split('.') as [string, string];
        const global = `${rank * per + Number(idx)}.${leaf}`;
        const g = ref.grads.get(global)!;
        assert.ok(p.grad, `${what}: no gradient for ${global}`);
        const d = maxDiff(p.grad, g);
        assert.ok(d < 1e-12, `${what}: gradient of ${global} differs from the unsplit model's by ${d}`);
      }
    }
  }
  // argument checks
  const mod = stageOf(buildModel(), rank, stages);
  assert.throws(() => new PipelineStage(mod, rank, stages + 1, 'cpu'), { code: 'ERR_INVALID_ARG', message: /numStages is/ });
  assert.throws(() => new PipelineStage(mod, (rank + 1) % stages, stages, 'cpu'), { code: 'ERR_INVALID_ARG', message: /must run on rank/ });
  const st = new PipelineStage(mod, rank, stages, 'cpu');
  assert.throws(() => new ScheduleGPipe(st, 0, loss), { code: 'ERR_INVALID_ARG' });
  if (st.isFirst) {
    await assert.rejects(new ScheduleGPipe(st, 20, loss).step(x), { code: 'ERR_SHAPE_MISMATCH', message: /fewer than the 20 micro-batches/ });
    await assert.rejects(new ScheduleGPipe(st, 2, loss).step(null), { code: 'ERR_INVALID_ARG', message: /the input/ });
  } else {
    await assert.rejects(new ScheduleGPipe(st, 2, loss).step(x), { code: 'ERR_INVALID_ARG', message: /only the first stage/ });
  }
  await dist.destroyProcessGroup();
}

async function twoByTwo(): Promise<void> {
  // ranks 0,1 are pipeline A (stages 0, 1), ranks 2,3 pipeline B; stage s of A and of B are DDP replicas
  await dist.initProcessGroup({ backend: 'cpu', timeoutMs });
  const rank = dist.getRank();
  assert.equal(dist.getWorldSize(), 4);
  const pipes = [await dist.newGroup([0, 1]), await dist.newGroup([2, 3])];
  const replicas = [await dist.newGroup([0, 2]), await dist.newGroup([1, 3])];
  const replica = rank >> 1;
  const stageIdx = rank & 1;
  const rows = 8; // per replica; the global batch is 16
  const ref = reference(2 * rows, 0, 2 * rows);
  const { x, y } = batch(2 * rows);
  const xs = x.narrow(0, replica * rows, rows);
  const ys = y.narrow(0, replica * rows, rows);
  for (const Schedule of [ScheduleGPipe, Schedule1F1B]) {
    for (const chunks of [1, 2, 4]) {
      const model = buildModel();
      const per = Math.ceil(model.length / 2);
      const mod = stageOf(model, stageIdx, 2);
      const ddp = await DistributedDataParallel.create(mod, { processGroup: replicas[stageIdx] });
      const stage = new PipelineStage(ddp, stageIdx, 2, 'cpu', { group: pipes[replica] });
      const schedule = new Schedule(stage, chunks, loss);
      await schedule.step(stage.isFirst ? xs : null, stage.isLast ? { target: ys } : {});
      const what = `2x2 ${Schedule.name} with ${chunks} micro-batch(es), rank ${rank}`;
      for (const [name, p] of mod.namedParameters()) {
        const [idx, leaf] = name.split('.') as [string, string];
        const global = `${stageIdx * per + Number(idx)}.${leaf}`;
        const d = maxDiff(p.grad!, ref.grads.get(global)!);
        assert.ok(d < 1e-12, `${what}: gradient of ${global} differs from the unsplit model's on the global batch by ${d}`);
      }
      ddp.dispose();
    }
  }
  await dist.destroyProcessGroup();
}

async function kill(): Promise<void> {
  await dist.initProcessGroup({ backend: 'cpu', timeoutMs });
  const rank = dist.getRank();
  const stages = dist.getWorldSize();
  const mod = stageOf(buildModel(), rank, stages);
  const stage = new PipelineStage(mod, rank, stages, 'cpu');
  const schedule = new Schedule1F1B(stage, 4, loss);
  const { x, y } = batch(16);
  const t0 = Date.now();
  let err: (Error & { code?: string }) | null = null;
  let steps = 0;
  try {
    for (;;) {
      await schedule.step(stage.isFirst ? x : null, stage.isLast ? { target: y } : {});
      if (++steps === 3) process.stdout.write('LOOPING\n');
    }
  } catch (e) {
    err = e as Error & { code?: string };
  }
  process.stdout.write(`RESULT ${JSON.stringify({ code: err?.code, message: err?.message, elapsedMs: Date.now() - t0, steps })}\n`);
  process.exit(0); // the group is broken: do not wait for the dead rank in destroyProcessGroup
}

const run = scenario === 'grads' ? grads : scenario === '2x2' ? twoByTwo : scenario === 'kill' ? kill : null;
if (!run) throw new Error(`unknown scenario ${scenario}`);
run().then(
  () => process.stdout.write(`OK ${scenario}\n`),
  (e: unknown) => {
    process.stderr.write(`${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(1);
  },
);
