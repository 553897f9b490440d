/** The TypeScript `cuda` namespace: argument handling that needs no GPU, and the no-GPU behaviour. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArgumentError, DeviceError, cublas, cuda, nccl } from '../lib/index.js';

test('deviceIndex accepts numbers, cuda:N strings and cuda devices; refuses the rest', () => {
  assert.equal(cuda.deviceIndex(3), 3);
  assert.equal(cuda.deviceIndex('cuda:2'), 2);
  assert.equal(cuda.deviceIndex('cuda'), undefined);
  assert.equal(cuda.deviceIndex(undefined), undefined);
  assert.equal(cuda.deviceIndex({ type: 'cuda', index: 1 }), 1);
  for (const bad of [-1, 1.5, NaN, 'cpu', 'cuda:', 'cuda:-1', 'cuda:1x', { type: 'cpu', index: -1 }, null, true]) {
    assert.throws(() => cuda.deviceIndex(bad as never), ArgumentError, String(bad));
  }
});

test('matmulAllowTf32 defaults to false and only takes booleans', () => {
  assert.equal(cuda.matmulAllowTf32, false);
  cuda.matmulAllowTf32 = true;
  assert.equal(cuda.matmulAllowTf32, true);
  cuda.matmulAllowTf32 = false;
  assert.throws(() => {
    (cuda as { matmulAllowTf32: unknown }).matmulAllowTf32 = 1;
  }, ArgumentError);
  assert.equal(cuda.matmulAllowTf32, false);
});

test('versions are strings or null', () => {
  const rt = cuda.runtimeVersion();
  assert.ok(rt === null || /^\d+\.\d+$/.test(rt));
  const drv = cuda.driverVersion();
  assert.ok(drv === null || /^\d+\.\d+$/.test(drv));
});

test('without a GPU the TS layer throws the same typed errors', { skip: cuda.isAvailable() && 'a GPU is present' }, async () => {
  assert.throws(() => new cuda.DeviceBuffer(8), DeviceError);
  assert.throws(() => new cuda.Stream({ priority: -1 }), DeviceError);
  assert.throws(() => new cuda.Event({ enableTiming: true }), DeviceError);
  assert.throws(() => cuda.currentStream(), DeviceError);
  assert.throws(() => cuda.memoryStats(), DeviceError);
  assert.throws(() => cuda.getDeviceProperties(), DeviceError);
  assert.throws(() => cuda.pinnedBuffer(16), DeviceError);
  // synchronize is async: it rejects rather than throws.
  await assert.rejects(cuda.synchronize(), DeviceError);
  // Wrong arguments are still argument errors first.
  assert.throws(() => new cuda.DeviceBuffer(8, { device: 'cuda:x' }), ArgumentError);
  assert.throws(() => new cuda.DeviceBuffer(8, { stream: {} as cuda.Stream }), ArgumentError);
  assert.throws(() => cuda.copyHostToDevice({} as cuda.DeviceBuffer, 0, new Uint8Array(1)), ArgumentError);
  assert.throws(() => cuda.copyDeviceToHost(new Uint8Array(1), {} as cuda.DeviceBuffer, 0), ArgumentError);
  assert.throws(() => cuda.withStream({} as cuda.Stream, () => 0), ArgumentError);
});

test('nccl and cublas: isAvailable agrees with version()', () => {
  for (const lib of [nccl, cublas]) {
    if (lib.isAvailable()) {
      const v = lib.version();
      assert.equal(v.length, 3);
      assert.ok(v.every((x) => Number.isInteger(x) && x >= 0));
    } else {
      assert.throws(() => lib.version(), { code: 'ERR_LIB_NOT_FOUND' });
      assert.ok(lib.libraryInfo().tried.length > 0);
    }
  }
});
