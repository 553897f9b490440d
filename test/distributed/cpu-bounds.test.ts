/**
 * The cpu backend's bounds (issue 17, item 8), both transports, real processes
 * (fixtures/bounds-worker.ts): unmatched point-to-point ops are capped (NODE_NCCL_CPU_MAX_P2P, one
 * more is refused at once with ERR_DIST and the group goes on), and destroyProcessGroup is prompt
 * once a peer is known dead (it waits for the live ranks only, not the 10 s bound).
 */
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { resultOf, runRanks } from '../helpers/spawn-ranks.js';

const script = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'bounds-worker.js');

for (const transport of ['shm', 'tcp'] as const) {
  test(`unmatched isends are capped at 4096 and refused at once beyond (${transport})`, async () => {
    const ranks = await runRanks(2, ['p2p-bound'], { NODE_NCCL_CPU_TRANSPORT: transport }, 120_000, { script });
    for (const r of ranks) assert.equal(r.code, 0, `rank ${r.rank}: ${r.stderr}`);
    const res = resultOf(ranks[0]!) as { refused: number; refuseMs: number; rssGrowth: number; message: string; sum: number };
    assert.equal(res.refused, 20_000 - 4096);
    assert.match(res.message, /4096 point-to-point ops of this process group are already pending/);
    assert.equal(res.sum, 2, 'the group works afterwards');
  });

  test(`destroyProcessGroup is prompt once a peer is known dead, and still waits for the live ones (${transport})`, async () => {
    const ranks = await runRanks(3, ['destroy-dead'], { NODE_NCCL_CPU_TRANSPORT: transport }, 60_000, { script });
    assert.equal(ranks[1]!.signal, 'SIGKILL');
    for (const r of [ranks[0]!, ranks[2]!]) assert.equal(r.code, 0, `rank ${r.rank}: ${r.stderr}`);
    const res = resultOf(ranks[0]!) as { destroyMs: number; code: string };
    assert.ok(res.destroyMs >= 1000, `waited for the live rank 2 (${res.destroyMs.toFixed(0)} ms)`);
    assert.ok(res.destroyMs < 5000, `did not wait for the dead rank 1 (${res.destroyMs.toFixed(0)} ms; the bound is 10 s)`);
  });
}
