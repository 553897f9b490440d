/** Bad input for native.cuda: runtime, streams and events, memory, copies. */
import { native } from '../../lib/native/index.js';
import type { NativeDeviceBuffer, NativeEvent, NativeStream } from '../../typings/native.js';
import {
  NO_DEVICE, type Row, type Table, countRows, hasGpu, integerRows, memoryRows, noNewRow, receiverRows,
} from './harness.js';

const c = native.cuda;
type F = (...a: unknown[]) => unknown;
const f = (fn: unknown): F => fn as F;

/** Zero-argument functions: extra arguments are refused. */
function noArgRows(exp: string, fn: unknown): Row[] {
  return countRows(exp, f(fn), [], 0, 0);
}

/** A function taking an optional device (argument 0). */
function optionalDeviceRows(exp: string, fn: unknown, extraMax = 1): Row[] {
  const g = f(fn);
  return [
    ...integerRows(exp, 'device', (v) => g(v), { optional: true }),
    ...countRows(exp, g, [0], 0, extraMax),
    { export: exp, what: 'a device that does not exist (4096)', call: () => g(4096), code: hasGpu() ? 'ERR_INVALID_ARG' : NO_DEVICE },
    { export: exp, what: 'no device here', call: () => g(), code: NO_DEVICE, needs: 'no-gpu' },
  ];
}

function requiredDeviceRows(exp: string, fn: unknown): Row[] {
  const g = f(fn);
  return [
    ...integerRows(exp, 'device', (v) => g(v)),
    ...countRows(exp, g, [0], 1, 1),
    { export: exp, what: 'a device that does not exist (4096)', call: () => g(4096), code: hasGpu() ? 'ERR_INVALID_ARG' : NO_DEVICE },
    { export: exp, what: 'no device here', call: () => g(0), code: NO_DEVICE, needs: 'no-gpu' },
  ];
}

// Handles made inside calls (GPU rows only).
const buf = (n = 64): NativeDeviceBuffer => new c.DeviceBuffer(n);
const freed = (): NativeDeviceBuffer => {
  const b = buf();
  b.dispose();
  return b;
};
const stream = (): NativeStream => new c.Stream();
const deadStream = (): NativeStream => {
  const s = stream();
  s.dispose();
  return s;
};
const event = (timing = false): NativeEvent => new c.Event(undefined, timing);
const deadEvent = (): NativeEvent => {
  const e = event();
  e.dispose();
  return e;
};

function copyRows(name: 'memcpy' | 'memcpyEnqueue' | 'memcpyAsync'): Row[] {
  const exp = `cuda.${name}`;
  const g = f(c[name]);
  const h = (): Uint8Array => new Uint8Array(16);
  return [
    ...memoryRows(exp, 'dst', (v) => g(v, 0, h(), 0, 1)),
    ...memoryRows(exp, 'src', (v) => g(h(), 0, v, 0, 1)),
    ...integerRows(exp, 'dstOffset', (v) => g(h(), v, h(), 0, 1)),
    ...integerRows(exp, 'srcOffset', (v) => g(h(), 0, h(), v, 1)),
    ...integerRows(exp, 'byteLength', (v) => g(h(), 0, h(), 0, v)),
    ...countRows(exp, g, [h(), 0, h(), 0, 1], 5, 6),
    { export: exp, what: 'dst range past the end', call: () => g(h(), 10, h(), 0, 7), code: 'ERR_INVALID_ARG' },
    { export: exp, what: 'src range past the end', call: () => g(h(), 0, h(), 15, 2), code: 'ERR_INVALID_ARG' },
    { export: exp, what: 'offset + length overflows', call: () => g(h(), 2 ** 53 - 1, h(), 0, 2 ** 53 - 1), code: 'ERR_INVALID_ARG' },
    { export: exp, what: 'a stream for a host-to-host copy', call: () => g(h(), 0, h(), 0, 1, {}), code: 'ERR_INVALID_ARG' },
    { export: exp, what: 'a detached ArrayBuffer (0 bytes left)', call: () => {
      const ab = new ArrayBuffer(16);
      structuredClone(ab, { transfer: [ab] });
      return g(ab, 0, h(), 0, 1);
    }, code: 'ERR_INVALID_ARG' },
    // GPU rows: freed buffers, ranges past a device buffer, wrong streams.
    { export: exp, what: 'dst is a disposed DeviceBuffer', call: () => g(freed(), 0, h(), 0, 1), code: 'ERR_DISPOSED', needs: 'gpu' },
    { export: exp, what: 'src is a disposed DeviceBuffer', call: () => g(h(), 0, freed(), 0, 1), code: 'ERR_DISPOSED', needs: 'gpu' },
    { export: exp, what: 'past the end of a DeviceBuffer', call: () => g(buf(8), 4, h(), 0, 5), code: 'ERR_INVALID_ARG', needs: 'gpu' },
    { export: exp, what: 'stream is not a Stream', call: () => g(buf(8), 0, h(), 0, 1, { handle: 0n }), code: 'ERR_INVALID_ARG', needs: 'gpu' },
    { export: exp, what: 'stream was disposed', call: () => g(buf(8), 0, h(), 0, 1, deadStream()), code: 'ERR_DISPOSED', needs: 'gpu' },
  ];
}

