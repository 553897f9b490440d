import assert from 'node:assert/strict';
import { test } from 'node:test';
import { embedding, gather, indexSelect, layerNorm, matmul, oneHot, scatterAdd, tensor } from '../../lib/index.js';
import { assertClose, errCode, numel, randValues, rng } from './helpers.js';

/** Reference batched matmul over broadcast batch dims of contiguous values. */
function refMatmul(a: number[], as: number[], b: number[], bs: number[]): { out: number[]; shape: number[] } {
  const m = as[as.length - 2]!, k = as[as.length - 1]!, n = bs[bs.length - 1]!;
  const ba = as.slice(0, -2), bb = bs.slice(0, -2);
  const nb = Math.max(ba.length, bb.length);
  const batch = Array.from({ length: nb }, (_, i) => Math.max(ba[ba.length - nb + i] ?? 1, bb[bb.length - nb + i] ?? 1));
  const out: number[] = [];
  const count = numel(batch);
  const offsetOf = (bidx: number[], shape: number[], mat: number): number => {
    let off = 0, mul = mat;
    for (let i = shape.length - 1; i >= 0; i--) {
      const j = bidx[nb - shape.length + i]!;
      off += (shape[i] === 1 ? 0 : j) * mul;
      mul *= shape[i]!;
    }
    return off;
  };
  for (let c = 0; c < count; c++) {
    const bidx: number[] = [];
    let rem = c;
    for (let i = nb - 1; i >= 0; i--) { bidx[i] = rem % batch[i]!; rem = Math.floor(rem / batch[i]!); }
    const ao = offsetOf(bidx, ba, m * k), bo = offsetOf(bidx, bb, k * n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[ao + i * k + p]! * b[bo + p * n + j]!;
      out.push(s);
    }
  }
  return { out, shape: [...batch, m, n] };
}

test('matmul: 2-D, batched with broadcasting, transposed views, size-0/size-1 dims, every float dtype', () => {
  const r = rng(21);
  const shapes: [number[], number[]][] = [
    [[3, 4], [4, 5]], [[1, 4], [4, 1]], [[2, 3, 4], [4, 2]], [[2, 1, 3, 4], [5, 4, 2]], [[0, 3], [3, 2]], [[2, 0], [0, 3]],
    [[3, 1], [1, 3]], [[4, 2, 3], [4, 3, 5]], [[17, 33], [33, 9]],
  ];
  for (const [as, bs] of shapes) {
    const av = randValues(r, numel(as));
    const bv = randValues(r, numel(bs));
    const ref = refMatmul(av, as, bv, bs);
    const a = tensor(av, { shape: as, dtype: 'float64' });
    const b = tensor(bv, { shape: bs, dtype: 'float64' });
    const c = matmul(a, b);
    assert.deepEqual(c.shape, ref.shape);
    assertClose(c, ref.out, { atol: 1e-10, msg: `[${as}] @ [${bs}]` });
    // the same product from transposed storage (passed to the kernel as transA/transB)
    if (as.length >= 2 && bs.length >= 2) {
      const at = a.transpose(-1, -2).contiguous().transpose(-1, -2);
      const bt = b.transpose(-1, -2).contiguous().transpose(-1, -2);
      assert.ok(as[as.length - 1]! <= 1 || as[as.length - 2]! <= 1 || !at.isContiguous());
      assertClose(matmul(at, bt), ref.out, { atol: 1e-10, msg: `transposed [${as}] @ [${bs}]` });
    }
    for (const dtype of ['float32', 'float16', 'bfloat16'] as const) {
      const tol = dtype === 'float32' ? 1e-4 : 0.05;
      assertClose(matmul(a.to(dtype), b.to(dtype)), ref.out, { atol: tol * 4, rtol: tol, msg: `${dtype} [${as}] @ [${bs}]` });
    }
  }
  // 1-D operands
  const v = tensor([1, 2, 3]);
  const m = tensor([[1, 0], [0, 1], [1, 1]]);
  assert.equal(matmul(v, v).item(), 14);
  assert.deepEqual(matmul(v, m).arraySync(), [4, 5]);
  assert.deepEqual(matmul(m.t(), v).arraySync(), [4, 5]);
  assert.deepEqual(tensor([[1, 2]], { dtype: 'int64' }).matmul(tensor([[3], [4]], { dtype: 'int64' })).arraySync(), [[11]]);
  // a sliced (row-strided) operand
  const big = tensor(Array.from({ length: 24 }, (_, i) => i), { shape: [4, 6], dtype: 'float64' });
  const sl = big.slice(1, 1, 4);
  assertClose(matmul(sl, tensor([1, 1, 1], { dtype: 'float64' })), [6, 24, 42, 60]);
});

