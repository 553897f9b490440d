/**
 * The `environment` block of a result: device, driver, CUDA, NCCL, cuBLAS, Node.js, package
 * versions and host. Every field is what this process observed; what could not be observed is null
 * (never a guess).
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import type { Environment } from './schema.js';
import { optionalModule } from './optional.js';

const require = createRequire(import.meta.url);

export function packageVersion(): string {
  try {
    return (require('../../../package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function hostInfo(): Environment['host'] {
  const cpus = os.cpus();
  return {
    hostname: os.hostname(),
    platform: `${os.platform()} ${os.release()}`,
    arch: os.arch(),
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryBytes: os.totalmem(),
  };
}

interface CudaLike {
  isAvailable?(): boolean;
  deviceCount?(): number;
  getDeviceProperties?(i: number): { name?: string };
  driverVersion?(): string | number;
  runtimeVersion?(): string | number;
}
interface VersionLike {
  version?(): string | { major: number; minor: number; patch: number } | number;
}

function versionString(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (typeof o.major === 'number') return `${o.major}.${o.minor ?? 0}.${o.patch ?? 0}`;
    if (typeof o.version === 'string') return o.version;
  }
  return null;
}

function tryCall<T>(fn: (() => T) | undefined): T | null {
  if (!fn) return null;
  try {
    return fn();
  } catch {
    return null;
  }
}

/** Collects the environment. `device` overrides the detected device string (e.g. "cpu backend"). */
export async function collectEnvironment(opts: { useGpu: boolean; extraPackages?: Record<string, string> }): Promise<Environment> {
  const host = hostInfo();
  const env: Environment = {
    device: `${host.cpuModel} (${host.cpus} CPUs)`,
    driver: null,
    cuda: null,
    nccl: null,
    cublas: null,
    node: process.version,
    packages: { 'node-nccl': packageVersion(), ...(opts.extraPackages ?? {}) },
    host,
  };
  const lib = await optionalModule<{ cuda?: CudaLike; nccl?: VersionLike; cublas?: VersionLike }>('../index.js');
  const cuda = lib?.cuda;
  if (cuda) {
    env.driver = versionString(tryCall(cuda.driverVersion?.bind(cuda)));
    env.cuda = versionString(tryCall(cuda.runtimeVersion?.bind(cuda)));
    const count = tryCall(cuda.deviceCount?.bind(cuda)) ?? 0;
    if (opts.useGpu && count > 0) {
      const names = new Set<string>();
      for (let i = 0; i < count; i++) {
        const p = tryCall(() => cuda.getDeviceProperties!(i));
        if (p?.name) names.add(p.name);
      }
      if (names.size) env.device = `${[...names].join(', ')} x${count}`;
    }
  }
  if (opts.useGpu) {
    env.nccl = versionString(tryCall(lib?.nccl?.version?.bind(lib.nccl)));
    env.cublas = versionString(tryCall(lib?.cublas?.version?.bind(lib.cublas)));
  }
  return env;
}
