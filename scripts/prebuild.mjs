#!/usr/bin/env node
// Makes the prebuilt addon the published package ships: prebuilds/linux-x64/node.napi.glibc.node
// (N-API 8, so one file serves every Node.js >= 20; node-gyp-build picks it at install and at load)
// and prebuilds/linux-x64/node.napi.glibc.json (what it was built from: a hash of the C++ sources
// and build flags, the CUDA architectures, the compiler).
//
//   node scripts/prebuild.mjs                  build it (the full CUDA fat binary: sm_75..sm_90a + PTX,
//                                              several minutes of nvcc on 2 cores) unless the one in
//                                              prebuilds/ was built from these sources; `npm pack` and
//                                              `npm publish` run this through prepack
//   node scripts/prebuild.mjs --force          build it even so
//   node scripts/prebuild.mjs --from <dir>     take <dir>/node_nccl.node (an addon built from these
//                                              sources, e.g. build/Release) instead of compiling
//   node scripts/prebuild.mjs --out <pkgdir>   write into <pkgdir>/prebuilds (default: this package)
//   node scripts/prebuild.mjs --check          only verify the prebuild there (exit 1 when missing or stale)
//
// The build runs in a temporary copy of the sources, so a developer's build/ is left alone. The
// release build needs nvcc (a CPU-only prebuild is refused unless NODE_NCCL_WITH_CUDA=0 says so)
// and checks that the result loads and reports the architectures asked for.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildConfig } from './build-config.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const say = (s) => process.stderr.write(`prebuild: ${s}\n`);
const argv = process.argv.slice(2);
const opt = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const outPkg = resolve(opt('--out') ?? root);
const from = opt('--from');
const force = argv.includes('--force');
const checkOnly = argv.includes('--check');

export const PREBUILD_DIR = 'prebuilds/linux-x64';
export const PREBUILD_NAME = 'node.napi.glibc.node';

/** A hash of everything the addon is built from: the C++/CUDA sources, binding.gyp, the build script and its flags. */
export function sourceHash(pkgRoot = root, env = process.env) {
  const h = createHash('sha256');
  const files = [];
  const walk = (d) => {
    for (const e of readdirSync(join(pkgRoot, d), { withFileTypes: true })) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory()) walk(p);
      else if (/\.(cc|cu|cuh|h)$/.test(e.name)) files.push(p);
    }
  };
  walk('cpp');
  files.sort();
  for (const f of [...files, 'binding.gyp', 'scripts/build-config.mjs']) {
    h.update(f + '\0');
    h.update(readFileSync(join(pkgRoot, f)));
  }
  const cfg = buildConfig(env);
  h.update(JSON.stringify({ defines: cfg.defines, cflags: cfg.cflags, nvcc: cfg.nvcc_flags }));
  return h.digest('hex').slice(0, 16);
}

/** The prebuild in pkgDir and its stamp, or null. */
function current(pkgDir) {
  const node = join(pkgDir, PREBUILD_DIR, PREBUILD_NAME);
  const stampPath = node.replace(/\.node$/, '.json');
  if (!existsSync(node) || !existsSync(stampPath)) return null;
  return { node, stamp: JSON.parse(readFileSync(stampPath, 'utf8')) };
}

