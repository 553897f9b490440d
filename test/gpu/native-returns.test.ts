/**
 * typings/native.ts against what the addon really returns (D1: nccl.initAll returned a Promise
 * where the typings and lib/nccl said an array). Every method of the device-facing native
 * interfaces is called with valid arguments, and its result is compared with its declared return
 * type, read from typings/native.ts with the TypeScript compiler: a Promise where one is declared,
 * no Promise where none is, a boolean, number, string or object where one of those is declared.
 * Needs a device (simulated devices in npm test) and NCCL (simulated there too).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { cuda, nccl } from '../../lib/index.js';
import { native } from '../../lib/native/index.js';

const skip = cuda.deviceCount() === 0 ? `no GPU: ${cuda.noGpuReason()}` : !nccl.isAvailable() ? `NCCL not found: ${nccl.libraryInfo().error}` : false;
const typingsPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'typings', 'native.ts');

type Kind = 'promise' | 'boolean' | 'number' | 'string' | 'void' | 'object' | 'other';

/** Declared return kinds of the methods of `iface` in typings/native.ts. */
function declared(iface: string): Map<string, Kind> {
  const src = ts.createSourceFile('native.ts', readFileSync(typingsPath, 'utf8'), ts.ScriptTarget.ES2022, true);
  const out = new Map<string, Kind>();
  src.forEachChild((node) => {
    if (!ts.isInterfaceDeclaration(node) || node.name.text !== iface) return;
    for (const m of node.members) {
      if (!ts.isMethodSignature(m) || !m.type || !m.name) continue;
      const t = m.type.getText(src);
      const kind: Kind = t.startsWith('Promise<') ? 'promise' : t === 'boolean' ? 'boolean' : t === 'number' ? 'number'
        : t === 'string' ? 'string' : t === 'void' ? 'void' : /^[A-Z{]|\[\]$/.test(t) ? 'object' : 'other';
      out.set(m.name.getText(src), kind);
    }
  });
  assert.ok(out.size > 0, `interface ${iface} not found in typings/native.ts`);
  return out;
}

function kindOf(v: unknown): Kind {
  if (v instanceof Promise) return 'promise';
  if (v === undefined) return 'void';
  if (typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return typeof v as Kind;
  if (v !== null && typeof v === 'object') return 'object';
  return 'other';
}

/** Calls every entry of `calls` and checks it against the declared kind; every method must be called. */
async function check(iface: string, calls: Record<string, () => unknown>): Promise<void> {
  const want = declared(iface);
  assert.deepEqual([...want.keys()].filter((k) => !(k in calls)).sort(), [], `${iface}: methods not exercised by this test`);
  for (const [name, call] of Object.entries(calls)) {
    const w = want.get(name);
    assert.ok(w, `${iface}.${name} is called here but not declared in typings/native.ts`);
    const v = call();
    const got = kindOf(v);
    if (got === 'promise') await v;
    if (w === 'other') continue;
    // an object type may be declared as `X | null`: null reads as 'other'
    if (w === 'object' && v === null) continue;
    assert.equal(got, w, `${iface}.${name} returned ${got}, typings/native.ts declares ${w}`);
  }
}

test('native.cuda, Stream, Event and DeviceBuffer return what typings/native.ts declares', { skip }, async () => {
  const c = native.cuda;
  const buf = new c.DeviceBuffer(64, 0);
  const host = new Float32Array(16);
  await check('NativeCuda', {
    isAvailable: () => c.isAvailable(), deviceCount: () => c.deviceCount(), noGpuReason: () => c.noGpuReason(),
    deviceApi: () => c.deviceApi(), versions: () => c.versions(), getDeviceProperties: () => c.getDeviceProperties(0),
    setDevice: () => c.setDevice(0), currentDevice: () => c.currentDevice(), memGetInfo: () => c.memGetInfo(),
    synchronize: () => c.synchronize(), synchronizeSync: () => c.synchronizeSync(), currentStream: () => c.currentStream(),
    setCurrentStream: () => c.setCurrentStream(c.currentStream(0)), memoryStats: () => c.memoryStats(0),
    resetPeakMemoryStats: () => c.resetPeakMemoryStats(0), emptyCache: () => c.emptyCache(), pinnedBuffer: () => c.pinnedBuffer(64),
    memcpy: () => c.memcpy(buf, 0, host, 0, 64), memcpyEnqueue: () => c.memcpyEnqueue(buf, 0, host, 0, 64),
    memcpyAsync: () => c.memcpyAsync(host, 0, buf, 0, 64), memset: () => c.memset(buf, 0, 64, 0),
  });
  const s = new c.Stream(0);
  const e = new c.Event(0, true);
  const e2 = new c.Event(0, true);
  await check('NativeStream', {
    query: () => s.query(), synchronize: () => s.synchronize(), synchronizeSync: () => s.synchronizeSync(),
    waitEvent: () => s.waitEvent(e), waitStream: () => s.waitStream(c.currentStream(0)), dispose: () => undefined,
  });
  await check('NativeEvent', {
    record: () => (e.record(s), e2.record(s)), query: () => e.query(), synchronize: () => e2.synchronize(),
    synchronizeSync: () => e.synchronizeSync(), elapsedTime: () => e.elapsedTime(e2), dispose: () => undefined,
  });
  await check('NativeDeviceBuffer', {
    recordStream: () => buf.recordStream(s), hold: () => buf.hold(), unhold: () => buf.unhold(), dispose: () => undefined,
  });
  for (const d of [s, e, e2, buf]) d.dispose();
});

test('native.nccl and its Communicator return what typings/native.ts declares (D1: initAll is a Promise)', { skip }, async () => {
  const n = native.nccl;
  let comm = null as unknown as Awaited<ReturnType<typeof n.initRank>>;
  let all: Awaited<ReturnType<typeof n.initAll>> = [];
  await check('NativeNccl', {
    getUniqueId: () => n.getUniqueId(),
    initRank: () => n.initRank(1, n.getUniqueId(), 0, 0, 30_000).then((c) => { comm = c; }),
    initAll: () => {
      const p = n.initAll([0], 30_000);
      return p instanceof Promise ? p.then((cs) => { all = cs; }) : p;
    },
    groupStart: () => n.groupStart(),
    groupEnd: () => n.groupEnd(),
  });
  assert.equal(all.length, 1);
  const buf = new native.cuda.DeviceBuffer(64, 0);
  await check('NativeNcclCommunicator', {
    allReduce: () => comm.allReduce(buf, 0, buf, 0, 4, 'float32', 'sum'),
    settle: () => comm.settle(),
    broadcast: () => (comm.settleSync(), comm.broadcast(buf, 0, buf, 0, 4, 'float32', 0)),
    reduce: () => (comm.settleSync(), comm.reduce(buf, 0, buf, 0, 4, 'float32', 'sum', 0)),
    allGather: () => (comm.settleSync(), comm.allGather(buf, 0, buf, 16, 4, 'float32')),
    reduceScatter: () => (comm.settleSync(), comm.reduceScatter(buf, 0, buf, 16, 4, 'float32', 'sum')),
    send: () => (comm.settleSync(), n.groupStart(), comm.send(buf, 0, 4, 'float32', 0)),
    recv: () => { const r = comm.recv(buf, 16, 4, 'float32', 0); n.groupEnd(); return r; },
    settleSync: () => comm.settleSync(),
    pending: () => comm.pending(),
    synchronize: () => comm.synchronize(30_000),
    getAsyncError: () => comm.getAsyncError(),
    destroy: () => comm.destroy(),
    abort: () => all[0]!.abort('done'),
  });
  buf.dispose();
});
