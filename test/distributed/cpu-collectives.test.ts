/**
 * The cpu backend with real processes at world sizes 2, 3 and 4: every collective, dtype and op
 * against reference values each rank computes locally (test/helpers/dist-ref.ts), sizes 0, 1,
 * primes and several MiB, in place and out of place, non-contiguous views, groups, p2p.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runRanks, type RankResult } from '../helpers/spawn-ranks.js';

function assertAllOk(results: RankResult[], scenario: string): void {
  for (const r of results) {
    assert.equal(r.code, 0, `rank ${r.rank} of ${scenario} failed (exit ${r.code}, signal ${r.signal}):\n${r.stderr}\n${r.stdout}`);
    assert.match(r.stdout, new RegExp(`OK ${scenario}`));
  }
}

test('allReduce: every dtype and op, sizes 0..several MiB, non-contiguous, world size 2', async () => {
  assertAllOk(await runRanks(2, ['allreduce']), 'allreduce');
});

test('allReduce: every dtype and op at odd world size 3', async () => {
  assertAllOk(await runRanks(3, ['allreduce']), 'allreduce');
});

test('broadcast, reduce, allGather, reduceScatter, gather, scatter, allToAll(Single), barrier at world size 4', async () => {
  assertAllOk(await runRanks(4, ['collectives']), 'collectives');
});

test('the same collectives at world size 3', async () => {
  assertAllOk(await runRanks(3, ['collectives']), 'collectives');
});

test('send/recv, isend/irecv rings and batchIsendIrecv at world sizes 2 and 4', async () => {
  assertAllOk(await runRanks(2, ['p2p']), 'p2p');
  assertAllOk(await runRanks(4, ['p2p']), 'p2p');
});

test('newGroup: members reduce among themselves, non-members get a handle that throws', async () => {
  assertAllOk(await runRanks(3, ['groups']), 'groups');
  assertAllOk(await runRanks(2, ['groups']), 'groups');
});

test('collectives on lib/tensor Tensors (views written back, int64, lists) at world size 3', async () => {
  assertAllOk(await runRanks(3, ['tensor']), 'tensor');
});
