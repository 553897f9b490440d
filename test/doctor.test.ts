import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { native } from '../lib/index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = join(root, 'bin', 'node-nccl.js');

function doctor(args: string[], env: Record<string, string | undefined> = {}): { status: number | null; stdout: string; stderr: string } {
  const merged: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...env })) if (v !== undefined) merged[k] = v;
  const r = spawnSync(process.execPath, [bin, 'doctor', ...args], { encoding: 'utf8', env: merged, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('doctor --json is well-formed and agrees with the addon', () => {
  const r = doctor(['--json']);
  assert.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  const pkg = JSON.parse(spawnSync(process.execPath, ['-p', `JSON.stringify(require(${JSON.stringify(join(root, 'package.json'))}))`], { encoding: 'utf8' }).stdout);
  assert.equal(rep.package.name, 'node-nccl');
  assert.equal(rep.package.version, pkg.version);
  assert.equal(rep.node.version, process.version);
  assert.equal(rep.addon.loaded, true);
  assert.match(rep.addon.path, /node_nccl\.node$/);
  const b = native.buildInfo();
  assert.deepEqual(rep.build, { cuda: b.cuda, cudaArchs: b.cudaArchs, cudaOffReason: b.cudaOffReason });
  assert.equal(b.cudaOffReason === null, b.cuda, "a reason exactly when CUDA is off");
  // Honest about the devices: the same count and reason as the addon reports.
  assert.equal(rep.cuda.deviceCount, native.cuda.deviceCount());
  assert.equal(rep.cuda.available, native.cuda.deviceCount() > 0);
  assert.equal(rep.cuda.reason, native.cuda.noGpuReason());
  assert.equal(rep.cuda.devices.length, native.cuda.deviceCount());
  if (native.buildInfo().cuda) assert.match(rep.cuda.runtimeVersion, /^\d+\.\d+$/);
  if (native.cuda.deviceCount() === 0) {
    assert.ok(rep.notes.some((n: string) => /GPU features are off|built without CUDA|no GPU can be used/.test(n)), 'says plainly that there is no GPU');
  }
  // Libraries: loaded with path and version, or not with every place tried.
  for (const name of ['nccl', 'cublas', 'blas'] as const) {
    const lib = rep.libraries[name];
    const info = native.loader.info(name);
    assert.equal(lib.loaded, info.loaded, name);
    if (lib.loaded) {
      assert.equal(typeof lib.path, 'string');
    } else {
      assert.ok(lib.tried.length > 0, `${name}: places tried are listed`);
      assert.deepEqual(lib.tried, info.tried);
      assert.ok(rep.notes.some((n: string) => n.toLowerCase().includes(name === 'blas' ? 'blas' : name)), `${name}: a note says it is missing`);
    }
  }
});

test('doctor (text) exits 0 without a GPU and names what is missing', () => {
  const r = doctor([]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^node-nccl doctor/);
  assert.match(r.stdout, /Build\s+(CUDA kernels compiled for sm_\d+|CPU-only)/);
  assert.match(r.stdout, /NCCL\s+/);
  if (native.cuda.deviceCount() === 0) assert.match(r.stdout, new RegExp(`Devices\\s+none: ${native.cuda.noGpuReason()}`));
  if (!native.loader.info('nccl').loaded) {
    assert.match(r.stdout, /NCCL\s+not found; places tried:/);
    assert.match(r.stdout, /NODE_NCCL_NCCL_PATH/);
  }
});

test('doctor reports an env override that points nowhere', () => {
  const r = doctor(['--json'], { NODE_NCCL_NCCL_PATH: '/nowhere/libnccl.so.2' });
  assert.equal(r.status, 0);
  const rep = JSON.parse(r.stdout);
  assert.equal(rep.libraries.nccl.loaded, false);
  assert.match(rep.libraries.nccl.tried[0], /NODE_NCCL_NCCL_PATH = \/nowhere\/libnccl\.so\.2: no such file/);
});

test('doctor refuses unknown options and prints help', () => {
  const bad = doctor(['--bogus']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown option --bogus/);
  const help = doctor(['--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /usage: node-nccl doctor \[--json\]/);
});
