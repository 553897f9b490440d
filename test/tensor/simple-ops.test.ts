// round (with decimals), floor, ceil, trunc, isnan, isinf, isfinite, any, all, flip, roll, repeat,
// tile, tril and triu against PyTorch 1.13 (test/fixtures/torch/ops_simple.json, from
// scripts/torch_fixtures/ops_simple.py): values, dtypes, shapes and the gradients of sum(w * out);
// the gradients again against finite differences, and the layouts torch's fixtures do not reach
// (non-contiguous inputs) against the same op on a contiguous copy.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  all, any, ceil, flip, floor, isfinite, isinf, isnan, randn, repeat, roll, round, tensor, tile, tril, triu, trunc,
  manualSeed, type Tensor,
} from '../../lib/index.js';
import { fixtureValues, fromFixture, torchFixture, type EncodedTensor } from '../helpers/torch-fixtures.js';
import { gradcheck } from '../autograd/gradcheck.js';

interface GradCase { inputs: EncodedTensor[]; out: EncodedTensor; w: EncodedTensor; grads: (EncodedTensor | null)[] }
type Enc = EncodedTensor;
interface Cases {
  rounding: { x: Enc; round: Enc; floor: Enc; ceil: Enc; trunc: Enc; decimals: { decimals: number; out: Enc }[] }[];
  rounding_half: { x: Enc; round: Enc; floor: Enc; ceil: Enc; trunc: Enc }[];
  rounding_int: Record<string, Enc>;
  rounding_grad: (GradCase & { op: 'round' | 'floor' | 'ceil' | 'trunc'; decimals: number })[];
  predicates: { x: Enc; isnan: Enc; isinf: Enc; isfinite: Enc }[];
  any_all: { x: Enc; any: Enc; all: Enc; dims: { dim: number; keepdim: boolean; any: Enc; all: Enc }[] }[];
  any_all_empty: Record<string, Enc>;
  all_one_zero: Record<string, Enc>;
  flip: (GradCase & { dims: number[] })[];
  flip_int: { x: Enc; out: Enc };
  roll: (GradCase & { shifts: number | number[]; dims: number | number[] | null })[];
  roll_int: Record<string, Enc>;
  repeat: (GradCase & { sizes: number[] })[];
  repeat_bool: { x: Enc; out: Enc };
  tile: (GradCase & { dims: number[] })[];
  tril: (GradCase & { diagonal: number })[];
  triu: (GradCase & { diagonal: number })[];
  tri_dtypes: Record<string, Enc>;
}
const C = torchFixture<Cases>('ops_simple');

/** Same dtype, shape and values (NaN where torch has NaN, -0 where torch has -0; floats within tol, others exact). */
function same(what: string, got: Tensor, want: Enc, tol = 0): void {
  assert.equal(got.dtype, want.dtype, `${what}: dtype`);
  assert.deepEqual([...got.shape], want.shape, `${what}: shape`);
  const a = Array.from(got.dataSync() as ArrayLike<number | bigint | boolean>, (v) => Number(v));
  const b = fixtureValues(want);
  for (let i = 0; i < b.length; i++) {
    if (Number.isNaN(b[i]!)) assert.ok(Number.isNaN(a[i]!), `${what}[${i}]: want NaN, got ${a[i]}`);
    else if (tol === 0) assert.ok(Object.is(a[i], b[i]) || (a[i] === b[i] && b[i] !== 0), `${what}[${i}]: got ${a[i]}, torch ${b[i]}`);
    else assert.ok(Math.abs(a[i]! - b[i]!) <= tol * Math.max(1, Math.abs(b[i]!)), `${what}[${i}]: got ${a[i]}, torch ${b[i]}`);
  }
}

function gradCase(what: string, c: GradCase, f: (xs: Tensor[]) => Tensor): void {
  const xs = c.inputs.map((e) => fromFixture(e).requiresGrad_());
  const out = f(xs);
  same(`${what}: forward`, out, c.out);
  out.mul(fromFixture(c.w)).sum().backward();
  xs.forEach((x, i) => {
    const g = c.grads[i];
    if (!g) return;
    assert.ok(x.grad, `${what}: input ${i} got no gradient`);
    same(`${what}: grad of input ${i}`, x.grad, g, 1e-12);
  });
}

