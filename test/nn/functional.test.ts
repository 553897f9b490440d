/**
 * nn.functional: values against plain-JS references (float64), gradients against finite differences.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NodeNcclError } from '../../lib/errors.js';
import * as F from '../../lib/nn/functional.js';
import { Tensor, tensor } from '../../lib/tensor/index.js';
import { data, gradcheck } from './gradcheck.js';

const f64 = (d: number[], shape: number[]): Tensor => tensor(d, { dtype: 'float64' }).reshape(shape);
const i64 = (d: number[]): Tensor => tensor(d.map(BigInt));
const vals = (t: Tensor): number[] => Array.from(t.dataSync() as Float64Array, Number);
function close(a: number[], b: number[], tol: number, what: string): void {
  assert.equal(a.length, b.length, what);
  a.forEach((x, i) => assert.ok(Math.abs(x - b[i]!) <= tol * (1 + Math.abs(b[i]!)), `${what}[${i}]: ${x} vs ${b[i]}`));
}

/** Reference cross entropy (torch's definition) for one row. */
function ceRow(row: number[], target: number, ls: number): number {
  const m = Math.max(...row);
  const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
  const logp = row.map((v) => v - lse);
  const nll = -logp[target]!;
  const smooth = -logp.reduce((a, b) => a + b, 0) / row.length;
  return (1 - ls) * nll + ls * smooth;
}

const N = 4;
const C = 5;
const X = data(N * C, 7, -3, 3);
const T = [1, 4, 0, 2];
const rows = Array.from({ length: N }, (_, i) => X.slice(i * C, (i + 1) * C));

test('crossEntropy: mean/sum/none, ignoreIndex, labelSmoothing match the reference', () => {
  const x = f64(X, [N, C]);
  const per = rows.map((r, i) => ceRow(r, T[i]!, 0));
  close(vals(F.crossEntropy(x, i64(T), { reduction: 'none' })), per, 1e-12, 'none');
  close(vals(F.crossEntropy(x, i64(T), { reduction: 'sum' })), [per.reduce((a, b) => a + b)], 1e-12, 'sum');
  close(vals(F.crossEntropy(x, i64(T))), [per.reduce((a, b) => a + b) / N], 1e-12, 'mean');
  // ignoreIndex: row 1 ignored; the mean is over the 3 others
  const T2 = [1, -100, 0, 2];
  const per2 = rows.map((r, i) => (T2[i] === -100 ? 0 : ceRow(r, T2[i]!, 0)));
  close(vals(F.crossEntropy(x, i64(T2), { reduction: 'none' })), per2, 1e-12, 'ignored none');
  close(vals(F.crossEntropy(x, i64(T2))), [per2.reduce((a, b) => a + b) / 3], 1e-12, 'ignored mean');
  close(vals(F.crossEntropy(x, i64([1, 7, 0, 7]), { ignoreIndex: 7 })), [(per[0]! + per[2]!) / 2], 1e-12, 'custom ignoreIndex');
  // label smoothing
  const per3 = rows.map((r, i) => ceRow(r, T[i]!, 0.2));
  close(vals(F.crossEntropy(x, i64(T), { labelSmoothing: 0.2 })), [per3.reduce((a, b) => a + b) / N], 1e-12, 'smoothed mean');
  // unbatched: input [C], scalar target
  close(vals(F.crossEntropy(f64(rows[2]!, [C]), tensor(0n).reshape([]))), [ceRow(rows[2]!, 0, 0)], 1e-12, 'unbatched');
});

/** Reference log-probabilities of a row. */
function logpRow(row: number[]): number[] {
  const m = Math.max(...row);
  const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
  return row.map((v) => v - lse);
}

