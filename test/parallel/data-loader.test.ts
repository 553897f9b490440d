import assert from 'node:assert/strict';
import { test } from 'node:test';
import { arange, tensor, type Tensor } from '../../lib/index.js';
import { DataLoader, DistributedSampler, TensorDataset, defaultCollate } from '../../lib/parallel/index.js';

const rowsOf = async (t: Tensor): Promise<number[]> => Array.from(await t.data(), Number);

test('batches a dataset of [Float32Array, label] into [float32 [B, n], int64 [B]] in sampler order', async () => {
  const ds = Array.from({ length: 10 }, (_, i) => [Float32Array.from([i, i + 0.5]), i % 3] as [Float32Array, number]);
  const loader = new DataLoader<[Float32Array, number], [Tensor, Tensor]>(ds, { batchSize: 4 });
  assert.equal(loader.length, 3);
  const batches: [Tensor, Tensor][] = [];
  for await (const b of loader) batches.push(b);
  assert.deepEqual(batches.map(([x]) => x.shape), [[4, 2], [4, 2], [2, 2]]);
  assert.equal(batches[0]![0].dtype, 'float32');
  assert.equal(batches[0]![1].dtype, 'int64');
  assert.deepEqual(await rowsOf(batches[2]![0]), [8, 8.5, 9, 9.5]);
  assert.deepEqual(await rowsOf(batches[1]![1]), [1, 2, 0, 1]);
  const dropped = new DataLoader(ds, { batchSize: 4, dropLast: true });
  assert.equal(dropped.length, 2);
  let n = 0;
  for await (const _ of dropped) n++;
  assert.equal(n, 2);
});

test('with a DistributedSampler each rank sees its strided share; setEpoch reshuffles identically on every rank', async () => {
  const ds = Array.from({ length: 11 }, (_, i) => i);
  const seen: number[][] = [];
  for (const rank of [0, 1]) {
    const sampler = new DistributedSampler(ds, { numReplicas: 2, rank, seed: 3 });
    const loader = new DataLoader<number, Tensor>(ds, { batchSize: 3, sampler });
    loader.setEpoch(2);
    const got: number[] = [];
    for await (const b of loader) got.push(...(await rowsOf(b)));
    assert.deepEqual(got, sampler.indices());
    seen.push(got);
  }
  assert.equal(seen[0]!.length, 6);
  assert.deepEqual(new Set([...seen[0]!, ...seen[1]!]).size, 11);
});

test('shuffle: every index once per epoch, a different order each epoch, reproducible with a seed', async () => {
  const ds = Array.from({ length: 20 }, (_, i) => i);
  const epoch = async (l: DataLoader<number, Tensor>) => {
    const out: number[] = [];
    for await (const b of l) out.push(...(await rowsOf(b)));
    return out;
  };
  const l = new DataLoader<number, Tensor>(ds, { batchSize: 6, shuffle: true, seed: 7 });
  const a = await epoch(l);
  const b = await epoch(l);
  assert.deepEqual([...a].sort((x, y) => x - y), ds);
  assert.notDeepEqual(a, b);
  assert.deepEqual(await epoch(new DataLoader<number, Tensor>(ds, { batchSize: 6, shuffle: true, seed: 7 })), a);
});

test('prefetch keeps batches in flight ahead of the consumer (async datasets overlap with training)', async () => {
  const requested: number[] = [];
  const ds = {
    length: 12,
    async get(i: number) {
      requested.push(i);
      await new Promise((r) => setTimeout(r, 1));
      return i;
    },
  };
  const loader = new DataLoader<number, Tensor>(ds, { batchSize: 2, prefetch: 2 });
  const it = loader[Symbol.asyncIterator]();
  await it.next();
  // The first batch is consumed; batches 2 and 3 were already requested.
  assert.ok(requested.length >= 6, `requested ${requested}`);
  const lazy = new DataLoader<number, Tensor>({ ...ds, get: ds.get }, { batchSize: 2, prefetch: 0 });
  requested.length = 0;
  await lazy[Symbol.asyncIterator]().next();
  assert.ok(requested.length <= 4);
});

test('collate: tensors stack, objects and tuples recurse, getItems is used, errors are clear', async () => {
  const t = defaultCollate([arange(3), arange(3)]) as Tensor;
  assert.deepEqual(t.shape, [2, 3]);
  const o = defaultCollate([{ x: 1.5, name: 'a' }, { x: 2, name: 'b' }]) as { x: Tensor; name: string[] };
  assert.equal(o.x.dtype, 'float32');
  assert.deepEqual(o.name, ['a', 'b']);
  assert.throws(() => defaultCollate([]), /empty batch/);
  assert.throws(() => defaultCollate([Float32Array.of(1), Float32Array.of(1, 2)]), /length 1/);
  assert.throws(() => defaultCollate([null]), /don't know how to batch/);
  const td = new TensorDataset(tensor([[1, 2], [3, 4], [5, 6]]), tensor([7, 8, 9]));
  const loader = new DataLoader<Tensor[], Tensor[]>(td, { batchSize: 2 });
  const [xb, yb] = (await loader[Symbol.asyncIterator]().next()).value as Tensor[];
  assert.deepEqual(await rowsOf(xb!), [1, 2, 3, 4]);
  assert.deepEqual(await rowsOf(yb!), [7, 8]);
  let calls = 0;
  const batched = { length: 5, getItems: (idx: readonly number[]) => (calls++, idx.map((i) => i * 10)) };
  const got: number[] = [];
  for await (const b of new DataLoader<number, Tensor>(batched, { batchSize: 2 })) got.push(...(await rowsOf(b)));
  assert.deepEqual(got, [0, 10, 20, 30, 40]);
  assert.equal(calls, 3);
  assert.throws(() => new DataLoader(ds0(), { batchSize: 0 }), /batchSize/);
  assert.throws(() => new DataLoader(ds0(), { shuffle: true, sampler: new DistributedSampler(ds0(), { numReplicas: 1, rank: 0 }) }), /mutually exclusive/);
  assert.throws(() => new DataLoader({ length: 3 } as never), /get\(index\)/);
  assert.throws(() => new TensorDataset(tensor([1, 2]), tensor([1, 2, 3])), /size mismatch/);
});

function ds0(): number[] {
  return [1, 2, 3];
}

test('device: batches are moved (here to cpu, where it is a no-op)', async () => {
  const loader = new DataLoader<number, Tensor>([1, 2, 3], { batchSize: 3, device: 'cpu', pinMemory: true });
  const b = (await loader[Symbol.asyncIterator]().next()).value as Tensor;
  assert.equal(b.device.toString(), 'cpu');
  assert.deepEqual(await rowsOf(b), [1, 2, 3]);
});
