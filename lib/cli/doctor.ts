/**
 * `node-nccl doctor [--json]`: what this installation can do and, where something is missing,
 * why, in plain words. It reports the package and addon, how the addon was built, the CUDA driver
 * and runtime, the devices, and NCCL / cuBLAS / a host BLAS (path and version, or every place
 * tried). A machine without a GPU is a valid setup: doctor exits 0 there. It exits 1 only when the
 * addon itself cannot be loaded.
 */
import { createRequire } from 'node:module';
import { dirname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BuildInfo, DeviceApiInfo, DeviceProperties, LibraryInfo, NativeAddon } from '../../typings/native.js';
import type { Command } from './main.js';

const require = createRequire(import.meta.url);
const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface DoctorDevice extends DeviceProperties {
  freeMemory: number | null;
}

export interface DoctorReport {
  package: { name: string; version: string; path: string };
  node: { version: string; napiVersion: number; platform: string; arch: string };
  addon: {
    loaded: boolean; path: string | null; error: string | null; napiVersion: number | null; compiler: string | null;
    /** The prebuilt addon shipped in the package (prebuilds/), or one built on this machine (build/Release). */
    prebuilt: boolean | null;
  };
  build: { cuda: boolean; cudaArchs: string[]; cudaOffReason: string | null } | null;
  cuda: {
    available: boolean;
    /** What drives the devices: the CUDA runtime, simulated devices (NODE_NCCL_SIM_DEVICES), or none. */
    deviceApi: DeviceApiInfo;
    deviceCount: number;
    /** Why there is no usable device ("" when there is one). */
    reason: string;
    driverVersion: string | null;
    runtimeVersion: string | null;
    devices: DoctorDevice[];
  } | null;
  libraries: { nccl: LibraryInfo; cublas: LibraryInfo; blas: LibraryInfo } | null;
  /** Plain sentences: what is missing and what that means. Empty when everything is there. */
  notes: string[];
}

function cudaVersion(v: number | null): string | null {
  return v === null ? null : `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}`;
}