test('crossEntropy with class weights (and label smoothing) follows torch\'s weighted mean', () => {
  const x = f64(X, [N, C]);
  const w = [0.5, 2, 1, 3, 0.25];
  const T2 = [1, -100, 0, 4];
  let num = 0;
  let den = 0;
  let numLs = 0;
  const ls = 0.3;
  rows.forEach((r, i) => {
    if (T2[i] === -100) return;
    const lp = logpRow(r);
    const t = T2[i]!;
    num += -w[t]! * lp[t]!;
    den += w[t]!;
    numLs += (1 - ls) * -w[t]! * lp[t]! + (ls / C) * lp.reduce((a, v, c) => a - w[c]! * v, 0);
  });
  const wt = f64(w, [C]);
  close(vals(F.crossEntropy(x, i64(T2), { weight: wt })), [num / den], 1e-12, 'weighted mean');
  close(vals(F.crossEntropy(x, i64(T2), { weight: wt, reduction: 'sum' })), [num], 1e-12, 'weighted sum');
  close(vals(F.crossEntropy(x, i64(T2), { weight: wt, labelSmoothing: ls })), [numLs / den], 1e-12, 'weighted smoothed mean');
  close(vals(F.nllLoss(F.logSoftmax(x, 1), i64(T2), { weight: wt })), [num / den], 1e-12, 'weighted nll');
  assert.throws(() => F.crossEntropy(x, i64(T), { weight: f64([1, 2], [2]) }), /5 class weights/);
});

test('crossEntropy over extra dims: input [N, C, L], target [N, L]', () => {
  const L = 3;
  const d = data(2 * C * L, 21, -2, 2);
  const tg = [0, 4, 2, 3, 1, 1];
  const x = f64(d, [2, C, L]);
  const ref: number[] = [];
  for (let n = 0; n < 2; n++) {
    for (let l = 0; l < L; l++) {
      const row = Array.from({ length: C }, (_, c) => d[n * C * L + c * L + l]!);
      ref.push(ceRow(row, tg[n * L + l]!, 0));
    }
  }
  const none = F.crossEntropy(x, i64(tg).reshape([2, L]), { reduction: 'none' });
  assert.deepEqual(none.shape, [2, L]);
  close(vals(none), ref, 1e-12, 'k-dim none');
  close(vals(F.crossEntropy(x, i64(tg).reshape([2, L]))), [ref.reduce((a, b) => a + b) / ref.length], 1e-12, 'k-dim mean');
  assert.throws(() => F.crossEntropy(x, i64(tg)), (e: unknown) => (e as NodeNcclError).code === 'ERR_SHAPE_MISMATCH');
});

test('crossEntropy and nllLoss reject bad targets clearly', () => {
  const x = f64(X, [N, C]);
  assert.throws(() => F.crossEntropy(x, i64([0, 1, 2, 5])), (e: unknown) => (e as NodeNcclError).code === 'ERR_INDEX_OUT_OF_RANGE' && /\[0, 5\)/.test((e as Error).message));
  assert.throws(() => F.crossEntropy(x, i64([0, 1, 2])), (e: unknown) => (e as NodeNcclError).code === 'ERR_SHAPE_MISMATCH');
  assert.throws(() => F.crossEntropy(x, tensor([0, 1, 2, 3])), (e: unknown) => (e as NodeNcclError).code === 'ERR_DTYPE');
  assert.throws(() => F.crossEntropy(x, i64(T), { reduction: 'avg' as 'mean' }), /reduction/);
});

test('nllLoss equals crossEntropy on log-probabilities', () => {
  const x = f64(X, [N, C]);
  close(vals(F.nllLoss(F.logSoftmax(x, 1), i64(T))), vals(F.crossEntropy(x, i64(T))), 1e-12, 'nll');
});

test('mseLoss and binaryCrossEntropyWithLogits match the reference, stably for large logits', () => {
  const a = data(6, 3);
  const b = data(6, 4);
  close(vals(F.mseLoss(f64(a, [2, 3]), f64(b, [2, 3]))), [a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0) / 6], 1e-12, 'mse');
  const logits = [-800, -3, -0.5, 0, 2, 900];
  const y = [0, 1, 0.3, 1, 0, 1];
  const pw = [2, 2, 2, 2, 2, 2];
  const ref = logits.map((x, i) => {
    // -[pw y log σ(x) + (1 - y) log(1 - σ(x))], with log σ(x) = -softplus(-x), log(1-σ(x)) = -softplus(x)
    const sp = (z: number): number => Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
    return pw[i]! * y[i]! * sp(-x) + (1 - y[i]!) * sp(x);
  });
  const out = vals(F.binaryCrossEntropyWithLogits(f64(logits, [6]), f64(y, [6]), { posWeight: f64(pw, [6]), reduction: 'none' }));
  out.forEach((v) => assert.ok(Number.isFinite(v)));
  close(out, ref, 1e-12, 'bce posWeight');
  const plain = vals(F.binaryCrossEntropyWithLogits(f64(logits, [6]), f64(y, [6])));
  const refPlain = logits.map((x, i) => (Math.max(x, 0) - x * y[i]! + Math.log1p(Math.exp(-Math.abs(x)))));
  close(plain, [refPlain.reduce((s, v) => s + v, 0) / 6], 1e-12, 'bce mean');
});

