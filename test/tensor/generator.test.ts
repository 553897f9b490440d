/**
 * Generator and randperm against torch 1.13 (test/fixtures/torch/sampler_orders.json, made by
 * scripts/torch_fixtures/sampler_orders.py): the same seeds give the same permutations and integers,
 * and the generator's state carries on between draws exactly as torch's does.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultGenerator, Generator, manualSeed, randperm } from '../../lib/index.js';
import { randintValues, randpermIndices } from '../../lib/tensor/generator.js';
import { torchFixture } from '../helpers/torch-fixtures.js';

interface Orders {
  randperm: { n: number; seed: string; first: number[]; second: number[] }[];
  randint: { high: number; size: number; seed: number; values: number[] }[];
}
const fx = torchFixture<Orders>('sampler_orders');
const ends = (p: Float64Array) => {
  const a = Array.from(p);
  return a.length > 1000 ? [...a.slice(0, 50), ...a.slice(-50)] : a;
};

test('randperm(n, generator) is torch.randperm for every n and seed of the fixture, twice in a row', () => {
  assert.ok(fx.randperm.length >= 40);
  for (const c of fx.randperm) {
    const g = new Generator().manualSeed(BigInt(c.seed));
    assert.deepEqual(ends(randpermIndices(c.n, g)), c.first, `n=${c.n} seed=${c.seed} first draw`);
    assert.deepEqual(ends(randpermIndices(c.n, g)), c.second, `n=${c.n} seed=${c.seed} second draw`);
  }
});

test('the tensor randperm: int64 by default, torch order, other dtypes, defaultGenerator reseeded by manualSeed', () => {
  const c = fx.randperm.find((r) => r.n === 97 && r.seed === '42')!;
  const t = randperm(97, { generator: new Generator().manualSeed(42) });
  assert.equal(t.dtype, 'int64');
  assert.deepEqual(t.shape, [97]);
  assert.deepEqual(Array.from(t.dataSync() as BigInt64Array, Number), c.first);
  const f = randperm(97, { generator: new Generator().manualSeed(42), dtype: 'float32' });
  assert.deepEqual(Array.from(f.dataSync() as Float32Array), c.first);
  manualSeed(42);
  assert.deepEqual(Array.from(randperm(97).dataSync() as BigInt64Array, Number), c.first, 'manualSeed(42) then randperm(97) = torch.manual_seed(42); torch.randperm(97)');
  assert.deepEqual(Array.from(randperm(97).dataSync() as BigInt64Array, Number), c.second);
  assert.equal(defaultGenerator.initialSeed(), 42n);
  assert.deepEqual(randperm(0).shape, [0]);
});

test('randint on a generator is torch.randint (32-bit draws below 2^32, 64-bit draws above)', () => {
  for (const c of fx.randint) {
    assert.deepEqual(randintValues(0, c.high, c.size, new Generator().manualSeed(c.seed)), c.values, `high=${c.high}`);
  }
});

test('Generator: initialSeed, getState/setState replay, seeds are 64-bit like torch (negative wraps)', () => {
  const g = new Generator();
  assert.equal(g.initialSeed(), 67280421310721n, "torch's default seed");
  g.manualSeed(7);
  randpermIndices(10, g);
  const state = g.getState();
  const a = randpermIndices(50, g);
  g.setState(state);
  assert.deepEqual(randpermIndices(50, g), a);
  assert.equal(new Generator().manualSeed(-1).initialSeed(), 2n ** 64n - 1n);
  const s = new Generator().seed();
  assert.equal(typeof s, 'bigint');
});

test('bad input: clear errors with codes', () => {
  const code = (f: () => unknown, re: RegExp) => assert.throws(f, (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARG' && re.test(e.message));
  code(() => new Generator().manualSeed(1.5), /seed must be an integer/);
  code(() => randperm(-1), /non-negative integer/);
  code(() => randperm(3, { generator: {} as Generator }), /generator must be a Generator/);
  code(() => randperm(300, { dtype: 'uint8' }), /does not fit uint8/);
  code(() => randperm(3, { dtype: 'bool' }), /cannot hold a permutation/);
  code(() => randperm(3, { seed: 1 } as never), /seed/);
  code(() => new Generator().setState({} as never), /expected a state/);
});