test('round (half to even, with decimals), floor, ceil and trunc equal torch in float64 and float32, bit for bit', () => {
  for (const r of C.rounding) {
    const x = fromFixture(r.x);
    same(`round ${x.dtype}`, round(x), r.round);
    same(`round method ${x.dtype}`, x.round(), r.round);
    same(`floor ${x.dtype}`, floor(x), r.floor);
    same(`ceil ${x.dtype}`, x.ceil(), r.ceil);
    same(`trunc ${x.dtype}`, trunc(x), r.trunc);
    for (const d of r.decimals) same(`round ${x.dtype} decimals ${d.decimals}`, x.round({ decimals: d.decimals }), d.out);
  }
  for (const r of C.rounding_half) {
    const x = fromFixture(r.x);
    same(`round ${x.dtype}`, x.round(), r.round);
    same(`floor ${x.dtype}`, x.floor(), r.floor);
    same(`ceil ${x.dtype}`, ceil(x), r.ceil);
    same(`trunc ${x.dtype}`, x.trunc(), r.trunc);
  }
});

test('rounding integer tensors gives the same values and dtype (a new tensor), as torch', () => {
  const d = C.rounding_int;
  const x = fromFixture(d.x!);
  for (const op of ['round', 'floor', 'ceil', 'trunc'] as const) {
    const y = x[op]();
    same(`${op} int64`, y, d[op]!);
    assert.notEqual(y, x);
  }
  same('floor int32', fromFixture(d.x32!).floor(), d.floor32!);
  same('ceil uint8', fromFixture(d.xu8!).ceil(), d.ceilu8!);
  // decimals 0 is plain rounding, for integers too
  same('round int64 decimals 0', x.round({ decimals: 0 }), d.round!);
});

test('rounding gradients are zero, as torch (through a product, so the other factor shows)', () => {
  for (const c of C.rounding_grad) {
    gradCase(`${c.op} decimals ${c.decimals}`, c, ([x]) => (c.op === 'round' ? x!.round({ decimals: c.decimals }) : x![c.op]()).mul(x!));
  }
  const x = tensor([1.5, -2.2], { requiresGrad: true });
  const y = x.floor();
  assert.equal(y.gradFn?.name, 'FloorBackward0');
  assert.equal(x.round({ decimals: 1 }).gradFn?.name, 'RoundBackward1');
  y.sum().backward();
  assert.deepEqual(x.grad!.arraySync(), [0, 0]);
});

test('isnan, isinf and isfinite equal torch for every dtype (bool out)', () => {
  for (const p of C.predicates) {
    const x = fromFixture(p.x);
    same(`isnan ${x.dtype}`, isnan(x), p.isnan);
    same(`isinf ${x.dtype}`, x.isinf(), p.isinf);
    same(`isfinite ${x.dtype}`, isfinite(x), p.isfinite);
    same(`isnan method ${x.dtype}`, x.isnan(), p.isnan);
    same(`isinf fn ${x.dtype}`, isinf(x), p.isinf);
  }
  // a strided view
  const v = tensor([[NaN, 1], [Infinity, 2]]).t();
  assert.deepEqual(v.isnan().arraySync(), [[true, false], [false, false]]);
  assert.deepEqual(v.isfinite().arraySync(), [[false, false], [true, true]]);
});

