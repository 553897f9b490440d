import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runChild } from './helpers/child.js';
import { buildSharedLib, compilerAvailable, fakeCublasSource, fakeNcclSource } from './helpers/fakelib.js';

interface Outcome {
  info: { loaded: boolean; path: string | null; versionString: string | null; version: number | null; tried: string[]; error: string | null };
  thrown: { code: string; name: string; message: string } | null;
}

/** Looks a library up in a fresh process (the loader searches once per process). */
function lookUp(name: 'nccl' | 'cublas' | 'blas', env: Record<string, string | undefined>): Outcome {
  const r = runChild(
    `const info = lib.native.loader.info(${JSON.stringify(name)});
     let thrown = null;
     try { lib.native.loader.load(${JSON.stringify(name)}); } catch (e) { thrown = { code: e.code, name: e.name, message: e.message }; }
     process.stdout.write(JSON.stringify({ info, thrown }));`,
    env,
  );
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Outcome;
}

test('NCCL missing: ERR_LIB_NOT_FOUND listing the system loader, the CUDA toolkit and pip folders', () => {
  const o = lookUp('nccl', { NODE_NCCL_NCCL_PATH: undefined, LD_LIBRARY_PATH: undefined });
  if (o.info.loaded) return; // a machine that has NCCL: nothing to check here
  assert.equal(o.thrown?.code, 'ERR_LIB_NOT_FOUND');
  assert.equal(o.thrown?.name, 'LibraryNotFoundError');
  const tried = o.info.tried.join('\n');
  assert.match(tried, /system loader libnccl\.so\.2/);
  assert.match(tried, /CUDA toolkit/);
  assert.match(tried, /pip/);
  for (const t of o.info.tried) assert.ok(o.thrown!.message.includes(t), `message lists "${t}"`);
  assert.match(o.thrown!.message, /NODE_NCCL_NCCL_PATH/);
});

test('env override to a missing file: only that place is tried, and it says so', () => {
  const o = lookUp('nccl', { NODE_NCCL_NCCL_PATH: '/nonexistent/dir/libnccl.so.2' });
  assert.equal(o.info.loaded, false);
  assert.equal(o.thrown?.code, 'ERR_LIB_NOT_FOUND');
  assert.match(o.info.tried[0]!, /NODE_NCCL_NCCL_PATH = \/nonexistent\/dir\/libnccl\.so\.2: no such file/);
  assert.ok(!o.info.tried.some((t) => t.startsWith('system loader')), 'no other place is searched');
  assert.match(o.thrown!.message, /not searched while \$NODE_NCCL_NCCL_PATH is set/);
});

test('env override to a folder without the library, and to a file that is not a library', () => {
  const empty = mkdtempSync(join(tmpdir(), 'nn-empty-'));
  const o = lookUp('cublas', { NODE_NCCL_CUBLAS_PATH: empty });
  assert.equal(o.thrown?.code, 'ERR_LIB_NOT_FOUND');
  assert.match(o.info.tried[0]!, /none of libcublas\.so\.13, libcublas\.so\.12, libcublas\.so there/);

  const bogus = join(empty, 'libnccl.so.2');
  writeFileSync(bogus, 'not an ELF file');
  const o2 = lookUp('nccl', { NODE_NCCL_NCCL_PATH: bogus });
  assert.equal(o2.thrown?.code, 'ERR_LIB_NOT_FOUND');
  assert.ok(o2.info.tried[0]!.includes(bogus));
  assert.doesNotMatch(o2.info.tried[0]!, /no such file/);

  const o3 = lookUp('nccl', { NODE_NCCL_NCCL_PATH: join(empty, 'missing-folder') + '/' });
  assert.equal(o3.thrown?.code, 'ERR_LIB_NOT_FOUND');
});

test('a library without the expected symbol is skipped with the reason', { skip: !compilerAvailable() && 'no C compiler' }, () => {
  const dir = buildSharedLib('libnccl.so.2', 'int notNccl(void) { return 0; }\n');
  const o = lookUp('nccl', { NODE_NCCL_NCCL_PATH: dir });
  assert.equal(o.thrown?.code, 'ERR_LIB_NOT_FOUND');
  assert.match(o.info.tried[0]!, /has no ncclGetVersion/);
});

