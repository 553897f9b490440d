/**
 * The CPU-only build path: the sources copied to a temp folder and built by the package's install
 * step (scripts/install.mjs, its source-build fallback) while no nvcc can be found (PATH without
 * it, CUDA_HOME naming a folder with no toolkit) and NODE_NCCL_WITH_CUDA unset. The addon must
 * build, load, report itself as CPU-only (and why), and leave no object files behind.
 * Offline: node-gyp uses the local Node headers (npm's nodedir, or the ones next to node).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function nodeGyp(): string | null {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return fromNpm;
  const npm = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout.trim();
  if (!npm) return null;
  const bundled = join(dirname(realpathSync(npm)), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  return existsSync(bundled) ? bundled : null;
}

function nodeDir(): string | null {
  const fromNpm = process.env.npm_config_nodedir;
  if (fromNpm && existsSync(join(fromNpm, 'include', 'node', 'common.gypi'))) return fromNpm;
  const prefix = dirname(dirname(process.execPath));
  return existsSync(join(prefix, 'include', 'node', 'common.gypi')) ? prefix : null;
}

const gyp = nodeGyp();
const nodedir = nodeDir();
const skip = !gyp ? 'node-gyp not found' : !nodedir ? 'no local Node headers (the build would need to download them)' : false;

test('builds and loads without nvcc: buildInfo().cuda === false, no devices, reason "built without CUDA"', { skip, timeout: 600_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'nn-cpu-build-'));
  try {
    for (const p of ['cpp', 'scripts', 'binding.gyp', 'package.json']) cpSync(join(root, p), join(dir, p), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
    // PATH without any folder holding nvcc.
    const path = (process.env.PATH ?? '').split(delimiter).filter((d) => d && !existsSync(join(d, 'nvcc'))).join(delimiter);
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== 'NODE_NCCL_WITH_CUDA' && k !== 'CUDA_PATH') env[k] = v;
    Object.assign(env, { PATH: path, CUDA_HOME: join(dir, 'no-cuda-toolkit-here'), JOBS: '2' });
    const cfg = spawnSync(process.execPath, ['scripts/build-config.mjs', 'cuda'], { cwd: dir, env, encoding: 'utf8' });
    assert.equal(cfg.stdout, '0', 'build-config sees no CUDA');
    // The package's own install step, as npm runs it for a dependency without a usable prebuild
    // (the copy has no tsconfig.json: an installed package, so only the addon is kept).
    Object.assign(env, { NODE_NCCL_BUILD_FROM_SOURCE: '1', npm_config_node_gyp: gyp!, npm_config_nodedir: nodedir! });
    const r = spawnSync(process.execPath, ['scripts/install.mjs'], { cwd: dir, env, encoding: 'utf8' });
    assert.equal(r.status, 0, `install.mjs failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
    assert.doesNotMatch(r.stdout, /nvcc/, 'nvcc was not run');
    // It says what it builds and roughly how long that takes, and cleans up after itself.
    assert.match(r.stderr, /node-nccl: building the addon with node-gyp: the C\+\+ host code \(about 1-2 minutes on 2 cores\) \(no nvcc found: CPU-only/);
    assert.match(r.stderr, /node-nccl: built build\/Release\/node_nccl\.node in \d+ s/);
    assert.match(r.stderr, /removed the build's intermediate files/);
    assert.deepEqual(readdirSync(join(dir, 'build')), ['Release']);
    assert.deepEqual(readdirSync(join(dir, 'build', 'Release')), ['node_nccl.node'], 'no object files are left in the installed package');
    const addon = join(dir, 'build', 'Release', 'node_nccl.node');
    assert.ok(existsSync(addon));
    const probe = spawnSync(process.execPath, ['-e', `
      const a = require(${JSON.stringify(addon)});
      const out = { build: a.buildInfo(), count: a.cuda.deviceCount(), reason: a.cuda.noGpuReason(), versions: a.cuda.versions() };
      try { new a.cuda.DeviceBuffer(8); } catch (e) { out.bufferError = e.code; }
      try { a.cuda.pinnedBuffer(8); } catch (e) { out.pinnedError = e.code; }
      out.nccl = a.loader.info('nccl').loaded === false || a.loader.info('nccl').loaded === true;
      process.stdout.write(JSON.stringify(out));`], { env, encoding: 'utf8' });
    assert.equal(probe.status, 0, probe.stderr);
    const out = JSON.parse(probe.stdout) as {
      build: { cuda: boolean; cudaArchs: string[] }; count: number; reason: string; versions: { runtime: number | null };
      bufferError: string; pinnedError: string; nccl: boolean;
    };
    assert.equal(out.build.cuda, false);
    assert.equal((out.build as { cudaOffReason?: string }).cudaOffReason, 'nvcc was not found at build time');
    assert.deepEqual(out.build.cudaArchs, []);
    assert.equal(out.count, 0);
    assert.equal(out.reason, 'built without CUDA');
    assert.equal(out.versions.runtime, null);
    assert.equal(out.bufferError, 'ERR_NO_CUDA_BUILD');
    assert.equal(out.pinnedError, 'ERR_NO_CUDA_BUILD');
    assert.equal(out.nccl, true, 'the loader works in a CPU-only build');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
