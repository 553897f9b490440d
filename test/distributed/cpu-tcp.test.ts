/**
 * The cpu backend over TCP (cpp/cpu_tcp.*): the multi-process collective and fault suites with
 * NODE_NCCL_CPU_TRANSPORT=tcp, IPv6 through NODE_NCCL_SOCKET_ADDR, and in-process checks of the
 * native communicator: intruders on the listening port are dropped, setup timeouts name the ranks,
 * a peer that leaves fails the others promptly. Plus the transport choice (auto|shm|tcp).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { chooseCpuTransport, cpuTransportSetting } from '../../lib/distributed/backends/cpu.js';
import { native } from '../../lib/native/index.js';
import type { NativeCpuComm, NativeCpuCommDesc } from '../../typings/native.js';
import { collectiveSuite, faultSuite } from '../helpers/cpu-suites.js';
import { freePort, runRanks } from '../helpers/spawn-ranks.js';

const TCP = { NODE_NCCL_CPU_TRANSPORT: 'tcp' };

collectiveSuite('tcp: ', TCP);
faultSuite('tcp: ', TCP);

test('tcp: bursts of mixed small collectives behind a large one, late peers (nothing completes directly over tcp)', async () => {
  for (const r of await runRanks(3, ['direct'], TCP)) {
    assert.equal(r.code, 0, `rank ${r.rank} failed (exit ${r.code}, signal ${r.signal}):\n${r.stderr}\n${r.stdout}`);
    assert.match(r.stdout, /DIRECT 0\b/);
    assert.match(r.stdout, /OK direct/);
  }
});

test('tcp: ranks listening on IPv6 (NODE_NCCL_SOCKET_ADDR=::1)', async () => {
  const results = await runRanks(3, ['tensor'], { ...TCP, NODE_NCCL_SOCKET_ADDR: '::1' });
  for (const r of results) assert.equal(r.code, 0, `rank ${r.rank}: ${r.stderr}`);
});

// ---- the native communicator in one process ----

/** submit()'s Promise (tcp never completes an op directly: it always gives one). */
function submit(c: NativeCpuComm, desc: NativeCpuCommDesc): Promise<void> {
  const p = c.submit(desc);
  assert.ok(p instanceof Promise, 'tcp ops run on the communication thread');
  return p;
}

function tcpComm(rank: number, size: number, timeoutMs = 10_000, listenHost = '127.0.0.1'): NativeCpuComm {
  return new native.dist.CpuComm({ transport: 'tcp', listenHost, rank, size, timeoutMs });
}

function hostPort(address: string): { host: string; port: number } {
  const m = /^\[?([^\]]+)\]?:(\d+)$/.exec(address);
  assert.ok(m, address);
  return { host: m[1]!, port: Number(m[2]) };
}

/** The 96-byte hello of cpp/cpu_tcp.cc, with a secret of our choosing. */
function hello(rank: number, channel: number, size: number, secret: Uint8Array): Buffer {
  const b = Buffer.alloc(96);
  b.writeBigUInt64LE(0x7063746363636e6en, 0);
  b.writeUInt32LE(1, 8);
  b.writeInt32LE(rank, 12);
  b.writeUInt32LE(channel, 16);
  b.writeUInt32LE(size, 20);
  b.writeUInt32LE(secret.length, 24);
  Buffer.from(secret).copy(b, 32);
  return b;
}

function intruder(address: string, bytes?: Buffer): Socket {
  const { host, port } = hostPort(address);
  const s = connect({ host, port });
  s.on('error', () => {});
  if (bytes) s.write(bytes);
  return s;
}

async function allReduceAll(comms: NativeCpuComm[]): Promise<Float32Array[]> {
  const bufs = comms.map((_, r) => Float32Array.from([r + 1, 10 * (r + 1)]));
  await Promise.all(comms.map((c, r) => submit(c, { kind: 'allReduce', dtype: 0, count: 2, send: bufs[r]!, recv: bufs[r]! })));
  return bufs;
}