test('found through the override (file or folder): path and version are reported', { skip: !compilerAvailable() && 'no C compiler' }, () => {
  const dir = buildSharedLib('libnccl.so.2', fakeNcclSource(22803));
  for (const override of [dir, join(dir, 'libnccl.so.2')]) {
    const o = lookUp('nccl', { NODE_NCCL_NCCL_PATH: override });
    assert.equal(o.thrown, null);
    assert.equal(o.info.loaded, true);
    assert.equal(o.info.path, join(dir, 'libnccl.so.2'));
    assert.equal(o.info.version, 22803);
    assert.equal(o.info.versionString, '2.28.3');
    assert.equal(o.info.error, null);
  }
  const cub = buildSharedLib('libcublas.so.13', fakeCublasSource(13, 1, 2));
  const c = lookUp('cublas', { NODE_NCCL_CUBLAS_PATH: cub });
  assert.equal(c.info.loaded, true);
  assert.equal(c.info.versionString, '13.1.2');
  assert.equal(c.info.version, 130102);
});

test('the system loader path (LD_LIBRARY_PATH) is searched', { skip: !compilerAvailable() && 'no C compiler' }, () => {
  const dir = buildSharedLib('libnccl.so.2', fakeNcclSource(21903));
  const o = lookUp('nccl', { NODE_NCCL_NCCL_PATH: undefined, LD_LIBRARY_PATH: dir });
  assert.equal(o.info.loaded, true);
  assert.equal(o.info.versionString, '2.19.3');
  assert.equal(o.info.path, join(dir, 'libnccl.so.2'));
});

test('CUDA_HOME/lib64 is searched', { skip: !compilerAvailable() && 'no C compiler' }, () => {
  const home = mkdtempSync(join(tmpdir(), 'nn-cudahome-'));
  const lib64 = buildSharedLib('libnccl.so.2', fakeNcclSource(22105));
  symlinkSync(lib64, join(home, 'lib64'));
  const o = lookUp('nccl', { NODE_NCCL_NCCL_PATH: undefined, LD_LIBRARY_PATH: undefined, CUDA_HOME: home });
  if (o.info.tried.some((t) => t.startsWith('system loader') && !/not found/.test(t))) return;
  assert.equal(o.info.loaded, true, o.info.error ?? '');
  assert.equal(o.info.versionString, '2.21.5');
});

test('unknown library names are rejected', () => {
  const r = runChild(`try { lib.native.loader.info('cudnn'); } catch (e) { process.stdout.write(e.code); }`);
  assert.equal(r.stdout, 'ERR_INVALID_ARG');
});

test('pip nvidia/*/lib folders of the python3 on PATH are searched', { skip: !compilerAvailable() && 'no C compiler' }, () => {
  const site = mkdtempSync(join(tmpdir(), 'nn-site-'));
  const bin = mkdtempSync(join(tmpdir(), 'nn-bin-'));
  const built = buildSharedLib('libnccl.so.2', fakeNcclSource(22708));
  mkdirSync(join(site, 'nvidia', 'nccl'), { recursive: true });
  symlinkSync(built, join(site, 'nvidia', 'nccl', 'lib'));
  // A stand-in python3 that lists our folder as its site-packages.
  writeFileSync(join(bin, 'python3'), `#!/bin/sh\necho ${site}\n`);
  chmodSync(join(bin, 'python3'), 0o755);
  const o = lookUp('nccl', {
    NODE_NCCL_NCCL_PATH: undefined,
    LD_LIBRARY_PATH: undefined,
    CUDA_HOME: '/nonexistent-cuda',
    PATH: `${bin}:${process.env.PATH ?? ''}`,
  });
  if (o.info.tried.length === 0 && o.info.loaded && !o.info.path!.startsWith(site)) return; // a real NCCL on this machine
  assert.equal(o.info.loaded, true, o.info.error ?? '');
  assert.equal(o.info.path, join(site, 'nvidia', 'nccl', 'lib', 'libnccl.so.2'));
  assert.equal(o.info.versionString, '2.27.8');
  assert.match(o.info.tried.join('\n'), /CUDA toolkit \(\$CUDA_HOME\) \/nonexistent-cuda\/lib64: no such folder/);
});