test('matmul errors name the op and both shapes', () => {
  assert.throws(() => matmul(tensor([[1, 2, 3]]), tensor([[1, 2]])), errCode('ERR_SHAPE_MISMATCH', /matmul.*\[1, 3\].*\[1, 2\].*1x3 and 1x2/));
  assert.throws(() => matmul(tensor([1, 2]), tensor([1, 2, 3])), errCode('ERR_SHAPE_MISMATCH'));
  assert.throws(() => matmul(tensor(1), tensor([1])), errCode('ERR_INVALID_ARG'));
  assert.throws(() => matmul(tensor([[1]]), tensor([[1]], { dtype: 'float64' })), errCode('ERR_DTYPE'));
  assert.throws(() => matmul(tensor([2, 3, 4].map(() => 1), { shape: [1, 3] }).expand(2, 3).reshape(2, 1, 3), tensor([1, 1, 1, 1, 1, 1], { shape: [3, 3, 2].slice(0, 2) }).reshape(3, 1, 2).expand(3, 3, 2)), errCode('ERR_SHAPE_MISMATCH'));
});

test('gather, scatterAdd, indexSelect, embedding, oneHot match loops; bad indices are ERR_INDEX_OUT_OF_RANGE', () => {
  const x = tensor([[1, 2, 3], [4, 5, 6]]);
  const idx = tensor([[2, 0], [1, 1]], { dtype: 'int64' });
  assert.deepEqual(gather(x, 1, idx).arraySync(), [[3, 1], [5, 5]]);
  assert.deepEqual(gather(x, 0, tensor([[1, 0, 1]], { dtype: 'int64' })).arraySync(), [[4, 2, 6]]);
  assert.deepEqual(scatterAdd(x, 1, idx, tensor([[10, 20], [30, 40]])).arraySync(), [[21, 2, 13], [4, 75, 6]]);
  assert.deepEqual(x.arraySync(), [[1, 2, 3], [4, 5, 6]], 'scatterAdd is out of place');
  assert.deepEqual(indexSelect(x, 1, tensor([2, 2, 0], { dtype: 'int64' })).arraySync(), [[3, 3, 1], [6, 6, 4]]);
  assert.deepEqual(indexSelect(x.t(), 0, tensor([1], { dtype: 'int32' })).arraySync(), [[2, 5]]);
  const w = tensor([[0, 0], [1, 1], [2, 2]]);
  assert.deepEqual(embedding(tensor([[2, 0], [1, 1]], { dtype: 'int64' }), w).arraySync(), [[[2, 2], [0, 0]], [[1, 1], [1, 1]]]);
  const oh = oneHot(tensor([0, 2, 1], { dtype: 'int64' }));
  assert.equal(oh.dtype, 'int64');
  assert.deepEqual(oh.arraySync(), [[1, 0, 0], [0, 0, 1], [0, 1, 0]]);
  assert.deepEqual(oneHot(tensor([1], { dtype: 'int64' }), 4).arraySync(), [[0, 1, 0, 0]]);
  const bad = tensor([[3, 0], [0, 0]], { dtype: 'int64' });
  assert.throws(() => gather(x, 1, bad), errCode('ERR_INDEX_OUT_OF_RANGE', /3/));
  assert.throws(() => scatterAdd(x, 1, tensor([[-1, 0], [0, 0]], { dtype: 'int64' }), x), errCode('ERR_INDEX_OUT_OF_RANGE'));
  assert.throws(() => indexSelect(x, 0, tensor([2], { dtype: 'int64' })), errCode('ERR_INDEX_OUT_OF_RANGE', /2.*size 2/));
  assert.throws(() => embedding(tensor([5], { dtype: 'int64' }), w), errCode('ERR_INDEX_OUT_OF_RANGE'));
  assert.throws(() => oneHot(tensor([3], { dtype: 'int64' }), 3), errCode('ERR_INDEX_OUT_OF_RANGE'));
  assert.throws(() => gather(x, 1, tensor([[0]])), errCode('ERR_DTYPE', /int64/));
  assert.throws(() => gather(x, 1, tensor([0], { dtype: 'int64' })), errCode('ERR_SHAPE_MISMATCH'));
  assert.throws(() => gather(x, 2, idx), errCode('ERR_INDEX_OUT_OF_RANGE'));
});

