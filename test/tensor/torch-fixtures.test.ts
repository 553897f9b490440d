// The fixture transport itself (scripts/torch_fixtures/common.py -> test/helpers/torch-fixtures.ts) is exact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { torchFixture, fromFixture, type EncodedTensor } from '../helpers/torch-fixtures.js';

const f = torchFixture<Record<string, EncodedTensor>>('encoding');

test('torch fixtures: every dtype round-trips exactly, NaN and infinities included', () => {
  const d = fromFixture(f.float64!);
  assert.deepEqual(d.shape, [2, 2]);
  const v = d.dataSync() as Float64Array;
  assert.equal(v[0], 0.1);
  assert.equal(v[1], -2.5);
  assert.ok(Number.isNaN(v[2]));
  assert.equal(v[3], -Infinity);
  assert.equal((fromFixture(f.float32!).dataSync() as Float32Array)[0], Math.fround(1 / 3));
  const h = fromFixture(f.float16!);
  assert.equal(h.dtype, 'float16');
  assert.deepEqual(Array.from(h.float().dataSync() as Float32Array), [0.0999755859375, 65504]);
  const i = fromFixture(f.int64!);
  assert.deepEqual(Array.from(i.dataSync() as BigInt64Array), [2n ** 62n + 1n, -3n]);
  assert.deepEqual(Array.from(fromFixture(f.bool!).dataSync() as Uint8Array), [1, 0, 1]);
  assert.deepEqual(fromFixture(f.sum!).shape, []);
});
