/**
 * Host memory pulled away under a collective in flight (issue 17, items 1, 2 and 7), over both
 * transports of the cpu backend, with real processes (fixtures/memory-worker.ts): a caller's
 * ArrayBuffer detached (structuredClone transfer) or a resizable one shrunk while the op waits for
 * a late peer. The op that lost its memory fails with ERR_DETACHED and writes nothing; the peer
 * gets the right result; nothing else in the process is overwritten; SharedArrayBuffer-backed
 * tensors work; the library's own memory cannot be detached at all; ops issued back to back on a
 * caller's buffer read what the ops before them leave, as they would in place.
 */
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runRanks } from '../helpers/spawn-ranks.js';

const script = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'memory-worker.js');

for (const transport of ['shm', 'tcp'] as const) {
  for (const scenario of ['detach', 'shrink', 'p2p', 'shared', 'chain']) {
    test(`${scenario} (${transport})`, async () => {
      const ranks = await runRanks(2, [scenario], { NODE_NCCL_CPU_TRANSPORT: transport }, 60_000, { script, nodeArgs: ['--expose-gc'] });
      for (const r of ranks) {
        assert.equal(r.signal, null, `rank ${r.rank} was killed by ${r.signal}:\n${r.stderr}`);
        assert.equal(r.code, 0, `rank ${r.rank} exited with ${r.code}:\n${r.stderr}`);
        assert.match(r.stdout, new RegExp(`OK ${scenario}`));
      }
    });
  }
}
