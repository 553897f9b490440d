// sort, argsort, topk, cumsum, cumprod, nonzero, maskedSelect and einsum against PyTorch 1.13
// (test/fixtures/torch/ops_sort_scan.json, from scripts/torch_fixtures/ops_sort_scan.py): values,
// dtypes, shapes and the gradients of sum(w * out); the gradients again against finite differences.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { argsort, cumprod, cumsum, einsum, maskedSelect, nonzero, sort, tensor, topk, type Tensor } from '../../lib/index.js';
import { fixtureValues, fromFixture, torchFixture, type EncodedTensor } from '../helpers/torch-fixtures.js';
import { gradcheck } from '../autograd/gradcheck.js';
import { liveTensorCount } from '../../lib/tensor/scope.js';

interface GradCase { inputs: EncodedTensor[]; out: EncodedTensor; w: EncodedTensor; grads: (EncodedTensor | null)[] }
interface Cases {
  sort: { x: EncodedTensor; runs: { dim: number; descending: boolean; values: EncodedTensor; indices: EncodedTensor; argsort: EncodedTensor }[] };
  sort_int32: { x: EncodedTensor; values: EncodedTensor; indices: EncodedTensor };
  sort_bool: { x: EncodedTensor; values: EncodedTensor; indices: EncodedTensor };
  sort_grad: (GradCase & { dim: number; descending: boolean })[];
  topk: { x: EncodedTensor; runs: { k: number; dim: number; largest: boolean; values: EncodedTensor; indices: EncodedTensor }[] };
  topk_nan: { x: EncodedTensor; largest: EncodedTensor[]; smallest: EncodedTensor[] };
  topk_grad: (GradCase & { k: number; dim: number; largest: boolean })[];
  cumsum_grad: (GradCase & { dim: number })[];
  cumprod_grad: (GradCase & { dim: number })[];
  scan_dtypes: Record<string, EncodedTensor>;
  nonzero: Record<string, EncodedTensor>;
  masked_select: (GradCase & { mask: EncodedTensor })[];
  einsum: (GradCase & { equation: string })[];
}
const C = torchFixture<Cases>('ops_sort_scan');

/** Same dtype, shape and values (NaN where torch has NaN; floats within tol, others exact). */
function same(what: string, got: Tensor, want: EncodedTensor, tol = 1e-12): void {
  assert.equal(got.dtype, want.dtype, `${what}: dtype`);
  assert.deepEqual([...got.shape], want.shape, `${what}: shape`);
  const a = Array.from(got.dataSync() as ArrayLike<number | bigint | boolean>, (v) => Number(v));
  const b = fixtureValues(want);
  for (let i = 0; i < b.length; i++) {
    if (Number.isNaN(b[i]!)) assert.ok(Number.isNaN(a[i]!), `${what}[${i}]: want NaN, got ${a[i]}`);
    else if (!Number.isFinite(b[i]!)) assert.equal(a[i], b[i], `${what}[${i}]`);
    else assert.ok(Math.abs(a[i]! - b[i]!) <= tol * Math.max(1, Math.abs(b[i]!)), `${what}[${i}]: got ${a[i]}, torch ${b[i]}`);
  }
}

/** Forward and gradient of one fixture case: out = f(inputs), grads of sum(w * out). */
function gradCase(what: string, c: GradCase, f: (xs: Tensor[]) => Tensor): void {
  const xs = c.inputs.map((e) => fromFixture(e).requiresGrad_());
  const out = f(xs);
  same(`${what}: forward`, out, c.out);
  out.mul(fromFixture(c.w)).sum().backward();
  xs.forEach((x, i) => {
    const g = c.grads[i];
    if (!g) return;
    assert.ok(x.grad, `${what}: input ${i} got no gradient`);
    same(`${what}: grad of input ${i}`, x.grad, g, 1e-10);
  });
}

test('sort and argsort equal torch (NaN greatest, ties stable, ±inf, -0), every dim and direction', () => {
  const x = fromFixture(C.sort.x);
  for (const r of C.sort.runs) {
    const s = sort(x, r.dim, { descending: r.descending, stable: true });
    same(`sort dim ${r.dim} desc ${r.descending}: values`, s.values, r.values);
    same(`sort dim ${r.dim} desc ${r.descending}: indices`, s.indices, r.indices);
    same(`argsort dim ${r.dim} desc ${r.descending}`, x.argsort(r.dim, { descending: r.descending }), r.argsort);
    // the default (stable: false) gives the same stable order
    same(`sort dim ${r.dim} (method, default stable)`, x.sort(r.dim, { descending: r.descending }).indices, r.indices);
  }
  const xi = fromFixture(C.sort_int32.x);
  const si = xi.sort(1, { descending: true });
  same('sort int32 values', si.values, C.sort_int32.values);
  same('sort int32 indices', si.indices, C.sort_int32.indices);
  const sb = fromFixture(C.sort_bool.x).sort();
  same('sort bool values', sb.values, C.sort_bool.values);
  same('sort bool indices', sb.indices, C.sort_bool.indices);
  // 0-d: itself and index 0, as torch
  const z = sort(tensor(3));
  assert.deepEqual([z.values.shape, z.indices.shape, z.values.item(), z.indices.item()], [[], [], 3, 0]);
  assert.deepEqual(argsort(tensor([[]]), 1).shape, [1, 0]);
});