test('any and all equal torch for every dtype, each dim, keepdim (uint8 in, uint8 out; NaN is true)', () => {
  for (const r of C.any_all) {
    const x = fromFixture(r.x);
    same(`any ${x.dtype}`, any(x), r.any);
    same(`all ${x.dtype}`, x.all(), r.all);
    for (const d of r.dims) {
      same(`any ${x.dtype} dim ${d.dim} keepdim ${d.keepdim}`, x.any(d.dim, { keepdim: d.keepdim }), d.any);
      same(`all ${x.dtype} dim ${d.dim} keepdim ${d.keepdim}`, all(x, d.dim, { keepdim: d.keepdim }), d.all);
    }
  }
  const o = C.all_one_zero;
  const x = fromFixture(o.x!);
  same('all with one zero', x.all(), o.all!);
  same('all dim 0 with one zero', x.all(0), o.all0!);
  same('all dim 1 with one zero', x.all(1), o.all1!);
  same('any of eq(0) dim 1', x.eq(0).any(1), o.any1!);
  // several dims at once (torch 2's tuple form): the same as reducing one after the other
  const y = randn([3, 4, 5]).gt(1.2);
  assert.deepEqual(y.any([0, 2]).arraySync(), y.any(2).any(0).arraySync());
  assert.deepEqual(y.all([1, 2], { keepdim: true }).shape, [3, 1, 1]);
  // a non-contiguous view
  const t = tensor([[0, 1], [0, 0]]).t();
  assert.deepEqual(t.any(1).arraySync(), [false, true]);
});

test('any and all over empty dims and of 0-dim tensors equal torch (any: false, all: true)', () => {
  const e = C.any_all_empty;
  const x = fromFixture(e.x!);
  same('any empty', x.any(), e.any!);
  same('all empty', x.all(), e.all!);
  same('any empty dim 1', x.any(1), e.any1!);
  same('all empty dim 1', x.all(1), e.all1!);
  same('any dim 0 (empty result)', x.any(0), e.any0!);
  same('all dim 0 (empty result)', x.all(0), e.all0!);
  same('all empty dim 1 keepdim', x.all(1, { keepdim: true }), e.all1k!);
  const s = fromFixture(e.scalar!);
  same('any 0-dim', s.any(), e.any_scalar!);
  same('all 0-dim dim 0', s.all(0), e.all_scalar_dim0!);
});

test('flip equals torch for any dims (none, several, negative), with gradients', () => {
  for (const c of C.flip) gradCase(`flip ${JSON.stringify(c.dims)}`, c, ([x]) => flip(x!, c.dims));
  same('flip int32 both dims (method, varargs)', fromFixture(C.flip_int.x).flip(0, 1), C.flip_int.out);
  same('flip int32 both dims (method, array)', fromFixture(C.flip_int.x).flip([1, 0]), C.flip_int.out);
  assert.deepEqual(tensor(5).flip(0).arraySync(), 5);
  assert.deepEqual(tensor([[1, 2, 3]]).t().flip(0).arraySync(), [[3], [2], [1]]);
});

test('roll equals torch: flattened without dims, several dims, repeated dims, shifts beyond the size, with gradients', () => {
  for (const c of C.roll) {
    gradCase(`roll ${JSON.stringify(c.shifts)} ${JSON.stringify(c.dims)}`, c, ([x]) => (c.dims === null ? roll(x!, c.shifts) : x!.roll(c.shifts, c.dims)));
  }
  const r = C.roll_int;
  const x = fromFixture(r.x!);
  same('roll int64 flattened', x.roll(1), r.out!);
  same('roll int64 two dims', roll(x, [1, 1], [0, 1]), r.out01!);
  same('roll of an empty dim', fromFixture(r.empty!).roll(1, 0), r.empty!);
  same('roll of a 0-dim tensor', tensor(5).roll(3), r.scalar!);
  // a non-contiguous input: the same as rolling a contiguous copy
  const t = randn([4, 5]).t();
  assert.deepEqual(t.roll([2, -1], [0, 1]).arraySync(), t.contiguous().roll([2, -1], [0, 1]).arraySync());
  assert.deepEqual(t.roll(3).arraySync(), t.contiguous().roll(3).arraySync());
});

