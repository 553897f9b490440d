/** GPU: streams, events, timing, the current stream. Skips without a GPU. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cuda } from '../../lib/index.js';

const skip = cuda.deviceCount() === 0 ? `no GPU: ${cuda.noGpuReason()}` : false;

/** Queues enough work on the stream to take a measurable time (memsets of 256 MiB). */
function busy(stream: cuda.Stream, buf: cuda.DeviceBuffer, rounds = 20): void {
  for (let i = 0; i < rounds; i++) cuda.memset(buf, 0, buf.byteLength, i & 255, { stream });
}

test('device properties and versions', { skip }, (t) => {
  const p = cuda.getDeviceProperties(0);
  t.diagnostic(`${p.name} cc ${p.computeCapability} ${p.multiProcessorCount} SMs ${(p.totalMemory / 2 ** 30).toFixed(1)} GiB; ` +
    `driver ${cuda.driverVersion()} runtime ${cuda.runtimeVersion()}`);
  assert.ok(p.name.length > 0);
  assert.ok(p.major >= 5);
  assert.ok(p.totalMemory > 1 << 30);
  assert.ok(p.multiProcessorCount > 0);
  assert.deepEqual(cuda.getDeviceCapability(0), [p.major, p.minor]);
  assert.match(p.uuid, /^GPU-[0-9a-f-]{36}$/);
  assert.ok(cuda.driverVersion() !== null);
  cuda.setDevice(0);
  assert.equal(cuda.currentDevice(), 0);
});

test('stream: synchronize resolves, query, priority, dispose', { skip }, async () => {
  const range = cuda.Stream.priorityRange();
  assert.ok(range.greatest <= range.least);
  using s = new cuda.Stream({ priority: range.greatest });
  assert.equal(s.priority, range.greatest);
  using buf = new cuda.DeviceBuffer(256 << 20, { stream: s });
  busy(s, buf);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  await s.synchronize();
  clearInterval(timer);
  assert.equal(s.query(), true);
  s.synchronizeSync();
  await cuda.synchronize();
  cuda.synchronizeSync();
  s.dispose();
  assert.equal(s.disposed, true);
  assert.throws(() => s.query(), { code: 'ERR_DISPOSED' });
});

test('events: elapsed time of queued work, and cross-stream waits', { skip }, async () => {
  using s = new cuda.Stream();
  using buf = new cuda.DeviceBuffer(256 << 20, { stream: s });
  const start = new cuda.Event({ enableTiming: true });
  const end = new cuda.Event({ enableTiming: true });
  start.record(s);
  busy(s, buf);
  end.record(s);
  await end.synchronize();
  assert.equal(end.query(), true);
  const ms = start.elapsedTime(end);
  assert.ok(ms > 0 && ms < 10_000, `elapsed ${ms} ms`);
  // A second stream waits for the first: a value written on s is seen by a copy queued on s2.
  using s2 = new cuda.Stream();
  using small = new cuda.DeviceBuffer(4, { stream: s });
  busy(s, buf, 5);
  cuda.memset(small, 0, 4, 0x42, { stream: s });
  s2.waitEvent(s.recordEvent());
  const out = new Uint8Array(4);
  await cuda.copyDeviceToHost(out, small, 0, { stream: s2, sync: false });
  assert.deepEqual([...out], [0x42, 0x42, 0x42, 0x42]);
  start.dispose();
  end.dispose();
});

test('current stream per device: default, set, withStream restores', { skip }, async () => {
  const def = cuda.currentStream();
  assert.equal(def.isDefault, true);
  assert.equal(cuda.currentStream(), def, 'the same object each time');
  const s = new cuda.Stream();
  cuda.withStream(s, () => {
    assert.equal(cuda.currentStream(), s);
  });
  assert.equal(cuda.currentStream().isDefault, true);
  await cuda.withStream(s, async () => {
    await Promise.resolve();
    assert.equal(cuda.currentStream(), s);
  });
  assert.equal(cuda.currentStream().isDefault, true);
  cuda.setCurrentStream(s);
  s.dispose(); // disposing the current stream falls back to the default stream
  assert.equal(cuda.currentStream().isDefault, true);
});

test('recordStream: memory used on another stream is reused only after that work', { skip }, async () => {
  using s1 = new cuda.Stream();
  using s2 = new cuda.Stream();
  using work = new cuda.DeviceBuffer(256 << 20, { stream: s2 });
  const a = new cuda.DeviceBuffer(1 << 20, { stream: s1 });
  const addr = a.address;
  busy(s2, work);
  a.recordStream(s2);
  a.dispose();
  const b = new cuda.DeviceBuffer(1 << 20, { stream: s1 });
  if (!s2.query()) assert.notEqual(b.address, addr, 'not reused while s2 still runs');
  b.dispose();
  await s2.synchronize();
});
