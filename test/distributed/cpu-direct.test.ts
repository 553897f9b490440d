/**
 * The cpu backend's direct path (cpp/cpu_comm_napi.cc): small collectives complete on the calling
 * thread when the peers are already there, and a late peer sends the op to the communication
 * thread, which resumes it. Values are checked against local references in every case; the
 * setting NODE_NCCL_CPU_DIRECT_US=0 turns the path off.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runRanks, type RankResult } from '../helpers/spawn-ranks.js';

function directCount(r: RankResult): number {
  assert.equal(r.code, 0, `rank ${r.rank} failed (exit ${r.code}, signal ${r.signal}):\n${r.stderr}\n${r.stdout}`);
  assert.match(r.stdout, /OK direct/);
  const m = /DIRECT (\d+)/.exec(r.stdout);
  assert.ok(m, `rank ${r.rank} printed no DIRECT count:\n${r.stdout}`);
  return Number(m[1]);
}

test('direct path: lockstep all-reduces complete at once; late peers, bursts and a large op in flight stay correct (2 ranks)', async () => {
  const counts = (await runRanks(2, ['direct'])).map(directCount);
  // 400 lockstep calls per rank: on any machine some find the peer already there.
  assert.ok(counts.some((c) => c > 0), `no all-reduce completed directly: ${counts.join(', ')}`);
});

test('direct path at world size 3', async () => {
  const counts = (await runRanks(3, ['direct'])).map(directCount);
  assert.ok(counts.some((c) => c > 0), `no all-reduce completed directly: ${counts.join(', ')}`);
});

test('NODE_NCCL_CPU_DIRECT_US=0: every op goes through the communication thread, same results', async () => {
  const counts = (await runRanks(2, ['direct'], { NODE_NCCL_CPU_DIRECT_US: '0' })).map(directCount);
  assert.deepEqual(counts, [0, 0]);
});
