/**
 * Storage: the bytes behind one or more tensors (a tensor and all its views share one). Host
 * storage is an ArrayBuffer (or a caller's TypedArray, zero-copy); device storage is a lib/cuda
 * DeviceBuffer. A reference count shared by the views frees the memory when the last one is
 * disposed; `dispose()` on the storage frees it at once (later use is ERR_DISPOSED). The version
 * counter is bumped by every in-place write (autograd checks it).
 */
import { createError } from '../errors.js';
import type { NativeMemory } from '../../typings/native.js';
import { cudaApi, type DeviceBufferLike } from './cuda-bridge.js';
import type { Device } from './device.js';

const live = { storages: 0, bytes: new Map<string, number>() };

function account(device: Device, bytes: number): void {
  const k = device.toString();
  live.bytes.set(k, (live.bytes.get(k) ?? 0) + bytes);
}

export class Storage {
  readonly device: Device;
  readonly byteLength: number;
  /** Host memory (cpu), or null. */
  readonly host: ArrayBuffer | ArrayBufferView | null;
  /** Device memory (cuda), or null. */
  readonly buffer: DeviceBufferLike | null;
  /** Tensors (views included) holding this storage. */
  refs = 0;
  /** Bumped by every in-place write. */
  version = 0;
  disposed = false;
  /** An asynchronous copy into this storage failed: every later use throws it. */
  failed: Error | null = null;

  private constructor(device: Device, byteLength: number, host: ArrayBuffer | ArrayBufferView | null, buffer: DeviceBufferLike | null) {
    this.device = device;
    this.byteLength = byteLength;
    this.host = host;
    this.buffer = buffer;
    live.storages++;
    account(device, byteLength);
  }

  /** Fresh zero-filled host bytes, or uninitialized device bytes. */
  static allocate(device: Device, byteLength: number, op = 'allocate'): Storage {
    if (device.type === 'cpu') {
      let ab: ArrayBuffer;
      try {
        ab = new ArrayBuffer(byteLength);
      } catch (e) {
        throw createError('ERR_HOST_OOM', `cannot allocate ${byteLength} bytes of host memory for a tensor: ${(e as Error).message}`);
      }
      return new Storage(device, byteLength, ab, null);
    }
    const api = cudaApi(`${op} on ${device}`, device.index);
    return new Storage(device, byteLength, null, new api.DeviceBuffer(byteLength, { device: device.index }));
  }

  /** Wraps caller-owned host memory without copying. */
  static wrapHost(device: Device, mem: ArrayBuffer | ArrayBufferView): Storage {
    return new Storage(device, mem.byteLength, mem, null);
  }

  /** What kernels, copies and collectives take. */
  get mem(): NativeMemory {
    if (this.disposed) throw createError('ERR_DISPOSED', 'tensor storage was disposed');
    if (this.failed) throw this.failed;
    return this.host ?? this.buffer!.native;
  }

  /** A Uint8Array over the host bytes (cpu only). */
  hostBytes(): Uint8Array {
    if (this.disposed) throw createError('ERR_DISPOSED', 'tensor storage was disposed');
    const h = this.host!;
    return h instanceof ArrayBuffer ? new Uint8Array(h) : new Uint8Array(h.buffer, h.byteOffset, h.byteLength);
  }

  retain(): void {
    this.refs++;
  }

  release(): void {
    if (--this.refs <= 0) this.dispose();
  }

  /** Frees the memory now, whatever views still point at it. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    live.storages--;
    account(this.device, -this.byteLength);
    this.buffer?.dispose();
  }
}

/** Live storages and their bytes per device ('cpu', 'cuda:0', ...). */
export function storageStats(): { storages: number; bytes: Record<string, number> } {
  return { storages: live.storages, bytes: Object.fromEntries(live.bytes) };
}
