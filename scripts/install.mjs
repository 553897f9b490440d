#!/usr/bin/env node
// The package's install step (npm runs it as "install"). In order:
//   1. a prebuilt addon that loads on this machine (prebuilds/<platform>-<arch>/, shipped in the
//      package for linux-x64 glibc, with the CUDA kernels for sm_75..sm_90a + PTX) or an existing
//      build/Release: nothing to do;
//   2. otherwise a source build with node-gyp, saying what it builds and roughly how long it takes;
//      installed as a dependency, only build/Release/node_nccl.node is kept (no object files).
// NODE_NCCL_BUILD_FROM_SOURCE=1 (or npm's --build-from-source) skips step 1. npm shows this
// script's output only when it fails, or with `npm install --foreground-scripts`.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildConfig } from './build-config.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const say = (s) => process.stderr.write(`node-nccl: ${s}\n`);
/** A git checkout of node-nccl (developers): keep the object files for incremental builds. */
const sourceCheckout = existsSync(join(root, 'tsconfig.json'));
const fromSource = process.env.NODE_NCCL_BUILD_FROM_SOURCE === '1' || process.env.npm_config_build_from_source === 'true';

/** Where node-gyp-build finds a loadable addon, or why none loads. */
function loadable() {
  let gypBuild;
  try {
    gypBuild = require('node-gyp-build');
  } catch (e) {
    return { ok: false, why: `node-gyp-build is not installed (${e.message})` };
  }
  let path;
  try {
    path = gypBuild.path(root);
  } catch (e) {
    return { ok: false, why: String(e.message).split('\n')[0] };
  }
  if (sourceCheckout && path.includes(`${join(root, 'prebuilds')}`)) return { ok: false, why: 'a source checkout builds its own addon' };
  // Loading it in a child proves it links on this machine (glibc, no missing libraries).
  const probe = spawnSync(process.execPath, ['-e', `const a = require(${JSON.stringify(path)}); process.stdout.write(JSON.stringify(a.buildInfo()))`], { encoding: 'utf8' });
  if (probe.status !== 0) return { ok: false, why: `${path} does not load here: ${(probe.stderr || '').trim().split('\n').slice(-1)[0]}` };
  return { ok: true, path, info: JSON.parse(probe.stdout) };
}

function onPath(cmd) {
  return (process.env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, cmd)));
}

function nodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return [process.execPath, fromNpm];
  try {
    return [process.execPath, require.resolve('node-gyp/bin/node-gyp.js')];
  } catch {
    return onPath('node-gyp') ? ['node-gyp'] : null;
  }
}

if (!fromSource) {
  const found = loadable();
  if (found.ok) {
    const i = found.info;
    const what = i.cuda ? `CUDA kernels for ${i.cudaArchs.join(', ')} + PTX` : `CPU-only (${i.cudaOffReason ?? 'no CUDA'})`;
    say(`using ${found.path.slice(root.length + 1)} (${what})`);
    process.exit(0);
  }
  say(`no prebuilt addon for ${process.platform}-${process.arch} can be used (${found.why}); building from source`);
}

// ---- source build -------------------------------------------------------------------------------
const missing = [['c++', 'g++', 'clang++'], ['make'], ['python3', 'python']].filter((alts) => !alts.some(onPath)).map((a) => a[0]);
if (missing.length) {
  say(`cannot build from source: ${missing.join(', ')} not found on PATH. Install a C++17 compiler, make and Python ` +
    '(Debian/Ubuntu: apt-get install build-essential python3), or install on linux-x64 with glibc, where the prebuilt addon is used.');
  process.exit(1);
}
const gyp = nodeGyp();
if (!gyp) {
  say('cannot build from source: node-gyp was not found (npm ships one; run the install through npm)');
  process.exit(1);
}
const cfg = buildConfig();
const archs = cfg.cuda_archs;
// Measured on 2 cores: the C++ 1-2 minutes; nvcc 20-60 s per architecture (137 s in all for the
// 6 default architectures on an idle machine, 6.5 minutes under load).
const cudaMin = Math.max(1, Math.round((archs.length * 20) / 60)), cudaMax = Math.max(1, archs.length);
say(`building the addon with node-gyp: the C++ host code (about 1-2 minutes on 2 cores)` +
  (cfg.cuda === '1'
    ? ` and the CUDA kernels with ${cfg.nvcc} for ${archs.map((a) => `sm_${a}`).join(', ')} + PTX (about ${cudaMin}-${cudaMax} ` +
      `minute(s) more on 2 cores; NODE_NCCL_CUDA_ARCHS=90 builds one architecture)`
    : ' (no nvcc found: CPU-only; install the CUDA toolkit or set CUDA_HOME to compile the CUDA kernels)'));
const t0 = Date.now();
const r = spawnSync(gyp[0], [...gyp.slice(1), 'rebuild'], { cwd: root, stdio: 'inherit', env: { JOBS: 'max', ...process.env } });
if (r.status !== 0) {
  say(`the source build failed (node-gyp exit code ${r.status}); see its output above`);
  process.exit(r.status || 1);
}
say(`built build/Release/node_nccl.node in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
if (!sourceCheckout) {
  // An installed package keeps the addon only: object files, dependency files and Makefiles go.
  const build = join(root, 'build');
  for (const e of readdirSync(build)) if (e !== 'Release') rmSync(join(build, e), { recursive: true, force: true });
  const rel = join(build, 'Release');
  for (const e of readdirSync(rel)) {
    if (e !== 'node_nccl.node') rmSync(join(rel, e), { recursive: true, force: true });
  }
  const kb = statSync(join(rel, 'node_nccl.node')).size / 1024;
  say(`removed the build's intermediate files; kept build/Release/node_nccl.node (${(kb / 1024).toFixed(1)} MB)`);
}
