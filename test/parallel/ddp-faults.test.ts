/**
 * DDP under faults (issue 17's kill/stop experiments, as bounded tests): one rank of a 2- or
 * 3-rank DDP job, over shared memory and over TCP, is SIGKILLed or SIGSTOPped at a step of
 * training, between steps or in the middle of one (gradient all-reduces in flight). Every other
 * rank fails with a coded error (ERR_DIST_PEER_FAILURE or ERR_DIST_TIMEOUT; ERR_DIST_ABORTED when
 * another rank noticed first) within the group's timeout, and exits; none hangs or trains on.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { startRanks, type RankResult } from '../helpers/spawn-ranks.js';
import { workersDir } from './spawn-ranks.js';

const script = join(workersDir, 'ddp-loop.js');
const TIMEOUT = 3000;
const CODES = ['ERR_DIST_PEER_FAILURE', 'ERR_DIST_TIMEOUT', 'ERR_DIST_ABORTED'];

function resultOf(r: RankResult): { code: string | null; message: string } {
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  assert.ok(line, `rank ${r.rank} printed no RESULT (exit ${r.code}, signal ${r.signal}):\n${r.stderr}`);
  return JSON.parse(line.slice(7)) as { code: string | null; message: string };
}

const cases: Array<{ world: number; signal: 'SIGKILL' | 'SIGSTOP'; atStep: number; delayMs: number }> = [
  { world: 2, signal: 'SIGKILL', atStep: 3, delayMs: 0 },
  { world: 3, signal: 'SIGKILL', atStep: 2, delayMs: 3 },
  { world: 2, signal: 'SIGSTOP', atStep: 2, delayMs: 1 },
  { world: 3, signal: 'SIGSTOP', atStep: 3, delayMs: 0 },
];

for (const transport of ['shm', 'tcp'] as const) {
  for (const c of cases) {
    test(`DDP, ${c.world} ranks over ${transport}: the last rank ${c.signal === 'SIGKILL' ? 'killed' : 'stopped'} ${c.delayMs ? `${c.delayMs} ms into` : 'after'} step ${c.atStep}: the others fail with a coded error within the timeout`, async () => {
      const ranks = await startRanks(c.world, ['100000'], { NODE_NCCL_CPU_TRANSPORT: transport, TEST_DIST_TIMEOUT_MS: String(TIMEOUT) }, 90_000, { script });
      const victim = c.world - 1;
      await ranks.waitFor(victim, `STEP ${c.atStep}\n`);
      if (c.delayMs) await new Promise((r) => setTimeout(r, c.delayMs));
      const hitAt = Date.now();
      ranks.procs[victim]!.kill(c.signal);
      // survivors: wait for them alone (a stopped rank never exits by itself)
      const ended = await Promise.all(
        ranks.procs.slice(0, victim).map((p) => new Promise<number>((resolve) => p.once('close', () => resolve(Date.now())))),
      );
      if (c.signal === 'SIGSTOP') ranks.procs[victim]!.kill('SIGKILL');
      const results = await ranks.done;
      for (const r of results.slice(0, victim)) {
        assert.equal(r.code, 3, `rank ${r.rank} exit ${r.code} signal ${r.signal}:\n${r.stderr}\n${r.stdout.slice(-500)}`);
        const res = resultOf(r);
        assert.ok(res.code && CODES.includes(res.code), `rank ${r.rank}: ${res.code}: ${res.message}`);
      }
      const slowest = Math.max(...ended) - hitAt;
      // a dead process is noticed at once; a stopped one at the timeout (+ process exit)
      assert.ok(slowest < TIMEOUT + 3000, `the survivors took ${slowest} ms to fail`);
      if (c.signal === 'SIGKILL') assert.ok(slowest < TIMEOUT, `a dead rank is noticed before the timeout (${slowest} ms)`);
    });
  }
}
