import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArgumentError } from '../../lib/errors.js';
import { seededPermutation, SeededRandom } from '../../lib/parallel/permutation.js';
import { Generator, randpermIndices } from '../../lib/tensor/generator.js';
import { BatchSampler, DistributedSampler, RandomSampler, SequentialSampler } from '../../lib/parallel/sampler.js';

const ds = (n: number) => ({ length: n });
const shares = (n: number, k: number, o: { shuffle?: boolean; dropLast?: boolean; seed?: number; epoch?: number } = {}) =>
  Array.from({ length: k }, (_, rank) => {
    const s = new DistributedSampler(ds(n), { numReplicas: k, rank, shuffle: o.shuffle ?? false, dropLast: o.dropLast ?? false, seed: o.seed ?? 0 });
    if (o.epoch !== undefined) s.setEpoch(o.epoch);
    return [...s];
  });

test('seededPermutation is a permutation, deterministic per seed, different across seeds', () => {
  for (const n of [0, 1, 2, 7, 1000]) {
    const p = seededPermutation(n, 42);
    assert.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i));
    assert.deepEqual(seededPermutation(n, 42), p);
  }
  assert.notDeepEqual(seededPermutation(100, 1), seededPermutation(100, 2));
  // Uniformity, roughly: each of 5 values lands in position 0 about 1/5 of the time over many seeds.
  const counts = new Array(5).fill(0);
  for (let s = 0; s < 5000; s++) counts[seededPermutation(5, s)[0]!]++;
  for (const c of counts) assert.ok(c > 850 && c < 1150, `position-0 counts ${counts}`);
  assert.throws(() => new SeededRandom(1.5), ArgumentError);
  assert.throws(() => seededPermutation(-1, 0), ArgumentError);
});

test('DistributedSampler without shuffle matches torch (padding by repeating the start, strided split)', () => {
  // torch: DistributedSampler(range(10), num_replicas=3, rank=r, shuffle=False)
  assert.deepEqual(shares(10, 3), [
    [0, 3, 6, 9],
    [1, 4, 7, 0],
    [2, 5, 8, 1],
  ]);
  // drop_last=True: num_samples = ceil((10 - 3) / 3) = 3
  assert.deepEqual(shares(10, 3, { dropLast: true }), [
    [0, 3, 6],
    [1, 4, 7],
    [2, 5, 8],
  ]);
  // padding larger than the dataset: indices += (indices * ceil(pad / n))[:pad]
  assert.deepEqual(shares(2, 5), [[0], [1], [0], [1], [0]]);
  assert.deepEqual(shares(8, 4), [
    [0, 4],
    [1, 5],
    [2, 6],
    [3, 7],
  ]);
  // drop_last with fewer samples than replicas: nobody gets anything
  assert.deepEqual(shares(2, 3, { dropLast: true }), [[], [], []]);
});

test('DistributedSampler with shuffle: same permutation on every rank, disjoint, complete, padded, reshuffled by setEpoch', () => {
  for (const [n, k] of [
    [100, 2],
    [101, 3],
    [7, 4],
    [1000, 3],
  ] as const) {
    const parts = shares(n, k, { shuffle: true, seed: 5, epoch: 3 });
    const perm = Array.from(randpermIndices(n, new Generator().manualSeed(5 + 3)));
    const total = Math.ceil(n / k) * k;
    const padded = [...perm, ...Array.from({ length: total - n }, (_, i) => perm[i % n]!)];
    // The strided split of the padded permutation, exactly.
    parts.forEach((p, r) => assert.deepEqual(p, padded.filter((_, i) => i % k === r)));
    const all = parts.flat();
    assert.equal(all.length, total);
    assert.deepEqual(new Set(all).size, n, 'complete');
    // Disjoint except for the padding, which repeats the first (total - n) entries of the order.
    const firstN = padded.slice(0, n);
    assert.deepEqual([...firstN].sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i));
    const lens = parts.map((p) => p.length);
    assert.ok(lens.every((l) => l === Math.ceil(n / k)));
  }
  // dropLast + shuffle: disjoint, no repeats.
  const dl = shares(101, 3, { shuffle: true, dropLast: true, epoch: 1 }).flat();
  assert.equal(dl.length, 99);
  assert.equal(new Set(dl).size, 99);
  const e0 = shares(50, 2, { shuffle: true, epoch: 0 });
  const e1 = shares(50, 2, { shuffle: true, epoch: 1 });
  assert.notDeepEqual(e0, e1);
  assert.deepEqual(shares(50, 2, { shuffle: true, epoch: 1 }), e1);
  const s = new DistributedSampler(ds(10), { numReplicas: 2, rank: 0 });
  assert.equal(s.length, 5);
  assert.equal(s.totalSize, 10);
  assert.equal(s.shuffle, true);
});

test('DistributedSampler rejects bad arguments with clear errors', () => {
  assert.throws(() => new DistributedSampler(ds(10), { numReplicas: 2, rank: 2 }), /rank should be in the interval \[0, 1\]/);
  assert.throws(() => new DistributedSampler(ds(10), { numReplicas: 2, rank: -1 }), ArgumentError);
  assert.throws(() => new DistributedSampler(ds(10), { numReplicas: 0, rank: 0 }), ArgumentError);
  assert.throws(() => new DistributedSampler({ length: -3 }, { numReplicas: 1, rank: 0 }), ArgumentError);
  assert.throws(() => new DistributedSampler(ds(10), { numReplicas: 1, rank: 0 }).setEpoch(-1), ArgumentError);
  assert.deepEqual([...new DistributedSampler(ds(0), { numReplicas: 2, rank: 1 })], [], 'an empty dataset gives nothing, as in torch');
  assert.throws(() => new DistributedSampler(ds(10)), (e: unknown) => (e as { code?: string }).code === 'ERR_DIST_NOT_INITIALIZED' || (e as { code?: string }).code === 'ERR_INVALID_ARG');
});

test('Sequential, Random and Batch samplers', () => {
  assert.deepEqual([...new SequentialSampler(ds(4))], [0, 1, 2, 3]);
  const r = new RandomSampler(ds(20), { seed: 9 });
  const a = [...r];
  const b = [...r];
  assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i));
  assert.notDeepEqual(a, b, 'each pass reshuffles');
  const replay = new RandomSampler(ds(20), { seed: 9 });
  assert.deepEqual([[...replay], [...replay]], [a, b], 'the same seed replays the passes');
  assert.deepEqual([...new BatchSampler(new SequentialSampler(ds(7)), 3)], [[0, 1, 2], [3, 4, 5], [6]]);
  assert.deepEqual([...new BatchSampler(new SequentialSampler(ds(7)), 3, true)], [[0, 1, 2], [3, 4, 5]]);
  assert.equal(new BatchSampler(new SequentialSampler(ds(7)), 3).length, 3);
  assert.equal(new BatchSampler(new SequentialSampler(ds(7)), 3, true).length, 2);
  assert.throws(() => new BatchSampler(new SequentialSampler(ds(7)), 0), ArgumentError);
});
