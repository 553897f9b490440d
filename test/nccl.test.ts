/**
 * The low-level nccl module where NCCL is missing (this machine), or a fake libnccl built here:
 * typed errors naming every place tried, and NCCL's own error codes and texts reaching the user.
 * The real runs are in test/gpu/nccl.test.ts.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { runChild } from './helpers/child.js';
import { buildSharedLib, compilerAvailable } from './helpers/fakelib.js';

interface Thrown {
  code: string;
  name: string;
  message: string;
}

/** Runs `body` in a fresh process (the loader searches once per process); it prints JSON. */
function inChild<T>(body: string, env: Record<string, string | undefined>): T {
  const r = runChild(
    `const { nccl, dist } = lib;
     const caught = async (f) => { try { await f(); return null; } catch (e) { return { code: e.code, name: e.name, message: e.message }; } };
     ${body}`,
    env,
  );
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as T;
}

const missing = { NODE_NCCL_NCCL_PATH: '/nonexistent/nccl/libnccl.so.2' };

test('NCCL missing: isAvailable() is false and every entry point throws ERR_LIB_NOT_FOUND naming the place tried', () => {
  const o = inChild<{ available: boolean; errors: Record<string, Thrown | null> }>(
    `const errors = {
       getUniqueId: await caught(() => nccl.getUniqueId()),
       groupStart: await caught(() => nccl.groupStart()),
       initRank: await caught(() => nccl.Communicator.initRank(1, new Uint8Array(128), 0, { device: 0 })),
       initRankNoDevice: await caught(() => nccl.Communicator.initRank(1, new Uint8Array(128), 0)),
       initAll: await caught(() => nccl.Communicator.initAll([0])),
       version: await caught(() => nccl.version()),
       initProcessGroup: await caught(() => dist.initProcessGroup({ backend: 'nccl', rank: 0, worldSize: 1, initMethod: 'tcp://127.0.0.1:1' })),
     };
     process.stdout.write(JSON.stringify({ available: nccl.isAvailable(), errors }));`,
    missing,
  );
  assert.equal(o.available, false);
  for (const [what, e] of Object.entries(o.errors)) {
    assert.ok(e, `${what} threw`);
    assert.equal(e.code, 'ERR_LIB_NOT_FOUND', `${what}: ${e.message}`);
    assert.equal(e.name, 'LibraryNotFoundError', what);
    assert.match(e.message, /NODE_NCCL_NCCL_PATH = \/nonexistent\/nccl\/libnccl\.so\.2: no such file/, what);
  }
});

test('NCCL missing from every default place: the message lists the system loader, the CUDA toolkit and pip', () => {
  const o = inChild<{ loaded: boolean; e: Thrown | null }>(
    `process.stdout.write(JSON.stringify({ loaded: nccl.isAvailable(), e: await caught(() => nccl.getUniqueId()) }));`,
    { NODE_NCCL_NCCL_PATH: undefined, LD_LIBRARY_PATH: undefined },
  );
  if (o.loaded) return; // a machine with NCCL: the GPU tests cover it
  assert.equal(o.e?.code, 'ERR_LIB_NOT_FOUND');
  assert.match(o.e!.message, /system loader libnccl\.so\.2/);
  assert.match(o.e!.message, /CUDA toolkit/);
  assert.match(o.e!.message, /pip/);
});

const fakeNccl = `
#include <string.h>
int ncclGetVersion(int* v) { *v = 22803; return 0; }
int ncclGetUniqueId(void* id) { unsigned char* p = id; for (int i = 0; i < 128; i++) p[i] = (unsigned char)(i * 7 + 3); return 0; }
int ncclGroupStart(void) { return 0; }
int ncclGroupEnd(void) { return 5; }
const char* ncclGetErrorString(int r) { return r == 5 ? "invalid usage (fake)" : "other"; }
const char* ncclGetLastError(void* comm) { return "fake: groupEnd without groupStart"; }
`;

test('a (fake) NCCL: getUniqueId returns its 128 bytes, and a failing call reports the NCCL code and name', { skip: !compilerAvailable() && 'no C compiler' }, () => {
  const dir = buildSharedLib('libnccl.so.2', fakeNccl);
  const o = inChild<{ available: boolean; version: number[]; id: number[]; start: Thrown | null; end: Thrown | null; extra: Thrown | null; init: Thrown | null }>(
    `const id = nccl.getUniqueId();
     const out = {
       available: nccl.isAvailable(), version: nccl.version(), id: [...id],
       start: await caught(() => nccl.groupStart()),
       end: await caught(() => nccl.groupEnd()),
       extra: await caught(() => lib.native.nccl.getUniqueId(1)),
       init: await caught(() => nccl.Communicator.initRank(1, id, 0, { device: 0 })),
     };
     process.stdout.write(JSON.stringify(out));`,
    { NODE_NCCL_NCCL_PATH: join(dir, 'libnccl.so.2') },
  );
  assert.equal(o.available, true);
  assert.deepEqual(o.version, [2, 28, 3]);
  assert.deepEqual(o.id, Array.from({ length: 128 }, (_, i) => (i * 7 + 3) & 255));
  assert.equal(o.start, null);
  assert.equal(o.end?.code, 'ERR_INVALID_ARG'); // ncclInvalidUsage
  assert.match(o.end!.message, /ncclGroupEnd/);
  assert.match(o.end!.message, /ncclInvalidUsage/);
  assert.equal(o.extra?.code, 'ERR_INVALID_ARG');
  // ncclCommInitRank is missing from the fake, and there is no GPU here: either is a typed error.
  assert.ok(['ERR_SYMBOL_NOT_FOUND', 'ERR_NO_CUDA_BUILD', 'ERR_NO_DRIVER', 'ERR_NO_GPU'].includes(o.init!.code), o.init!.message);
});

test('dtype and op names are checked before the native call', async () => {
  const { nccl } = await import('../lib/index.js');
  // A Communicator cannot be made without NCCL; its name checks are reached through the prototype.
  const proto = nccl.Communicator.prototype as unknown as { allReduce: (...a: unknown[]) => void };
  const fakeThis = { native: {} };
  const buf = { native: {} };
  assert.throws(() => proto.allReduce.call(fakeThis, buf, buf, 1, 'float33', 'sum'), (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARG' && /float33/.test(e.message));
  assert.throws(() => proto.allReduce.call(fakeThis, buf, buf, 1, 'float32', 'mean'), (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARG' && /"mean"/.test(e.message));
});
