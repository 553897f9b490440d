/**
 * What lib/tensor needs from lib/cuda (the layer below): device buffers, copies, the current
 * device and the TF32 switch. Kept in one file so the tensor code reads the same whether or not
 * CUDA is usable on this machine; every entry point throws a typed error when it is not.
 *
 * The import is static (no top-level await anywhere in the package), so `require('node-nccl')`
 * works where Node.js can require ES modules.
 */
import { createError, type ErrorCode } from '../errors.js';
import { cuda } from '../cuda/index.js';
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
  DeviceBuffer: new (byteLength: number, opts?: { device?: number }) => DeviceBufferLike;
  copyHostToDevice(dst: DeviceBufferLike, dstByteOffset: number, src: ArrayBufferView, opts?: CopyOpts): unknown;
  copyDeviceToHost(dst: ArrayBufferView, src: DeviceBufferLike, srcByteOffset: number, opts?: CopyOpts): unknown;
  copyDeviceToDevice(dst: DeviceBufferLike, dstOff: number, src: DeviceBufferLike, srcOff: number, bytes: number, opts?: CopyOpts): unknown;
}

const api: CudaApi = {
  deviceCount: () => cuda.deviceCount(),
  currentDevice: () => cuda.currentDevice(),
  DeviceBuffer: cuda.DeviceBuffer,
  // lib/cuda's copies are overloaded on `sync`; this layer passes it through as a boolean.
  copyHostToDevice: cuda.copyHostToDevice as unknown as CudaApi['copyHostToDevice'],
  copyDeviceToHost: cuda.copyDeviceToHost as unknown as CudaApi['copyDeviceToHost'],
  copyDeviceToDevice: cuda.copyDeviceToDevice as unknown as CudaApi['copyDeviceToDevice'],
};

// cuda.currentDevice() throws where no device is usable (as torch.cuda.current_device() does);
// 'cuda' still parses there (index 0), and allocating on it gives the typed no-device error.
setCurrentCudaIndexProvider(() => (api.deviceCount() > 0 ? api.currentDevice() : 0));

/**
 * The code cuda.* uses for the same situation, so a tensor op on 'cuda:0' and `new
 * cuda.DeviceBuffer()` fail alike: ERR_NO_CUDA_BUILD, ERR_NO_DRIVER or ERR_NO_GPU.
 */
export function noDeviceCode(reason: string): ErrorCode {
  if (reason === 'built without CUDA') return 'ERR_NO_CUDA_BUILD';
  if (reason.startsWith('no CUDA driver') || reason.startsWith('CUDA driver too old')) return 'ERR_NO_DRIVER';
  return 'ERR_NO_GPU';
}

/** lib/cuda for `op`, or the no-device error (ERR_NO_CUDA_BUILD / ERR_NO_DRIVER / ERR_NO_GPU) when no device is usable. */
export function cudaApi(op: string, deviceIndex = 0): CudaApi {
  const count = api.deviceCount();
  if (count > deviceIndex) return api;
  if (count === 0) {
    const reason = cuda.noGpuReason();
    throw createError(noDeviceCode(reason), `${op}: no CUDA device is usable (${reason})`);
  }
  throw createError('ERR_NO_GPU', `${op}: device cuda:${deviceIndex} is not available (${count} CUDA device${count === 1 ? '' : 's'} visible)`);
}

export function cudaDeviceCount(): number {
  try {
    return api.deviceCount();
  } catch {
    return 0;
  }
}

export function allowTf32(): boolean {
  return cuda.matmulAllowTf32;
}
