/**
 * The cpu backend's multi-process suites, registered once per transport: cpu-collectives.test.ts
 * and cpu-faults.test.ts run them as they are (shared memory on this host), cpu-tcp.test.ts with
 * NODE_NCCL_CPU_TRANSPORT=tcp. `prefix` starts every test name.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resultOf, runRanks, startRanks, type RankResult } from './spawn-ranks.js';

type Env = Record<string, string>;

function assertAllOk(results: RankResult[], scenario: string): void {
  for (const r of results) {
    assert.equal(r.code, 0, `rank ${r.rank} of ${scenario} failed (exit ${r.code}, signal ${r.signal}):\n${r.stderr}\n${r.stdout}`);
    assert.match(r.stdout, new RegExp(`OK ${scenario}`));
  }
}

/** Every collective, dtype and op against local references, at world sizes 2, 3 and 4. */
export function collectiveSuite(prefix: string, env: Env): void {
  test(`${prefix}allReduce: every dtype and op, sizes 0..several MiB, non-contiguous, world size 2`, async () => {
    assertAllOk(await runRanks(2, ['allreduce'], env), 'allreduce');
  });

  test(`${prefix}allReduce: every dtype and op at odd world size 3`, async () => {
    assertAllOk(await runRanks(3, ['allreduce'], env), 'allreduce');
  });

  test(`${prefix}broadcast, reduce, allGather, reduceScatter, gather, scatter, allToAll(Single), barrier at world size 4`, async () => {
    assertAllOk(await runRanks(4, ['collectives'], env), 'collectives');
  });

  test(`${prefix}the same collectives at world size 3`, async () => {
    assertAllOk(await runRanks(3, ['collectives'], env), 'collectives');
  });

  test(`${prefix}send/recv, isend/irecv rings and batchIsendIrecv at world sizes 2 and 4`, async () => {
    assertAllOk(await runRanks(2, ['p2p'], env), 'p2p');
    assertAllOk(await runRanks(4, ['p2p'], env), 'p2p');
  });

  test(`${prefix}newGroup: members reduce among themselves, non-members get a handle that throws`, async () => {
    assertAllOk(await runRanks(3, ['groups'], env), 'groups');
    assertAllOk(await runRanks(2, ['groups'], env), 'groups');
  });

  test(`${prefix}collectives on lib/tensor Tensors (views written back, int64, lists) at world size 3`, async () => {
    assertAllOk(await runRanks(3, ['tensor'], env), 'tensor');
  });
}

const TIMEOUT = 4000;

/**
 * A rank killed (SIGKILL) in the middle of collectives, a rank that stalls, mismatched calls across
 * ranks (sizes, dtypes, collectives). Every surviving rank gets a typed error naming the collective
 * and the missing rank within the group's (few-seconds) timeout, and exits.
 */