test('softmax, logSoftmax and layerNorm match direct formulas along any dim', () => {
  const r = rng(31);
  const vals = randValues(r, 24, -3, 3);
  const x = tensor(vals, { shape: [2, 3, 4], dtype: 'float64' });
  for (const dim of [0, 1, 2, -1]) {
    const d = (dim + 3) % 3;
    const sizes = [2, 3, 4];
    const st = [12, 4, 1];
    const expS: number[] = [], expL: number[] = [];
    for (let i = 0; i < 24; i++) {
      const coord = [Math.floor(i / 12), Math.floor(i / 4) % 3, i % 4];
      const base = i - coord[d]! * st[d]!;
      const row = Array.from({ length: sizes[d]! }, (_, k) => vals[base + k * st[d]!]!);
      const mx = Math.max(...row);
      const z = row.reduce((s, v) => s + Math.exp(v - mx), 0);
      expS.push(Math.exp(vals[i]! - mx) / z);
      expL.push(vals[i]! - mx - Math.log(z));
    }
    assertClose(x.softmax(dim), expS, { atol: 1e-12, msg: `softmax dim ${dim}` });
    assertClose(x.logSoftmax(dim), expL, { atol: 1e-12, msg: `logSoftmax dim ${dim}` });
    assertClose(x.to('float32').softmax(dim), expS, { atol: 1e-6 });
  }
  const w = tensor([1, 2, 3, 4], { dtype: 'float64' });
  const b = tensor([0, 0.5, 0, -1], { dtype: 'float64' });
  const expLN: number[] = [];
  for (let row = 0; row < 6; row++) {
    const v = vals.slice(row * 4, row * 4 + 4);
    const mu = v.reduce((s, q) => s + q, 0) / 4;
    const vr = v.reduce((s, q) => s + (q - mu) ** 2, 0) / 4;
    v.forEach((q, j) => expLN.push(((q - mu) / Math.sqrt(vr + 1e-5)) * [1, 2, 3, 4][j]! + [0, 0.5, 0, -1][j]!));
  }
  assertClose(layerNorm(x, [4], w, b), expLN, { atol: 1e-9 });
  assertClose(layerNorm(x.to('float32'), [4], w.to('float32'), b.to('float32')), expLN, { atol: 1e-4 });
  assert.throws(() => layerNorm(x, [3]), errCode('ERR_SHAPE_MISMATCH', /layerNorm.*\[2, 3, 4\].*\[3\]/));
  assert.throws(() => layerNorm(x, [4], tensor([1, 2]).to('float64')), errCode('ERR_SHAPE_MISMATCH'));
  assert.throws(() => tensor([1, 2, 3]).softmax(1), errCode('ERR_INDEX_OUT_OF_RANGE'));
  assert.throws(() => tensor([1, 2], { dtype: 'int64' }).softmax(0), errCode('ERR_DTYPE'));
});