/** Loads the addon in a child process and returns its buildInfo(). */
function probe(addon) {
  const r = spawnSync(process.execPath, ['-e', `process.stdout.write(JSON.stringify(require(${JSON.stringify(addon)}).buildInfo()))`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${addon} does not load: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`);
  return JSON.parse(r.stdout);
}

function nodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return fromNpm;
  const npm = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout.trim();
  const bundled = npm ? join(dirname(realpathSync(npm)), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js') : '';
  if (bundled && existsSync(bundled)) return bundled;
  throw new Error('node-gyp was not found (npm bundles one: run this with npm on PATH)');
}

function nodeDir() {
  const fromNpm = process.env.npm_config_nodedir;
  if (fromNpm && existsSync(join(fromNpm, 'include', 'node', 'common.gypi'))) return fromNpm;
  const prefix = dirname(dirname(process.execPath));
  return existsSync(join(prefix, 'include', 'node', 'common.gypi')) ? prefix : null;
}

/** Compiles the addon in a temporary copy of the sources; returns the path of the stripped .node. */
function compile() {
  const cfg = buildConfig();
  if (cfg.cuda !== '1' && process.env.NODE_NCCL_WITH_CUDA !== '0') {
    throw new Error('nvcc was not found: a release prebuild carries the CUDA kernels. Install the CUDA toolkit (or set CUDA_HOME), ' +
      'or set NODE_NCCL_WITH_CUDA=0 to make a CPU-only prebuild on purpose.');
  }
  const dir = mkdtempSync(join(tmpdir(), 'node-nccl-prebuild-'));
  for (const p of ['cpp', 'scripts', 'binding.gyp', 'package.json']) cpSync(join(root, p), join(dir, p), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  const nd = nodeDir();
  say(`compiling in ${dir}: C++ and ${cfg.cuda === '1' ? `CUDA for ${cfg.cuda_archs.map((a) => `sm_${a}`).join(', ')} + PTX (minutes of nvcc)` : 'no CUDA (NODE_NCCL_WITH_CUDA=0)'}`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [nodeGyp(), 'rebuild', ...(nd ? [`--nodedir=${nd}`] : [])], {
    cwd: dir, stdio: ['ignore', 'inherit', 'inherit'], env: { JOBS: 'max', ...process.env },
  });
  if (r.status !== 0) throw new Error(`node-gyp rebuild failed (exit code ${r.status})`);
  const built = join(dir, 'build', 'Release', 'node_nccl.node');
  const strip = spawnSync('strip', ['--strip-unneeded', built]);
  if (strip.status !== 0) say('strip was not found or failed: the prebuild keeps its symbols');
  say(`compiled in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return { built, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function main() {
  const want = sourceHash();
  const have = current(outPkg);
  if (checkOnly) {
    if (!have) throw new Error(`no prebuild in ${join(outPkg, PREBUILD_DIR)}: run node scripts/prebuild.mjs`);
    if (have.stamp.sourceHash !== want) throw new Error(`the prebuild in ${join(outPkg, PREBUILD_DIR)} was built from other sources (${have.stamp.sourceHash}, now ${want}): run node scripts/prebuild.mjs`);
    say(`ok: ${relative(process.cwd(), have.node) || have.node} (${have.stamp.cuda ? have.stamp.cudaArchs.join(', ') + ' + PTX' : 'CPU-only'})`);
    return;
  }
  if (have && have.stamp.sourceHash === want && !force && !from) {
    say(`up to date: ${relative(process.cwd(), have.node) || have.node} (built ${have.stamp.builtAt} from these sources)`);
    return;
  }
  let src;
  let cleanup = () => {};
  if (from) {
    src = join(resolve(from), 'node_nccl.node');
    if (!existsSync(src)) throw new Error(`--from ${from}: no node_nccl.node there`);
  } else {
    ({ built: src, cleanup } = compile());
  }
  try {
    const info = probe(src);
    const cfg = buildConfig();
    const expected = cfg.cuda_archs.map((a) => `sm_${a}`);
    if (!from && info.cuda && JSON.stringify(info.cudaArchs) !== JSON.stringify(expected)) {
      throw new Error(`the addon reports ${info.cudaArchs.join(', ')}, expected ${expected.join(', ')}`);
    }
    if (from && info.cuda && JSON.stringify(info.cudaArchs) !== JSON.stringify(buildConfig({ ...process.env, NODE_NCCL_CUDA_ARCHS: undefined }).cuda_archs.map((a) => `sm_${a}`))) {
      say(`note: ${src} has CUDA kernels for ${info.cudaArchs.join(', ')} only (a developer build); a release prebuild has the full list`);
    }
    const dest = join(outPkg, PREBUILD_DIR);
    mkdirSync(dest, { recursive: true });
    for (const e of readdirSync(dest)) rmSync(join(dest, e), { force: true });
    copyFileSync(src, join(dest, PREBUILD_NAME));
    if (from && spawnSync('strip', ['--strip-unneeded', join(dest, PREBUILD_NAME)]).status !== 0) say('strip was not found or failed: the prebuild keeps its symbols');
    const stamp = {
      sourceHash: want, cuda: info.cuda, cudaArchs: info.cudaArchs, napiVersion: info.napiVersion, compiler: info.compiler,
      builtAt: new Date().toISOString(), from: from ? 'an existing build (--from)' : 'scripts/prebuild.mjs',
    };
    writeFileSync(join(dest, PREBUILD_NAME.replace(/\.node$/, '.json')), JSON.stringify(stamp, null, 2) + '\n');
    const mb = statSync(join(dest, PREBUILD_NAME)).size / 2 ** 20;
    say(`wrote ${relative(process.cwd(), join(dest, PREBUILD_NAME)) || dest} (${mb.toFixed(1)} MB, ${info.cuda ? info.cudaArchs.join(', ') + ' + PTX' : 'CPU-only'})`);
  } finally {
    cleanup();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main();
  } catch (e) {
    say(`error: ${e.message}`);
    process.exit(1);
  }
}
