/**
 * Device memory: DeviceBuffer (from the per-device caching allocator), allocator statistics and
 * the pinned host pool.
 */
import { ArgumentError, DisposedError } from '../errors.js';
import { native } from '../native/index.js';
import type { NativeDeviceBuffer, NativeMemoryStats } from '../../typings/native.js';
import { type DeviceLike, deviceIndex } from './device.js';
import { Stream } from './stream.js';
import { checkOptions, optionKeys } from '../options.js';

export type MemoryStats = NativeMemoryStats;

// Backstop: a DeviceBuffer that is collected without dispose() returns its memory here (the native
// handle's own finalizer would too, later; this one runs as soon as the JS object is gone).
const registry = new FinalizationRegistry<NativeDeviceBuffer>((n) => {
  if (!n.disposed) n.dispose();
});

export interface DeviceBufferOptions {
  /** The device. Default: the current device. */
  device?: DeviceLike;
  /**
   * The stream the memory will be used on (default: the device's current stream). After
   * dispose() the memory is reused in order on this stream; use recordStream() for others.
   */
  stream?: Stream;
}

const DEVICE_BUFFER_OPTIONS = optionKeys<DeviceBufferOptions>({ device: true, stream: true });

/**
 * `byteLength` bytes of device memory from the caching allocator. dispose() (or `using`) returns
 * them at once; a FinalizationRegistry returns them if the buffer is collected first. The bytes
 * count towards V8's external memory, so the GC knows about them.
 */
export class DeviceBuffer {
  readonly native: NativeDeviceBuffer;

  constructor(byteLength: number, options: DeviceBufferOptions = {}) {
    options = checkOptions(options, DEVICE_BUFFER_OPTIONS, 'DeviceBuffer');
    if (options.stream !== undefined && !(options.stream instanceof Stream)) {
      throw new ArgumentError('DeviceBuffer: options.stream must be a cuda.Stream');
    }
    this.native = new native.cuda.DeviceBuffer(byteLength, deviceIndex(options.device), options.stream?.native);
    registry.register(this, this.native, this);
  }

  /** The size in bytes (0 once disposed). */
  get byteLength(): number {
    return this.native.byteLength;
  }
  get device(): number {
    return this.native.device;
  }
  get disposed(): boolean {
    return this.native.disposed;
  }
  /** The device address, for interop with other native code (0n once disposed). */
  get address(): bigint {
    return this.native.address;
  }
  /** Like torch.Tensor.record_stream: the memory is not reused before `stream`'s queued work is done. */
  recordStream(stream: Stream): void {
    if (!(stream instanceof Stream)) throw new ArgumentError('DeviceBuffer.recordStream: stream must be a cuda.Stream');
    this.native.recordStream(stream.native);
  }
  /** Returns the memory to the allocator now. Idempotent. */
  dispose(): void {
    registry.unregister(this);
    this.native.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
  /** Throws ERR_DISPOSED when disposed (for callers that check before queuing work). */
  assertAlive(what = 'DeviceBuffer'): void {
    if (this.native.disposed) throw new DisposedError(`${what}: the DeviceBuffer was disposed`);
  }
}

/** The caching allocator's counters for the device (default: current), plus the pinned pool. */
export function memoryStats(device?: DeviceLike): MemoryStats {
  return native.cuda.memoryStats(deviceIndex(device));
}

/** Bytes currently handed out on the device, like torch.cuda.memory_allocated. */
export function memoryAllocated(device?: DeviceLike): number {
  return memoryStats(device).allocatedBytes;
}
/** Bytes held by the allocator (in use + cached), like torch.cuda.memory_reserved. */
export function memoryReserved(device?: DeviceLike): number {
  return memoryStats(device).reservedBytes;
}
export function maxMemoryAllocated(device?: DeviceLike): number {
  return memoryStats(device).peakAllocatedBytes;
}
export function maxMemoryReserved(device?: DeviceLike): number {
  return memoryStats(device).peakReservedBytes;
}
/** Resets the peaks to the current values. */
export function resetPeakMemoryStats(device?: DeviceLike): void {
  native.cuda.resetPeakMemoryStats(deviceIndex(device));
}

/** Releases cached device memory not in use (every device) and unused pinned host blocks. */
export function emptyCache(): void {
  native.cuda.emptyCache();
}

/**
 * `byteLength` bytes of page-locked host memory from the pinned pool (fast, truly asynchronous
 * copies). The block returns to the pool when the ArrayBuffer is collected.
 */
export function pinnedBuffer(byteLength: number): ArrayBuffer {
  return native.cuda.pinnedBuffer(byteLength);
}