test('topk equals torch: largest/smallest, any dim, k = 0 and k = size, NaN as the largest', () => {
  const x = fromFixture(C.topk.x);
  for (const r of C.topk.runs) {
    const t = topk(x, r.k, r.dim, { largest: r.largest });
    same(`topk k=${r.k} dim=${r.dim} largest=${r.largest}: values`, t.values, r.values);
    same(`topk k=${r.k} dim=${r.dim} largest=${r.largest}: indices`, t.indices, r.indices);
  }
  const xn = fromFixture(C.topk_nan.x);
  const hi = xn.topk(2);
  same('topk NaN largest values', hi.values, C.topk_nan.largest[0]!);
  same('topk NaN largest indices', hi.indices, C.topk_nan.largest[1]!);
  const lo = xn.topk(2, -1, { largest: false, sorted: true });
  same('topk NaN smallest values', lo.values, C.topk_nan.smallest[0]!);
  same('topk NaN smallest indices', lo.indices, C.topk_nan.smallest[1]!);
});

test('sort and topk gradients go back to the selected positions, as torch', () => {
  for (const c of C.sort_grad) gradCase(`sort dim ${c.dim}`, c, ([x]) => x!.sort(c.dim, { descending: c.descending }).values);
  for (const c of C.topk_grad) gradCase(`topk k ${c.k} dim ${c.dim}`, c, ([x]) => x!.topk(c.k, c.dim, { largest: c.largest }).values);
});

test('cumsum and cumprod values and gradients equal torch, cumprod with zeros in the input', () => {
  for (const c of C.cumsum_grad) gradCase(`cumsum dim ${c.dim}`, c, ([x]) => cumsum(x!, c.dim));
  for (const c of C.cumprod_grad) gradCase(`cumprod dim ${c.dim}`, c, ([x]) => x!.cumprod(c.dim));
});

test('cumsum and cumprod dtypes follow torch: integer and bool inputs give int64, { dtype } casts first', () => {
  const d = C.scan_dtypes;
  const xi = fromFixture(d.int32!);
  same('cumsum int32', xi.cumsum(1), d.cumsum_int32!);
  same('cumprod int32', cumprod(xi, 0), d.cumprod_int32!);
  same('cumsum uint8 (no wrap at 256)', fromFixture(d.uint8!).cumsum(0), d.cumsum_uint8!);
  same('cumsum bool', fromFixture(d.bool!).cumsum(0), d.cumsum_bool!);
  same('cumsum int32 dtype float32', xi.cumsum(1, { dtype: 'float32' }), d.cumsum_int32_as_float32!);
  same('cumsum float32 (accumulated in double, as torch on the CPU)', fromFixture(d.float32!).cumsum(0), d.cumsum_float32!, 0);
  assert.equal(tensor([1, 2], { dtype: 'float16' }).cumsum(0).dtype, 'float16');
  assert.deepEqual(tensor(5).cumsum(0).arraySync(), 5);
});

test('nonzero equals torch: int64 [n, ndim] in row-major order, NaN counts, -0 does not', () => {
  const n = C.nonzero;
  same('nonzero 2-D', nonzero(fromFixture(n.x!)), n.out!);
  same('nonzero 1-D', fromFixture(n.x1!).nonzero(), n.out1!);
  same('nonzero 3-D bool', fromFixture(n.x3!).nonzero(), n.out3!);
  assert.deepEqual(tensor(3).nonzero().shape, [1, 0]);
  assert.deepEqual(tensor(0).nonzero().shape, [0, 0]);
  assert.deepEqual(tensor([[0, 0]]).nonzero().shape, [0, 2]);
});

test('maskedSelect equals torch with a broadcast mask, and its gradient', () => {
  for (const [i, c] of C.masked_select.entries()) {
    const mask = fromFixture(c.mask);
    gradCase(`maskedSelect ${i}`, c, ([x]) => maskedSelect(x!, mask));
  }
  assert.deepEqual(tensor([1, 2, 3], { dtype: 'int32' }).maskedSelect(tensor([true, false, true])).arraySync(), [1, 3]);
});

