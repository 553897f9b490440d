/**
 * Checkpoints that no crash can break (issue 17, items 3 and 4): a process is SIGKILLed before
 * each file-system step of a write in turn (workers/ckpt-crash-worker.ts counts them), for a new
 * step and for a re-save of an existing one; after every crash the checkpoint directory must load
 * without falling back, hold the previous checkpoint whole, and the next save must clean up every
 * leftover. Then: a broken `latest` from older versions falls back to the newest complete step
 * (and says so), and file-system failures are coded errors naming the path.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { NodeNcclError, optim } from '../../lib/index.js';
import { latestCheckpoint, loadCheckpoint, saveCheckpoint, type CheckpointInfo } from '../../lib/parallel/index.js';
import { libIndex } from '../helpers/child.js';
import { workersDir } from './spawn-ranks.js';
import { makeModel, paramValues } from './workers/common.js';

const worker = join(workersDir, 'ckpt-crash-worker.js');

function run(dir: string, mode: string, crashAt: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [worker, dir, mode, String(crashAt)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d));
    p.stderr.on('data', (d: Buffer) => (stderr += d));
    p.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

async function pool<T, R>(items: T[], n: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

const seedValues = new Map<number, number[][]>();
async function valuesOf(seed: number): Promise<number[][]> {
  if (!seedValues.has(seed)) seedValues.set(seed, await paramValues(makeModel(seed)));
  return seedValues.get(seed)!;
}

/** Loads a checkpoint (a directory of them, or one) into a fresh model; returns its info and seed. */
async function loadSeed(path: string): Promise<{ info: CheckpointInfo; seed: number }> {
  const model = makeModel(99);
  const opt = new optim.SGD([...model.parameters()], { lr: 0.1, momentum: 0.9 });
  const info = await loadCheckpoint(path, { model, optimizer: opt });
  const seed = (info.extra as { seed: number }).seed;
  assert.deepEqual(await paramValues(model), await valuesOf(seed), `${path}: the weights are seed ${seed}'s`);
  return { info, seed };
}

/** What must hold after a crash at any point of the armed save (see the worker). */
async function verifyAfterCrash(dir: string, mode: 'new' | 'resave', k: number): Promise<void> {
  const what = `${mode}, crash before op ${k}`;
  const { info, seed } = await loadSeed(dir);
  assert.equal(info.fallback ?? null, null, `${what}: 'latest' resolved without a fallback (${String(info.fallback)})`);
  if (mode === 'new') {
    assert.ok((info.step === 2 && seed === 2) || (info.step === 3 && seed === 3), `${what}: latest is step ${info.step} seed ${seed}`);
    assert.equal((await loadSeed(join(dir, 'step-00000002'))).seed, 2, `${what}: the previous checkpoint is whole`);
  } else {
    assert.equal(info.step, 2, what);
    assert.ok(seed === 2 || seed === 4, `${what}: step 2 holds seed ${seed}`);
    assert.equal((await loadSeed(join(dir, 'step-00000001'))).seed, 1, `${what}: the other checkpoint is whole`);
  }
  // Every visible step directory is complete (pruning and replacing never leave half of one).
  for (const f of (await readdir(dir)).filter((x) => /^step-\d{8}$/.test(x))) await loadSeed(join(dir, f));
  // The next save finishes or discards what the crash left, and leaves nothing behind.
  const model = makeModel(5);
  await saveCheckpoint(dir, { model, step: 5, extra: { seed: 5 } });
  const left = (await readdir(dir)).filter((f) => !/^step-\d{8}$/.test(f) && f !== 'latest');
  assert.deepEqual(left, [], `${what}: leftovers after the next save`);
  assert.equal((await readFile(join(dir, 'latest'), 'utf8')).trim(), 'step-00000005');
}

