/**
 * What lib/tensor needs from lib/cuda (the layer below): device buffers, copies, the current
 * device and the TF32 switch. Kept in one file so the tensor code reads the same whether or not
 * CUDA is usable on this machine; every entry point throws a typed error when it is not.
 */
import { createError } from '../errors.js';
import type { NativeDeviceBuffer } from '../../typings/native.js';
import { setCurrentCudaIndexProvider } from './device.js';

export interface DeviceBufferLike {
  readonly byteLength: number;
  readonly device: number;
  readonly native: NativeDeviceBuffer;
  dispose(): void;
}

interface CopyOpts { sync?: boolean }
interface CudaApi {
  deviceCount(): number;
  currentDevice(): number;
  matmulAllowTf32: boolean;
  DeviceBuffer: new (byteLength: number, opts?: { device?: number }) => DeviceBufferLike;
  copyHostToDevice(dst: DeviceBufferLike, dstByteOffset: number, src: ArrayBufferView, opts?: CopyOpts): unknown;
  copyDeviceToHost(dst: ArrayBufferView, src: DeviceBufferLike, srcByteOffset: number, opts?: CopyOpts): unknown;
  copyDeviceToDevice(dst: DeviceBufferLike, dstOff: number, src: DeviceBufferLike, srcOff: number, bytes: number, opts?: CopyOpts): unknown;
}

// lib/cuda is loaded by name so that this layer also builds and runs where it is absent.
let api: CudaApi | null = null;
let loadError = '';
try {
  const spec = '../cuda/index.js';
  const mod = (await import(spec)) as Record<string, unknown>;
  const ns = (mod['cuda'] ?? mod) as Record<string, unknown>;
  const pick = (k: string): unknown => ns[k] ?? mod[k];
  api = {
    deviceCount: pick('deviceCount') as CudaApi['deviceCount'],
    currentDevice: pick('currentDevice') as CudaApi['currentDevice'],
    get matmulAllowTf32() {
      return Boolean(ns['matmulAllowTf32']);
    },
    DeviceBuffer: pick('DeviceBuffer') as CudaApi['DeviceBuffer'],
    copyHostToDevice: pick('copyHostToDevice') as CudaApi['copyHostToDevice'],
    copyDeviceToHost: pick('copyDeviceToHost') as CudaApi['copyDeviceToHost'],
    copyDeviceToDevice: pick('copyDeviceToDevice') as CudaApi['copyDeviceToDevice'],
  } as CudaApi;
  if (typeof api.DeviceBuffer !== 'function' || typeof api.deviceCount !== 'function') {
    loadError = 'lib/cuda does not export DeviceBuffer/deviceCount';
    api = null;
  }
} catch (e) {
  loadError = (e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' ? 'lib/cuda is not part of this build' : (e as Error).message;
}
if (api) {
  const a = api;
  // cuda.currentDevice() throws where no device is usable (as torch.cuda.current_device() does);
  // 'cuda' still parses there (index 0), and allocating on it gives the typed no-device error.
  setCurrentCudaIndexProvider(() => (typeof a.currentDevice === 'function' && a.deviceCount() > 0 ? a.currentDevice() : 0));
}

export function cudaApi(op: string): CudaApi {
  if (!api) throw createError('ERR_NO_GPU', `${op}: CUDA is not available (${loadError || 'lib/cuda is not part of this build'})`);
  return api;
}

export function cudaDeviceCount(): number {
  try {
    return api ? api.deviceCount() : 0;
  } catch {
    return 0;
  }
}

export function allowTf32(): boolean {
  return api ? api.matmulAllowTf32 : false;
}