export async function collect(): Promise<DoctorReport> {
  const pkg = require(resolve(packageRoot, 'package.json')) as { name: string; version: string };
  const report: DoctorReport = {
    package: { name: pkg.name, version: pkg.version, path: packageRoot },
    node: {
      version: process.version,
      napiVersion: Number(process.versions.napi ?? 0),
      platform: process.platform,
      arch: process.arch,
    },
    addon: { loaded: false, path: null, error: null, napiVersion: null, compiler: null, prebuilt: null },
    build: null,
    cuda: null,
    libraries: null,
    notes: [],
  };
  try {
    const gypBuild = require('node-gyp-build') as { path(dir: string): string };
    report.addon.path = gypBuild.path(packageRoot);
    report.addon.prebuilt = report.addon.path.includes(`${sep}prebuilds${sep}`);
  } catch (e) {
    report.addon.error = (e as Error).message;
  }
  let native: NativeAddon;
  try {
    native = (await import('../native/index.js')).native;
  } catch (e) {
    report.addon.error = (e as Error).message;
    const { addonFixHint } = await import('../native/hint.js');
    report.notes.push(`The native addon could not be loaded. ${addonFixHint()}`);
    return report;
  }
  const build: BuildInfo = native.buildInfo();
  report.addon.loaded = true;
  report.addon.napiVersion = build.napiVersion;
  report.addon.compiler = build.compiler;
  report.build = { cuda: build.cuda, cudaArchs: build.cudaArchs, cudaOffReason: build.cudaOffReason ?? null };

  const c = native.cuda;
  const versions = c.versions();
  const count = c.deviceCount();
  const devices: DoctorDevice[] = [];
  for (let i = 0; i < count; i++) {
    const p = c.getDeviceProperties(i);
    let freeMemory: number | null = null;
    try {
      freeMemory = c.memGetInfo(i).free;
    } catch {
      freeMemory = null;
    }
    devices.push({ ...p, freeMemory });
  }
  report.cuda = {
    available: count > 0,
    deviceApi: c.deviceApi(),
    deviceCount: count,
    reason: c.noGpuReason(),
    driverVersion: cudaVersion(versions.driver),
    runtimeVersion: cudaVersion(versions.runtime),
    devices,
  };
  report.libraries = { nccl: native.loader.info('nccl'), cublas: native.loader.info('cublas'), blas: native.loader.info('blas') };

  const n = report.notes;
  if (report.cuda.deviceApi.kind === 'simulated') {
    n.push(`The devices are simulated (${report.cuda.deviceApi.description}): every GPU API works and runs on the CPU, ` +
      'with CUDA\'s stream and device rules enforced, so multi-GPU code can be written and tested here; it proves ' +
      'ordering and API use, not CUDA kernels, their speed, or NCCL itself. Unset NODE_NCCL_SIM_DEVICES to use real GPUs.');
  } else if (report.cuda.reason.startsWith('NODE_NCCL_SIM_')) {
    n.push(`Simulated devices were asked for, but ${report.cuda.reason}. Fix the variable, or unset it to use real GPUs.`);
  } else if (!build.cuda) {
    const why = build.cudaOffReason ?? 'nvcc was not found at build time';
    n.push(`The addon was built without CUDA (${why}): GPU features are off and everything runs on the CPU. ` +
      (why.startsWith('NODE_NCCL_WITH_CUDA=0')
        ? 'Rebuild without NODE_NCCL_WITH_CUDA=0 (`npm rebuild node-nccl --build-from-source`) to compile the CUDA kernels.'
        : 'Install the CUDA toolkit (or set CUDA_HOME) and run `npm rebuild node-nccl --build-from-source` to compile the CUDA kernels.'));
  } else if (count === 0) {
    const r = report.cuda.reason;
    if (r === 'no CUDA driver') {
      n.push('No NVIDIA driver was found (libcuda.so.1 could not be loaded): GPU features are off and everything ' +
        'runs on the CPU. Install the NVIDIA driver to use a GPU.');
    } else if (/driver/.test(r)) {
      n.push(`The NVIDIA driver cannot be used: ${r}. GPU features are off; update the driver to use a GPU.`);
    } else {
      n.push(`The driver is there but no GPU can be used (${r}): check CUDA_VISIBLE_DEVICES and nvidia-smi. ` +
        'Everything runs on the CPU.');
    }
  }
  const libs = report.libraries;
  if (!libs.nccl.loaded) {
    n.push("NCCL was not found: the 'nccl' distributed backend and nccl.Communicator are unavailable (the 'cpu' " +
      'backend works). Install it (e.g. `pip install nvidia-nccl-cu13`) or set NODE_NCCL_NCCL_PATH to libnccl.so.2 or its folder.');
  }
  if (!libs.cublas.loaded) {
    n.push('cuBLAS was not found: matrix products on the GPU are unavailable. Install the CUDA toolkit or ' +
      '`pip install nvidia-cublas`, or set NODE_NCCL_CUBLAS_PATH to libcublas.so.13 (or .12) or its folder.');
  }
  n.push(blasNote(libs.blas));
  return report;
}

/** Which CPU matmul is used and why, in one sentence. */
function blasNote(b: LibraryInfo): string {
  if (b.loaded) {
    return `CPU float32/float64 matrix products use ${b.vendor ?? 'the host BLAS'}${b.versionString ? ` ${b.versionString}` : ''} ` +
      `(${b.path}) with ${b.threads ?? '?'} thread(s); float16/bfloat16 use the built-in kernel. ` +
      'Set NODE_NCCL_BLAS=0 to use the built-in kernel for everything.';
  }
  if (process.env.NODE_NCCL_BLAS === '0') return 'CPU matrix products use the built-in kernel: the host BLAS is turned off by NODE_NCCL_BLAS=0.';
  const skipped = b.tried.filter((t) => /not an optimized BLAS|not an optimized|FlexiBLAS over/.test(t));
  return 'CPU matrix products use the built-in blocked kernel (AVX2+FMA where the CPU has it): no optimized BLAS ' +
    '(OpenBLAS, BLIS, MKL) was found' +
    (skipped.length ? `, and ${skipped.map((t) => t.split(':')[0]!.replace(/^system loader /, '')).join(', ')} was skipped as an unoptimized (reference) BLAS` : '') +
    '. For faster float32/float64 products install OpenBLAS (Debian/Ubuntu: apt-get install libopenblas0-pthread) or set NODE_NCCL_BLAS_PATH.';
}

