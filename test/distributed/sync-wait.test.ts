/**
 * work.wait() is torch's synchronous wait on the cpu backend: it blocks the thread until the op
 * has completed on this rank, with the data in place (staged ArrayBuffer results copied back,
 * list outputs copied out), and throws the op's error; a dead peer fails it within the timeout.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resultOf, runRanks } from '../helpers/spawn-ranks.js';

for (const n of [2, 3]) {
  test(`work.wait() blocks until the data is in place: late peer, large, staged and list outputs (${n} ranks)`, async () => {
    for (const r of await runRanks(n, ['sync-wait'])) {
      assert.equal(r.code, 0, `rank ${r.rank} failed (exit ${r.code}, signal ${r.signal}):\n${r.stderr}\n${r.stdout}`);
      assert.match(r.stdout, /OK sync-wait/);
    }
  });
}

test('work.wait() with a dead peer throws on the other ranks within the timeout (no hang)', async () => {
  const results = await runRanks(3, ['fault-sync-wait'], { TEST_DIST_TIMEOUT_MS: '2000' }, 60_000);
  for (const r of results.slice(0, 2)) {
    assert.equal(r.code, 0, r.stderr);
    const res = resultOf(r);
    assert.match(String(res.code), /^ERR_DIST_(PEER_FAILURE|TIMEOUT)$/, String(res.message));
    assert.ok(Number(res.elapsedMs) < 8000, `wait() failed after ${String(res.elapsedMs)} ms`);
  }
});