for (const mode of ['new', 'resave'] as const) {
  test(`a crash before each file-system step of a checkpoint write (${mode === 'new' ? 'a new step, with keep' : 'a re-save of an existing step'}) leaves it loadable`, async () => {
    const base = await mkdtemp(join(tmpdir(), `nn-crash-${mode}-`));
    try {
      const count = await run(join(base, 'count'), mode, 0);
      assert.equal(count.code, 0, count.stderr);
      const n = Number(/OPS (\d+)/.exec(count.stdout)?.[1]);
      assert.ok(n >= 10, `the armed save makes ${n} file-system calls`);
      const ks = Array.from({ length: n }, (_, i) => i + 1);
      const results = await pool(ks, 3, async (k) => {
        const dir = join(base, `k${k}`);
        const r = await run(dir, mode, k);
        return { k, dir, r };
      });
      for (const { k, dir, r } of results) {
        assert.equal(r.signal, 'SIGKILL', `crash ${k} happened (${r.stderr.slice(-400)})`);
        await verifyAfterCrash(dir, mode, k);
        await rm(dir, { recursive: true, force: true });
      }
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });
}

/** A directory with complete steps 1 and 2 (seeds 1 and 2). */
async function twoSteps(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nn-fallback-'));
  for (const seed of [1, 2]) {
    const model = makeModel(seed);
    await saveCheckpoint(dir, { model, optimizer: new optim.SGD([...model.parameters()], { lr: 0.1, momentum: 0.9 }), step: seed, extra: { seed } });
  }
  return dir;
}

test('a broken latest (what older versions could leave) falls back to the newest complete step and says so', async () => {
  const warnings: Error[] = [];
  const onWarning = (w: Error): void => {
    warnings.push(w);
  };
  process.on('warning', onWarning);
  try {
    const cases: Array<[string, (dir: string) => Promise<void>, number]> = [
      ['latest names a missing step', (d) => writeFile(join(d, 'latest'), 'step-00000003\n'), 2],
      ['latest is garbage', (d) => writeFile(join(d, 'latest'), 'not a step\n'), 2],
      ['latest is missing', (d) => rm(join(d, 'latest')), 2],
      ['latest names a half-deleted step', (d) => rm(join(d, 'step-00000002', 'state.json')), 1],
      ['latest names a step missing its weights', (d) => rm(join(d, 'step-00000002', 'model.safetensors')), 1],
    ];
    for (const [what, breakIt, want] of cases) {
      const dir = await twoSteps();
      try {
        // leftovers of interrupted writes never count as checkpoints
        await mkdir(join(dir, '.tmp-step-00000009-4242'));
        await writeFile(join(dir, '.tmp-step-00000009-4242', 'state.json'), '{');
        await writeFile(join(dir, 'latest.tmp-4242'), 'step-00000009\n');
        await breakIt(dir);
        warnings.length = 0;
        const { info, seed } = await loadSeed(dir);
        assert.equal(info.step, want, what);
        assert.equal(seed, want, what);
        assert.match(String(info.fallback), /newest complete checkpoint/, `${what}: info.fallback says why`);
        assert.equal(await latestCheckpoint(dir), join(dir, `step-0000000${want}`), what);
        await new Promise((r) => setImmediate(r));
        assert.ok(warnings.some((w) => (w as { code?: string }).code === 'NODE_NCCL_CHECKPOINT_FALLBACK'), `${what}: a process warning`);
        // the next save repairs everything: latest is valid again, leftovers are gone
        const m3 = makeModel(3);
        await saveCheckpoint(dir, { model: m3, optimizer: new optim.SGD([...m3.parameters()], { lr: 0.1 }), step: 3, extra: { seed: 3 } });
        assert.deepEqual((await readdir(dir)).filter((f) => f.startsWith('.') || f.startsWith('latest.')), [], what);
        assert.equal((await loadSeed(dir)).info.fallback ?? null, null, what);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    // nothing complete at all: a coded error, not a raw ENOENT
    const empty = await mkdtemp(join(tmpdir(), 'nn-fallback-'));
    try {
      await mkdir(join(empty, 'step-00000001'));
      await writeFile(join(empty, 'latest'), 'step-00000001\n');
      await assert.rejects(loadCheckpoint(empty, { model: makeModel(1) }), (e: unknown) => e instanceof NodeNcclError && e.code === 'ERR_STATE_DICT' && /no complete checkpoint/.test(e.message));
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  } finally {
    process.off('warning', onWarning);
  }
});

test('file-system failures are ERR_OS naming the path (ENOTDIR; ENOSPC on a 1 MiB tmpfs where mounts are allowed)', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'nn-fserr-'));
  try {
    await writeFile(join(base, 'file'), 'x');
    const dir = join(base, 'file', 'ckpts');
    await assert.rejects(saveCheckpoint(dir, { model: makeModel(1), step: 1 }), (e: unknown) => {
      assert.ok(e instanceof NodeNcclError, String(e));
      assert.equal(e.code, 'ERR_OS');
      assert.equal(e.nativeName, 'ENOTDIR');
      assert.ok(e.message.includes(dir), e.message);
      return true;
    });
    await assert.rejects(loadCheckpoint(join(base, 'none'), { model: makeModel(1) }), (e: unknown) => e instanceof NodeNcclError && e.code === 'ERR_STATE_DICT');
  } finally {
    await rm(base, { recursive: true, force: true });
  }
  // ENOSPC: a private mount namespace with a 1 MiB tmpfs (needs root and unshare)
  const probe = spawnSync('unshare', ['-m', 'sh', '-c', 'mount -t tmpfs -o size=64k tmpfs /mnt && umount /mnt'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    t.skip(`ENOSPC part skipped: cannot mount a tmpfs in a private mount namespace here (${(probe.stderr || probe.error?.message || '').trim()})`);
    return;
  }
  const mnt = await mkdtemp(join(tmpdir(), 'nn-enospc-'));
  try {
    const code = `
const lib = await import(${JSON.stringify(libIndex)});
const { readdirSync } = await import('node:fs');
const dir = ${JSON.stringify(mnt)} + '/ckpts';
const model = new lib.nn.Linear(64, 64);
await lib.saveCheckpoint(dir, { model, step: 1, extra: { seed: 1 } });
let err = null;
try { await lib.saveCheckpoint(dir, { model, step: 2, extra: { big: 'x'.repeat(2 << 20) } }); } catch (e) { err = { name: e.constructor.name, code: e.code, nativeName: e.nativeName, message: e.message }; }
const info = await lib.loadCheckpoint(dir, { model });
console.log('RESULT ' + JSON.stringify({ err, step: info.step, left: readdirSync(dir) }));`;
    const r = spawnSync('unshare', ['-m', 'sh', '-c', 'mount -t tmpfs -o size=1m tmpfs "$0" && exec "$1" --input-type=module -e "$2"', mnt, process.execPath, code], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const res = JSON.parse(/RESULT (.*)/.exec(r.stdout)![1]!) as { err: { code: string; nativeName: string; message: string } | null; step: number; left: string[] };
    assert.ok(res.err, 'the second save failed');
    assert.equal(res.err.code, 'ERR_OS', res.err.message);
    assert.equal(res.err.nativeName, 'ENOSPC', res.err.message);
    assert.ok(res.err.message.includes(`${mnt}/ckpts/`), `names the path: ${res.err.message}`);
    assert.equal(res.step, 1, 'the previous checkpoint is still the latest');
    assert.deepEqual(res.left.sort(), ['latest', 'step-00000001'], 'the failed save removed its temporary directory');
  } finally {
    await rm(mnt, { recursive: true, force: true });
  }
});