export function faultSuite(prefix: string, env: Env): void {
  test(`${prefix}a rank killed mid-collective: the others get ERR_DIST_PEER_FAILURE naming it, promptly, and exit`, async () => {
    const ranks = await startRanks(3, ['fault-kill'], { ...env, TEST_DIST_TIMEOUT_MS: String(TIMEOUT) }, 60_000);
    await ranks.waitFor(2, 'LOOPING');
    await new Promise((r) => setTimeout(r, 100));
    const killedAt = Date.now();
    ranks.procs[2]!.kill('SIGKILL');
    const results = await ranks.done;
    const endedAt = Date.now();
    assert.equal(results[2]!.signal, 'SIGKILL');
    for (const r of results.slice(0, 2)) {
      assert.equal(r.code, 0, r.stderr);
      const res = resultOf(r);
      assert.ok(res.code === 'ERR_DIST_PEER_FAILURE' || res.code === 'ERR_DIST_TIMEOUT', `rank ${r.rank}: ${res.code} ${res.message}`);
      assert.match(String(res.message), /allReduce/);
      assert.match(String(res.message), /rank 2\b/);
      assert.equal(res.afterCode, 'ERR_DIST_ABORTED', 'calls after the failure fail fast');
      assert.ok(Number(res.afterMs) < 1000, `later call took ${String(res.afterMs)} ms`);
    }
    // well within the timeout: a dead peer is noticed (its pid, its closed socket), not waited out
    assert.ok(endedAt - killedAt < TIMEOUT, `survivors took ${endedAt - killedAt} ms after the kill`);
  });

  test(`${prefix}a rank stopped (SIGSTOP) mid-collective: the others time out naming it; continued, it fails too instead of hanging`, async () => {
    const ranks = await startRanks(3, ['fault-kill'], { ...env, TEST_DIST_TIMEOUT_MS: String(TIMEOUT) }, 60_000);
    await ranks.waitFor(2, 'LOOPING');
    await new Promise((r) => setTimeout(r, 100));
    const stoppedAt = Date.now();
    ranks.procs[2]!.kill('SIGSTOP');
    const survivors = await Promise.all(ranks.procs.slice(0, 2).map((p) => new Promise<number>((resolve) => p.once('close', () => resolve(Date.now())))));
    const contAt = Date.now();
    ranks.procs[2]!.kill('SIGCONT');
    const results = await ranks.done;
    const endedAt = Date.now();
    for (const r of results.slice(0, 2)) {
      assert.equal(r.code, 0, r.stderr);
      const res = resultOf(r);
      assert.equal(res.code, 'ERR_DIST_TIMEOUT', `rank ${r.rank}: ${res.code} ${res.message}`);
      assert.match(String(res.message), /rank\(s\) 2\b|rank 2\b/);
    }
    assert.ok(Math.max(...survivors) - stoppedAt < TIMEOUT + 3000, `survivors took ${Math.max(...survivors) - stoppedAt} ms`);
    // the continued rank learns of the failure (the shared abort word / ABORT frames) at once
    assert.equal(results[2]!.code, 0, results[2]!.stderr);
    const res2 = resultOf(results[2]!);
    assert.ok(['ERR_DIST_TIMEOUT', 'ERR_DIST_PEER_FAILURE', 'ERR_DIST_ABORTED'].includes(String(res2.code)), `rank 2: ${res2.code} ${res2.message}`);
    assert.ok(endedAt - contAt < 3000, `the continued rank took ${endedAt - contAt} ms to fail`);
  });

  test(`${prefix}a rank that stalls: the others get ERR_DIST_TIMEOUT naming the collective, its sequence number and the rank`, async () => {
    const t0 = Date.now();
    const results = await runRanks(3, ['fault-stall'], { ...env, TEST_DIST_TIMEOUT_MS: '1500' }, 60_000);
    for (const r of results.slice(0, 2)) {
      assert.equal(r.code, 0, r.stderr);
      const res = resultOf(r);
      assert.equal(res.code, 'ERR_DIST_TIMEOUT', String(res.message));
      assert.match(String(res.message), /allReduce \(seq \d+/);
      assert.match(String(res.message), /rank\(s\) 2\b|rank 2\b/);
      assert.ok(Number(res.elapsedMs) >= 1400 && Number(res.elapsedMs) < 6000, `timed out after ${String(res.elapsedMs)} ms`);
    }
    assert.ok(Date.now() - t0 < 30_000);
  });

  test(`${prefix}different sizes across ranks: detected (ERR_DIST_MISMATCH) before any data moves, memory intact`, async () => {
    const results = await runRanks(2, ['mismatch', 'size'], { ...env, TEST_DIST_TIMEOUT_MS: String(TIMEOUT) });
    for (const r of results) {
      assert.equal(r.code, 0, r.stderr);
      const res = resultOf(r);
      assert.equal(res.code, 'ERR_DIST_MISMATCH', String(res.message));
      assert.match(String(res.message), /count 10\b/);
      assert.match(String(res.message), /count 200000\b/);
      assert.equal(res.intact, true);
    }
  });

  test(`${prefix}different dtypes across ranks: ERR_DIST_MISMATCH naming both calls`, async () => {
    const results = await runRanks(2, ['mismatch', 'dtype'], { ...env, TEST_DIST_TIMEOUT_MS: String(TIMEOUT) });
    for (const r of results) {
      const res = resultOf(r);
      assert.equal(res.code, 'ERR_DIST_MISMATCH', String(res.message));
      assert.match(String(res.message), /float32/);
      assert.match(String(res.message), /int32/);
    }
  });

  test(`${prefix}NODE_NCCL_DEBUG=detail: a different collective on one rank is reported with each rank's call`, async () => {
    const results = await runRanks(2, ['mismatch', 'collective'], { ...env, TEST_DIST_TIMEOUT_MS: String(TIMEOUT), NODE_NCCL_DEBUG: 'detail' });
    for (const r of results) {
      assert.equal(r.code, 0, r.stderr);
      const res = resultOf(r);
      assert.equal(res.code, 'ERR_DIST_MISMATCH', String(res.message));
      assert.match(String(res.message), /^NODE_NCCL_DEBUG=detail: collective #1 of group 'default' does not match across ranks/);
      assert.match(String(res.message), /rank 0 called allReduce\(dtype=float32, count=10, reduceOp=sum, device=cpu\)/);
      assert.match(String(res.message), /rank 1 called broadcast\(dtype=float32, count=200000, root=0, device=cpu\)/);
      assert.equal(res.intact, true);
    }
  });
}
