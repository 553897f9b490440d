#!/usr/bin/env node
// The one source list and the one set of flags for the addon. binding.gyp (node-gyp) and
// CMakeLists.txt (cmake-js) both ask this script, so the two builds cannot drift apart.
//
//   node scripts/build-config.mjs <key> [--cmake]
//
// Keys: sources, cuda_sources, cuda_headers, cuda (1|0), nvcc, cuda_home, cuda_include, cuda_lib, defines,
// cflags, nvcc_flags, cuda_archs, libs. Lists print space-separated (gyp) or ;-separated (--cmake).
//
// CUDA is used when nvcc is found (CUDA_HOME/bin, then PATH, then /usr/local/cuda/bin when neither
// CUDA_HOME nor CUDA_PATH is set) unless NODE_NCCL_WITH_CUDA=0. The architectures default to sm_75..sm_90a SASS plus compute_90
// PTX; NODE_NCCL_CUDA_ARCHS="90" (or "80;90a") overrides them for a fast developer build.
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const rel = (p) => p.slice(root.length + 1).split('\\').join('/');

function listDir(dir, exts) {
  const abs = join(root, dir);
  if (!existsSync(abs)) return [];
  return readdirSync(abs)
    .filter((f) => exts.some((e) => f.endsWith(e)))
    .sort()
    .map((f) => rel(join(abs, f)));
}

export function findNvcc(env = process.env) {
  if (env.NODE_NCCL_WITH_CUDA === '0') return null;
  const candidates = [];
  if (env.CUDA_HOME) candidates.push(join(env.CUDA_HOME, 'bin', 'nvcc'));
  if (env.CUDA_PATH) candidates.push(join(env.CUDA_PATH, 'bin', 'nvcc'));
  for (const d of (env.PATH ?? '').split(delimiter)) if (d) candidates.push(join(d, 'nvcc'));
  // The default toolkit location only when no toolkit was named: CUDA_HOME/CUDA_PATH are
  // authoritative (CUDA_HOME=/nonexistent plus a PATH without nvcc gives a CPU-only build).
  if (!env.CUDA_HOME && !env.CUDA_PATH) candidates.push('/usr/local/cuda/bin/nvcc');
  return candidates.find((c) => existsSync(c)) ?? null;
}

export function buildConfig(env = process.env) {
  const nvcc = findNvcc(env);
  // nvcc may be a symlink in /usr/local/bin: the toolkit root is where its headers live.
  let cudaHome = '';
  if (nvcc) {
    const guesses = [env.CUDA_HOME, env.CUDA_PATH, resolve(dirname(nvcc), '..'), resolve(dirname(realpathSync(nvcc)), '..'), '/usr/local/cuda'];
    cudaHome = guesses.find((g) => g && existsSync(join(g, 'include', 'cuda_runtime.h'))) ?? '';
  }
  const cuda = Boolean(nvcc && cudaHome);
  const archs = (env.NODE_NCCL_CUDA_ARCHS ?? '75;80;86;89;90;90a')
    .split(/[;, ]+/).map((a) => a.replace(/^sm_/, '')).filter(Boolean);
  const gencode = archs.map((a) => `-gencode=arch=compute_${a},code=sm_${a}`);
  // PTX of the newest non-"a" arch listed, so a GPU newer than the list JIT-compiles it.
  const ptxArch = [...archs].reverse().find((a) => /^\d+$/.test(a)) ?? archs[archs.length - 1];
  if (ptxArch) gencode.push(`-gencode=arch=compute_${ptxArch},code=compute_${ptxArch}`);

  const defines = [
    'NAPI_VERSION=8',
    'NODE_ADDON_API_DISABLE_DEPRECATED',
    'NODE_ADDON_API_CPP_EXCEPTIONS',
    'NODE_ADDON_API_CPP_EXCEPTIONS_ALL',
    `NODE_NCCL_WITH_CUDA=${cuda ? 1 : 0}`,
    // a pp-number token (e.g. 75_80_90a), stringified in C++: no quotes to survive two build tools' shells
    `NODE_NCCL_CUDA_ARCHS=${cuda ? archs.join('_') : '0'}`,
    // why CUDA is off (buildInfo().cudaOffReason): 0 on, 1 NODE_NCCL_WITH_CUDA=0, 2 no nvcc, 3 nvcc but no toolkit headers
    `NODE_NCCL_CUDA_OFF=${cuda ? 0 : env.NODE_NCCL_WITH_CUDA === '0' ? 1 : !nvcc ? 2 : 3}`,
  ];
  const cflags = ['-std=c++17', '-O3', '-fexceptions', '-fvisibility=hidden', '-Wall', '-Wno-unused-parameter', '-pthread'];
  const nvccFlags = [
    '-std=c++17', '-O3', '-Xcompiler', '-fPIC', '-Xcompiler', '-fvisibility=hidden',
    '--expt-relaxed-constexpr', '-DNODE_NCCL_WITH_CUDA=1', ...gencode,
  ];
  const libs = ['-ldl', '-lpthread', ...(cuda ? ['-lrt'] : [])];

  return {
    sources: [...listDir('cpp', ['.cc']), ...listDir('cpp/device', ['.cc']), ...listDir('cpp/kernels', ['.cc'])],
    cuda_sources: cuda ? listDir('cpp/kernels', ['.cu']) : [],
    // The headers the .cu files include: a change to one rebuilds every CUDA object (nvcc is run
    // by a custom rule, so neither build tracks its includes itself).
    cuda_headers: cuda ? [...listDir('cpp/kernels', ['.h', '.cuh']), 'cpp/loader.h'] : [],
    cuda: cuda ? '1' : '0',
    nvcc: nvcc ?? '',
    cuda_home: cudaHome,
    cuda_include: cuda ? join(cudaHome, 'include') : '',
    cuda_lib: cuda ? join(cudaHome, 'lib64') : '',
    cuda_archs: cuda ? archs : [],
    defines,
    cflags,
    nvcc_flags: nvccFlags,
    libs,
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const key = process.argv[2];
  const cmake = process.argv.includes('--cmake');
  const cfg = buildConfig();
  if (!key || !(key in cfg)) {
    process.stderr.write(`usage: build-config.mjs <${Object.keys(cfg).join('|')}> [--cmake]\n`);
    process.exit(2);
  }
  const v = cfg[key];
  process.stdout.write(Array.isArray(v) ? v.join(cmake ? ';' : ' ') : String(v));
}
