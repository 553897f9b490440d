/**
 * The nccl process-group backend with several real processes, one device each: every collective
 * against local references at world sizes 2 and 3, the memory of a collective whose input is
 * disposed early (D2), a late peer that must not block the event loop and a missing one that is
 * ERR_DIST_TIMEOUT within the group's timeout (D7), and DDP with deviceIds at world size 2 against
 * one process with the whole batch. They need as many devices as ranks: on one GPU (the GPU
 * machine) they skip, saying so; in `npm test` they run on simulated devices.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { cuda, nccl } from '../../lib/index.js';
import { explain, runRanks, type RankResult } from '../parallel/spawn-ranks.js';
import { maxAbsDiff, referenceRun } from '../parallel/workers/common.js';

const gpus = cuda.deviceCount();
const simulated = gpus > 0 && cuda.isSimulated();
// Simulated ranks get as many simulated devices as they need.
const needs = (n: number): string | false =>
  gpus === 0 ? `no GPU: ${cuda.noGpuReason()}` : !nccl.isAvailable() ? `NCCL not found: ${nccl.libraryInfo().error}`
    : gpus < n && !simulated ? `${n} ranks need ${n} devices, this machine has ${gpus}` : false;
const devicesFor = (n: number): Record<string, string> => (simulated ? { NODE_NCCL_SIM_DEVICES: String(Math.max(n, gpus)) } : {});

function ok(rs: RankResult[]): void {
  for (const r of rs) assert.equal(r.code, 0, explain(r));
}

test('nccl backend, 2 ranks: every collective, dtype and op against local references', { skip: needs(2), timeout: 180_000 }, async () => {
  ok(await runRanks('nccl-rank.js', 2, ['collectives'], { timeoutMs: 170_000 }));
});

test('nccl backend, 3 ranks (odd world size): every collective against local references', { skip: needs(3), timeout: 180_000 }, async () => {
  ok(await runRanks('nccl-rank.js', 3, ['collectives'], { timeoutMs: 170_000, env: devicesFor(3) }));
});

test('a collective whose input is disposed while NCCL waits for a peer still sends the real values (D2)', { skip: needs(2), timeout: 60_000 }, async () => {
  ok(await runRanks('nccl-rank.js', 2, ['disposed'], { timeoutMs: 50_000 }));
});

test('a peer 1.5 s late does not block the event loop of the rank waiting for it (D7)', { skip: needs(2), timeout: 60_000 }, async () => {
  const rs = await runRanks('nccl-rank.js', 2, ['late'], { timeoutMs: 50_000 });
  ok(rs);
  const r0 = rs[0]!.result as { ticks: number; maxGap: number; ms: number };
  assert.ok(r0.ms >= 1000, `rank 0 waited ${r0.ms} ms`);
  assert.ok(r0.maxGap < 500, `rank 0's event loop stalled for ${r0.maxGap} ms while waiting for its peer`);
  assert.ok(r0.ticks > 20, `only ${r0.ticks} timer ticks in ${r0.ms} ms`);
});

for (const [when, scenario] of [['its first collective (while NCCL connects)', 'missing'], ['a later collective', 'missing-late']] as const) {
  test(`a peer that never issues ${when} is ERR_DIST_TIMEOUT within the group's timeout (D7)`, { skip: needs(2), timeout: 60_000 }, async () => {
    const rs = await runRanks('nccl-rank.js', 2, [scenario], { timeoutMs: 50_000, env: { TEST_GROUP_TIMEOUT_MS: '1500', TEST_HOLD_MS: '8000' } });
    ok(rs);
    const r0 = rs[0]!.result as { code: string; message: string; elapsedMs: number };
    assert.equal(r0.code, 'ERR_DIST_TIMEOUT', r0.message);
    assert.ok(r0.elapsedMs >= 1400 && r0.elapsedMs < 6000, `timed out after ${r0.elapsedMs} ms (group timeout 1500 ms)`);
  });
}

for (const when of ['early', 'late'] as const) {
  test(`a peer killed ${when === 'early' ? 'before the first collective (while NCCL connects)' : 'between collectives'} is ERR_DIST_PEER_FAILURE on the other rank, not a hang`, { skip: needs(2), timeout: 60_000 }, async () => {
    const rs = await runRanks('nccl-rank.js', 2, [`dies-${when}`], { timeoutMs: 50_000, env: { TEST_DIST_TIMEOUT_MS: '30000' } });
    assert.equal(rs[1]!.signal, 'SIGKILL', explain(rs[1]!));
    assert.equal(rs[0]!.code, 0, explain(rs[0]!));
    const r0 = rs[0]!.result as { code: string; message: string; elapsedMs: number };
    assert.equal(r0.code, 'ERR_DIST_PEER_FAILURE', r0.message);
    assert.ok(r0.elapsedMs < 15_000, `noticed after ${r0.elapsedMs} ms (group timeout 30 s)`);
  });
}

test('DDP on NCCL with deviceIds, 2 ranks, equals one process with the whole batch', { skip: needs(2), timeout: 120_000 }, async () => {
  const rs = await runRanks('ddp-gpu.js', 2, [], { timeoutMs: 110_000 });
  ok(rs);
  const ref = await referenceRun('sgd', 2, 8, 3);
  for (const r of rs) {
    const d = maxAbsDiff(r.result as number[][], ref);
    assert.ok(d < 1e-5, `rank ${r.rank}: NCCL DDP differs from the whole-batch run by ${d}`);
  }
});

test("npm start's job under the launcher on the nccl backend: the MNIST DDP example trains on 2 devices", { skip: needs(2), timeout: 180_000 }, () => {
  const root = fileURLToPath(new URL('../../..', import.meta.url));
  const r = spawnSync(process.execPath, [join(root, 'bin', 'node-nccl.js'), 'run', '--nproc-per-node', '2', join(root, 'dist', 'examples', 'mnist-ddp.js'), '--epochs', '2'], {
    encoding: 'utf8', timeout: 170_000, cwd: mkdtempSync(join(tmpdir(), 'mnist-nccl-')), env: { ...process.env, ...devicesFor(2) },
  });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /2 rank\(s\), backend nccl/);
  const acc = Number(/test accuracy ([\d.]+)%/.exec(r.stdout)?.[1]);
  assert.ok(acc > 90, `accuracy ${acc}%`);
});

test('SyncBatchNorm on the nccl backend, 3 ranks with batches 3 + 0 + 2: equals torch\'s BatchNorm over the whole batch', { skip: needs(3), timeout: 90_000 }, async () => {
  ok(await runRanks('syncbn-rank.js', 3, ['nccl', 'fixture', '2'], { timeoutMs: 80_000, env: devicesFor(3) }));
});

test('SyncBatchNorm in DDP on the nccl backend, 2 ranks: parameters and running statistics equal one process with BatchNorm', { skip: needs(2), timeout: 90_000 }, async () => {
  ok(await runRanks('syncbn-rank.js', 2, ['nccl', 'ddp'], { timeoutMs: 80_000 }));
});
