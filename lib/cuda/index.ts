/**
 * The `cuda` namespace: devices, streams and events, device memory and copies, like torch.cuda.
 *
 *   import { cuda } from 'node-nccl';
 *   if (cuda.isAvailable()) {
 *     using buf = new cuda.DeviceBuffer(1 << 20);
 *     cuda.copyHostToDevice(buf, 0, new Float32Array(1 << 18));
 *   }
 */
import { ArgumentError } from '../errors.js';
import { copyDeviceToDevice, copyDeviceToHost, copyHostToDevice, memset } from './copy.js';
import {
  currentDevice, deviceApi, deviceCount, deviceIndex, driverVersion, isSimulated, getDeviceCapability, getDeviceName, getDeviceProperties,
  isAvailable, memGetInfo, noGpuReason, runtimeVersion, setDevice, synchronize, synchronizeSync,
} from './device.js';
import {
  DeviceBuffer, emptyCache, maxMemoryAllocated, maxMemoryReserved, memoryAllocated, memoryReserved, memoryStats,
  pinnedBuffer, resetPeakMemoryStats,
} from './memory.js';
import { Event, Stream, currentStream, defaultStream, setCurrentStream, withStream } from './stream.js';

export type { CopyOptions } from './copy.js';
export type { DeviceLike, DeviceProperties } from './device.js';
export type { DeviceBufferOptions, MemoryStats } from './memory.js';
export type { EventOptions, StreamOptions } from './stream.js';
export { DeviceBuffer, Event, Stream };

let allowTf32 = false;

export const cuda = {
  isAvailable, deviceCount, noGpuReason, deviceApi, isSimulated, getDeviceProperties, getDeviceName, getDeviceCapability, setDevice,
  currentDevice, synchronize, synchronizeSync, driverVersion, runtimeVersion, memGetInfo, deviceIndex,
  Stream, Event, currentStream, defaultStream, setCurrentStream, withStream,
  DeviceBuffer, memoryStats, memoryAllocated, memoryReserved, maxMemoryAllocated, maxMemoryReserved,
  resetPeakMemoryStats, emptyCache, pinnedBuffer,
  copyHostToDevice, copyDeviceToHost, copyDeviceToDevice, memset,
  /**
   * Lets float32 matmuls use TF32 tensor cores (faster, ~10-bit mantissa), like
   * torch.backends.cuda.matmul.allow_tf32. Default false.
   */
  get matmulAllowTf32(): boolean {
    return allowTf32;
  },
  set matmulAllowTf32(v: boolean) {
    if (typeof v !== 'boolean') throw new ArgumentError(`cuda.matmulAllowTf32 must be a boolean, got ${typeof v}`);
    allowTf32 = v;
  },
};

// Types under the namespace's name too: `cuda.DeviceBuffer`, `cuda.Stream` as types.
// eslint-disable-next-line @typescript-eslint/no-namespace
export declare namespace cuda {
  type DeviceBuffer = import('./memory.js').DeviceBuffer;
  type Stream = import('./stream.js').Stream;
  type Event = import('./stream.js').Event;
  type MemoryStats = import('./memory.js').MemoryStats;
  type DeviceProperties = import('./device.js').DeviceProperties;
  type DeviceLike = import('./device.js').DeviceLike;
  type CopyOptions = import('./copy.js').CopyOptions;
}
