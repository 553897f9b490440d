/**
 * nn.SyncBatchNorm with real processes on the cpu backend: 2 and 3 ranks with uneven batches (one
 * rank empty) against torch's BatchNorm2d over the concatenated batch (test/fixtures/torch/
 * batchnorm.json: outputs, input gradients, weight/bias gradients summed over ranks, running
 * statistics, eval mode), and inside DistributedDataParallel against one process training
 * BatchNorm on the whole batch; DDP's broadcastBuffers with plain BatchNorm. The nccl backend runs the same worker in test/gpu/nccl-ranks.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { explain, runRanks, type RankResult } from './spawn-ranks.js';

function ok(rs: RankResult[]): void {
  for (const r of rs) assert.equal(r.code, 0, explain(r));
}

for (const [i, sizes] of [[0, '3 + 5'], [1, '2 + 4 + 1'], [2, '3 + 0 + 2']] as const) {
  const world = sizes.split('+').length;
  test(`SyncBatchNorm, ${world} ranks with batches ${sizes}: equals torch's BatchNorm over the whole batch (2 training steps, eval)`, { timeout: 60_000 }, async () => {
    ok(await runRanks('syncbn-rank.js', world, ['cpu', 'fixture', String(i)], { timeoutMs: 50_000 }));
  });
}

for (const world of [2, 3]) {
  test(`SyncBatchNorm in DDP, ${world} ranks with uneven batches: parameters and running statistics equal one process with BatchNorm on the whole batch`, { timeout: 60_000 }, async () => {
    ok(await runRanks('syncbn-rank.js', world, ['cpu', 'ddp'], { timeoutMs: 50_000 }));
  });
}

test('DDP broadcastBuffers keeps BatchNorm\'s running statistics equal to rank 0\'s on every rank (and without it they differ)', { timeout: 60_000 }, async () => {
  ok(await runRanks('syncbn-rank.js', 2, ['cpu', 'buffers'], { timeoutMs: 50_000 }));
});
