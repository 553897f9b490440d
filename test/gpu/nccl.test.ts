/**
 * GPU machine: the low-level nccl module against values computed on the host. World size 1 (every
 * collective and dtype), Communicator.initAll([0]), and 2 ranks on one GPU in 2 real processes
 * where the NCCL there allows it (NCCL >= 2.30 with NCCL_MULTI_RANK_GPU_ENABLE=1).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { cuda, nccl } from '../../lib/index.js';
import { libIndex } from '../helpers/child.js';

const skip = cuda.deviceCount() === 0 ? `no GPU: ${cuda.noGpuReason()}` : !nccl.isAvailable() ? `NCCL not found: ${nccl.libraryInfo().error}` : false;

function upload(a: Float32Array): InstanceType<typeof cuda.DeviceBuffer> {
  const b = new cuda.DeviceBuffer(Math.max(a.byteLength, 4));
  cuda.copyHostToDevice(b, 0, a);
  return b;
}
/** The communicators whose calls a download reads: NCCL must have issued them before a synchronize waits for them. */
let comms: { settleSync(): void }[] = [];
function download(b: InstanceType<typeof cuda.DeviceBuffer>, n: number, offset = 0): Float32Array {
  const out = new Float32Array(n);
  for (const c of comms) c.settleSync();
  cuda.synchronize();
  cuda.copyDeviceToHost(out, b, offset);
  return out;
}
const rand = (n: number): Float32Array => Float32Array.from({ length: n }, () => Math.round(Math.random() * 200 - 100));

test('world size 1: every collective equals the local value', { skip }, async (t) => {
  t.diagnostic(`NCCL ${nccl.version().join('.')}`);
  const comm = await nccl.Communicator.initRank(1, nccl.getUniqueId(), 0, { device: 0 });
  comms = [comm];
  assert.deepEqual([comm.rank, comm.size, comm.device], [0, 1, 0]);
  for (const n of [0, 1, 7, 1021, (1 << 20) + 3]) {
    const x = rand(n);
    const send = upload(x);
    const recv = new cuda.DeviceBuffer(Math.max(n * 4, 4));
    for (const op of ['sum', 'prod', 'max', 'min', 'avg'] as const) {
      comm.allReduce(send, recv, n, 'float32', op);
      assert.deepEqual(download(recv, n), x, `allReduce ${op} n=${n}`);
    }
    comm.broadcast(send, recv, n, 'float32', 0);
    assert.deepEqual(download(recv, n), x);
    comm.reduce(send, recv, n, 'float32', 'sum', 0);
    assert.deepEqual(download(recv, n), x);
    comm.allGather(send, recv, n, 'float32');
    assert.deepEqual(download(recv, n), x);
    comm.reduceScatter(send, recv, n, 'float32', 'sum');
    assert.deepEqual(download(recv, n), x);
    nccl.groupStart();
    comm.send(send, n, 'float32', 0);
    comm.recv(recv, n, 'float32', 0);
    nccl.groupEnd();
    assert.deepEqual(download(recv, n), x);
    // in place, with offsets
    if (n > 1) {
      comm.allReduce(send, send, n - 1, 'float32', 'sum', { sendOffset: 4, recvOffset: 4 });
      assert.deepEqual(download(send, n - 1, 4), x.subarray(1));
    }
    send.dispose();
    recv.dispose();
  }
  assert.equal(comm.getAsyncError(), null);
  await comm.synchronize(10_000);
  assert.equal(comm.pending(), false);
  await comm.destroy();
  assert.equal(comm.destroyed, true);
  await comm.destroy(); // idempotent
  const b = new cuda.DeviceBuffer(8);
  assert.throws(() => comm.allReduce(b, b, 1, 'float32'), { code: 'ERR_DISPOSED' });
  b.dispose();
});

test('Communicator.initAll([0]): one communicator, all-reduce in a group', { skip }, async () => {
  const [c] = await nccl.Communicator.initAll([0]);
  assert.ok(c);
  comms = [c];
  assert.deepEqual([c.rank, c.size, c.device], [0, 1, 0]);
  const x = rand(1000);
  const b = upload(x);
  nccl.groupStart();
  c.allReduce(b, b, 1000, 'float32', 'max');
  nccl.groupEnd();
  assert.deepEqual(download(b, 1000), x);
  b.dispose();
  c.abort();
  assert.equal(c.aborted, true);
});

