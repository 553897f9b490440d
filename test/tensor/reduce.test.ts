import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tensor, type Tensor } from '../../lib/index.js';
import { assertClose, errCode, indices, numel, randShape, randValues, rng, stridesOf } from './helpers.js';

/** Reference reduction over `dims` of contiguous values. */
function refReduce(vals: number[], shape: number[], dims: number[], init: number, f: (acc: number, v: number) => number, fin: (acc: number, n: number) => number = (a) => a): { out: number[]; keep: number[] } {
  const keep = shape.map((s, i) => (dims.includes(i) ? 1 : s));
  const acc = new Array<number>(numel(keep)).fill(init);
  const ks = stridesOf(keep);
  const st = stridesOf(shape);
  for (const idx of indices(shape)) {
    const src = idx.reduce((s, v, i) => s + v * st[i]!, 0);
    const dst = idx.reduce((s, v, i) => s + (dims.includes(i) ? 0 : v * ks[i]!), 0);
    acc[dst] = f(acc[dst]!, vals[src]!);
  }
  const n = dims.reduce((p, d) => p * shape[d]!, 1);
  return { out: acc.map((a) => fin(a, n)), keep };
}

function randomDims(r: () => number, ndim: number): number[] {
  const dims = Array.from({ length: ndim }, (_, i) => i).filter(() => r() < 0.5);
  return dims.length ? dims : [Math.floor(r() * ndim)];
}

test('sum/mean/prod/amax/amin over random dims with keepdim, contiguous and transposed inputs', () => {
  const r = rng(11);
  for (let trial = 0; trial < 40; trial++) {
    const shape = randShape(r, 1 + Math.floor(r() * 3), 4, false);
    const vals = randValues(r, numel(shape), 0.5, 1.5);
    const dims = randomDims(r, shape.length);
    const base = tensor(vals, { shape, dtype: 'float64' });
    const xs = [base];
    if (shape.length >= 2) xs.push(base.transpose(0, 1).contiguous().transpose(0, 1));
    for (const x of xs) {
      for (const keepdim of [false, true]) {
        const check = (name: string, y: Tensor, ref: { out: number[]; keep: number[] }): void => {
          assert.deepEqual(y.shape, keepdim ? ref.keep : shape.filter((_, i) => !dims.includes(i)), name);
          assertClose(y, ref.out, { atol: 1e-9, rtol: 1e-9, msg: `${name} [${shape}] dims ${dims}` });
        };
        check('sum', x.sum(dims, { keepdim }), refReduce(vals, shape, dims, 0, (a, v) => a + v));
        check('mean', x.mean(dims, { keepdim }), refReduce(vals, shape, dims, 0, (a, v) => a + v, (a, n) => a / n));
        check('prod', x.prod(dims, { keepdim }), refReduce(vals, shape, dims, 1, (a, v) => a * v));
        check('amax', x.amax(dims, { keepdim }), refReduce(vals, shape, dims, -Infinity, Math.max));
        check('amin', x.amin(dims, { keepdim }), refReduce(vals, shape, dims, Infinity, Math.min));
        for (const correction of [0, 1]) {
          const mean = refReduce(vals, shape, dims, 0, (a, v) => a + v, (a, n) => a / n).out;
          const sq = refReduce(vals.map((v) => v * v), shape, dims, 0, (a, v) => a + v).out;
          const n = dims.reduce((p, d) => p * shape[d]!, 1);
          const ref = sq.map((s, i) => (s - n * mean[i]! ** 2) / (n - correction));
          check(`var c=${correction}`, x.var(dims, { keepdim, correction }), { out: ref, keep: shape.map((s, i) => (dims.includes(i) ? 1 : s)) });
          check(`std c=${correction}`, x.std(dims, { keepdim, correction }), { out: ref.map(Math.sqrt), keep: shape.map((s, i) => (dims.includes(i) ? 1 : s)) });
        }
      }
    }
  }
});

