/**
 * Copies between host memory (ArrayBuffer or any view of one) and DeviceBuffers. Synchronous forms
 * return when the bytes are there; `sync: false` queues the copy on the stream and returns a
 * Promise that resolves when it has finished (pageable host memory is staged through the pinned
 * pool, so the source can be reused as soon as the call returns).
 */
import { ArgumentError } from '../errors.js';
import { native } from '../native/index.js';
import { DeviceBuffer } from './memory.js';
import { Stream } from './stream.js';
import { checkOptions, optionKeys } from '../options.js';

export interface CopyOptions {
  /** The stream the copy is queued on. Default: the current stream of the buffer's device. */
  stream?: Stream;
  /** true (default): return when the copy is done. false: return a Promise. */
  sync?: boolean;
}

const COPY_OPTIONS = optionKeys<CopyOptions>({ stream: true, sync: true });

const MEMSET_OPTIONS = optionKeys<{ stream?: Stream }>({ stream: true });
type Host = ArrayBufferView | ArrayBuffer;

function checkHost(v: unknown, name: string, fn: string): Host {
  if (!(v instanceof ArrayBuffer) && !ArrayBuffer.isView(v)) {
    throw new ArgumentError(`${fn}: ${name} must be an ArrayBuffer or an ArrayBufferView (TypedArray, DataView, Buffer)`);
  }
  return v;
}

function checkDevice(v: unknown, name: string, fn: string): DeviceBuffer {
  if (!(v instanceof DeviceBuffer)) throw new ArgumentError(`${fn}: ${name} must be a cuda.DeviceBuffer`);
  return v;
}

function streamOf(options: CopyOptions, fn: string): Stream['native'] | undefined {
  options = checkOptions(options, COPY_OPTIONS, fn);
  if (options.stream !== undefined && !(options.stream instanceof Stream)) {
    throw new ArgumentError(`${fn}: options.stream must be a cuda.Stream`);
  }
  if (options.sync !== undefined && typeof options.sync !== 'boolean') {
    throw new ArgumentError(`${fn}: options.sync must be a boolean`);
  }
  return options.stream?.native;
}

/** Copies all of `src` into `dst` at dstByteOffset. */
export function copyHostToDevice(dst: DeviceBuffer, dstByteOffset: number, src: Host, options?: CopyOptions & { sync?: true }): void;
export function copyHostToDevice(dst: DeviceBuffer, dstByteOffset: number, src: Host, options: CopyOptions & { sync: false }): Promise<void>;
export function copyHostToDevice(dst: DeviceBuffer, dstByteOffset: number, src: Host, options: CopyOptions = {}): void | Promise<void> {
  const fn = 'copyHostToDevice';
  const d = checkDevice(dst, 'dst', fn);
  const s = checkHost(src, 'src', fn);
  const stream = streamOf(options, fn);
  if (options.sync === false) return native.cuda.memcpyAsync(d.native, dstByteOffset, s, 0, s.byteLength, stream);
  native.cuda.memcpy(d.native, dstByteOffset, s, 0, s.byteLength, stream);
}

/** Fills all of `dst` from `src` starting at srcByteOffset. */
export function copyDeviceToHost(dst: Host, src: DeviceBuffer, srcByteOffset: number, options?: CopyOptions & { sync?: true }): void;
export function copyDeviceToHost(dst: Host, src: DeviceBuffer, srcByteOffset: number, options: CopyOptions & { sync: false }): Promise<void>;
export function copyDeviceToHost(dst: Host, src: DeviceBuffer, srcByteOffset: number, options: CopyOptions = {}): void | Promise<void> {
  const fn = 'copyDeviceToHost';
  const d = checkHost(dst, 'dst', fn);
  const s = checkDevice(src, 'src', fn);
  const stream = streamOf(options, fn);
  if (options.sync === false) return native.cuda.memcpyAsync(d, 0, s.native, srcByteOffset, d.byteLength, stream);
  native.cuda.memcpy(d, 0, s.native, srcByteOffset, d.byteLength, stream);
}

/**
 * Copies `byteLength` bytes between device buffers (peer copy across devices). The copy is queued
 * on the stream (default: the current stream of dst's device) and the call returns at once, like
 * an op in PyTorch; `sync: true` waits for it, `sync: false` returns a Promise of its completion.
 */
export function copyDeviceToDevice(dst: DeviceBuffer, dstByteOffset: number, src: DeviceBuffer, srcByteOffset: number,
  byteLength: number, options?: { stream?: Stream; sync?: true }): void;
export function copyDeviceToDevice(dst: DeviceBuffer, dstByteOffset: number, src: DeviceBuffer, srcByteOffset: number,
  byteLength: number, options: { stream?: Stream; sync: false }): Promise<void>;
export function copyDeviceToDevice(dst: DeviceBuffer, dstByteOffset: number, src: DeviceBuffer, srcByteOffset: number,
  byteLength: number, options: CopyOptions = {}): void | Promise<void> {
  const fn = 'copyDeviceToDevice';
  const d = checkDevice(dst, 'dst', fn);
  const s = checkDevice(src, 'src', fn);
  const stream = streamOf(options, fn);
  if (options.sync === false) return native.cuda.memcpyAsync(d.native, dstByteOffset, s.native, srcByteOffset, byteLength, stream);
  if (options.sync === true) return native.cuda.memcpy(d.native, dstByteOffset, s.native, srcByteOffset, byteLength, stream);
  native.cuda.memcpyEnqueue(d.native, dstByteOffset, s.native, srcByteOffset, byteLength, stream);
}

/** Sets byteLength bytes of dst (from byteOffset) to value (0..255), queued on the stream. */
export function memset(dst: DeviceBuffer, byteOffset: number, byteLength: number, value: number, options: { stream?: Stream } = {}): void {
  options = checkOptions(options, MEMSET_OPTIONS, 'memset');
  const d = checkDevice(dst, 'dst', 'memset');
  native.cuda.memset(d.native, byteOffset, byteLength, value, streamOf(options, 'memset'));
}