const multiRank = (): string | false => {
  if (skip) return skip;
  const [maj, min] = nccl.version();
  return maj > 2 || (maj === 2 && min >= 30) ? false : `NCCL ${nccl.version().join('.')} < 2.30: several ranks on one GPU are not allowed`;
};

test('2 ranks on one GPU in 2 processes (NCCL_MULTI_RANK_GPU_ENABLE=1): allReduce sum and allGather', { skip: multiRank(), timeout: 120_000 }, async () => {
  const id = Buffer.from(nccl.getUniqueId()).toString('hex');
  const code = `
    const { nccl, cuda } = await import(${JSON.stringify(libIndex)});
    const rank = Number(process.env.R);
    const comm = await nccl.Communicator.initRank(2, Uint8Array.from(Buffer.from(process.env.ID, 'hex')), rank, { device: 0 });
    const n = 4099;
    const x = Float32Array.from({ length: n }, (_, i) => (i % 97) * (rank + 1));
    const b = new cuda.DeviceBuffer(n * 4); cuda.copyHostToDevice(b, 0, x);
    const g = new cuda.DeviceBuffer(n * 8);
    comm.allGather(b, g, n, 'float32');
    comm.allReduce(b, b, n, 'float32', 'sum');
    await comm.settle(); // issued (non-blocking communicator), so the synchronize below waits for it
    cuda.synchronize();
    const s = new Float32Array(n); cuda.copyDeviceToHost(s, b, 0);
    const a = new Float32Array(2 * n); cuda.copyDeviceToHost(a, g, 0);
    for (let i = 0; i < n; i++) {
      if (s[i] !== (i % 97) * 3) throw new Error('sum wrong at ' + i + ': ' + s[i]);
      if (a[i] !== (i % 97) || a[n + i] !== (i % 97) * 2) throw new Error('gather wrong at ' + i);
    }
    await comm.synchronize(60000);
    await comm.destroy();
    console.log('ok ' + rank);`;
  const run = (r: number): Promise<{ status: number | null; out: string }> =>
    new Promise((resolve) => {
      const p = spawn(process.execPath, ['--input-type=module', '-e', code], {
        env: { ...process.env, R: String(r), ID: id, NCCL_MULTI_RANK_GPU_ENABLE: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const timer = setTimeout(() => p.kill('SIGKILL'), 100_000);
      p.on('close', (status) => {
        clearTimeout(timer);
        resolve({ status, out });
      });
    });
  const results = await Promise.all([run(0), run(1)]);
  results.forEach((r, i) => {
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, new RegExp(`ok ${i}`));
  });
});

test('process group on the nccl backend, world size 1: collectives on cuda tensors equal the local values', { skip, timeout: 120_000 }, async () => {
  const { dist, tensor } = await import('../../lib/index.js');
  const { freePort } = await import('../helpers/spawn-ranks.js');
  await dist.initProcessGroup({ backend: 'nccl', rank: 0, worldSize: 1, initMethod: `tcp://127.0.0.1:${await freePort()}`, timeoutMs: 60_000 });
  try {
    assert.equal(dist.getBackend(), 'nccl');
    const x = [1, -2, 3.5, 7];
    const t = tensor(x, { device: 'cuda:0' });
    await dist.allReduce(t, { op: 'sum' }).wait();
    assert.deepEqual([...(await t.data())], x);
    await dist.broadcast(t, { src: 0 }).wait();
    assert.deepEqual([...(await t.data())], x);
    const out = tensor([0, 0, 0, 0], { device: 'cuda:0' });
    await dist.allGatherIntoTensor(out, t).wait();
    assert.deepEqual([...(await out.data())], x);
    await dist.barrier().wait();
    const host = tensor(x);
    await assert.rejects(async () => dist.allReduce(host).wait(), { code: 'ERR_DEVICE_MISMATCH' });
  } finally {
    await dist.destroyProcessGroup();
  }
});