test('tcp: connections with random bytes or a wrong secret are dropped; the group still forms and works', async () => {
  const a = tcpComm(0, 2), b = tcpComm(1, 2);
  try {
    assert.match(a.address, /^127\.0\.0\.1:\d+$/);
    const secret = randomBytes(16);
    const garbage = intruder(a.address, randomBytes(96));
    // claims to be rank 1's collective connection: taken, it would lock the real rank 1 out
    const impostor = intruder(a.address, hello(1, 0, 2, randomBytes(16)));
    const silent = intruder(a.address);
    await Promise.all([garbage, impostor, silent].map((s) => once(s, 'connect')));
    const closed = (s: Socket): Promise<unknown> => new Promise((resolve) => s.once('close', resolve));
    let silentClosed = false;
    const silentGone = closed(silent).then(() => (silentClosed = true));
    // rank 0 alone: it reads and drops the two bad hellos while it waits for rank 1
    const connecting = a.connect({ peers: [a.address, b.address], secret });
    await Promise.all([closed(garbage), closed(impostor)]);
    assert.equal(silentClosed, false, 'a connection still saying nothing is kept until the mesh forms');
    await Promise.all([connecting, b.connect({ peers: [a.address, b.address], secret })]);
    await silentGone;
    assert.deepEqual((await allReduceAll([a, b])).map((x) => [...x]), [[3, 30], [3, 30]]);
    // the mesh is complete: the port no longer accepts anyone
    const late = intruder(a.address);
    const [err] = (await once(late, 'error').catch((e: unknown) => [e])) as [NodeJS.ErrnoException];
    assert.equal(err.code, 'ECONNREFUSED');
  } finally {
    a.destroy();
    b.destroy();
  }
});

test('tcp: IPv6 literal addresses ([::1]:port)', async () => {
  const a = tcpComm(0, 2, 10_000, '::1'), b = tcpComm(1, 2, 10_000, '::1');
  try {
    assert.match(a.address, /^\[::1\]:\d+$/);
    const secret = randomBytes(16), peers = [a.address, b.address];
    await Promise.all([a.connect({ peers, secret }), b.connect({ peers, secret })]);
    assert.deepEqual((await allReduceAll([a, b])).map((x) => [...x]), [[3, 30], [3, 30]]);
  } finally {
    a.destroy();
    b.destroy();
  }
});

test('tcp: setup times out naming the ranks that never connected (and why, for a refused dial)', async () => {
  const ghost = `127.0.0.1:${await freePort()}`;
  const secret = randomBytes(16);
  const a = tcpComm(0, 2, 300);
  const b = tcpComm(1, 2, 300);
  try {
    await assert.rejects(a.connect({ peers: [a.address, ghost], secret }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ERR_DIST_TIMEOUT');
      assert.match(e.message, /rank 0 of 2/);
      assert.match(e.message, /waiting for rank\(s\) 1 to connect/);
      return true;
    });
    await assert.rejects(b.connect({ peers: [ghost, b.address], secret }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ERR_DIST_TIMEOUT');
      assert.match(e.message, /rank\(s\) 0 to connect/);
      assert.match(e.message, /refused/i);
      return true;
    });
  } finally {
    a.destroy();
    b.destroy();
  }
});