export const cudaTable: Table = {
  module: 'cuda',
  rows: () => [
    // ---- runtime ----
    ...noArgRows('cuda.isAvailable', c.isAvailable),
    ...noArgRows('cuda.deviceCount', c.deviceCount),
    ...noArgRows('cuda.noGpuReason', c.noGpuReason),
    ...noArgRows('cuda.deviceApi', c.deviceApi),
    ...noArgRows('cuda.versions', c.versions),
    ...noArgRows('cuda.currentDevice', c.currentDevice),
    { export: 'cuda.currentDevice', what: 'no device here', call: () => c.currentDevice(), code: NO_DEVICE, needs: 'no-gpu' },
    ...requiredDeviceRows('cuda.getDeviceProperties', c.getDeviceProperties),
    ...requiredDeviceRows('cuda.setDevice', c.setDevice),
    ...optionalDeviceRows('cuda.memGetInfo', c.memGetInfo),
    ...optionalDeviceRows('cuda.synchronize', c.synchronize),
    ...optionalDeviceRows('cuda.synchronizeSync', c.synchronizeSync),

    // ---- streams ----
    noNewRow('cuda.Stream', c.Stream),
    ...integerRows('cuda.Stream', 'device', (v) => new c.Stream(v as number), { optional: true }),
    ...integerRows('cuda.Stream', 'priority', (v) => new c.Stream(0, v as number), { optional: true, sizes: false }),
    { export: 'cuda.Stream', what: 'priority is huge', call: () => new c.Stream(0, 2 ** 40), code: 'ERR_INVALID_ARG' },
    { export: 'cuda.Stream', what: 'isDefault is not a boolean', call: () => new c.Stream(0, 0, 1 as unknown as boolean), code: 'ERR_INVALID_ARG' },
    { export: 'cuda.Stream', what: '4 arguments', call: () => new (c.Stream as unknown as new (...a: unknown[]) => unknown)(0, 0, false, 1), code: 'ERR_INVALID_ARG' },
    { export: 'cuda.Stream', what: 'a device that does not exist', call: () => new c.Stream(4096), code: hasGpu() ? 'ERR_INVALID_ARG' : NO_DEVICE },
    { export: 'cuda.Stream', what: 'no device here', call: () => new c.Stream(), code: NO_DEVICE, needs: 'no-gpu' },
    ...optionalDeviceRows('cuda.Stream.priorityRange', c.Stream.priorityRange),
    ...receiverRows('cuda.Stream', c.Stream),
    { export: 'cuda.Stream#query', what: 'an extra argument', call: () => f(stream().query)(1), code: 'ERR_INVALID_ARG', needs: 'gpu' },
    { export: 'cuda.Stream#query', what: 'disposed stream', call: () => deadStream().query(), code: 'ERR_DISPOSED', needs: 'gpu' },
    { export: 'cuda.Stream#synchronize', what: 'disposed stream', call: () => deadStream().synchronize(), code: 'ERR_DISPOSED', needs: 'gpu' },
    { export: 'cuda.Stream#synchronizeSync', what: 'disposed stream', call: () => deadStream().synchronizeSync(), code: 'ERR_DISPOSED', needs: 'gpu' },
    { export: 'cuda.Stream#waitEvent', what: 'not an Event', call: () => stream().waitEvent({} as NativeEvent), code: 'ERR_INVALID_ARG', needs: 'gpu' },
    { export: 'cuda.Stream#waitEvent', what: 'a Stream instead of an Event', call: () => stream().waitEvent(stream() as unknown as NativeEvent), code: 'ERR_INVALID_ARG', needs: 'gpu' },
    { export: 'cuda.Stream#waitEvent', what: 'disposed event', call: () => stream().waitEvent(deadEvent()), code: 'ERR_DISPOSED', needs: 'gpu' },
    { export: 'cuda.Stream#waitStream', what: 'not a Stream', call: () => stream().waitStream(event() as unknown as NativeStream), code: 'ERR_INVALID_ARG', needs: 'gpu' },
    { export: 'cuda.Stream#waitStream', what: 'disposed stream', call: () => stream().waitStream(deadStream()), code: 'ERR_DISPOSED', needs: 'gpu' },
    { export: 'cuda.Stream#dispose', what: 'an extra argument', call: () => f(stream().dispose)(1), code: 'ERR_INVALID_ARG', needs: 'gpu' },
    ...optionalDeviceRows('cuda.currentStream', c.currentStream),
    { export: 'cuda.setCurrentStream', what: 'not a Stream', call: () => c.setCurrentStream({} as NativeStream), code: 'ERR_INVALID_ARG' },
    { export: 'cuda.setCurrentStream', what: 'undefined', call: () => f(c.setCurrentStream)(undefined), code: 'ERR_INVALID_ARG' },
    ...countRows('cuda.setCurrentStream', f(c.setCurrentStream), [{}], 1, 1),
    { export: 'cuda.setCurrentStream', what: 'disposed stream', call: () => c.setCurrentStream(deadStream()), code: 'ERR_DISPOSED', needs: 'gpu' },

    // ---- events ----
    noNewRow('cuda.Event', c.Event),
    ...integerRows('cuda.Event', 'device', (v) => new c.Event(v as number), { optional: true }),
    { export: 'cuda.Event', what: 'enableTiming is not a boolean', call: () => new c.Event(0, 'yes' as unknown as boolean), code: 'ERR_INVALID_ARG' },
    { export: 'cuda.Event', what: 'blocking is not a boolean', call: () => new c.Event(0, false, 0 as unknown as boolean), code: 'ERR_INVALID_ARG' },
    { export: 'cuda.Event', what: 'no device here', call: () => new c.Event(), code: NO_DEVICE, needs: 'no-gpu' },
    ...receiverRows('cuda.Event', c.Event),
    { export: 'cuda.Event#record', what: 'not a Stream', call: () => event().record({} as NativeStream), code: 'ERR_INVALID_ARG', needs: 'gpu' },
    { export: 'cuda.Event#record', what: 'disposed event', call: () => deadEvent().record(), code: 'ERR_DISPOSED', needs: 'gpu' },
    { export: 'cuda.Event#record', what: 'disposed stream', call: () => event().record(deadStream()), code: 'ERR_DISPOSED', needs: 'gpu' },
    { export: 'cuda.Event#query', what: 'disposed event', call: () => deadEvent().query(), code: 'ERR_DISPOSED', needs: 'gpu' },
    { export: 'cuda.Event#synchronize', what: 'disposed event', call: () => deadEvent().synchronize(), code: 'ERR_DISPOSED', needs: 'gpu' },
    { export: 'cuda.Event#synchronizeSync', what: 'disposed event', call: () => deadEvent().synchronizeSync(), code: 'ERR_DISPOSED', needs: 'gpu' },
    { export: 'cuda.Event#elapsedTime', what: 'not an Event', call: () => event(true).elapsedTime(5 as unknown as NativeEvent), code: 'ERR_INVALID_ARG', needs: 'gpu' },
    { export: 'cuda.Event#elapsedTime', what: 'events without timing', call: () => {
      const a = event(), b = event();
      a.record();
      b.record();
      return a.elapsedTime(b);
    }, code: 'ERR_INVALID_ARG', needs: 'gpu' },
    { export: 'cuda.Event#elapsedTime', what: 'events never recorded', call: () => event(true).elapsedTime(event(true)), code: 'ERR_INVALID_ARG', needs: 'gpu' },
    { export: 'cuda.Event#elapsedTime', what: 'end was disposed', call: () => event(true).elapsedTime(deadEvent()), code: 'ERR_DISPOSED', needs: 'gpu' },
    { export: 'cuda.Event#dispose', what: 'an extra argument', call: () => f(event().dispose)(1), code: 'ERR_INVALID_ARG', needs: 'gpu' },

    // ---- memory ----
    noNewRow('cuda.DeviceBuffer', c.DeviceBuffer),
    ...integerRows('cuda.DeviceBuffer', 'byteLength', (v) => new c.DeviceBuffer(v as number)),
    ...integerRows('cuda.DeviceBuffer', 'device', (v) => new c.DeviceBuffer(8, v as number), { optional: true }),
    { export: 'cuda.DeviceBuffer', what: 'no arguments', call: () => new (c.DeviceBuffer as unknown as new () => unknown)(), code: 'ERR_INVALID_ARG' },
    { export: 'cuda.DeviceBuffer', what: '4 arguments', call: () => new (c.DeviceBuffer as unknown as new (...a: unknown[]) => unknown)(8, 0, null, 1), code: 'ERR_INVALID_ARG' },
    { export: 'cuda.DeviceBuffer', what: 'a device that does not exist', call: () => new c.DeviceBuffer(8, 4096), code: hasGpu() ? 'ERR_INVALID_ARG' : NO_DEVICE },
    { export: 'cuda.DeviceBuffer', what: 'no device here', call: () => new c.DeviceBuffer(8), code: NO_DEVICE, needs: 'no-gpu' },
    { export: 'cuda.DeviceBuffer', what: 'stream is not a Stream', call: () => new c.DeviceBuffer(8, 0, {} as NativeStream), code: 'ERR_INVALID_ARG', needs: 'gpu' },
    { export: 'cuda.DeviceBuffer', what: 'more bytes than the device has (2^52)', call: () => new c.DeviceBuffer(2 ** 52), code: 'ERR_CUDA_OOM', needs: 'gpu' },
    ...receiverRows('cuda.DeviceBuffer', c.DeviceBuffer),
    { export: 'cuda.DeviceBuffer#dispose', what: 'an extra argument', call: () => f(buf().dispose)(1), code: 'ERR_INVALID_ARG', needs: 'gpu' },
    { export: 'cuda.DeviceBuffer#recordStream', what: 'not a Stream', call: () => buf().recordStream({} as NativeStream), code: 'ERR_INVALID_ARG', needs: 'gpu' },
    { export: 'cuda.DeviceBuffer#recordStream', what: 'buffer already freed', call: () => freed().recordStream(stream()), code: 'ERR_DISPOSED', needs: 'gpu' },
    { export: 'cuda.DeviceBuffer#recordStream', what: 'no arguments', call: () => f(buf().recordStream)(), code: 'ERR_INVALID_ARG', needs: 'gpu' },
    ...optionalDeviceRows('cuda.memoryStats', c.memoryStats),
    ...optionalDeviceRows('cuda.resetPeakMemoryStats', c.resetPeakMemoryStats),
    ...noArgRows('cuda.emptyCache', c.emptyCache),
    ...integerRows('cuda.pinnedBuffer', 'byteLength', (v) => c.pinnedBuffer(v as number)),
    ...countRows('cuda.pinnedBuffer', f(c.pinnedBuffer), [8], 1, 1),
    { export: 'cuda.pinnedBuffer', what: 'no device here', call: () => c.pinnedBuffer(8), code: NO_DEVICE, needs: 'no-gpu' },
    { export: 'cuda.pinnedBuffer', what: 'more than the host has (2^50)', call: () => c.pinnedBuffer(2 ** 50), code: ['ERR_HOST_OOM', 'ERR_CUDA'], needs: 'gpu' },

    // ---- copies ----
    ...copyRows('memcpy'),
    ...copyRows('memcpyEnqueue'),
    ...copyRows('memcpyAsync'),
    ...memoryRows('cuda.memset', 'dst', (v) => c.memset(v as Uint8Array, 0, 1, 0)),
    ...integerRows('cuda.memset', 'offset', (v) => c.memset(new Uint8Array(4), v as number, 1, 0)),
    ...integerRows('cuda.memset', 'byteLength', (v) => c.memset(new Uint8Array(4), 0, v as number, 0)),
    ...integerRows('cuda.memset', 'value', (v) => c.memset(new Uint8Array(4), 0, 1, v as number)),
    { export: 'cuda.memset', what: 'value 256', call: () => c.memset(new Uint8Array(4), 0, 1, 256), code: 'ERR_INVALID_ARG' },
    { export: 'cuda.memset', what: 'past the end', call: () => c.memset(new Uint8Array(4), 3, 2, 0), code: 'ERR_INVALID_ARG' },
    ...countRows('cuda.memset', f(c.memset), [new Uint8Array(4), 0, 1, 0], 4, 5),
    { export: 'cuda.memset', what: 'a disposed DeviceBuffer', call: () => c.memset(freed(), 0, 1, 0), code: 'ERR_DISPOSED', needs: 'gpu' },
  ],
};
