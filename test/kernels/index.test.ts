import assert from 'node:assert/strict';
import { test } from 'node:test';
import { native } from '../../lib/native/index.js';
import { FLOATS, INTS, type DTypeName, alloc, close, code, contiguousStrides, forEachIndex, get, numel, put, rng, roundTo, tol } from './ref.js';

const k = native.kernels;
const fill = (dt: DTypeName, n: number, gen: () => number) => {
  const b = alloc(dt, n);
  for (let i = 0; i < n; i++) put(dt, b, i, gen());
  return b;
};
const small = (r: () => number) => () => Math.floor(r() * 16) / 4;

test('indexSelect and indexAdd over [outer, size, inner] vs JS loops (repeated indices accumulate)', () => {
  const r = rng(30);
  for (const dt of [...FLOATS, ...INTS])
    for (let rep = 0; rep < 6; rep++) {
      const outer = Math.floor(r() * 3), size = 1 + Math.floor(r() * 4), inner = Math.floor(r() * 3), idxLen = Math.floor(r() * 6);
      const index = BigInt64Array.from({ length: idxLen }, () => BigInt(Math.floor(r() * size)));
      const src = fill(dt, outer * size * inner, small(r));
      const out = alloc(dt, outer * idxLen * inner);
      k.indexSelect(code(dt), outer, size, inner, { mem: out, offset: 0 }, { mem: src, offset: 0 }, { mem: index, offset: 0 }, idxLen);
      for (let o = 0; o < outer; o++)
        for (let i = 0; i < idxLen; i++)
          for (let j = 0; j < inner; j++)
            assert.equal(get(dt, out, (o * idxLen + i) * inner + j), get(dt, src, (o * size + Number(index[i])) * inner + j));
      // indexAdd: out[o, index[i], :] += add[o, i, :]
      const acc = fill(dt, outer * size * inner, small(r));
      const before = Array.from({ length: outer * size * inner }, (_, i) => get(dt, acc, i));
      const add = fill(dt, outer * idxLen * inner, small(r));
      k.indexAdd(code(dt), outer, size, inner, { mem: acc, offset: 0 }, { mem: add, offset: 0 }, { mem: index, offset: 0 }, idxLen);
      const want = [...before];
      for (let o = 0; o < outer; o++)
        for (let i = 0; i < idxLen; i++)
          for (let j = 0; j < inner; j++) {
            const p = (o * size + Number(index[i])) * inner + j;
            want[p] = roundTo(dt, want[p]! + get(dt, add, (o * idxLen + i) * inner + j));
          }
      want.forEach((w, i) => assert.ok(close(get(dt, acc, i), w, tol(dt)), `indexAdd ${dt} at ${i}: ${get(dt, acc, i)} vs ${w}`));
    }
});

test('gather and scatterAdd along each dim vs JS loops', () => {
  const r = rng(31);
  for (const dt of ['float32', 'float64', 'bfloat16', 'int64'] as DTypeName[])
    for (let rep = 0; rep < 10; rep++) {
      const nd = 1 + Math.floor(r() * 3);
      const other = Array.from({ length: nd }, () => 1 + Math.floor(r() * 4));
      const dim = Math.floor(r() * nd);
      const shape = other.map((s, d) => (d === dim ? Math.floor(r() * 5) : Math.floor(r() * (s + 1))));
      const n = numel(shape);
      const index = BigInt64Array.from({ length: n }, () => BigInt(Math.floor(r() * other[dim]!)));
      const ost = contiguousStrides(other), st = contiguousStrides(shape);
      const src = fill(dt, numel(other), small(r));
      const out = alloc(dt, n);
      k.gather(code(dt), dim, shape, other, { mem: out, offset: 0 }, { mem: src, offset: 0 }, { mem: index, offset: 0 });
      forEachIndex(shape, (idx) => {
        const p = idx.reduce((a, v, d) => a + v * st[d]!, 0);
        const q = idx.reduce((a, v, d) => a + (d === dim ? Number(index[p]) : v) * ost[d]!, 0);
        assert.equal(get(dt, out, p), get(dt, src, q), `gather ${dt} dim ${dim}`);
      });
      const acc = fill(dt, numel(other), small(r));
      const want = Array.from({ length: numel(other) }, (_, i) => get(dt, acc, i));
      const add = fill(dt, n, small(r));
      k.scatterAdd(code(dt), dim, shape, other, { mem: acc, offset: 0 }, { mem: add, offset: 0 }, { mem: index, offset: 0 });
      forEachIndex(shape, (idx) => {
        const p = idx.reduce((a, v, d) => a + v * st[d]!, 0);
        const q = idx.reduce((a, v, d) => a + (d === dim ? Number(index[p]) : v) * ost[d]!, 0);
        want[q] = roundTo(dt, want[q]! + get(dt, add, p));
      });
      want.forEach((w, i) => assert.ok(close(get(dt, acc, i), w, tol(dt)), `scatterAdd ${dt}`));
    }
});

test('out-of-range and negative indices throw ERR_INDEX_OUT_OF_RANGE and write nothing', () => {
  const src = new Float32Array([1, 2, 3]), out = new Float32Array([9, 9]);
  for (const bad of [3n, -1n]) {
    assert.throws(() => k.indexSelect(0, 1, 3, 1, { mem: out, offset: 0 }, { mem: src, offset: 0 }, { mem: new BigInt64Array([0n, bad]), offset: 0 }, 2),
      { code: 'ERR_INDEX_OUT_OF_RANGE' });
    assert.throws(() => k.indexAdd(0, 1, 3, 1, { mem: src, offset: 0 }, { mem: out, offset: 0 }, { mem: new BigInt64Array([0n, bad]), offset: 0 }, 2),
      { code: 'ERR_INDEX_OUT_OF_RANGE' });
    assert.throws(() => k.gather(0, 0, [2], [3], { mem: out, offset: 0 }, { mem: src, offset: 0 }, { mem: new BigInt64Array([0n, bad]), offset: 0 }),
      { code: 'ERR_INDEX_OUT_OF_RANGE' });
    assert.throws(() => k.scatterAdd(0, 0, [2], [3], { mem: src, offset: 0 }, { mem: out, offset: 0 }, { mem: new BigInt64Array([0n, bad]), offset: 0 }),
      { code: 'ERR_INDEX_OUT_OF_RANGE' });
  }
  assert.deepEqual([...out], [9, 9]);
  assert.deepEqual([...src], [1, 2, 3]);
});

test('arange fills start + i * step in every dtype', () => {
  for (const dt of [...FLOATS, ...INTS]) {
    const out = alloc(dt, 7);
    const step = FLOATS.includes(dt) ? 0.5 : 3;
    k.arange(code(dt), { mem: out, offset: 0 }, 7, -2, step);
    for (let i = 0; i < 7; i++) assert.equal(get(dt, out, i), roundTo(dt, -2 + i * step));
  }
});