test('activations, softmax and layerNorm values', () => {
  const d = [-2, -0.5, 0, 0.7, 3, 10];
  const x = f64(d, [2, 3]);
  close(vals(F.relu(x)), d.map((v) => Math.max(v, 0)), 0, 'relu');
  close(vals(F.silu(x)), d.map((v) => v / (1 + Math.exp(-v))), 1e-12, 'silu');
  close(vals(F.sigmoid(x)), d.map((v) => 1 / (1 + Math.exp(-v))), 1e-12, 'sigmoid');
  close(vals(F.tanh(x)), d.map(Math.tanh), 1e-12, 'tanh');
  const geluTanh = (v: number): number => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
  close(vals(F.gelu(x, { approximate: 'tanh' })), d.map(geluTanh), 1e-12, 'gelu tanh');
  // exact gelu: x Φ(x); Φ(-0.5) = 0.3085375387259869, Φ(0.7) = 0.758036347776927
  const g = vals(F.gelu(x));
  close([g[1]!, g[3]!], [-0.5 * 0.3085375387259869, 0.7 * 0.758036347776927], 1e-12, 'gelu exact');
  const sm = vals(F.softmax(x, 1));
  const z = d.slice(0, 3).map(Math.exp);
  close(sm.slice(0, 3), z.map((v) => v / z.reduce((a, b) => a + b)), 1e-12, 'softmax');
  const ln = vals(F.layerNorm(x, [3], null, null, 1e-5));
  const r = d.slice(3);
  const mu = r.reduce((a, b) => a + b) / 3;
  const va = r.reduce((a, b) => a + (b - mu) ** 2, 0) / 3;
  close(ln.slice(3), r.map((v) => (v - mu) / Math.sqrt(va + 1e-5)), 1e-12, 'layerNorm');
});

test('embedding, oneHot, linear and dropout', () => {
  const w = f64([0, 1, 10, 11, 20, 21], [3, 2]);
  assert.deepEqual(vals(F.embedding(i64([2, 0, 2, 1]).reshape([2, 2]), w)), [20, 21, 0, 1, 20, 21, 10, 11]);
  assert.deepEqual(F.embedding(i64([2, 0, 2, 1]).reshape([2, 2]), w).shape, [2, 2, 2]);
  assert.deepEqual(Array.from(F.oneHot(i64([0, 2, 1])).dataSync() as BigInt64Array, Number), [1, 0, 0, 0, 0, 1, 0, 1, 0]);
  assert.deepEqual(F.oneHot(i64([0, 2]), 4).shape, [2, 4]);
  assert.throws(() => F.oneHot(i64([0, 5]), 3), (e: unknown) => (e as NodeNcclError).code === 'ERR_INDEX_OUT_OF_RANGE');
  const y = F.linear(f64([1, 2], [1, 2]), f64([1, 0, 0, 1, 1, 1], [3, 2]), f64([0.5, 0, -1], [3]));
  assert.deepEqual(vals(y), [1.5, 2, 2]);
  assert.throws(() => F.linear(f64([1, 2, 3], [1, 3]), f64([1, 0, 0, 1], [2, 2])), (e: unknown) => (e as NodeNcclError).code === 'ERR_SHAPE_MISMATCH');
  const ones = f64(new Array(4000).fill(1), [4000]);
  const dropped = vals(F.dropout(ones, { p: 0.25 }));
  const kept = dropped.filter((v) => v !== 0);
  kept.forEach((v) => assert.ok(Math.abs(v - 1 / 0.75) < 1e-12));
  assert.ok(Math.abs(kept.length / 4000 - 0.75) < 0.05, `kept fraction ${kept.length / 4000}`);
  assert.deepEqual(vals(F.dropout(ones, { p: 0.25, training: false })), vals(ones));
});

