import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NodeNcclError } from '../../lib/errors.js';
import { PrefixStore, TCPStore } from '../../lib/distributed/store.js';
import { Op, PROTOCOL_VERSION, encodeFrame } from '../../lib/distributed/store-protocol.js';
import { valueFor } from './fixtures/values.js';
import { rng } from '../helpers/rng.js';
import { freePort } from '../helpers/spawn-ranks.js';

const worker = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'store-worker.js');
const HOST = '127.0.0.1';

interface Run {
  child: ChildProcess;
  /** Resolves with the first JSON line the process prints. */
  firstLine: Promise<Record<string, unknown>>;
  exit: Promise<number | null>;
}

function run(args: string[]): Run {
  const child = spawn(process.execPath, [worker, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let buf = '';
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const firstLine = new Promise<Record<string, unknown>>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
    });
    child.on('exit', (code) => reject(new Error(`worker exited (${code}) before printing: ${stderr}`)));
  });
  firstLine.catch(() => {});
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, firstLine, exit };
}

function isError(code: string, re?: RegExp) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof NodeNcclError, `expected a NodeNcclError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return true;
  };
}

async function server(opts: Partial<Parameters<typeof TCPStore.create>[0]> = {}): Promise<TCPStore> {
  return TCPStore.create({ host: HOST, port: 0, isServer: true, token: 's3cret', timeoutMs: 10_000, ...opts });
}

async function client(port: number, opts: Partial<Parameters<typeof TCPStore.create>[0]> = {}): Promise<TCPStore> {
  return TCPStore.create({ host: HOST, port, isServer: false, token: 's3cret', timeoutMs: 10_000, ...opts });
}

test('set/get/add/compareSet/wait across 3 client processes and the server', async () => {
  const store = await server();
  try {
    const n = 3;
    const runs = Array.from({ length: n }, (_, r) => run(['worker', HOST, String(store.port), 's3cret', String(r), String(n)]));
    const results = await Promise.all(runs.map((r) => r.firstLine));
    assert.deepEqual(await Promise.all(runs.map((r) => r.exit)), [0, 0, 0]);
    // add is atomic: the values each client saw are exactly 1..n, and the total is n.
    assert.deepEqual(results.map((r) => Number(r.counter)).sort(), [1, 2, 3]);
    assert.equal(await store.add('counter', 0), 3n);
    assert.equal(await store.add('done', 0), 3n);
    // compareSet elected exactly one leader and everyone saw the same one.
    const leaders = new Set(results.map((r) => r.leader));
    assert.equal(leaders.size, 1);
    const leader = (await store.get('leader')).toString();
    assert.ok(['0', '1', '2'].includes(leader));
    assert.equal([...leaders][0], leader);
    for (const r of results) assert.equal(r.allMatch, true);
    // The server's own view of the binary values matches the independent reference.
    for (let r = 0; r < n; r++) assert.ok((await store.get(`value/${r}`)).equals(valueFor(r)));
    // numKeys: counter, leader, done, value/0..2.
    assert.equal(await store.numKeys(), 6);
    assert.equal(await store.deleteKey('leader'), true);
    assert.equal(await store.deleteKey('leader'), false);
    assert.equal(await store.check(['leader']), false);
    assert.equal(await store.check(['counter', 'value/2']), true);
    assert.equal(await store.numKeys(), 5);
  } finally {
    await store.close();
  }
});

test('client and server agree on every operation, including compareSet semantics', async () => {
  const store = await server();
  const c = await client(store.port);
  try {
    const pending = c.get('late');
    await store.set('late', new Uint8Array([0, 1, 2, 255]));
    assert.deepEqual([...(await pending)], [0, 1, 2, 255]);
    assert.equal(await c.add('n', 5), 5n);
    assert.equal(await store.add('n', -7n), -2n);
    assert.equal((await c.get('n')).toString(), '-2');
    assert.equal(await c.add('big', 2n ** 62n), 2n ** 62n);
    await assert.rejects(c.add('big', 2n ** 62n), isError('ERR_STORE', /overflow/));
    await c.set('text', 'abc');
    await assert.rejects(c.add('text', 1), isError('ERR_STORE', /not an integer/));
    // PyTorch's compare_set: absent key + empty expected sets; a mismatch returns the current value.
    assert.equal((await c.compareSet('cas', '', 'a')).toString(), 'a');
    assert.equal((await c.compareSet('cas', 'x', 'b')).toString(), 'a');
    assert.equal((await store.compareSet('cas', 'a', 'c')).toString(), 'c');
    assert.equal((await c.compareSet('absent', 'x', 'y')).toString(), 'x');
    assert.equal(await c.check(['absent']), false);
    const w = c.wait(['k1', 'k2']);
    await c.set('k1', '1');
    await store.set('k2', '2');
    await w;
    assert.equal(await c.numKeys(), await store.numKeys());
    assert.equal(await c.deleteKey('k1'), true);
    assert.equal(await store.check(['k1']), false);
    // Bad arguments are typed errors, on both sides.
    for (const s of [store, c]) {
      await assert.rejects(s.set(42 as unknown as string, 'v'), isError('ERR_INVALID_ARG', /key must be a string/));
      await assert.rejects(s.set('k', 42 as unknown as string), isError('ERR_INVALID_ARG', /string or a Uint8Array/));
      await assert.rejects(s.add('k', 1.5), isError('ERR_INVALID_ARG', /safe integer/));
      await assert.rejects(s.wait([]), isError('ERR_INVALID_ARG', /non-empty array/));
      await assert.rejects(s.get('k', { timeoutMs: -1 }), isError('ERR_INVALID_ARG', /timeoutMs/));
    }
  } finally {
    await c.close();
    await store.close();
  }
});

test('bad options are refused with ERR_INVALID_ARG', async () => {
  await assert.rejects(TCPStore.create({ host: '', port: 1, isServer: false }), isError('ERR_INVALID_ARG', /host/));
  await assert.rejects(TCPStore.create({ host: HOST, port: 0, isServer: false }), isError('ERR_INVALID_ARG', /1\.\.65535/));
  await assert.rejects(TCPStore.create({ host: HOST, port: 70000, isServer: true }), isError('ERR_INVALID_ARG', /0\.\.65535/));
  await assert.rejects(TCPStore.create({ host: HOST, port: 0, isServer: true, worldSize: 0 }), isError('ERR_INVALID_ARG', /worldSize/));
  await assert.rejects(TCPStore.create({ host: HOST, port: 0, isServer: true, maxMessageBytes: 10 }), isError('ERR_INVALID_ARG', /maxMessageBytes/));
  await assert.rejects(TCPStore.create({ host: HOST, port: 0, isServer: true, timeoutMs: 0 }), isError('ERR_INVALID_ARG', /timeoutMs/));
});

test('the server binds to the given host only, and a taken port is a clear error', async () => {
  const store = await server();
  try {
    // bound to 127.0.0.1 only: the same port on another loopback address refuses the connection
    const other = await new Promise<string>((resolve) => {
      const s = connect({ host: '127.0.0.2', port: store.port }, () => {
        s.destroy();
        resolve('connected');
      });
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    assert.equal(other, 'ECONNREFUSED');
    await assert.rejects(
      TCPStore.create({ host: HOST, port: store.port, isServer: true }),
      isError('ERR_STORE', /could not listen on 127\.0\.0\.1:\d+: EADDRINUSE/),
    );
  } finally {
    await store.close();
  }
});

test('waits time out with ERR_DIST_TIMEOUT naming the missing keys', async () => {
  const store = await server();
  const c = await client(store.port);
  try {
    await store.set('present', '1');
    const t0 = Date.now();
    await assert.rejects(c.wait(['present', 'missing-a'], { timeoutMs: 200 }), isError('ERR_DIST_TIMEOUT', /still missing: "missing-a"/));
    assert.ok(Date.now() - t0 >= 190);
    await assert.rejects(c.get('missing-b', { timeoutMs: 100 }), isError('ERR_DIST_TIMEOUT', /"missing-b"/));
    await assert.rejects(store.get('missing-c', { timeoutMs: 100 }), isError('ERR_DIST_TIMEOUT', /"missing-c"/));
    // The connection is still good after a timeout, and a timed-out waiter is not woken later.
    await c.set('missing-a', 'now');
    assert.equal((await c.get('missing-a')).toString(), 'now');
  } finally {
    await c.close();
    await store.close();
  }
});

test('the server with worldSize waits for its clients, and times out naming how many joined', async () => {
  const lonely = await server({ worldSize: 2, timeoutMs: 300 }).catch((e: unknown) => e);
  assert.ok(lonely instanceof NodeNcclError && lonely.code === 'ERR_DIST_TIMEOUT', String(lonely));
  assert.match(lonely.message, /1 client\(s\) to join; 0 joined/);
  const port = await freePort();
  let ready = false;
  const srv = server({ port, worldSize: 3, timeoutMs: 5000 }).then((s) => ((ready = true), s));
  const first = await client(port, { worldSize: 3 });
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(ready, false, 'the server waits until every client has joined');
  const second = await client(port, { worldSize: 3 });
  const store = await srv;
  assert.equal(store.port, port);
  await Promise.all([first.close(), second.close()]);
  await store.close();
});

test('a client started before the server retries until it is up', async () => {
  const port = await freePort();
  const c = client(port, { timeoutMs: 5000 });
  await new Promise((r) => setTimeout(r, 300));
  const store = await server({ port });
  try {
    const cl = await c;
    await cl.set('a', 'b');
    assert.equal((await store.get('a')).toString(), 'b');
    await cl.close();
  } finally {
    await store.close();
  }
  const t0 = Date.now();
  await assert.rejects(client(port, { timeoutMs: 300 }), isError('ERR_DIST_TIMEOUT', /could not connect .* within 300 ms \(last error: ECONNREFUSED\)/));
  assert.ok(Date.now() - t0 < 3000);
});

test('server killed mid-wait: the waiting client gets ERR_STORE, and later calls too (no hang)', async () => {
  const srv = run(['server', HOST, '0', 's3cret']);
  const { port } = (await srv.firstLine) as { port: number };
  const c = await client(port);
  assert.equal((await c.get('from-server')).toString(), 'hello');
  const waiting = c.get('never-set', { timeoutMs: 60_000 });
  const waiting2 = c.wait(['never-either'], { timeoutMs: 60_000 });
  await new Promise((r) => setTimeout(r, 100));
  srv.child.kill('SIGKILL');
  const t0 = Date.now();
  await assert.rejects(waiting, isError('ERR_STORE', new RegExp(`store server at 127\\.0\\.0\\.1:${port} closed the connection`)));
  await assert.rejects(waiting2, isError('ERR_STORE', /closed the connection/));
  assert.ok(Date.now() - t0 < 5000, 'the error came quickly, not at the timeout');
  await assert.rejects(c.set('x', 'y'), isError('ERR_STORE', /closed the connection/));
  await c.close();
});

test('server closed while a client process waits: the client process reports ERR_STORE and exits', async () => {
  const store = await server();
  const w = run(['get', HOST, String(store.port), 's3cret']);
  // Wait until its get is registered on the server, then close the server.
  while (store.connectionCount === 0) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 100));
  await store.close();
  const line = await w.firstLine;
  assert.equal(line.error, 'ERR_STORE');
  assert.match(String(line.message), /closed the connection/);
  assert.equal(await w.exit, 3);
});

test('a wrong token gets ERR_STORE_AUTH; the server keeps serving good clients', async () => {
  const store = await server();
  const good = await client(store.port);
  try {
    const pending = good.get('after-bad');
    const bad = run(['connect', HOST, String(store.port), 'wrong-token']);
    const line = await bad.firstLine;
    assert.equal(line.error, 'ERR_STORE_AUTH');
    assert.match(String(line.message), /wrong store token/);
    assert.equal(await bad.exit, 3);
    await assert.rejects(client(store.port, { token: '' }), isError('ERR_STORE_AUTH'));
    await assert.rejects(client(store.port, { token: 's3cret!' }), isError('ERR_STORE_AUTH'));
    // The good client's pending wait and new connections are unaffected.
    await store.set('from-server', 'hi');
    const ok = run(['connect', HOST, String(store.port), 's3cret']);
    assert.deepEqual(await ok.firstLine, { connected: true, fromServer: 'hi' });
    await store.set('after-bad', 'fine');
    assert.equal((await pending).toString(), 'fine');
  } finally {
    await good.close();
    await store.close();
  }
});

test('messages over maxMessageBytes: refused locally, and an oversized frame closes only that connection', async () => {
  const store = await server({ maxMessageBytes: 4096 });
  // The client allows more, but learns the server's limit when it authenticates.
  const good = await client(store.port, { maxMessageBytes: 1 << 20 });
  try {
    await assert.rejects(good.set('k', Buffer.alloc(5000)), isError('ERR_INVALID_ARG', /exceeds the server's maxMessageBytes \(4096\)/));
    await assert.rejects(store.set('k', Buffer.alloc(5000)), isError('ERR_INVALID_ARG', /exceeds maxMessageBytes \(4096\)/));
    // A raw connection that sends an oversized frame anyway is told why and closed.
    const raw = await rawConnection(store.port);
    const received: Buffer[] = [];
    raw.on('data', (d: Buffer) => received.push(d));
    const big = encodeFrame(Op.SET, 9, [Buffer.from('k'), Buffer.alloc(10_000)]);
    const outcome = await sendAndWaitClose(raw, [encodeFrame(Op.AUTH, 1, [Buffer.from('s3cret')]), big]);
    assert.equal(outcome, 'closed-by-server');
    const text = Buffer.concat(received).toString('latin1');
    assert.match(text, /frame of 10\d\d\d bytes exceeds the limit of 4096 bytes/);
    // The good client was not harmed.
    await good.set('k', Buffer.alloc(3000, 7));
    assert.equal((await good.get('k')).length, 3000);
    assert.equal(await store.check(['k']), true);
  } finally {
    await good.close();
    await store.close();
  }
});

test('PrefixStore keeps namespaces apart on one store', async () => {
  const store = await server();
  const c = await client(store.port);
  try {
    const a = new PrefixStore('group_a', store);
    const b = new PrefixStore('group_b', c);
    const nested = new PrefixStore('inner', a);
    await a.set('k', 'from-a');
    await b.set('k', 'from-b');
    await nested.set('k', 'from-nested');
    assert.equal((await a.get('k')).toString(), 'from-a');
    assert.equal((await b.get('k')).toString(), 'from-b');
    assert.equal((await c.get('group_a/inner/k')).toString(), 'from-nested');
    assert.equal((await store.get('group_b/k')).toString(), 'from-b');
    assert.equal(await a.check(['k']), true);
    assert.equal(await new PrefixStore('group_c', c).check(['k']), false);
    assert.equal(await a.add('n', 2), 2n);
    assert.equal(await b.add('n', 5), 5n);
    assert.equal((await a.compareSet('n', '2', '3')).toString(), '3');
    const w = b.wait(['late']);
    await a.set('late', 'wrong namespace');
    await assert.rejects(b.wait(['late'], { timeoutMs: 100 }), isError('ERR_DIST_TIMEOUT', /"group_b\/late"/));
    await c.set('group_b/late', 'right');
    await w;
    assert.equal(await b.deleteKey('k'), true);
    assert.equal((await a.get('k')).toString(), 'from-a');
    assert.equal(await a.numKeys(), await store.numKeys());
    await a.close(); // leaves the underlying store open
    assert.equal((await store.get('group_a/k')).toString(), 'from-a');
    assert.throws(() => new PrefixStore('', store), isError('ERR_INVALID_ARG'));
  } finally {
    await c.close();
    await store.close();
  }
});


function rawConnection(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: HOST, port }, () => resolve(s));
    s.on('error', reject);
  });
}

/** Sends bytes and waits until the server closes the connection (or 5 s pass; then we close it). */
function sendAndWaitClose(s: Socket, chunks: Buffer[]): Promise<'closed-by-server' | 'still-open'> {
  return new Promise((resolve) => {
    s.removeAllListeners('error');
    s.on('error', () => {});
    s.on('data', () => {});
    const t = setTimeout(() => {
      s.destroy();
      resolve('still-open');
    }, 5000);
    s.on('close', () => {
      clearTimeout(t);
      resolve('closed-by-server');
    });
    for (const c of chunks) if (!s.destroyed) s.write(c);
  });
}

test('fuzz: random bytes, hostile frames and oversized lengths never harm the server or its clients', async () => {
  const token = 'fuzz-token';
  const store = await server({ token, maxMessageBytes: 1 << 16 });
  const good = await client(store.port, { token });
  const pending = good.get('survivor');
  const rand = rng(0x5eed);
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
  const authFrame = encodeFrame(Op.AUTH, 1, [Buffer.from(token)]);
  const cases: Array<() => Buffer[]> = [
    () => [bytes(1 + Math.floor(rand() * 200))], // pure noise before authenticating
    () => { // a plausible length, random payload
      const body = bytes(Math.floor(rand() * 64));
      const len = Buffer.alloc(4);
      len.writeUInt32BE(body.length);
      return [len, body];
    },
    () => { // a huge length prefix (allocation bait)
      const len = Buffer.alloc(4);
      len.writeUInt32BE(0xfffffff0 - Math.floor(rand() * 1000));
      return [len, bytes(16)];
    },
    () => [authFrame, bytes(1 + Math.floor(rand() * 200))], // noise after a good AUTH
    () => { // a valid frame with a lying field count
      const f = encodeFrame(Op.SET, 2, [Buffer.from('k'), Buffer.from('v')]);
      f.writeUInt32BE(0x7fffffff, 10);
      return [authFrame, f];
    },
    () => { // a field length running past the end
      const f = encodeFrame(Op.SET, 3, [Buffer.from('k'), Buffer.from('v')]);
      f.writeUInt32BE(1 << 20, 14);
      return [authFrame, f];
    },
    () => [authFrame, encodeFrame(200 + Math.floor(rand() * 50), 4, [bytes(3)])], // unknown op
    () => [authFrame, encodeFrame(Op.ADD, 5, [Buffer.from('k'), bytes(3)])], // wrong integer width
    () => [authFrame, encodeFrame(Op.SET, 6, [Buffer.from('k')])], // wrong field count
    () => { // wrong protocol version
      const f = encodeFrame(Op.AUTH, 7, [Buffer.from(token)]);
      f.writeUInt8(PROTOCOL_VERSION + 1 + Math.floor(rand() * 100), 4);
      return [f];
    },
    () => [encodeFrame(Op.SET, 8, [Buffer.from('k'), Buffer.from('v')])], // an operation before AUTH
    () => { // a frame over the limit after AUTH
      const len = Buffer.alloc(4);
      len.writeUInt32BE((1 << 16) + 1 + Math.floor(rand() * 100));
      return [authFrame, len, bytes(100)];
    },
    () => { // noise split into many tiny writes
      const b = bytes(40 + Math.floor(rand() * 40));
      return Array.from({ length: b.length }, (_, i) => b.subarray(i, i + 1));
    },
  ];
  const iterations = 260;
  for (let i = 0; i < iterations; i++) {
    const make = cases[i % cases.length]!;
    const s = await rawConnection(store.port);
    const outcome = await sendAndWaitClose(s, make());
    // Every case here is invalid: the server must close it, never leave it half-alive.
    assert.equal(outcome, 'closed-by-server', `case ${i % cases.length} (iteration ${i}) left the connection open`);
  }
  // The server still serves, the good client's pending wait still completes, and nothing was written.
  while (store.connectionCount > 1) await new Promise((r) => setTimeout(r, 20));
  assert.equal(store.connectionCount, 1);
  assert.equal(await store.check(['k']), false);
  await store.set('survivor', 'alive');
  assert.equal((await pending).toString(), 'alive');
  const again = await client(store.port, { token });
  assert.equal((await again.add('after-fuzz', 1)), 1n);
  await again.close();
  await good.close();
  await store.close();
});

test('a flood of idle unauthenticated connections cannot lock real clients out', async () => {
  const store = await server();
  const idle: Socket[] = [];
  let closedByServer = 0;
  try {
    for (let i = 0; i < 300; i++) {
      const s = await rawConnection(store.port);
      s.on('error', () => {});
      s.on('close', () => closedByServer++);
      idle.push(s);
    }
    const c = await client(store.port);
    await c.set('got-in', 'yes');
    assert.equal((await store.get('got-in')).toString(), 'yes');
    await c.close();
    // The oldest idle ones were closed to make room; at most 256 wait for authentication at once.
    while (closedByServer < 300 - 256) await new Promise((r) => setTimeout(r, 20));
    assert.ok(store.connectionCount <= 256, String(store.connectionCount));
  } finally {
    for (const s of idle) s.destroy();
    await store.close();
  }
});

test("the server keeps serving while rank 0's JS thread is blocked (it runs on a thread of its own)", async () => {
  const port = await freePort();
  const storeModule = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'lib', 'distributed', 'store.js');
  let listening!: () => void;
  const up = new Promise<void>((r) => (listening = r));
  const run = (code: string): Promise<{ status: number | null; out: string }> =>
    new Promise((resolve) => {
      const p = spawn(process.execPath, ['--input-type=module', '-e', `const { TCPStore } = await import(${JSON.stringify(storeModule)});\n${code}`], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('LISTENING')) listening();
      });
      p.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      p.on('close', (status) => resolve({ status, out }));
    });
  // rank 0 starts the server, then blocks its JS thread for 3 s (as a synchronous wait would)
  const server = run(`
    const s = await TCPStore.create({ host: '127.0.0.1', port: ${port}, isServer: true, timeoutMs: 20000 });
    process.stdout.write('LISTENING\\n');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000);
    process.stdout.write('keys ' + (await s.numKeys()) + '\\n');
    await s.close();`);
  await up; // the server listens, and its JS thread is blocked from now on
  // two other ranks rendezvous through it meanwhile, with timeouts shorter than the block
  const client = (me: number, peer: number): Promise<{ status: number | null; out: string }> => run(`
    const t0 = Date.now();
    const c = await TCPStore.create({ host: '127.0.0.1', port: ${port}, isServer: false, timeoutMs: 1500 });
    await c.set('rank/${me}', 'here');
    await c.get('rank/${peer}');
    process.stdout.write('done in ' + (Date.now() - t0) + ' ms\\n');
    await c.close();`);
  const [a, b] = await Promise.all([client(1, 2), client(2, 1)]);
  for (const c of [a, b]) {
    assert.equal(c.status, 0, c.out);
    assert.match(c.out, /done in \d+ ms/);
  }
  const s = await server;
  assert.equal(s.status, 0, s.out);
  assert.match(s.out, /keys 2/);
});
