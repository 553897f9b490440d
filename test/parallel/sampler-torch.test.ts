/**
 * torch's data orders, sample for sample (test/fixtures/torch/sampler_orders.json from PyTorch 1.13):
 * DistributedSampler(shuffle, seed) after setEpoch, RandomSampler with and without a generator
 * (numSamples, replacement), and DataLoader(shuffle) with and without one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DataLoader, DistributedSampler, Generator, manualSeed, parallel } from '../../lib/index.js';
import { torchFixture } from '../helpers/torch-fixtures.js';

interface Orders {
  distributed: { n: number; replicas: number; rank: number; dropLast: boolean; seed: number; epochs: number[][] }[];
  randomSampler: {
    n: number; generatorSeed: number; withGenerator: number[][]; defaultSeed: number; withoutGenerator: number[][];
    numSamples80Seed9: number[]; replacement70Seed4: number[];
  };
  dataLoader: { n: number; batchSize: number; generatorSeed: number; withGenerator: number[][][]; defaultSeed: number; withoutGenerator: number[][][] };
}
const fx = torchFixture<Orders>('sampler_orders');
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

test('DistributedSampler(shuffle: true, seed) gives torch order on every rank and epoch (padding, dropLast)', () => {
  assert.ok(fx.distributed.length >= 10);
  for (const c of fx.distributed) {
    const s = new DistributedSampler(range(c.n), { numReplicas: c.replicas, rank: c.rank, shuffle: true, seed: c.seed, dropLast: c.dropLast });
    c.epochs.forEach((want, e) => {
      s.setEpoch(e);
      assert.deepEqual([...s], want, `n=${c.n} replicas=${c.replicas} rank=${c.rank} dropLast=${c.dropLast} epoch=${e}`);
    });
  }
});

test('RandomSampler: a generator carries on across passes; without one each pass seeds from defaultGenerator', () => {
  const r = fx.randomSampler;
  const withGen = new parallel.RandomSampler(range(r.n), { generator: new Generator().manualSeed(r.generatorSeed) });
  assert.deepEqual([[...withGen], [...withGen], [...withGen]], r.withGenerator);
  manualSeed(r.defaultSeed);
  const noGen = new parallel.RandomSampler(range(r.n));
  assert.deepEqual([[...noGen], [...noGen], [...noGen]], r.withoutGenerator);
  const more = new parallel.RandomSampler(range(r.n), { generator: new Generator().manualSeed(9), numSamples: 80 });
  assert.equal(more.length, 80);
  assert.deepEqual([...more], r.numSamples80Seed9);
  const repl = new parallel.RandomSampler(range(r.n), { seed: 4, replacement: true, numSamples: 70 });
  assert.deepEqual([...repl], r.replacement70Seed4);
});

async function epochs(loader: DataLoader<number, number[]>, k: number): Promise<number[][][]> {
  const out: number[][][] = [];
  for (let e = 0; e < k; e++) {
    const batches: number[][] = [];
    for await (const b of loader) batches.push(b);
    out.push(batches);
  }
  return out;
}

test('DataLoader(shuffle: true) batches in torch order, with a generator and from manualSeed', async () => {
  const d = fx.dataLoader;
  const collate = (b: number[]) => b;
  const withGen = new DataLoader<number, number[]>(range(d.n), { batchSize: d.batchSize, shuffle: true, generator: new Generator().manualSeed(d.generatorSeed), collate });
  assert.deepEqual(await epochs(withGen, 3), d.withGenerator);
  manualSeed(d.defaultSeed);
  const noGen = new DataLoader<number, number[]>(range(d.n), { batchSize: d.batchSize, shuffle: true, collate });
  assert.deepEqual(await epochs(noGen, 3), d.withoutGenerator);
});

test('sampler and loader generator options: clear errors', () => {
  const bad = (f: () => unknown, re: RegExp) => assert.throws(f, (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARG' && re.test(e.message));
  bad(() => new parallel.RandomSampler(range(3), { generator: 5 as never }), /generator must be a Generator/);
  bad(() => new parallel.RandomSampler(range(3), { generator: new Generator(), seed: 1 }), /either generator or seed/);
  bad(() => new parallel.RandomSampler(range(3), { numSamples: 0 }), /numSamples/);
  bad(() => new parallel.RandomSampler(range(3), { replacement: 'yes' as never }), /replacement should be a boolean/);
  bad(() => new DataLoader(range(3), { shuffle: true, generator: new Generator(), seed: 2 }), /either generator or seed/);
  bad(() => new DataLoader(range(3), { shuffle: true, generator: {} as never }), /generator must be a Generator/);
  assert.throws(() => [...new parallel.RandomSampler([], { replacement: true, numSamples: 3 })], /empty dataset/);
});
