/**
 * Pipeline parallelism. Pipe (one process): the output and every gradient equal the unsplit
 * model's for several micro-batch counts. PipelineStage + ScheduleGPipe / Schedule1F1B (real
 * processes, one stage per rank): the last stage's output and losses and every stage's gradients
 * equal the unsplit model's, for 2 and 4 stages and several micro-batch counts; composed with
 * DistributedDataParallel over two replicas of a 2-stage pipeline (4 ranks); a killed stage is an
 * error on every other rank within the group's timeout, not a hang.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { manualSeed, nn, Pipe, randint, randn, type Tensor } from '../../lib/index.js';
import { resultOf, runRanks, startRanks, type RankResult } from '../helpers/spawn-ranks.js';

const script = join(dirname(fileURLToPath(import.meta.url)), 'workers', 'pipeline-worker.js');

function assertAllOk(results: RankResult[], scenario: string): void {
  for (const r of results) {
    assert.equal(r.code, 0, `rank ${r.rank} of ${scenario} failed (exit ${r.code}, signal ${r.signal}):\n${r.stderr}\n${r.stdout}`);
    assert.match(r.stdout, new RegExp(`OK ${scenario}`));
  }
}

function model(): nn.Sequential {
  manualSeed(3);
  return new nn.Sequential(
    new nn.Sequential(new nn.Linear(7, 16, { dtype: 'float64' }), new nn.Tanh()),
    new nn.Sequential(new nn.Linear(16, 9, { dtype: 'float64' }), new nn.ReLU()),
    new nn.ReLU(), // a stage without parameters
    new nn.Sequential(new nn.Linear(9, 4, { dtype: 'float64' })),
  );
}

function maxDiff(a: Tensor, b: Tensor): number {
  const x = a.dataSync() as Float64Array;
  const y = b.dataSync() as Float64Array;
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

test('Pipe: output and gradients equal the unsplit model for 1, 2, 3, 5 and 10 micro-batches (stages on cpu)', () => {
  manualSeed(9);
  const x = randn([10, 7], { dtype: 'float64' });
  const y = randint(0, 4, [10]);
  const ref = model();
  const refOut = ref.forward(x);
  nn.functional.crossEntropy(refOut, y).backward();
  const refGrads = [...ref.namedParameters()].map(([n, p]) => [n, p.grad!] as const);
  for (const chunks of [1, 2, 3, 5, 10]) {
    const pipe = new Pipe(model(), { chunks });
    assert.equal(pipe.partitions.length, 4);
    assert.deepEqual(pipe.devices, ['cpu', 'cpu', 'cpu', 'cpu']);
    const out = pipe.forward(x);
    assert.deepEqual([...out.shape], [10, 4]);
    assert.ok(maxDiff(out, refOut) < 1e-13, `chunks ${chunks}: output`);
    nn.functional.crossEntropy(out, y).backward();
    const got = new Map([...pipe.namedParameters()].map(([n, p]) => [n.replace(/^module\./, ''), p.grad!] as const));
    for (const [n, g] of refGrads) {
      assert.ok(got.get(n), `chunks ${chunks}: no gradient for ${n}`);
      assert.ok(maxDiff(got.get(n)!, g) < 1e-13, `chunks ${chunks}: gradient of ${n}`);
    }
  }
  // a batch smaller than chunks makes one-row micro-batches, as torch.chunk does
  assert.deepEqual([...new Pipe(model(), { chunks: 8 }).forward(x.narrow(0, 0, 3)).shape], [3, 4]);
});

test('Pipe: argument checks', () => {
  assert.throws(() => new Pipe(new nn.Linear(2, 2) as never), { code: 'ERR_INVALID_ARG', message: /nn.Sequential/ });
  assert.throws(() => new Pipe(model(), { chunks: 0 }), { code: 'ERR_INVALID_ARG', message: /chunks/ });
  assert.throws(() => new Pipe(model(), { checkpoint: 'except_last' as never }), { code: 'ERR_UNSUPPORTED', message: /checkpoint/ });
  assert.throws(() => new Pipe(new nn.Sequential()), { code: 'ERR_INVALID_ARG', message: /no stages/ });
  assert.throws(() => new Pipe(model()).forward(randn([], { dtype: 'float64' })), { code: 'ERR_SHAPE_MISMATCH', message: /0-dim/ });
});

test('PipelineStage + GPipe / 1F1B: the unsplit model\'s output, losses and gradients, 2 stages, 1 to 12 micro-batches', async () => {
  assertAllOk(await runRanks(2, ['grads'], {}, 90_000, { script }), 'grads');
});

test('PipelineStage + GPipe / 1F1B: the same with 4 stages', async () => {
  assertAllOk(await runRanks(4, ['grads'], {}, 90_000, { script }), 'grads');
});

test('pipeline x DistributedDataParallel (2 pipelines of 2 stages on 4 ranks): the unsplit model\'s gradients on the global batch', async () => {
  assertAllOk(await runRanks(4, ['2x2'], {}, 90_000, { script }), '2x2');
});

test('a killed stage is an error on every other rank (ERR_DIST_PEER_FAILURE or ERR_DIST_ABORTED), within the timeout', async () => {
  const timeout = 4000;
  const ranks = await startRanks(4, ['kill'], { TEST_DIST_TIMEOUT_MS: String(timeout) }, 60_000, { script });
  await Promise.all([0, 1, 2, 3].map((r) => ranks.waitFor(r, 'LOOPING')));
  const killedAt = Date.now();
  ranks.procs[1]!.kill('SIGKILL');
  const results = await ranks.done;
  assert.equal(results[1]!.signal, 'SIGKILL');
  for (const r of [results[0]!, results[2]!, results[3]!]) {
    assert.equal(r.code, 0, r.stderr);
    const res = resultOf(r);
    assert.ok(['ERR_DIST_PEER_FAILURE', 'ERR_DIST_ABORTED', 'ERR_DIST_TIMEOUT'].includes(String(res.code)), `rank ${r.rank}: ${res.code} ${res.message}`);
  }
  assert.ok(Date.now() - killedAt < timeout + 3000, `the survivors took ${Date.now() - killedAt} ms`);
});

test('mnist-pipeline (2 processes): training with 1, 2 and 4 micro-batches gives the same losses and accuracy', () => {
  const example = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'mnist-pipeline.js');
  const r = spawnSync(process.execPath, [example, '--steps', '6', '--chunks', '1,2,4', '--schedule', '1f1b', '--json'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  const runs = r.stdout
    .split('\n')
    .filter((l) => l.includes('SUMMARY '))
    .map((l) => JSON.parse(l.slice(l.indexOf('SUMMARY ') + 8)) as { chunks: number; loss: number; accuracy: number; steps: number });
  assert.deepEqual(runs.map((x) => x.chunks), [1, 2, 4]);
  for (const x of runs) {
    assert.equal(x.steps, 6);
    assert.ok(Math.abs(x.loss - runs[0]!.loss) < 1e-4, `loss with ${x.chunks} micro-batches: ${x.loss}, with 1: ${runs[0]!.loss}`);
    assert.ok(Math.abs(x.accuracy - runs[0]!.accuracy) < 2e-3, `accuracy with ${x.chunks}: ${x.accuracy}, with 1: ${runs[0]!.accuracy}`);
  }
  const bad = spawnSync(process.execPath, [example, '--schedule', 'zigzag'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--schedule must be gpipe or 1f1b/);
});
