import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NodeNcclError } from '../../lib/errors.js';
import { checkCollectiveFingerprint, distributedDebugLevel, formatFingerprint, type CollectiveFingerprint } from '../../lib/distributed/debug.js';
import { PrefixStore, TCPStore } from '../../lib/distributed/store.js';

const worker = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'debug-worker.js');

function runRank(port: number, rank: number, worldSize: number, plan: CollectiveFingerprint[]): Promise<Array<Record<string, unknown>>> {
  const child = spawn(process.execPath, [worker, String(port), 'tok', String(rank), String(worldSize), JSON.stringify(plan)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) =>
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`rank ${rank} exited ${code}: ${err}`));
      else resolve(out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>));
    }),
  );
}

const ar = (shape: number[], dtype = 'float32'): CollectiveFingerprint => ({ op: 'allReduce', dtype, shape, reduceOp: 'sum', device: 'cpu' });

test('NODE_NCCL_DEBUG=detail: mismatched calls across 3 processes are reported on every rank, naming each call', async () => {
  const store = await TCPStore.create({ host: '127.0.0.1', port: 0, isServer: true, token: 'tok', timeoutMs: 20_000 });
  try {
    const plans: CollectiveFingerprint[][] = [0, 1, 2].map((rank) => [
      ar([4, 5]), // 0: all agree
      ar(rank === 2 ? [4, 6] : [4, 5]), // 1: rank 2's shape differs
      rank === 1 ? { op: 'broadcast', dtype: 'float32', shape: [4, 5], root: 0, device: 'cpu' } : ar([4, 5]), // 2: another collective
      ar([8], rank === 0 ? 'float16' : 'float32'), // 3: rank 0's dtype differs
      { op: 'broadcast', dtype: 'int64', count: 3, root: rank === 0 ? 0 : 1 }, // 4: roots differ
      ar([1]), // 5: agreement again after mismatches
    ]);
    const before = await store.numKeys();
    const results = await Promise.all(plans.map((p, rank) => runRank(store.port, rank, 3, p)));
    for (const r of results) {
      assert.deepEqual(r[0], { seq: 0, ok: true });
      assert.deepEqual(r[5], { seq: 5, ok: true });
      for (const seq of [1, 2, 3, 4]) assert.equal(r[seq]!.code, 'ERR_DIST_MISMATCH', JSON.stringify(r[seq]));
      assert.equal(
        r[1]!.message,
        "NODE_NCCL_DEBUG=detail: collective #1 of group 'default_pg' does not match across ranks: ranks 0 and 1 called allReduce(dtype=float32, shape=[4, 5], reduceOp=sum, device=cpu); " +
          'rank 2 called allReduce(dtype=float32, shape=[4, 6], reduceOp=sum, device=cpu)',
      );
      assert.match(String(r[2]!.message), /ranks 0 and 2 called allReduce\(.*\); rank 1 called broadcast\(dtype=float32, shape=\[4, 5\], root=0, device=cpu\)/);
      assert.match(String(r[3]!.message), /rank 0 called allReduce\(dtype=float16, shape=\[8\].*; ranks 1 and 2 called allReduce\(dtype=float32, shape=\[8\]/);
      assert.match(String(r[4]!.message), /rank 0 called broadcast\(dtype=int64, count=3, root=0\); ranks 1 and 2 called broadcast\(dtype=int64, count=3, root=1\)/);
    }
    // Every rank read every fingerprint, so the keys are gone again.
    assert.equal(await store.numKeys(), before);
  } finally {
    await store.close();
  }
});

test('a rank that never reaches the collective is named in ERR_DIST_TIMEOUT', async () => {
  const store = await TCPStore.create({ host: '127.0.0.1', port: 0, isServer: true, timeoutMs: 5000 });
  const c1 = await TCPStore.create({ host: '127.0.0.1', port: store.port, isServer: false, timeoutMs: 5000 });
  try {
    const pg = new PrefixStore('pg1', c1);
    // Ranks 0 and 1 arrive (one on the server's own handle, one on a client); rank 2 never does.
    const calls = [
      checkCollectiveFingerprint(new PrefixStore('pg1', store), 'g', 0, 3, 7, ar([2]), 300),
      checkCollectiveFingerprint(pg, 'g', 1, 3, 7, ar([2]), 300),
    ];
    // Both handlers are attached at once: rank 1's check may fail first, and a rejection nobody
    // handles yet fails the test as unhandled.
    await Promise.all(calls.map((p, i) =>
      assert.rejects(p, (e: unknown) => {
        assert.ok(e instanceof NodeNcclError && e.code === 'ERR_DIST_TIMEOUT', String(e));
        assert.match(e.message, new RegExp(`collective #7 of group 'g' \\(rank ${i} called allReduce\\(dtype=float32, shape=\\[2\\].*\\): rank 2 did not reach this collective within 300 ms`));
        return true;
      })));
    await assert.rejects(checkCollectiveFingerprint(store, 'g', 3, 3, 0, ar([1]), 100), (e: unknown) => e instanceof NodeNcclError && e.code === 'ERR_INVALID_ARG');
  } finally {
    await c1.close();
    await store.close();
  }
});

test('NODE_NCCL_DEBUG levels and fingerprint text', () => {
  assert.equal(distributedDebugLevel({}), 'off');
  assert.equal(distributedDebugLevel({ NODE_NCCL_DEBUG: 'DETAIL' }), 'detail');
  assert.equal(distributedDebugLevel({ NODE_NCCL_DEBUG: 'info' }), 'info');
  assert.throws(() => distributedDebugLevel({ NODE_NCCL_DEBUG: 'verbose' }), /NODE_NCCL_DEBUG="verbose" is not valid: expected off, info or detail/);
  assert.equal(formatFingerprint({ op: 'allGather', dtype: 'int32', shape: [[2], [3]] }), 'allGather(dtype=int32, shape=[[2], [3]])');
});
