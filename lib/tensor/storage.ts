/**
 * Storage: the bytes behind one or more tensors (a tensor and all its views share one). Host
 * storage the library allocates is a SharedArrayBuffer: JavaScript can neither detach (transfer)
 * nor shrink one, so the native ops and collectives that use it in place can rely on its bytes for
 * as long as they hold it. Host storage can also be a caller's memory, zero-copy (`tensor(view)`):
 * an ArrayBuffer (resizable or not) or a SharedArrayBuffer view. A caller's ArrayBuffer can be
 * detached or shrunk at any time; every use checks that its bytes are still there
 * (ERR_DETACHED otherwise), and asynchronous native work copies it (cpp/cpu_comm_napi.cc).
 * Device storage is a lib/cuda DeviceBuffer. A reference count shared by the views frees the
 * memory when the last one is disposed; `dispose()` on the storage frees it at once (later use is
 * ERR_DISPOSED). The version counter is bumped by every in-place write (autograd checks it).
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

/** A collective in flight that writes a storage (lib/distributed's Work has this surface). */
export interface PendingWrite extends PromiseLike<void> {
  isCompleted(): boolean;
  wait(): void;
}

export class Storage {
  readonly device: Device;
  readonly byteLength: number;
  /** Host memory (cpu): a SharedArrayBuffer the library allocated or the caller's memory; or null. */
  readonly host: ArrayBufferLike | ArrayBufferView | null;
  /** What native code is handed: `host`, or a Uint8Array over it when it is a bare SharedArrayBuffer. */
  private readonly native: ArrayBuffer | ArrayBufferView | null;
  /** Device memory (cuda), or null. */
  readonly buffer: DeviceBufferLike | null;
  /** Tensors (views included) holding this storage. */
  refs = 0;
  /** Bumped by every in-place write. */
  version = 0;
  disposed = false;
  /** An asynchronous copy into this storage failed: every later use throws it. */
  failed: Error | null = null;
  /** Collectives in flight that write this storage (lib/distributed registers them): reads wait. */
  private pendingWrites: PendingWrite[] | null = null;

  private constructor(device: Device, byteLength: number, host: ArrayBufferLike | ArrayBufferView | null, buffer: DeviceBufferLike | null) {
    this.device = device;
    this.byteLength = byteLength;
    this.host = host;
    // Node-API cannot read a bare SharedArrayBuffer, only a view of one
    this.native = host instanceof SharedArrayBuffer ? new Uint8Array(host) : (host as ArrayBuffer | ArrayBufferView | null);
    this.buffer = buffer;
    live.storages++;
    account(device, byteLength);
  }

  /** Fresh zero-filled host bytes, or uninitialized device bytes. */
  static allocate(device: Device, byteLength: number, op = 'allocate'): Storage {
    if (device.type === 'cpu') {
      let ab: SharedArrayBuffer;
      try {
        ab = new SharedArrayBuffer(byteLength);
      } catch (e) {
        throw createError('ERR_HOST_OOM', `cannot allocate ${byteLength} bytes of host memory for a tensor: ${(e as Error).message}`);
      }
      return new Storage(device, byteLength, ab, null);
    }
    const api = cudaApi(`${op} on ${device}`, device.index);
    return new Storage(device, byteLength, null, new api.DeviceBuffer(byteLength, { device: device.index }));
  }

  /** Wraps caller-owned host memory without copying. */
  static wrapHost(device: Device, mem: ArrayBufferLike | ArrayBufferView): Storage {
    return new Storage(device, mem.byteLength, mem, null);
  }

  /** ERR_DETACHED when the host bytes are no longer all there (a caller's buffer detached or shrunk). */
  private checkHost(): void {
    const h = this.host;
    if (h === null || this.byteLength === 0) return;
    const now = h.byteLength; // 0 once detached; a shrunk resizable buffer's (or its view's) current length
    if (now >= this.byteLength) return;
    throw createError(
      'ERR_DETACHED',
      `the memory of this tensor (${this.byteLength} bytes of ${describeHost(h)} it was made over) ` +
        (now === 0 ? 'was detached (transferred, e.g. by structuredClone or postMessage) or shrunk to 0 bytes' : `was shrunk to ${now} bytes`) +
        '; the tensor cannot be used (memory the library allocates cannot be detached)',
    );
  }

  /** Whether the host bytes are gone (detached or shrunk); never throws. */
  get detached(): boolean {
    return this.host !== null && this.byteLength > 0 && this.host.byteLength < this.byteLength;
  }

  /** What kernels, copies and collectives take. */
  get mem(): NativeMemory {
    if (this.disposed) throw createError('ERR_DISPOSED', 'tensor storage was disposed');
    if (this.failed) throw this.failed;
    if (this.native) {
      this.checkHost();
      return this.native;
    }
    return this.buffer!.native;
  }

  /** A Uint8Array over the host bytes (cpu only). */
  addPendingWrite(w: PendingWrite): void {
    (this.pendingWrites ??= []).push(w);
  }

  /** Blocks until the collectives writing this storage are done (throws the error of one that failed). */
  settleWritesSync(): void {
    const ws = this.pendingWrites;
    if (!ws) return;
    this.pendingWrites = null;
    for (const w of ws) if (!w.isCompleted()) w.wait();
  }

  /** The asynchronous form of settleWritesSync(). */
  async settleWrites(): Promise<void> {
    const ws = this.pendingWrites;
    if (!ws) return;
    this.pendingWrites = null;
    for (const w of ws) if (!w.isCompleted()) await w;
  }

  hostBytes(): Uint8Array {
    if (this.disposed) throw createError('ERR_DISPOSED', 'tensor storage was disposed');
    this.checkHost();
    const h = this.host!;
    return ArrayBuffer.isView(h) ? new Uint8Array(h.buffer, h.byteOffset, this.byteLength) : new Uint8Array(h, 0, this.byteLength);
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

function describeHost(h: ArrayBufferLike | ArrayBufferView): string {
  const b = ArrayBuffer.isView(h) ? h.buffer : h;
  const kind = b instanceof SharedArrayBuffer ? 'a SharedArrayBuffer' : (b as { resizable?: boolean }).resizable ? 'a resizable ArrayBuffer' : 'an ArrayBuffer';
  return ArrayBuffer.isView(h) ? `the ${h.constructor.name} over ${kind}` : kind;
}

/** Live storages and their bytes per device ('cpu', 'cuda:0', ...). */
export function storageStats(): { storages: number; bytes: Record<string, number> } {
  return { storages: live.storages, bytes: Object.fromEntries(live.bytes) };
}
