import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { optim } from '../../lib/index.js';
import { latestCheckpoint, loadCheckpoint, saveCheckpoint } from '../../lib/parallel/index.js';
import { joinState, splitState } from '../../lib/parallel/checkpoint.js';
import { explain, runRanks } from './spawn-ranks.js';
import { makeModel, paramValues } from './workers/common.js';

test('checkpoint resume on 2 ranks continues exactly like the unbroken run (bitwise)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nn-ckpt-'));
  try {
    const ranks = await runRanks('ckpt-worker.js', 2, ['resume', dir], { timeoutMs: 90_000 });
    for (const r of ranks) assert.equal(r.code, 0, explain(r));
    const { unbroken, resumed } = ranks[0]!.result as { unbroken: number[][]; resumed: number[][] };
    assert.deepEqual(resumed, unbroken);
    assert.deepEqual((ranks[1]!.result as { resumed: number[][] }).resumed, unbroken);
    assert.deepEqual(await readdir(dir).then((f) => f.sort()), ['latest', 'step-00000003']);
    assert.deepEqual((await readdir(join(dir, 'step-00000003'))).sort(), ['model.safetensors', 'optimizer.safetensors', 'state.json']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a rank dying mid-training: the others fail within the timeout, the last checkpoint is intact', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nn-die-'));
  try {
    const t0 = Date.now();
    const [r0, r1] = await runRanks('ckpt-worker.js', 2, ['die', dir], { timeoutMs: 60_000 });
    assert.equal(r1!.code, 7, explain(r1!));
    assert.equal(r0!.code, 1, explain(r0!));
    assert.equal(r0!.signal, null, 'rank 0 exited by itself (not killed by the test timeout)');
    assert.ok(Date.now() - t0 < 40_000, `rank 0 took ${Date.now() - t0} ms to notice`);
    assert.match(r0!.stderr, /ERR_DIST/);
    // The last complete checkpoint (step 4) is there, complete and loadable.
    const snaps = r0!.stdout.split('\n').filter((l) => l.startsWith('CKPT ')).map((l) => JSON.parse(l.slice(5)) as { step: number; params: number[][] });
    const last = snaps.at(-1)!;
    assert.equal(last.step, 4);
    const latest = await latestCheckpoint(dir);
    assert.equal(latest, join(dir, 'step-00000004'));
    const model = makeModel(123);
    const opt = new optim.AdamW([...model.parameters()], { lr: 0.01, weightDecay: 0.01 });
    const info = await loadCheckpoint(dir, { model, optimizer: opt, mapLocation: 'cpu' });
    assert.equal(info.step, 4);
    assert.deepEqual(info.extra, { note: 'test' });
    assert.deepEqual(await paramValues(model), last.params);
    // No temporary directories left behind by completed saves.
    assert.deepEqual((await readdir(dir)).filter((f) => f.startsWith('.tmp')), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('single-process save/load: atomic layout, keep, map_location, bad input', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nn-ck1-'));
  try {
    const model = makeModel(1);
    const opt = new optim.SGD([...model.parameters()], { lr: 0.1, momentum: 0.9 });
    for (const s of [1, 2, 3]) await saveCheckpoint(dir, { model, optimizer: opt, step: s, keep: 2 });
    assert.deepEqual((await readdir(dir)).sort(), ['latest', 'step-00000002', 'step-00000003']);
    assert.equal((await readFile(join(dir, 'latest'), 'utf8')).trim(), 'step-00000003');
    const other = makeModel(2);
    await loadCheckpoint(join(dir, 'step-00000002'), { model: other, mapLocation: { cpu: 'cpu' } });
    assert.deepEqual(await paramValues(other), await paramValues(model));
    await assert.rejects(loadCheckpoint(join(dir, 'nope')), (e: unknown) => (e as { code?: string }).code === 'ERR_STATE_DICT');
    await assert.rejects(saveCheckpoint(dir, { model, step: -1 }), /step must be a non-negative integer/);
    // A model of another shape: the strict state-dict load says so.
    await assert.rejects(loadCheckpoint(dir, { model: makeModel(1, 5) }), /shape|size/i);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('splitState/joinState round-trip nested optimizer state', () => {
  const tensors = {};
  const state = { state: new Map([[0, { step: 3, buf: null }]]), groups: [{ lr: 0.1, betas: [0.9, 0.999], n: 5n, inf: Infinity }] };
  const json = JSON.parse(JSON.stringify(splitState(state, tensors)));
  assert.deepEqual(joinState(json, tensors), state);
});