test('repeat and tile equal torch (new leading dims, zero repeats, 0-dim inputs, tile padding), with gradients', () => {
  for (const c of C.repeat) gradCase(`repeat ${JSON.stringify(c.sizes)}`, c, ([x]) => x!.repeat(c.sizes));
  same('repeat bool (varargs)', fromFixture(C.repeat_bool.x).repeat(2, 3), C.repeat_bool.out);
  for (const c of C.tile) gradCase(`tile ${JSON.stringify(c.dims)}`, c, ([x]) => tile(x!, c.dims));
  const t = tensor([[1, 2], [3, 4]]).t();
  assert.deepEqual(t.repeat(1, 2).arraySync(), [[1, 3, 1, 3], [2, 4, 2, 4]]);
  assert.deepEqual(repeat(t, [2, 1]).arraySync(), [[1, 3], [2, 4], [1, 3], [2, 4]]);
  assert.deepEqual(t.tile(2).arraySync(), [[1, 3, 1, 3], [2, 4, 2, 4]]);
});

test('repeat of a tensor with many dims runs one dim at a time, and agrees with the one-pass form', () => {
  manualSeed(14);
  // 9 dims each repeated: 18 copy dims, past the kernels' 16
  const x = randn([2, 1, 2, 1, 2, 1, 2, 1, 2], { dtype: 'float64' });
  const sizes = [2, 1, 2, 1, 2, 1, 2, 1, 2];
  const y = x.repeat(sizes);
  // reference: repeat the first 4 dims, then the rest (each a one-pass problem)
  const a = x.repeat([2, 1, 2, 1, 1, 1, 1, 1, 1]).repeat([1, 1, 1, 1, 2, 1, 2, 1, 2]);
  assert.deepEqual(y.shape, [4, 1, 4, 1, 4, 1, 4, 1, 4]);
  assert.deepEqual(Array.from(y.dataSync() as Float64Array), Array.from(a.dataSync() as Float64Array));
  gradcheck('repeat over 9 dims', ([v]) => v!.repeat(sizes), [{ shape: [2, 1, 2, 1, 2, 1, 2, 1, 2] }]);
});

test('tril and triu equal torch for any diagonal, batched, empty; bool and int32; with gradients', () => {
  for (const c of C.tril) gradCase(`tril ${c.diagonal}`, c, ([x]) => x!.tril(c.diagonal));
  for (const c of C.triu) gradCase(`triu ${c.diagonal}`, c, ([x]) => triu(x!, c.diagonal));
  const d = C.tri_dtypes;
  same('tril bool -1', fromFixture(d.bool!).tril(-1), d.tril_bool!);
  same('triu bool 1', tril(fromFixture(d.bool!).t(), -1).t(), d.triu_bool!);
  same('tril int32', fromFixture(d.int32!).tril(), d.tril_int32!);
  same('triu int32 -1', fromFixture(d.int32!).triu(-1), d.triu_int32!);
  // in place
  const m = tensor([[1, 2], [3, 4]]);
  m.triu_();
  assert.deepEqual(m.arraySync(), [[1, 2], [0, 4]]);
});

test('gradients against finite differences', () => {
  gradcheck('flip', ([x]) => x!.flip(0, 2), [{ shape: [2, 3, 2] }]);
  gradcheck('roll', ([x]) => x!.roll([1, -2], [0, 1]), [{ shape: [3, 4] }]);
  gradcheck('roll flattened of a view', ([x]) => x!.t().roll(5), [{ shape: [3, 4] }]);
  gradcheck('repeat', ([x]) => x!.repeat(2, 1, 3), [{ shape: [2, 2] }]);
  gradcheck('repeat of a view', ([x]) => x!.t().repeat(2, 2), [{ shape: [2, 3] }]);
  gradcheck('tile', ([x]) => x!.tile(3), [{ shape: [2, 2] }]);
  gradcheck('tril', ([x]) => x!.tril(-1), [{ shape: [2, 3, 4] }]);
  gradcheck('triu of a view', ([x]) => x!.t().triu(1), [{ shape: [4, 3] }]);
  // double backward through roll and flip
  gradcheck('roll squared', ([x]) => x!.roll(1, 0).square().flip(0), [{ shape: [4] }]);
});