test('tcp: a peer that destroys its communicator mid-collective fails the others at once (ERR_DIST_PEER_FAILURE)', async () => {
  const comms = [0, 1, 2].map((r) => tcpComm(r, 3, 20_000));
  try {
    const secret = randomBytes(16), peers = comms.map((c) => c.address);
    await Promise.all(comms.map((c) => c.connect({ peers, secret })));
    const x = new Float32Array(4);
    const t0 = Date.now();
    const waiting = [0, 1].map((r) => submit(comms[r]!, { kind: 'allReduce', dtype: 0, count: 4, send: x.slice(), recv: new Float32Array(4) }));
    await new Promise((r) => setTimeout(r, 50));
    comms[2]!.destroy();
    const errs = await Promise.all(waiting.map((p) => p.then(() => null, (e: Error & { code?: string }) => e)));
    for (const e of errs) {
      assert.ok(e, 'the collective failed');
      assert.equal(e.code, 'ERR_DIST_PEER_FAILURE', e.message);
      assert.match(e.message, /allReduce \(seq 1/);
      assert.match(e.message, /rank 2 left the group/);
    }
    assert.ok(Date.now() - t0 < 5000, 'well before the 20 s timeout');
    await assert.rejects(submit(comms[0]!, { kind: 'barrier' }), { code: 'ERR_DIST_ABORTED' });
  } finally {
    for (const c of comms) c.destroy();
  }
});

test('tcp: mismatched counts fail every rank with ERR_DIST_MISMATCH describing both calls; buffers untouched', async () => {
  const comms = [0, 1].map((r) => tcpComm(r, 2));
  try {
    const secret = randomBytes(16), peers = comms.map((c) => c.address);
    await Promise.all(comms.map((c) => c.connect({ peers, secret })));
    const recv = [new Float32Array(10).fill(-1), new Float32Array(12).fill(-1)];
    const errs = await Promise.all(
      comms.map((c, r) =>
        submit(c, { kind: 'allReduce', dtype: 0, count: r === 0 ? 10 : 12, send: new Float32Array(12), recv: recv[r]! }).then(
          () => null,
          (e: Error & { code?: string }) => e,
        ),
      ),
    );
    for (const e of errs) {
      assert.equal(e?.code, 'ERR_DIST_MISMATCH', String(e?.message));
      assert.match(e.message, /allReduce\(float32, count 10, op sum\) as op #1/);
      assert.match(e.message, /allReduce\(float32, count 12, op sum\) as op #1/);
    }
    for (const b of recv) assert.ok(b.every((v) => v === -1));
  } finally {
    for (const c of comms) c.destroy();
  }
});

test('shm communicators have no address', () => {
  const c = new native.dist.CpuComm({ name: `/nnccl-addr-${process.pid}`, rank: 0, size: 1 });
  try {
    assert.equal(c.address, '');
  } finally {
    c.destroy();
  }
});

// ---- the transport choice ----

test('NODE_NCCL_CPU_TRANSPORT: auto picks shm on one host, tcp across hosts; tcp and shm force', () => {
  const one = ['h1/boot', 'h1/boot', 'h1/boot'];
  const two = ['h1/boot', 'h1/boot', 'h2/boot2'];
  assert.equal(chooseCpuTransport(undefined, one), 'shm');
  assert.equal(chooseCpuTransport('', one), 'shm');
  assert.equal(chooseCpuTransport('auto', one), 'shm');
  assert.equal(chooseCpuTransport(undefined, two), 'tcp');
  assert.equal(chooseCpuTransport('AUTO', two), 'tcp');
  assert.equal(chooseCpuTransport('tcp', one), 'tcp');
  assert.equal(chooseCpuTransport('tcp', two), 'tcp');
  assert.equal(chooseCpuTransport(' shm ', one), 'shm');
  assert.equal(chooseCpuTransport('shm', ['h1/boot']), 'shm');
  assert.throws(() => chooseCpuTransport('shm', two, 'g1'), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'ERR_UNSUPPORTED');
    assert.match(e.message, /process group g1/);
    assert.match(e.message, /rank 2 runs on h2, rank 0 on h1/);
    assert.match(e.message, /NODE_NCCL_CPU_TRANSPORT=tcp or auto/);
    return true;
  });
});

test('NODE_NCCL_CPU_TRANSPORT: an unknown value is ERR_INVALID_ARG naming the valid ones', () => {
  for (const v of ['udp', 'sh', 'tcp,shm', '1']) {
    assert.throws(() => cpuTransportSetting(v), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ERR_INVALID_ARG');
      assert.match(e.message, /NODE_NCCL_CPU_TRANSPORT/);
      assert.match(e.message, /'auto', 'shm' or 'tcp'/);
      return true;
    });
    assert.throws(() => chooseCpuTransport(v, ['a', 'a']), { code: 'ERR_INVALID_ARG' });
  }
  assert.equal(cpuTransportSetting(undefined), 'auto');
});

test('tcp: an invalid NODE_NCCL_CPU_TRANSPORT fails initProcessGroup on every rank', async () => {
  const results = await runRanks(2, ['tensor'], { NODE_NCCL_CPU_TRANSPORT: 'udp' }, 30_000);
  for (const r of results) {
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ERR_INVALID_ARG[\s\S]*NODE_NCCL_CPU_TRANSPORT="udp"/);
  }
});