function libLine(info: LibraryInfo): string[] {
  if (info.loaded) {
    if (info.name === 'blas') {
      return [`${info.vendor ?? 'BLAS'} ${info.versionString ?? '(version not exported)'}, ${info.threads ?? '?'} thread(s)  ${info.path}`,
        ...(info.detail ? [`  ${info.detail}`] : [])];
    }
    return [`${info.versionString ?? 'version unknown'}  ${info.path}`];
  }
  if (info.name === 'blas') return ['none used: the built-in kernel; places tried:', ...info.tried.map((t) => `  - ${t}`)];
  return ['not found; places tried:', ...info.tried.map((t) => `  - ${t}`)];
}

export function format(r: DoctorReport): string {
  const out: string[] = [];
  const row = (label: string, lines: string[] | string): void => {
    const ls = Array.isArray(lines) ? lines : [lines];
    ls.forEach((l, i) => out.push(`${i === 0 ? label.padEnd(12) : ' '.repeat(12)}${l}`));
  };
  out.push('node-nccl doctor', '');
  row('Package', `${r.package.name} ${r.package.version} (${r.package.path})`);
  row('Node.js', `${r.node.version} (N-API ${r.node.napiVersion}), ${r.node.platform}-${r.node.arch}`);
  if (!r.addon.loaded) {
    row('Addon', [`NOT LOADED: ${r.addon.error ?? 'unknown error'}`]);
  } else {
    const origin = r.addon.prebuilt ? 'prebuilt, ' : r.addon.prebuilt === false ? 'built here, ' : '';
    row('Addon', `${r.addon.path ?? '?'} (${origin}N-API ${r.addon.napiVersion}, compiler ${r.addon.compiler})`);
  }
  if (r.build) {
    row('Build', r.build.cuda ? `CUDA kernels compiled for ${r.build.cudaArchs.join(', ')} (+ PTX)` : `CPU-only (${r.build.cudaOffReason ?? 'built without nvcc'})`);
  }
  if (r.cuda) {
    if (r.cuda.deviceApi.kind === 'simulated') {
      row('CUDA', `simulated (NODE_NCCL_SIM_DEVICES): ${r.cuda.deviceApi.description}`);
    } else {
      const runtime = r.cuda.runtimeVersion === null ? 'none (CPU-only build)' : `${r.cuda.runtimeVersion} (linked into the addon)`;
      const driver = r.cuda.driverVersion ?? (r.cuda.runtimeVersion === null ? 'not needed' : 'none, so CUDA cannot be used here');
      row('CUDA', `runtime ${runtime}, driver ${driver}`);
    }
    if (r.cuda.devices.length === 0) row('Devices', `none: ${r.cuda.reason}`);
    else {
      row('Devices', r.cuda.devices.map((d) =>
        `${d.index}: ${d.name}, compute ${d.computeCapability}, ${d.multiProcessorCount} SMs, ` +
        `${(d.totalMemory / 2 ** 30).toFixed(1)} GiB` +
        (d.freeMemory !== null ? ` (${(d.freeMemory / 2 ** 30).toFixed(1)} GiB free)` : '')));
    }
  }
  if (r.libraries) {
    row('NCCL', libLine(r.libraries.nccl));
    row('cuBLAS', libLine(r.libraries.cublas));
    row('BLAS (CPU)', libLine(r.libraries.blas));
  }
  out.push('');
  if (r.notes.length === 0) out.push('Everything was found.');
  else for (const note of r.notes) out.push(`* ${note}`);
  return out.join('\n') + '\n';
}

const doctor: Command = {
  summary: 'what this installation can do: addon build, driver, devices, NCCL and cuBLAS',
  async main(argv: string[]): Promise<number> {
    if (argv.includes('--help') || argv.includes('-h')) {
      process.stdout.write('usage: node-nccl doctor [--json]\n\n' +
        'Reports the package and addon versions, how the addon was built, the CUDA driver and runtime,\n' +
        'the devices, and NCCL / cuBLAS / BLAS (path and version, or every place tried).\n' +
        'Exits 0 unless the addon itself cannot be loaded.\n');
      return 0;
    }
    const unknown = argv.filter((a) => a !== '--json');
    if (unknown.length) {
      process.stderr.write(`node-nccl doctor: unknown option ${unknown[0]}\nusage: node-nccl doctor [--json]\n`);
      return 2;
    }
    const report = await collect();
    process.stdout.write(argv.includes('--json') ? JSON.stringify(report, null, 2) + '\n' : format(report));
    return report.addon.loaded ? 0 : 1;
  },
};

export default doctor;
