import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeviceError, native } from '../lib/index.js';

const c = native.cuda;
const count = c.deviceCount();
const noGpu = count === 0;

test('device discovery reports the reason as data, consistently', () => {
  assert.equal(typeof count, 'number');
  assert.equal(c.isAvailable(), count > 0);
  const reason = c.noGpuReason();
  if (count > 0) {
    assert.equal(reason, '');
  } else if (!native.buildInfo().cuda) {
    assert.equal(reason, 'built without CUDA');
  } else {
    assert.match(reason, /^(no CUDA driver|no GPU|CUDA driver too old|CUDA unavailable)/);
  }
  const v = c.versions();
  if (native.buildInfo().cuda) assert.ok(v.runtime !== null && v.runtime >= 11000, `runtime ${v.runtime}`);
  else assert.equal(v.runtime, null);
  if (reason === 'no CUDA driver') assert.equal(v.driver, null);
});

test('without a device, device functions throw the typed no-device error', { skip: !noGpu && 'a GPU is present' }, () => {
  const reason = c.noGpuReason();
  const expected = reason === 'built without CUDA' ? 'ERR_NO_CUDA_BUILD' : /driver/.test(reason) ? 'ERR_NO_DRIVER' : 'ERR_NO_GPU';
  const calls: Array<[string, () => unknown]> = [
    ['getDeviceProperties', () => c.getDeviceProperties(0)],
    ['setDevice', () => c.setDevice(0)],
    ['currentDevice', () => c.currentDevice()],
    ['synchronize', () => c.synchronize()],
    ['synchronizeSync', () => c.synchronizeSync()],
    ['memGetInfo', () => c.memGetInfo()],
    ['DeviceBuffer', () => new c.DeviceBuffer(16)],
    ['Stream', () => new c.Stream()],
    ['Event', () => new c.Event()],
    ['currentStream', () => c.currentStream()],
    ['memoryStats', () => c.memoryStats()],
    ['pinnedBuffer', () => c.pinnedBuffer(64)],
  ];
  for (const [name, fn] of calls) {
    assert.throws(fn, (e: unknown) => {
      assert.ok(e instanceof DeviceError, `${name}: ${String(e)}`);
      assert.equal(e.code, expected, name);
      assert.ok(e.message.includes(reason), `${name}: the message names the reason`);
      return true;
    });
  }
  // emptyCache has nothing to free and is harmless everywhere.
  c.emptyCache();
});

test('host-to-host memcpy/memcpyAsync/memset match a byte-wise reference', async () => {
  const src = new Uint8Array(257).map((_, i) => (i * 37 + 11) & 255);
  const dst = new Uint8Array(300);
  const ref = new Uint8Array(300);
  c.memcpy(dst, 13, src, 7, 200);
  for (let i = 0; i < 200; i++) ref[13 + i] = src[7 + i]!;
  assert.deepEqual(dst, ref);
  // Views apply their byteOffset: offsets are relative to the view.
  const view = new DataView(dst.buffer, 100, 50);
  await c.memcpyAsync(view, 10, src.subarray(3), 0, 5);
  for (let i = 0; i < 5; i++) ref[110 + i] = src[3 + i]!;
  assert.deepEqual(dst, ref);
  c.memset(dst.buffer, 290, 10, 0xab);
  ref.fill(0xab, 290, 300);
  assert.deepEqual(dst, ref);
  // Overlapping ranges behave like memmove.
  const m = Uint8Array.from([1, 2, 3, 4, 5, 6]);
  c.memcpy(m, 1, m, 0, 5);
  assert.deepEqual([...m], [1, 1, 2, 3, 4, 5]);
});

test('copy ranges are checked before touching memory', () => {
  const a = new Uint8Array(8);
  assert.throws(() => c.memcpy(a, 4, a, 0, 5), { code: 'ERR_INVALID_ARG', message: /bytes \[4, 9\) are outside the buffer of 8 bytes/ });
  assert.throws(() => c.memcpy(a, 0, a, 2 ** 53 - 1, 2), { code: 'ERR_INVALID_ARG' });
  assert.throws(() => c.memset(a, 0, 9, 0), { code: 'ERR_INVALID_ARG' });
  assert.throws(() => c.memset(a, 0, 1, 256), { code: 'ERR_INVALID_ARG' });
  assert.throws(() => c.memcpy(a, 0, {} as Uint8Array, 0, 1), { code: 'ERR_INVALID_ARG', message: /'src' must be an ArrayBuffer/ });
});
