import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runChild } from './helpers/child.js';
import { buildSharedLib, compilerAvailable, fakeBlasSource, fakeCublasSource, fakeNcclSource } from './helpers/fakelib.js';

const temps: string[] = [];
process.on('exit', () => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});
/** A fresh folder, removed when the test process exits. */
function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  temps.push(d);
  return d;
}

interface Outcome {
  info: {
    loaded: boolean; path: string | null; versionString: string | null; version: number | null; tried: string[]; error: string | null;
    vendor?: string | null; detail?: string | null; threads?: number | null;
  };
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
  const empty = tempDir('nn-empty-');
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
  const home = tempDir('nn-cudahome-');
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
  const site = tempDir('nn-site-');
  const bin = tempDir('nn-bin-');
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

// ---- host BLAS: only an optimized one, recognized by its own symbols ----------------------------
const noCc = !compilerAvailable() && 'no C compiler';
const BLAS_ENV = { NODE_NCCL_BLAS: undefined, NODE_NCCL_CPU_THREADS: undefined, OPENBLAS_NUM_THREADS: undefined, OMP_NUM_THREADS: undefined, BLIS_NUM_THREADS: undefined, MKL_NUM_THREADS: undefined };

/** A 2x2 float32 matmul in a fresh process with `env`: the values (a fake BLAS writes its marker). */
function matmulWith(env: Record<string, string | undefined>): { out: number[]; half: number[]; info: Outcome['info'] } {
  const r = runChild(
    `const a = lib.tensor([[1, 2], [3, 4]]), b = lib.tensor([[5, 6], [7, 8]]);
     const out = Array.from(a.matmul(b).dataSync());
     const half = Array.from(a.to('float16').matmul(b.to('float16')).dataSync());
     process.stdout.write(JSON.stringify({ out, half, info: lib.native.loader.info('blas') }));`,
    { ...BLAS_ENV, ...env },
  );
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { out: number[]; half: number[]; info: Outcome['info'] };
}

test('BLAS: a CBLAS without OpenBLAS/BLIS/MKL symbols (netlib reference) is skipped, the built-in kernel computes', { skip: noCc }, () => {
  const dir = buildSharedLib('libblas.so.3', fakeBlasSource('reference', { marker: 12345 }));
  const m = matmulWith({ NODE_NCCL_BLAS_PATH: join(dir, 'libblas.so.3') });
  assert.equal(m.info.loaded, false);
  assert.match(m.info.tried[0]!, /libblas\.so\.3: not an optimized BLAS .*netlib's reference BLAS.*skipped/);
  assert.match(m.info.error!, /the built-in kernel/);
  assert.deepEqual(m.out, [19, 22, 43, 50], 'computed by the built-in kernel, not the fake (12345)');
  // On the system loader path too: skipped, and the search goes on.
  const o = lookUp('blas', { ...BLAS_ENV, NODE_NCCL_BLAS_PATH: undefined, LD_LIBRARY_PATH: dir });
  assert.ok(o.info.tried.some((t) => /^system loader libblas\.so\.3: not an optimized BLAS/.test(t)) || (o.info.loaded && o.info.vendor), JSON.stringify(o.info));
});

test('BLAS: OpenBLAS is recognized (version, core) and used; NODE_NCCL_CPU_THREADS sets its threads', { skip: noCc }, () => {
  const dir = buildSharedLib('libopenblas.so.0', fakeBlasSource('openblas', { version: '0.3.27', initialThreads: 64 }));
  const m = matmulWith({ NODE_NCCL_BLAS_PATH: dir, NODE_NCCL_CPU_THREADS: '3' });
  assert.equal(m.info.loaded, true, m.info.error ?? '');
  assert.equal(m.info.vendor, 'OpenBLAS');
  assert.equal(m.info.versionString, '0.3.27');
  assert.match(m.info.detail!, /^OpenBLAS 0\.3\.27 DYNAMIC_ARCH .* \(core Zen\)$/);
  assert.equal(m.info.threads, 3);
  assert.deepEqual(m.out, [42, 42, 42, 42], 'float32 went to the BLAS');
  assert.deepEqual(m.half, [19, 22, 43, 50], 'float16 stays on the built-in kernel');
  // Its own variable is respected when NODE_NCCL_CPU_THREADS is not set.
  const own = matmulWith({ NODE_NCCL_BLAS_PATH: dir, OPENBLAS_NUM_THREADS: '5' });
  assert.equal(own.info.threads, 64, 'left as the library set it from OPENBLAS_NUM_THREADS');
  // NODE_NCCL_BLAS=0: not even searched.
  const off = matmulWith({ NODE_NCCL_BLAS_PATH: dir, NODE_NCCL_BLAS: '0' });
  assert.equal(off.info.loaded, false);
  assert.deepEqual(off.info.tried, ['not searched: NODE_NCCL_BLAS=0']);
  assert.deepEqual(off.out, [19, 22, 43, 50]);
});

test('BLAS: BLIS, MKL and FlexiBLAS are recognized; FlexiBLAS over NETLIB is skipped', { skip: noCc }, () => {
  const blis = matmulWith({ NODE_NCCL_BLAS_PATH: buildSharedLib('libblis.so.4', fakeBlasSource('blis', { version: '1.0' })) });
  assert.equal(blis.info.vendor, 'BLIS');
  assert.equal(blis.info.versionString, '1.0');
  assert.ok(blis.info.threads! >= 1, 'BLIS (single-threaded by default) is given every core');
  assert.deepEqual(blis.out, [42, 42, 42, 42]);
  const mkl = lookUp('blas', { ...BLAS_ENV, NODE_NCCL_BLAS_PATH: buildSharedLib('libmkl_rt.so.2', fakeBlasSource('mkl', { version: '2024.1' })) });
  assert.equal(mkl.info.vendor, 'MKL');
  assert.equal(mkl.info.versionString, '2024.1');
  const flexOk = lookUp('blas', { ...BLAS_ENV, NODE_NCCL_BLAS_PATH: buildSharedLib('libflexiblas.so.3', fakeBlasSource('flexiblas', { backend: 'OPENBLAS-OPENMP' })) });
  assert.equal(flexOk.info.vendor, 'FlexiBLAS');
  assert.match(flexOk.info.detail!, /FlexiBLAS 3\.4\.1 over OPENBLAS-OPENMP/);
  const flexRef = lookUp('blas', { ...BLAS_ENV, NODE_NCCL_BLAS_PATH: buildSharedLib('libflexiblas.so.3', fakeBlasSource('flexiblas', { backend: 'NETLIB' })) });
  assert.equal(flexRef.info.loaded, false);
  assert.match(flexRef.info.tried[0]!, /FlexiBLAS over NETLIB, not an optimized BLAS: skipped/);
});

test("BLAS: Debian's netlib libblas.so.3 on this machine is never used", { skip: !existsSync('/lib/x86_64-linux-gnu/blas/libblas.so.3') && 'no netlib libblas3 here' }, () => {
  const o = lookUp('blas', { ...BLAS_ENV, NODE_NCCL_BLAS_PATH: '/lib/x86_64-linux-gnu/blas/libblas.so.3' });
  assert.equal(o.info.loaded, false);
  assert.match(o.info.tried[0]!, /not an optimized BLAS/);
});