test('einsum equals torch for the matmul-shaped, diagonal, ellipsis and implicit-output cases, with gradients', () => {
  for (const c of C.einsum) gradCase(`einsum '${c.equation}'`, c, (xs) => einsum(c.equation, ...xs));
  // the array form
  const a = tensor([[1, 2], [3, 4]]);
  assert.deepEqual(einsum('ij,jk->ik', [a, a]).arraySync(), [[7, 10], [15, 22]]);
});

test('gradients against finite differences', () => {
  gradcheck('sort values', ([x]) => x!.sort(1).values, [{ shape: [3, 4] }]);
  gradcheck('sort descending dim 0', ([x]) => x!.sort(0, { descending: true }).values, [{ shape: [3, 4] }]);
  gradcheck('topk', ([x]) => x!.topk(2, 1).values, [{ shape: [3, 5] }]);
  gradcheck('cumsum', ([x]) => x!.cumsum(1), [{ shape: [3, 4] }]);
  gradcheck('cumsum dim 0 of a transposed view', ([x]) => x!.t().cumsum(0), [{ shape: [3, 4] }]);
  gradcheck('cumprod', ([x]) => x!.cumprod(1), [{ shape: [3, 4], lo: 0.5, hi: 1.5 }]);
  gradcheck('cumprod with zeros', ([x]) => x!.cumprod(1), [{ shape: [2, 5], values: [2, 0, 3, 0, 4, 0, 0, 1, 2, 3] }]);
  gradcheck('maskedSelect (broadcast)', ([x]) => x!.maskedSelect(tensor([[true], [false], [true]])), [{ shape: [3, 4] }]);
  gradcheck('einsum bij,bjk->bik', ([a, b]) => einsum('bij,bjk->bik', a!, b!), [{ shape: [2, 2, 3] }, { shape: [2, 3, 2] }]);
  gradcheck('einsum ii->i', ([a]) => einsum('ii->i', a!), [{ shape: [3, 3] }]);
  gradcheck('einsum bn,anm,bm->ba', ([a, b, c]) => einsum('bn,anm,bm->ba', a!, b!, c!), [{ shape: [2, 3] }, { shape: [2, 3, 2] }, { shape: [2, 2] }]);
  // double backward through cumsum: d/dx of the gradient of sum(w * cumsum(x)^2)
  gradcheck('cumsum squared', ([x]) => x!.cumsum(0).square(), [{ shape: [5] }]);
});

test('sort along a middle dim of a 3-D view equals sorting each slice in JavaScript', () => {
  const base = tensor(Array.from({ length: 60 }, (_, i) => ((i * 37) % 11) - 5), { shape: [3, 5, 4], dtype: 'float64' });
  const x = base.permute(2, 1, 0); // [4, 5, 3], non-contiguous
  const { values, indices } = x.sort(1, { descending: true });
  const xv = x.arraySync() as number[][][];
  const vv = values.arraySync() as number[][][];
  const iv = indices.arraySync() as number[][][];
  for (let a = 0; a < 4; a++) for (let c = 0; c < 3; c++) {
    const col = xv[a]!.map((row, j) => [row[c]!, j] as const);
    const want = [...col].sort((p, q) => q[0] - p[0] || p[1] - q[1]);
    assert.deepEqual(vv[a]!.map((row) => row[c]), want.map((p) => p[0]), `values [${a}, :, ${c}]`);
    assert.deepEqual(iv[a]!.map((row) => row[c]), want.map((p) => p[1]), `indices [${a}, :, ${c}]`);
  }
  assert.ok(values.isContiguous() && indices.isContiguous());
});

test('the ops leave no intermediate tensors alive', () => {
  const x = tensor(Array.from({ length: 24 }, (_, i) => (i % 5) - 2), { shape: [2, 3, 4] });
  const a = tensor([[1, 2], [3, 4]]);
  const m = x.gt(0);
  const runs: [string, () => Tensor[]][] = [
    ['sort dim 0', () => Object.values(x.sort(0))], ['sort dim 1', () => Object.values(x.sort(1))],
    ['topk', () => Object.values(x.topk(2, 1))], ['argsort', () => [x.argsort(0)]],
    ['cumsum', () => [x.cumsum(1)]], ['cumsum bool', () => [m.cumsum(2)]], ['cumprod', () => [x.cumprod(0)]],
    ['nonzero', () => [x.nonzero()]], ['maskedSelect', () => [x.maskedSelect(m)]],
    ['einsum ij,jk->ik', () => [einsum('ij,jk->ik', a, a)]], ['einsum ii->i', () => [einsum('ii->i', a)]],
    ['einsum ijk->kj', () => [einsum('ijk->kj', x)]],
  ];
  for (const [name, f] of runs) {
    const before = liveTensorCount();
    for (const t of f()) t.dispose();
    assert.equal(liveTensorCount(), before, name);
  }
});