// ---- gradcheck -----------------------------------------------------------------------------------
test('gradcheck: crossEntropy (plain, ignoreIndex, labelSmoothing, sum) and nllLoss', () => {
  const inp = [{ data: X, shape: [N, C] }];
  gradcheck('crossEntropy', ([x]) => F.crossEntropy(x!, i64(T)), inp);
  gradcheck('crossEntropy ignore', ([x]) => F.crossEntropy(x!, i64([1, -100, 0, 2])), inp);
  gradcheck('crossEntropy smoothing', ([x]) => F.crossEntropy(x!, i64(T), { labelSmoothing: 0.1, reduction: 'sum' }), inp);
  gradcheck('crossEntropy none', ([x]) => F.crossEntropy(x!, i64(T), { reduction: 'none' }), inp);
  gradcheck('nllLoss', ([x]) => F.nllLoss(x!, i64(T)), inp);
  gradcheck('crossEntropy weighted + smoothing', ([x, w]) => F.crossEntropy(x!, i64([1, -100, 0, 4]), { weight: w!, labelSmoothing: 0.2 }), [...inp, { data: [0.5, 2, 1, 3, 0.25], shape: [C] }]);
  gradcheck('crossEntropy k-dim', ([x]) => F.crossEntropy(x!, i64([0, 4, 2, 3]).reshape([2, 2])), [{ data: data(2 * C * 2, 22), shape: [2, C, 2] }]);
});

test('gradcheck: mseLoss and binaryCrossEntropyWithLogits (with weight and posWeight)', () => {
  gradcheck('mseLoss', ([a, b]) => F.mseLoss(a!, b!), [{ data: data(6, 1), shape: [2, 3] }, { data: data(6, 2), shape: [2, 3] }]);
  gradcheck(
    'bceWithLogits',
    ([x, y, pw]) => F.binaryCrossEntropyWithLogits(x!, y!, { posWeight: pw!, weight: f64([1, 2, 0.5], [3]) }),
    [{ data: data(6, 3, -4, 4), shape: [2, 3] }, { data: data(6, 4, 0, 1), shape: [2, 3] }, { data: [0.5, 2, 3], shape: [3] }],
  );
});

test('gradcheck: linear, layerNorm, embedding and the activations', () => {
  gradcheck('linear', ([x, w, b]) => F.linear(x!, w!, b!), [{ data: data(6, 5), shape: [2, 3] }, { data: data(12, 6), shape: [4, 3] }, { data: data(4, 7), shape: [4] }]);
  gradcheck('layerNorm', ([x, w, b]) => F.layerNorm(x!, [4], w!, b!), [{ data: data(8, 8, -2, 2), shape: [2, 4] }, { data: data(4, 9, 0.5, 1.5), shape: [4] }, { data: data(4, 10), shape: [4] }]);
  gradcheck('embedding', ([w]) => F.embedding(i64([2, 0, 2]), w!), [{ data: data(6, 11), shape: [3, 2] }]);
  const x = [{ data: [-1.3, -0.4, 0.2, 0.9, 1.7, 2.6], shape: [2, 3] }];
  gradcheck('relu', ([a]) => F.relu(a!), x);
  gradcheck('gelu', ([a]) => F.gelu(a!), x);
  gradcheck('gelu tanh', ([a]) => F.gelu(a!, { approximate: 'tanh' }), x);
  gradcheck('silu', ([a]) => F.silu(a!), x);
  gradcheck('tanh', ([a]) => F.tanh(a!), x);
  gradcheck('sigmoid', ([a]) => F.sigmoid(a!), x);
  gradcheck('softmax', ([a]) => F.softmax(a!, 1), x);
  gradcheck('logSoftmax', ([a]) => F.logSoftmax(a!, 0), x);
});
