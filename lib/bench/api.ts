/**
 * The part of node-nccl's public API (DESIGN.md "Public API") the compute and training benchmarks
 * use, typed structurally and loaded from the package entry at run time. The benchmarks measure
 * exactly what users call; a layer missing from this build is reported by name, never faked.
 */
import { UnsupportedError } from '../errors.js';
import { optionalModule } from './optional.js';

export interface BenchTensor {
  readonly shape: readonly number[];
  readonly numel: number;
  matmul(other: BenchTensor): BenchTensor;
  add(other: BenchTensor): BenchTensor;
  mul(other: BenchTensor): BenchTensor;
  gelu(): BenchTensor;
  softmax(dim: number): BenchTensor;
  data(): Promise<ArrayLike<unknown>>;
  dispose(): void;
}

export interface TensorOpts {
  dtype?: string;
  device?: string;
}

export interface CudaNamespace {
  deviceCount(): number;
  synchronize(device?: number): unknown;
  matmulAllowTf32: boolean;
  getDeviceProperties?(i: number): { name?: string };
}

export interface LibApi {
  randn(shape: number[], opts?: TensorOpts): BenchTensor;
  cuda?: CudaNamespace;
  nn?: { functional?: { layerNorm?(x: BenchTensor, normalizedShape: number[]): BenchTensor } };
  noGrad?<T>(fn: () => T): T;
}

/** Loads the package entry and checks the names a benchmark needs; throws naming what is missing. */
export async function loadLib(benchmark: string, needs: readonly string[]): Promise<LibApi & Record<string, unknown>> {
  const lib = await optionalModule<Record<string, unknown>>('../index.js');
  if (!lib) throw new UnsupportedError(`bench ${benchmark}: the node-nccl entry point is missing from this build`);
  const missing = needs.filter((path) => {
    let v: unknown = lib;
    for (const k of path.split('.')) v = v !== null && (typeof v === 'object' || typeof v === 'function') ? (v as Record<string, unknown>)[k] : undefined;
    return v === undefined;
  });
  if (missing.length) {
    throw new UnsupportedError(
      `bench ${benchmark}: unavailable in this build: node-nccl does not export ${missing.join(', ')} yet`,
    );
  }
  return lib as LibApi & Record<string, unknown>;
}

/** Waits for queued GPU work (no-op for the CPU, whose ops complete when they return). */
export async function sync(lib: LibApi, device: string): Promise<void> {
  if (device.startsWith('cuda') && lib.cuda) await lib.cuda.synchronize();
}
