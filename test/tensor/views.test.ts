import assert from 'node:assert/strict';
import { test } from 'node:test';
import { arange, cat, chunk, split, stack, tensor, zeros, type Tensor } from '../../lib/index.js';
import { errCode, indices, numel, randShape, rng } from './helpers.js';

const vals = (t: Tensor): number[] => Array.from(t.dataSync() as ArrayLike<number | bigint>, Number);

test('views share storage and do not copy; reshape copies only when it must', () => {
  const x = arange(24, { dtype: 'float32' }).reshape(2, 3, 4);
  assert.deepEqual(x.shape, [2, 3, 4]);
  const t = x.transpose(0, 2);
  assert.deepEqual(t.shape, [4, 3, 2]);
  assert.deepEqual(t.strides, [1, 4, 12]);
  assert.equal(t._storage, x._storage);
  assert.ok(!t.isContiguous());
  assert.equal(x.view(6, 4)._storage, x._storage);
  assert.equal(x.view([-1, 4]).shape[0], 6);
  assert.throws(() => t.view(24), errCode('ERR_SHAPE_MISMATCH', /reshape/));
  const r = t.reshape(24);
  assert.notEqual(r._storage, x._storage, 'reshape of a transposed tensor copies');
  // values of the transposed reshape follow the logical order
  const expect: number[] = [];
  for (const [i, j, k] of indices([4, 3, 2])) expect.push(k! * 12 + j! * 4 + i!);
  assert.deepEqual(vals(r), expect);
  assert.throws(() => x.reshape(5, 5), errCode('ERR_SHAPE_MISMATCH', /\[5, 5\].*\[2, 3, 4\]/));
  assert.throws(() => x.reshape(-1, -1), errCode('ERR_INVALID_ARG'));
  // writes through a view are visible in the base
  const row = x.select(0, 1).select(0, 2);
  row.fill_(-1);
  assert.deepEqual(vals(x.select(0, 1)).slice(8, 12), [-1, -1, -1, -1]);
});

test('permute/transpose/slice/narrow/select/squeeze/unsqueeze/expand/flatten against index arithmetic', () => {
  const r = rng(5);
  for (let trial = 0; trial < 30; trial++) {
    const shape = randShape(r, 1 + Math.floor(r() * 3), 4, false);
    const n = numel(shape);
    const x = arange(n, { dtype: 'float64' }).reshape(shape);
    const st: number[] = [];
    let acc = 1;
    for (let i = shape.length - 1; i >= 0; i--) { st[i] = acc; acc *= shape[i]!; }
    const at = (idx: number[]): number => idx.reduce((s, v, i) => s + v * st[i]!, 0);
    // permute: reverse dims
    const perm = shape.map((_, i) => shape.length - 1 - i);
    const p = x.permute(perm);
    assert.deepEqual(vals(p), [...indices(p.shape)].map((idx) => at(perm.map((_, i) => idx[perm.indexOf(i)]!))));
    // slice with step along a random dim
    const d = Math.floor(r() * shape.length);
    const start = Math.floor(r() * shape[d]!);
    const step = 1 + Math.floor(r() * 2);
    const s = x.slice(d, start, null, step);
    const expS = [...indices(s.shape)].map((idx) => at(idx.map((v, i) => (i === d ? start + v * step : v))));
    assert.deepEqual(vals(s), expS);
    // select
    const k = Math.floor(r() * shape[d]!);
    const sel = x.select(d, k);
    assert.deepEqual(sel.shape, shape.filter((_, i) => i !== d));
    assert.deepEqual(vals(sel), [...indices(sel.shape)].map((idx) => { const full = [...idx]; full.splice(d, 0, k); return at(full); }));
    // unsqueeze + squeeze round trip, expand broadcasting a size-1 dim
    const u = x.unsqueeze(d);
    assert.deepEqual(u.shape, [...shape.slice(0, d), 1, ...shape.slice(d)]);
    assert.deepEqual(u.squeeze(d).shape, shape);
    const e = u.expand([...shape.slice(0, d), 3, ...shape.slice(d)]);
    assert.deepEqual(vals(e), [...indices(e.shape)].map((idx) => { const full = [...idx]; full.splice(d, 1); return at(full); }));
    assert.deepEqual(vals(x.flatten()), Array.from({ length: n }, (_, i) => i));
  }
  const x = arange(6).reshape(2, 3);
  assert.deepEqual(x.narrow(1, 1, 2).arraySync(), [[1, 2], [4, 5]]);
  assert.deepEqual(x.slice(1, -2).arraySync(), [[1, 2], [4, 5]]);
  assert.deepEqual(x.slice(0, 5, 9).shape, [0, 3]);
  assert.deepEqual(x.t().arraySync(), [[0, 3], [1, 4], [2, 5]]);
  assert.deepEqual(x.T.shape, [3, 2]);
  assert.deepEqual(arange(4).reshape(1, 4, 1).squeeze().shape, [4]);
  assert.deepEqual(x.flatten(0, 1).shape, [6]);
  assert.deepEqual(arange(24).reshape(2, 3, 4).flatten(1).shape, [2, 12]);
  assert.deepEqual(x.contiguous(), x);
  assert.ok(x.t().contiguous().isContiguous());
});

