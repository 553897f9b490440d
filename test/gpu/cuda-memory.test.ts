/** GPU: device memory, copies (bytes compared), allocator statistics. Skips without a GPU. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { OutOfMemoryError, cuda } from '../../lib/index.js';

const skip = cuda.deviceCount() === 0 ? `no GPU: ${cuda.noGpuReason()}` : false;
const SIZES = [0, 1, 7, 511, 512, 513, 4097, (1 << 20) + 3, 8 << 20, (21 << 20) + 5];

test('allocate, inspect, dispose', { skip }, () => {
  const b = new cuda.DeviceBuffer(1000);
  assert.equal(b.byteLength, 1000);
  assert.equal(b.device, cuda.currentDevice());
  assert.notEqual(b.address, 0n);
  assert.equal(b.disposed, false);
  b.dispose();
  assert.equal(b.disposed, true);
  assert.equal(b.byteLength, 0);
  assert.equal(b.address, 0n);
  b.dispose(); // idempotent
  {
    using u = new cuda.DeviceBuffer(64);
    assert.equal(u.byteLength, 64);
  }
  const empty = new cuda.DeviceBuffer(0);
  assert.equal(empty.byteLength, 0);
  empty.dispose();
});

test('round trip host -> device -> host, sync and async, bytes equal', { skip }, async () => {
  for (const n of SIZES) {
    const src = new Uint8Array(randomBytes(n));
    using d = new cuda.DeviceBuffer(n + 16);
    cuda.copyHostToDevice(d, 16, src);
    const back = new Uint8Array(n);
    cuda.copyDeviceToHost(back, d, 16);
    assert.ok(Buffer.from(back).equals(Buffer.from(src)), `sync round trip of ${n} bytes`);

    const src2 = new Uint8Array(randomBytes(n));
    const keep = Uint8Array.from(src2);
    const p = cuda.copyHostToDevice(d, 0, src2, { sync: false });
    src2.fill(0); // the source was read at the call: changing it now must not matter
    await p;
    const back2 = new Uint8Array(n);
    await cuda.copyDeviceToHost(back2, d, 0, { sync: false });
    assert.ok(Buffer.from(back2).equals(Buffer.from(keep)), `async round trip of ${n} bytes`);
  }
});

test('async copy values are the source at call time', { skip }, async () => {
  const n = 1 << 20;
  const src = new Uint8Array(randomBytes(n));
  const keep = Uint8Array.from(src);
  using d = new cuda.DeviceBuffer(n);
  const p = cuda.copyHostToDevice(d, 0, src, { sync: false });
  src.fill(7);
  await p;
  const out = new Uint8Array(n);
  cuda.copyDeviceToHost(out, d, 0);
  assert.ok(Buffer.from(out).equals(Buffer.from(keep)));
});

test('pinned buffers round trip and are recognised as pinned', { skip }, async () => {
  const n = (4 << 20) + 1;
  const pin = new Uint8Array(cuda.pinnedBuffer(n));
  pin.set(randomBytes(n));
  using d = new cuda.DeviceBuffer(n);
  await cuda.copyHostToDevice(d, 0, pin, { sync: false });
  const out = new Uint8Array(cuda.pinnedBuffer(n));
  await cuda.copyDeviceToHost(out, d, 0, { sync: false });
  assert.ok(Buffer.from(out).equals(Buffer.from(pin)));
  assert.ok(cuda.memoryStats().pinnedAllocatedBytes >= 2 * n);
});

test('device to device copies (offsets) and memset', { skip }, async () => {
  const n = 3 << 20;
  const src = new Uint8Array(randomBytes(n));
  using a = new cuda.DeviceBuffer(n);
  using b = new cuda.DeviceBuffer(n);
  cuda.copyHostToDevice(a, 0, src);
  cuda.memset(b, 0, n, 0x5a);
  cuda.copyDeviceToDevice(b, 100, a, 50, 1000);
  await cuda.copyDeviceToDevice(b, 5000, a, 0, 10, { sync: false });
  const out = new Uint8Array(n);
  cuda.copyDeviceToHost(out, b, 0);
  const ref = new Uint8Array(n).fill(0x5a);
  ref.set(src.subarray(50, 1050), 100);
  ref.set(src.subarray(0, 10), 5000);
  assert.ok(Buffer.from(out).equals(Buffer.from(ref)));
});

test('allocator: size classes, cache hits, splitting, stats, emptyCache', { skip }, () => {
  cuda.emptyCache();
  cuda.resetPeakMemoryStats();
  const s0 = cuda.memoryStats();
  // Small request: rounded to 512 B, carved from a 2 MiB segment.
  const a = new cuda.DeviceBuffer(1000);
  const s1 = cuda.memoryStats();
  assert.equal(s1.allocatedBytes - s0.allocatedBytes, 1024);
  assert.equal(s1.reservedBytes - s0.reservedBytes, 2 << 20);
  assert.equal(s1.numDeviceMallocs - s0.numDeviceMallocs, 1);
  // A second small request is split from the same segment: no new cudaMalloc.
  const b = new cuda.DeviceBuffer(3000);
  const s2 = cuda.memoryStats();
  assert.equal(s2.numDeviceMallocs, s1.numDeviceMallocs);
  assert.equal(s2.allocatedBytes - s1.allocatedBytes, 3072);
  a.dispose();
  b.dispose();
  const s3 = cuda.memoryStats();
  assert.equal(s3.allocatedBytes, s0.allocatedBytes);
  assert.equal(s3.reservedBytes, s1.reservedBytes, 'freed blocks stay cached');
  // Same size again: a cache hit.
  const c = new cuda.DeviceBuffer(1000);
  const s4 = cuda.memoryStats();
  assert.equal(s4.cacheHits - s3.cacheHits, 1);
  assert.equal(s4.numDeviceMallocs, s3.numDeviceMallocs);
  c.dispose();
  // Large: 3 MiB comes from a 20 MiB segment; the rest stays cached and serves the next request.
  const big = new cuda.DeviceBuffer(3 << 20);
  const s5 = cuda.memoryStats();
  assert.equal(s5.reservedBytes - s4.reservedBytes, 20 << 20);
  const big2 = new cuda.DeviceBuffer(5 << 20);
  const s6 = cuda.memoryStats();
  assert.equal(s6.numDeviceMallocs, s5.numDeviceMallocs);
  assert.ok(s6.peakAllocatedBytes >= (8 << 20));
  big.dispose();
  big2.dispose();
  assert.ok(cuda.memoryStats().numMerges > s4.numMerges, 'freed neighbours merge');
  cuda.emptyCache();
  const s7 = cuda.memoryStats();
  assert.equal(s7.reservedBytes, 0);
  assert.equal(s7.allocatedBytes, 0);
  assert.equal(s7.numAllocs - s0.numAllocs, 5);
  assert.equal(s7.numFrees - s0.numFrees, 5);
  assert.equal(cuda.memoryAllocated(), 0);
  assert.equal(cuda.memoryReserved(), 0);
  assert.ok(cuda.maxMemoryAllocated() >= (8 << 20));
});

test('out of memory: cache emptied, retried, then a clear error', { skip }, () => {
  const total = cuda.memGetInfo().total;
  const keep = new cuda.DeviceBuffer(4 << 20);
  keep.dispose(); // cached: the OOM path must release it and retry
  const before = cuda.memoryStats();
  assert.throws(() => new cuda.DeviceBuffer(total * 2), (e: unknown) => {
    assert.ok(e instanceof OutOfMemoryError);
    assert.equal(e.code, 'ERR_CUDA_OOM');
    assert.match(e.message, /device \d+/);
    assert.match(e.message, /tried to allocate/);
    assert.match(e.message, /allocated/);
    assert.match(e.message, /reserved/);
    return true;
  });
  const after = cuda.memoryStats();
  assert.equal(after.numOoms - before.numOoms, 1);
  assert.ok(after.reservedBytes <= before.reservedBytes, 'the cache was emptied');
});

test('device bytes count as V8 external memory: dropped buffers are collected before the device fills', { skip }, async () => {
  // process.memoryUsage().external does not include napi_adjust_external_memory on Node 20, so
  // the reporting is proven by what it is for: V8 collects dropped DeviceBuffers under the
  // pressure of the bytes they hold. Allocating three times the device's memory in 64 MiB buffers
  // that are never disposed runs out of memory unless they are collected on the way.
  const chunk = 64 << 20;
  const n = Math.ceil((3 * cuda.memGetInfo().total) / chunk);
  let peak = 0;
  for (let i = 0; i < n; i++) {
    new cuda.DeviceBuffer(chunk); // dropped at once
    peak = Math.max(peak, cuda.memoryStats().allocatedBytes);
    await new Promise((r) => setImmediate(r));
  }
  assert.ok(peak < cuda.memGetInfo().total, `peak ${peak} B allocated`);
});
