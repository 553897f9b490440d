import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArgumentError } from '../../lib/errors.js';
import { planBuckets, type BucketParam } from '../../lib/parallel/buckets.js';

const MiB = 1024 * 1024;
const f32 = (numel: number, key = 'float32@cpu'): BucketParam => ({ numel, elementSize: 4, key });

test('buckets follow reverse registration order, first bucket capped at 1 MiB, then bucketCapMb', () => {
  // An MLP 784-4096-4096-10: W1 (12.25 MiB), b1, W2 (64 MiB), b2, W3 (160 KiB), b3.
  const params = [f32(784 * 4096), f32(4096), f32(4096 * 4096), f32(4096), f32(4096 * 10), f32(10)];
  const b = planBuckets(params);
  // Reverse order: b3, W3, b2 (first bucket, still < 1 MiB), W2 closes it (>= 1 MiB).
  assert.deepEqual(
    b.map((x) => x.params),
    [[5, 4, 3, 2], [1, 0]],
  );
  assert.equal(b[0]!.capBytes, MiB);
  assert.equal(b[1]!.capBytes, 25 * MiB);
  assert.equal(b[0]!.bytes, (10 + 40960 + 4096 + 4096 * 4096) * 4);
});

test('many small parameters: 1 MiB first bucket, then 25 MiB buckets, all parameters exactly once', () => {
  const params = Array.from({ length: 100 }, () => f32(128 * 1024)); // 0.5 MiB each
  const b = planBuckets(params);
  assert.deepEqual(b[0]!.params, [99, 98]);
  assert.equal(b[1]!.params.length, 50); // 25 MiB / 0.5 MiB
  assert.deepEqual(b[1]!.params.slice(0, 2), [97, 96]);
  assert.deepEqual(b.flatMap((x) => x.params).sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i));
  const small = planBuckets(params, { bucketCapMb: 1 });
  assert.ok(small.every((x) => x.params.length === 2));
});

test('dtypes/devices never share a bucket; each group has its own first-bucket cap', () => {
  const params = [f32(10, 'a'), f32(10, 'b'), f32(300 * 1024, 'a'), f32(10, 'b')];
  const b = planBuckets(params);
  for (const x of b) assert.ok(x.params.every((i) => params[i]!.key === x.key));
  // Visiting order 3(b) 2(a, 1.2 MiB: closes a's first bucket) 1(b) 0(a: a's second bucket, 25 MiB cap).
  assert.deepEqual(b.map((x) => x.params), [[3, 1], [2], [0]]);
  assert.deepEqual(b.map((x) => x.capBytes), [MiB, MiB, 25 * MiB]);
});

test('rebuild: the observed arrival order decides bucket contents and launch order', () => {
  const params = [f32(200 * 1024), f32(200 * 1024), f32(200 * 1024), f32(200 * 1024)]; // 0.78 MiB each
  const b = planBuckets(params, { order: [1, 3, 0, 2], bucketCapMb: 1 });
  assert.deepEqual(b.map((x) => x.params), [[1, 3], [0, 2]]);
  assert.throws(() => planBuckets(params, { order: [0, 0, 1, 2] }), ArgumentError);
  assert.throws(() => planBuckets(params, { order: [0, 1] }), ArgumentError);
  assert.throws(() => planBuckets(params, { bucketCapMb: 0 }), ArgumentError);
  assert.throws(() => planBuckets(params, { bucketCapMb: Number.NaN }), ArgumentError);
  assert.deepEqual(planBuckets([]), []);
});