test('bad dims and indices get ERR_INDEX_OUT_OF_RANGE / ERR_INVALID_ARG / ERR_SHAPE_MISMATCH', () => {
  const x = arange(6).reshape(2, 3);
  assert.throws(() => x.transpose(0, 2), errCode('ERR_INDEX_OUT_OF_RANGE', /dimension 2 is out of range.*2 dimensions/));
  assert.throws(() => x.select(1, 3), errCode('ERR_INDEX_OUT_OF_RANGE', /index 3 is out of bounds for dimension 1 with size 3/));
  assert.throws(() => x.select(1, -4), errCode('ERR_INDEX_OUT_OF_RANGE'));
  assert.throws(() => x.narrow(1, 2, 2), errCode('ERR_INDEX_OUT_OF_RANGE'));
  assert.throws(() => x.permute(0, 0), errCode('ERR_INVALID_ARG'));
  assert.throws(() => x.permute(0), errCode('ERR_INVALID_ARG'));
  assert.throws(() => x.expand(3, 3), errCode('ERR_SHAPE_MISMATCH', /expanded size/));
  assert.throws(() => x.sum(5), errCode('ERR_INDEX_OUT_OF_RANGE'));
  assert.throws(() => x.unsqueeze(4), errCode('ERR_INDEX_OUT_OF_RANGE'));
  assert.throws(() => x.slice(0, 0, 1, 0), errCode('ERR_INVALID_ARG'));
  assert.throws(() => x.flatten(1, 0), errCode('ERR_INVALID_ARG'));
});

test('cat, stack, split, chunk, unbind', () => {
  const a = arange(6).reshape(2, 3);
  const b = arange(6, 9).reshape(1, 3);
  assert.deepEqual(cat([a, b]).arraySync(), [[0, 1, 2], [3, 4, 5], [6, 7, 8]]);
  assert.deepEqual(cat([a, a], 1).arraySync(), [[0, 1, 2, 0, 1, 2], [3, 4, 5, 3, 4, 5]]);
  assert.deepEqual(cat([a.t(), a.t()], 0).shape, [6, 2]);
  const mixed = cat([tensor([1], { dtype: 'int32' }), tensor([0.5])]);
  assert.equal(mixed.dtype, 'float32');
  assert.deepEqual(mixed.arraySync(), [1, 0.5]);
  assert.deepEqual(stack([b, b], 0).shape, [2, 1, 3]);
  assert.deepEqual(stack([tensor([1, 2]), tensor([3, 4])], 1).arraySync(), [[1, 3], [2, 4]]);
  const parts = split(arange(7), 3);
  assert.deepEqual(parts.map((p) => p.arraySync()), [[0, 1, 2], [3, 4, 5], [6]]);
  assert.deepEqual(split(arange(5), [1, 4]).map((p) => p.shape[0]), [1, 4]);
  assert.deepEqual(chunk(arange(5), 2).map((p) => p.arraySync()), [[0, 1, 2], [3, 4]]);
  assert.deepEqual(a.unbind(1).map((p) => p.arraySync()), [[0, 3], [1, 4], [2, 5]]);
  assert.throws(() => cat([a, arange(4).reshape(2, 2)]), errCode('ERR_SHAPE_MISMATCH', /cat.*\[2, 3\].*\[2, 2\]/));
  assert.throws(() => stack([a, b]), errCode('ERR_SHAPE_MISMATCH', /stack/));
  assert.throws(() => cat([]), errCode('ERR_INVALID_ARG'));
  assert.throws(() => split(arange(5), [1, 1]), errCode('ERR_INVALID_ARG'));
});

test('views and copies of tensors with size-0 dims', () => {
  const e = arange(0).reshape(2, 0, 3);
  assert.deepEqual(e.shape, [2, 0, 3]);
  assert.deepEqual(e.transpose(0, 2).shape, [3, 0, 2]);
  assert.deepEqual(e.permute(1, 2, 0).contiguous().shape, [0, 3, 2]);
  assert.deepEqual(e.reshape(0, 6).shape, [0, 6]);
  assert.deepEqual(e.reshape(-1, 3).shape, [0, 3]);
  assert.deepEqual(e.flatten().shape, [0]);
  assert.deepEqual(e.slice(2, 1).shape, [2, 0, 2]);
  assert.deepEqual(e.select(0, 1).shape, [0, 3]);
  assert.deepEqual(e.unsqueeze(0).expand(4, 2, 0, 3).shape, [4, 2, 0, 3]);
  assert.deepEqual(e.clone().shape, [2, 0, 3]);
  assert.deepEqual(cat([e, e], 1).shape, [2, 0, 3]);
  assert.deepEqual(cat([arange(0).reshape(0, 3), arange(3).reshape(1, 3)]).arraySync(), [[0, 1, 2]]);
  assert.deepEqual(e.add(1).shape, [2, 0, 3]);
  assert.deepEqual(e.float().matmul(zeros([3, 4])).shape, [2, 0, 4]);
  assert.deepEqual(zeros([2, 0]).matmul(zeros([0, 3])).arraySync(), [[0, 0, 0], [0, 0, 0]]);
  assert.deepEqual(e.reshape(-1).shape, [0]);
  assert.throws(() => e.reshape(0, -1), errCode('ERR_SHAPE_MISMATCH'));
});