test('max/min with dim give values and int64 indices; argmax/argmin; reductions over everything', () => {
  const x = tensor([[1, 5, 3], [7, 2, 7]]);
  const { values, indices: idx } = x.max(1);
  assert.deepEqual(values.arraySync(), [5, 7]);
  assert.equal(idx.dtype, 'int64');
  assert.deepEqual(idx.arraySync(), [1, 0]);
  const m = x.min(0, { keepdim: true });
  assert.deepEqual(m.values.arraySync(), [[1, 2, 3]]);
  assert.deepEqual(m.indices.arraySync(), [[0, 1, 0]]);
  assert.equal(x.max().item(), 7);
  assert.equal(x.min().item(), 1);
  assert.deepEqual(x.argmax(1).arraySync(), [1, 0]);
  assert.deepEqual(x.argmin(0).arraySync(), [0, 1, 0]);
  assert.equal(x.argmax().item(), 3);
  assert.equal(x.sum().item(), 25);
  assert.equal(x.sum().ndim, 0);
  assert.deepEqual(x.sum(null, { keepdim: true }).shape, [1, 1]);
  assertClose(x.mean(), [25 / 6]);
  assertClose(tensor([1, 2, 3, 4]).var(), [5 / 3]);
  assertClose(x.logsumexp(1), [Math.log(Math.exp(1) + Math.exp(5) + Math.exp(3)), Math.log(2 * Math.exp(7) + Math.exp(2))], { rtol: 1e-6 });
  assertClose(tensor([3, 4]).norm(), [5]);
  assertClose(tensor([3, -4]).norm(1), [7]);
  assertClose(tensor([3, -4]).norm(Infinity), [4]);
});

test('integer and bool sums are int64; mean of ints needs a float dtype; empty reductions', () => {
  const i = tensor([1, 2, 3], { dtype: 'int32' });
  assert.equal(i.sum().dtype, 'int64');
  assert.equal(i.sum().item(), 6);
  assert.equal(tensor([true, true, false]).sum().item(), 2);
  assert.throws(() => i.mean(), errCode('ERR_DTYPE', /mean/));
  assert.equal(i.mean(null, { dtype: 'float32' }).item(), 2);
  assert.throws(() => i.var(), errCode('ERR_DTYPE'));
  const e = tensor([], { dtype: 'float32' }).reshape(0, 3);
  assert.deepEqual(e.sum(0).arraySync(), [0, 0, 0]);
  assert.deepEqual(e.prod(0).arraySync(), [1, 1, 1]);
  assert.ok(Number.isNaN(e.mean(0).arraySync() instanceof Array ? (e.mean(0).arraySync() as number[])[0]! : 0));
  assert.deepEqual(e.sum(1).shape, [0]);
  assert.throws(() => e.max(0), errCode('ERR_INVALID_ARG', /zero-size/));
  for (const dtype of ['float16', 'bfloat16', 'float64', 'int64', 'uint8'] as const) {
    const t = tensor([[1, 2], [3, 4]], { dtype });
    assertClose(t.sum(0), [4, 6], { msg: dtype });
    assertClose(t.amax(1), [2, 4], { msg: dtype });
    assert.deepEqual(t.argmax(1).arraySync(), [1, 1], dtype);
  }
});

test('size-0 and size-1 dims: sum/prod/mean over random dims match the loops (empty sums are 0, products 1, means NaN)', () => {
  const r = rng(12);
  for (let trial = 0; trial < 40; trial++) {
    const shape = randShape(r, 1 + Math.floor(r() * 3), 3, true).map((d) => (r() < 0.3 ? 0 : r() < 0.3 ? 1 : d));
    const vals = randValues(r, numel(shape), 0.5, 1.5);
    const dims = randomDims(r, shape.length);
    const x = tensor(vals, { shape, dtype: 'float64' });
    const keep = shape.map((s, i) => (dims.includes(i) ? 1 : s));
    const sum = refReduce(vals, shape, dims, 0, (a, v) => a + v);
    assert.deepEqual(x.sum(dims, { keepdim: true }).shape, keep);
    assertClose(x.sum(dims), sum.out, { atol: 1e-12, msg: `sum [${shape}] ${dims}` });
    assertClose(x.prod(dims), refReduce(vals, shape, dims, 1, (a, v) => a * v).out, { atol: 1e-12, msg: `prod [${shape}] ${dims}` });
    assertClose(x.mean(dims), refReduce(vals, shape, dims, 0, (a, v) => a + v, (a, n) => a / n).out, { atol: 1e-12, msg: `mean [${shape}] ${dims}` });
  }
});
