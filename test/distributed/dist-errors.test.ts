/**
 * Clear typed errors for wrong use of lib/distributed: a collective before init, an unknown
 * backend, a wrong rank / world size, a tensor on the wrong device, bad arguments, nccl without
 * NCCL; and world size 1 (every collective is a local copy) in this process.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dist, native } from '../../lib/index.js';
import { HostTensor } from '../helpers/host-tensor.js';
import { freePort } from '../helpers/spawn-ranks.js';

async function rejects(p: () => unknown, code: string, re?: RegExp): Promise<void> {
  await assert.rejects(async () => p(), (e: Error & { code?: string }) => {
    assert.equal(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return true;
  });
}

test('collectives and getters before initProcessGroup: ERR_DIST_NOT_INITIALIZED', async () => {
  const t = HostTensor.from('float32', new Float32Array(4));
  assert.equal(dist.isInitialized(), false);
  await rejects(() => dist.allReduce(t), 'ERR_DIST_NOT_INITIALIZED', /initProcessGroup/);
  await rejects(() => dist.barrier(), 'ERR_DIST_NOT_INITIALIZED');
  await rejects(() => dist.getRank(), 'ERR_DIST_NOT_INITIALIZED');
  await rejects(() => dist.newGroup([0]), 'ERR_DIST_NOT_INITIALIZED');
});

test('unknown backend, wrong rank or world size, nccl without NCCL: clear errors', async () => {
  const port = await freePort();
  const initMethod = `tcp://127.0.0.1:${port}`;
  await rejects(() => dist.initProcessGroup({ backend: 'gloo' as 'cpu', rank: 0, worldSize: 1, initMethod }), 'ERR_INVALID_ARG', /unknown backend "gloo".*'nccl' or 'cpu'/);
  await rejects(() => dist.initProcessGroup({ backend: 'cpu', rank: 2, worldSize: 2, initMethod }), 'ERR_INVALID_ARG', /out of range/);
  await rejects(() => dist.initProcessGroup({ backend: 'cpu', rank: 0, worldSize: 0, initMethod }), 'ERR_INVALID_ARG');
  await rejects(() => dist.initProcessGroup({ backend: 'cpu', rank: -1, worldSize: 2, initMethod }), 'ERR_INVALID_ARG');
  if (!native.loader.info('nccl').loaded) {
    await rejects(() => dist.initProcessGroup({ backend: 'nccl', rank: 0, worldSize: 1, initMethod }), 'ERR_LIB_NOT_FOUND');
  }
  process.env.NODE_NCCL_DEBUG = 'verbose';
  try {
    await rejects(() => dist.initProcessGroup({ backend: 'cpu', rank: 0, worldSize: 1, initMethod }), 'ERR_INVALID_ARG', /NODE_NCCL_DEBUG="verbose" is not valid/);
  } finally {
    delete process.env.NODE_NCCL_DEBUG;
  }
  const prev = process.env.NODE_NCCL_BACKEND;
  process.env.NODE_NCCL_BACKEND = 'mpi';
  try {
    await rejects(() => dist.initProcessGroup({ rank: 0, worldSize: 1, initMethod }), 'ERR_INVALID_ARG', /NODE_NCCL_BACKEND/);
  } finally {
    if (prev === undefined) delete process.env.NODE_NCCL_BACKEND;
    else process.env.NODE_NCCL_BACKEND = prev;
  }
  assert.equal(dist.isInitialized(), false);
});

test('world size 1: init, every collective, wrong device and bad arguments, destroy', async () => {
  const port = await freePort();
  const pg = await dist.initProcessGroup({ backend: 'cpu', rank: 0, worldSize: 1, initMethod: `tcp://127.0.0.1:${port}`, timeoutMs: 5000 });
  try {
    assert.equal(dist.isInitialized(), true);
    assert.equal(dist.getRank(), 0);
    assert.equal(dist.getWorldSize(), 1);
    assert.equal(dist.getBackend(), 'cpu');
    assert.equal(pg.size, 1);
    await rejects(() => dist.initProcessGroup({ backend: 'cpu', rank: 0, worldSize: 1 }), 'ERR_DIST', /already initialized/);

    const t = HostTensor.from('float32', Float32Array.from([1, 2, 3]));
    const w = dist.allReduce(t, { op: 'avg' });
    await w;
    assert.equal(w.isCompleted(), true);
    assert.deepEqual([...t.data], [1, 2, 3]);
    const out = HostTensor.zeros('float32', [3]);
    await dist.allGatherIntoTensor(out, t);
    assert.deepEqual([...out.data], [1, 2, 3]);
    const list = [HostTensor.zeros('float32', [3])];
    await dist.allGather(list, t);
    assert.deepEqual([...list[0]!.data], [1, 2, 3]);
    const rs = HostTensor.zeros('float32', [3]);
    await dist.reduceScatter(rs, [t]);
    assert.deepEqual([...rs.data], [1, 2, 3]);
    await dist.broadcast(t, { src: 0 });
    await dist.barrier();

    // a tensor on the wrong device for the backend
    const gpu = HostTensor.from('float32', new Float32Array(3)).onDevice('cuda');
    assert.throws(() => dist.allReduce(gpu), (e: Error & { code?: string }) => e.code === 'ERR_DEVICE_MISMATCH' && /cpu backend works on cpu tensors.*cuda:0/.test(e.message));
    // bad arguments: synchronous typed errors
    assert.throws(() => dist.allReduce(t, { op: 'mean' as 'sum' }), { code: 'ERR_INVALID_ARG' });
    assert.throws(() => dist.allReduce(HostTensor.from('bool', new Uint8Array(2)), { op: 'avg' }), { code: 'ERR_DTYPE' });
    assert.throws(() => dist.allReduce({} as HostTensor), { code: 'ERR_INVALID_ARG' });
    assert.throws(() => dist.broadcast(t, { src: 1 }), (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARG' && /src 1 is not a rank/.test(e.message));
    assert.throws(() => dist.allGather([], t), { code: 'ERR_INVALID_ARG' });
    assert.throws(() => dist.allGather([HostTensor.zeros('float32', [4])], t), { code: 'ERR_SHAPE_MISMATCH' });
    assert.throws(() => dist.allGather([HostTensor.zeros('int32', [3])], t), { code: 'ERR_DTYPE' });
    assert.throws(() => dist.allGatherIntoTensor(HostTensor.zeros('float32', [4]), t), { code: 'ERR_SHAPE_MISMATCH' });
    assert.throws(() => dist.send(t, { dst: 0 }), { code: 'ERR_INVALID_ARG' });
    assert.throws(() => dist.isend(t, {} as { dst: number }), { code: 'ERR_INVALID_ARG' });
    assert.throws(() => dist.batchIsendIrecv([]), { code: 'ERR_INVALID_ARG' });
    assert.throws(() => new dist.P2POp('isendx' as 'isend', t, 0), { code: 'ERR_INVALID_ARG' });
    await assert.rejects(dist.newGroup([0, 1]), { code: 'ERR_INVALID_ARG' });
    // Work of a failed op: no unhandled rejection until someone awaits it
    pg.abort('test abort');
    const failed = dist.allReduce(t);
    assert.throws(() => failed.wait(), { code: 'ERR_DIST_ABORTED' }); // torch's wait(): synchronous
    await assert.rejects(async () => failed, { code: 'ERR_DIST_ABORTED' });
    assert.equal(failed.isCompleted(), true);
    assert.equal(failed.isSuccess(), false);
    assert.equal((failed.error as Error & { code?: string }).code, 'ERR_DIST_ABORTED');
  } finally {
    await dist.destroyProcessGroup();
  }
  assert.equal(dist.isInitialized(), false);
  await rejects(() => dist.allReduce(HostTensor.from('float32', new Float32Array(1))), 'ERR_DIST_NOT_INITIALIZED');
});

test('native CpuComm rejects bad descriptors with ERR_INVALID_ARG, never crashes', () => {
  const C = native.dist.CpuComm;
  assert.throws(() => new C({ name: 'no-slash', rank: 0, size: 1 }), { code: 'ERR_INVALID_ARG' });
  assert.throws(() => new C({ name: '/x', rank: 3, size: 2 }), { code: 'ERR_INVALID_ARG' });
  const c = new C({ name: `/nnccl-test-${process.pid}`, rank: 0, size: 1, timeoutMs: 1000 });
  try {
    const small = new Float32Array(2);
    assert.throws(() => c.submit({ kind: 'allReduce', dtype: 0, count: 3, send: small, recv: small }), /too small/);
    assert.throws(() => c.submit({ kind: 'bogus' as 'barrier' }), { code: 'ERR_INVALID_ARG' });
    assert.throws(() => c.submit({ kind: 'allReduce', dtype: 9 as 0, count: 1, send: small, recv: small }), { code: 'ERR_INVALID_ARG' });
    assert.throws(() => c.submit({ kind: 'allReduce', count: 1, send: {} as Float32Array, recv: small }), /host memory/);
    assert.throws(() => c.submit({ kind: 'allReduce', count: -1, send: small, recv: small }), { code: 'ERR_INVALID_ARG' });
    assert.throws(() => c.submit({ kind: 'allReduce', count: 1, sendOffset: 8, send: small, recv: small }), /too small/);
    assert.throws(() => c.submit({ kind: 'allToAll', sendCounts: [1, 2], recvCounts: [1], send: small, recv: small }), { code: 'ERR_INVALID_ARG' });
    // Methods and getters check their receiver: a foreign `this` is a typed error, not a crash.
    const proto = C.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
    assert.throws(() => proto.submit!.call({}, { kind: 'barrier' }), { code: 'ERR_INVALID_ARG', message: /CpuComm\.submit: `this` must be an instance of CpuComm/ });
    assert.throws(() => proto.destroy!.call(new Float32Array(1)), { code: 'ERR_INVALID_ARG' });
    assert.throws(() => Object.getOwnPropertyDescriptor(C.prototype, 'rank')!.get!.call({}), { code: 'ERR_INVALID_ARG' });
    assert.throws(() => (C as unknown as () => unknown)(), { name: 'TypeError', message: /without 'new'/ });
  } finally {
    c.destroy();
  }
  assert.throws(() => c.submit({ kind: 'barrier' }), { code: 'ERR_DIST_ABORTED' });
});

test('native CpuComm, world size 1: a small op completes at once (submit returns undefined), a large one settles its Promise', async () => {
  const c = new native.dist.CpuComm({ name: `/nnccl-test1-${process.pid}`, rank: 0, size: 1, timeoutMs: 5000 });
  try {
    await c.connect();
    const send = Float32Array.from([1, 2, 3]);
    const recv = new Float32Array(3);
    assert.equal(c.submit({ kind: 'allReduce', dtype: 0, count: 3, send, recv }), undefined);
    assert.deepEqual([...recv], [1, 2, 3]);
    const big = new Float32Array(1 << 16).fill(2); // 256 KiB: above the direct path's 32 KiB
    const out = new Float32Array(1 << 16);
    const p = c.submit({ kind: 'allReduce', dtype: 0, count: big.length, send: big, recv: out });
    assert.ok(p instanceof Promise);
    await p;
    assert.equal(out[12345], 2);
    assert.equal(c.pending, 0);
  } finally {
    c.destroy();
  }
});
