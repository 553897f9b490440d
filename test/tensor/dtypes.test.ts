import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cat, DTYPES, gather, indexSelect, layerNorm, matmul, promoteTypes, stack, tensor, where, type DType } from '../../lib/index.js';
import { assertClose } from './helpers.js';

const num = (v: unknown): number => Number(v);

test('every dtype on the CPU: views, copies, joins, indexing, where, conversion to every other dtype', () => {
  for (const dtype of DTYPES) {
    const vals = dtype === 'bool' ? [1, 0, 0, 1, 1, 0] : [1, 2, 3, 4, 5, 6];
    const x = tensor(vals, { dtype, shape: [2, 3] });
    const flat = (t: { dataSync(): unknown }): number[] => Array.from(t.dataSync() as ArrayLike<number | bigint>, num);
    assert.deepEqual(flat(x.t().contiguous()), [vals[0], vals[3], vals[1], vals[4], vals[2], vals[5]], `${dtype} transpose`);
    assert.deepEqual(flat(cat([x, x], 1)).length, 12);
    assert.equal(cat([x, x]).dtype, dtype);
    assert.deepEqual(stack([x, x]).shape, [2, 2, 3]);
    assert.deepEqual(flat(indexSelect(x, 1, tensor([2, 0], { dtype: 'int64' }))), [vals[2], vals[0], vals[5], vals[3]], `${dtype} indexSelect`);
    assert.deepEqual(flat(gather(x, 1, tensor([[1], [2]], { dtype: 'int64' }))), [vals[1], vals[5]], `${dtype} gather`);
    assert.deepEqual(flat(where(tensor([true, false, true]), x, x)), vals, `${dtype} where`);
    assert.deepEqual(flat(x.slice(1, 1, 3).clone()), [vals[1], vals[2], vals[4], vals[5]]);
    for (const to of DTYPES) {
      const y = x.to(to);
      assert.equal(y.dtype, to);
      const expect = to === 'bool' ? vals.map((v) => (v !== 0 ? 1 : 0)) : vals;
      assert.deepEqual(flat(y), expect, `${dtype} -> ${to}`);
    }
    assert.equal(x.add(x).dtype, promoteTypes(dtype, dtype));
    assert.equal(x.toString().startsWith('tensor([['), true);
  }
});

test('floating dtypes on the CPU: softmax, layerNorm, matmul, reductions within each type\'s precision', () => {
  const tol: Record<string, number> = { float64: 1e-12, float32: 1e-5, float16: 5e-3, bfloat16: 3e-2 };
  const vals = [0.5, -1, 2, 0.25, 1.5, -0.75];
  for (const dtype of ['float64', 'float32', 'float16', 'bfloat16'] as DType[]) {
    const x = tensor(vals, { dtype, shape: [2, 3] });
    const t = tol[dtype]!;
    const sm = (row: number[]): number[] => { const z = row.reduce((s, v) => s + Math.exp(v), 0); return row.map((v) => Math.exp(v) / z); };
    assertClose(x.softmax(1), [...sm(vals.slice(0, 3)), ...sm(vals.slice(3))], { atol: t, rtol: t, msg: `softmax ${dtype}` });
    const ln = (row: number[]): number[] => { const m = row.reduce((s, v) => s + v, 0) / 3; const v = row.reduce((s, q) => s + (q - m) ** 2, 0) / 3; return row.map((q) => (q - m) / Math.sqrt(v + 1e-5)); };
    assertClose(layerNorm(x, [3]), [...ln(vals.slice(0, 3)), ...ln(vals.slice(3))], { atol: 4 * t, rtol: 4 * t, msg: `layerNorm ${dtype}` });
    assertClose(matmul(x, x.t()), [5.25, -2.875, -2.875, 2.875], { atol: 4 * t, rtol: 4 * t, msg: `matmul ${dtype}` });
    assertClose(x.mean(1), [0.5, 1 / 3], { atol: t, rtol: t, msg: `mean ${dtype}` });
    assertClose(x.var(0, { correction: 0 }), [0.015625, 1.5625, 1.890625], { atol: 4 * t, rtol: 4 * t, msg: `var ${dtype}` });
    assert.equal(x.softmax(1).dtype, dtype);
  }
});
