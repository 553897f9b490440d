/**
 * torch.distributed.rpc's meanings with real processes: calls with tensors of every dtype and plain
 * values, errors rethrown with the callee's class, message, code and stack, timeouts, nested
 * calls, RRefs (creation, method calls, reference counting across three workers, release by
 * garbage collection), graceful shutdown waiting for outstanding work, a killed callee, TCP
 * between the workers, RPC beside a process group, and argument checks.
 */
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { rpc } from '../../lib/index.js';
import { resultOf, runRanks, startRanks, type RankResult } from '../helpers/spawn-ranks.js';

const script = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'rpc-worker.js');

function assertAllOk(results: RankResult[], scenario: string): void {
  for (const r of results) {
    assert.equal(r.code, 0, `rank ${r.rank} of ${scenario} failed (exit ${r.code}, signal ${r.signal}):\n${r.stderr}\n${r.stdout}`);
    assert.match(r.stdout, new RegExp(`OK ${scenario}`));
  }
}

test('rpc: tensors of every dtype, plain values, errors, timeouts, nested calls, RRefs and a graceful shutdown, 3 workers', async () => {
  assertAllOk(await runRanks(3, ['basics'], {}, 120_000, { script }), 'basics');
});

test('rpc: the same over TCP between the workers (NODE_NCCL_RPC_TRANSPORT=tcp), 2 workers', async () => {
  assertAllOk(await runRanks(2, ['basics'], { NODE_NCCL_RPC_TRANSPORT: 'tcp' }, 120_000, { script }), 'basics');
});

test('rpc: RRef reference counting: forks between users, early release by the creator, garbage collection', async () => {
  assertAllOk(await runRanks(3, ['refcount'], {}, 120_000, { script, nodeArgs: ['--expose-gc'] }), 'refcount');
});

test('rpc: a killed callee fails every pending call with ERR_DIST_PEER_FAILURE at once, later calls too, and shutdown does not hang', async () => {
  const ranks = await startRanks(3, ['kill'], { TEST_RPC_TIMEOUT_MS: '20000' }, 60_000, { script });
  await Promise.all([ranks.waitFor(0, 'READY'), ranks.waitFor(2, 'READY'), ranks.waitFor(1, 'READY')]);
  const killedAt = Date.now();
  ranks.procs[1]!.kill('SIGKILL');
  const results = await ranks.done;
  assert.equal(results[1]!.signal, 'SIGKILL');
  for (const r of [results[0]!, results[2]!]) {
    assert.equal(r.code, 0, r.stderr);
    const res = resultOf(r) as {
      errs: ({ code: string; message: string } | null)[];
      elapsedMs: number;
      later: string;
      toHere: string;
      others: string;
      shut: { code: string; message: string } | null;
      shutMs: number;
      initialized: boolean;
    };
    assert.equal(res.errs.length, 4);
    for (const e of res.errs) {
      assert.ok(e, 'a pending call succeeded on a dead worker');
      assert.equal(e.code, 'ERR_DIST_PEER_FAILURE', e.message);
      assert.match(e.message, /worker 'w1' \(rank 1\) is gone/);
    }
    assert.match(res.errs[0]!.message, /rpcAsync\('t\.sleep'\) to worker 'w1'/, 'the message names the call');
    // well within the 30 s call timeout: the closed connection is noticed, not waited out
    assert.ok(res.elapsedMs < 5000, `pending calls failed after ${res.elapsedMs} ms`);
    assert.equal(res.later, 'ERR_DIST_PEER_FAILURE', 'a later call fails at once');
    assert.equal(res.toHere, 'ERR_DIST_PEER_FAILURE', 'an RRef the dead worker owned');
    assert.equal(res.others, 'still', 'the survivors still talk to each other');
    assert.equal(res.shut?.code, 'ERR_DIST_PEER_FAILURE', String(res.shut?.message));
    assert.ok(res.shutMs < 5000, `shutdown took ${res.shutMs} ms`);
    assert.equal(res.initialized, false, 'shutdown closed RPC anyway');
  }
  assert.ok(Date.now() - killedAt < 15_000);
});

test('rpc: beside a process group, through the same env:// store, either teardown order', async () => {
  assertAllOk(await runRanks(2, ['pg'], {}, 60_000, { script }), 'pg');
});

test('rpc: two workers with one name fail initRpc on every worker, naming both ranks', async () => {
  const results = await runRanks(2, ['dupname'], { TEST_RPC_TIMEOUT_MS: '10000' }, 60_000, { script });
  for (const r of results) {
    assert.equal(r.code, 0, r.stderr);
    const e = resultOf(r).error as { code: string; message: string };
    assert.equal(e.code, 'ERR_INVALID_ARG');
    assert.match(e.message, /ranks 0 and 1 are both named 'same'/);
  }
});

test('rpc: argument checks before anything is sent', async () => {
  assert.equal(rpc.isInitialized(), false);
  await assert.rejects(rpc.rpcSync('w1', 'f'), { code: 'ERR_DIST_NOT_INITIALIZED' });
  assert.throws(() => rpc.remote('w1', 'f'), { code: 'ERR_DIST_NOT_INITIALIZED' });
  assert.throws(() => rpc.getWorkerInfo(), { code: 'ERR_DIST_NOT_INITIALIZED' });
  assert.throws(() => new rpc.RRef(1), { code: 'ERR_DIST_NOT_INITIALIZED' });
  await assert.rejects(rpc.shutdown(), { code: 'ERR_DIST_NOT_INITIALIZED' });
  await assert.rejects(rpc.initRpc({ name: 'has space' }), { code: 'ERR_INVALID_ARG', message: /name must be 1 to 128 letters/ });
  await assert.rejects(rpc.initRpc({ name: 'x'.repeat(129) }), { code: 'ERR_INVALID_ARG' });
  await assert.rejects(rpc.initRpc(null as never), { code: 'ERR_INVALID_ARG' });
  await assert.rejects(rpc.initRpc({ name: 'w', rpcTimeoutMs: -1 }), { code: 'ERR_INVALID_ARG', message: /rpcTimeoutMs/ });
  await assert.rejects(rpc.initRpc({ name: 'w', transport: 'udp' as never }), { code: 'ERR_INVALID_ARG', message: /'auto' or 'tcp'/ });
  await assert.rejects(rpc.initRpc({ name: 'w', store: {} as never }), { code: 'ERR_INVALID_ARG', message: /rank and worldSize/ });
  assert.throws(() => rpc.register('', () => 1), { code: 'ERR_INVALID_ARG' });
  assert.throws(() => rpc.register('rpc.mine', () => 1), { code: 'ERR_INVALID_ARG', message: /reserved/ });
  assert.throws(() => rpc.register('f', 5 as never), { code: 'ERR_INVALID_ARG' });
  const f = (): number => 1;
  rpc.register('test.f', f);
  rpc.register('test.f', f); // the same function again is fine
  assert.throws(() => rpc.register('test.f', () => 2), { code: 'ERR_INVALID_ARG', message: /already registered/ });
  assert.ok(rpc.registeredNames().includes('test.f'));
  assert.equal(rpc.unregister('test.f'), true);
  assert.equal(rpc.unregister('test.f'), false);
});
