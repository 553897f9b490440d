/**
 * nn.BatchNorm1d / BatchNorm2d / functional.batchNorm against PyTorch 1.13 (test/fixtures/torch/
 * batchnorm.json, scripts/torch_fixtures/batchnorm.py): outputs and gradients in train and eval
 * mode, running statistics over several steps (momentum 0.1, 0.3, null), affine and
 * trackRunningStats off, state-dict keys, a float32 run, finite differences, the errors torch
 * raises; nn.Flatten and nn.Dropout2d.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as nn from '../../lib/nn/index.js';
import * as F from '../../lib/nn/functional.js';
import { Tensor, tensor, randn, manualSeed, ones } from '../../lib/tensor/index.js';
import { noGrad } from '../../lib/autograd/index.js';
import { torchFixture, fromFixture, fixtureValues, type EncodedTensor } from '../helpers/torch-fixtures.js';
import { gradcheck, data } from './gradcheck.js';

interface Step {
  x: EncodedTensor; w: EncodedTensor; out: EncodedTensor; grad_x: EncodedTensor;
  grad_weight?: EncodedTensor; grad_bias?: EncodedTensor;
  running_mean?: EncodedTensor; running_var?: EncodedTensor; num_batches_tracked?: number;
}
interface Fixture {
  layouts: { kind: '1d' | '2d'; shape: number[]; weight: EncodedTensor; bias: EncodedTensor; train: Step; eval: Step }[];
  steps: { momentum: number | null; runs: Step[]; eval: Step }[];
  no_affine: { train: Step; eval: Step };
  no_running_stats: { weight: EncodedTensor; bias: EncodedTensor; train: Step; eval: Step };
  functional: {
    x: EncodedTensor; running_mean: EncodedTensor; running_var: EncodedTensor; weight: EncodedTensor; bias: EncodedTensor;
    eval: EncodedTensor; train: { out: EncodedTensor; running_mean: EncodedTensor; running_var: EncodedTensor };
  };
  state_dict_keys: { bn2d: string[]; sequential: string[]; dtypes: Record<string, string> };
  flatten: { start: number; end: number; shape: number[] }[];
  errors: Record<string, { type: string; message: string } | null>;
}
const fx = torchFixture<Fixture>('batchnorm');

const vals = (t: Tensor): number[] => Array.from(t.to({ dtype: 'float64' }).dataSync() as Float64Array, Number);
function close(got: Tensor | number[], want: EncodedTensor, tol: number, what: string): void {
  const a = Array.isArray(got) ? got : vals(got);
  const b = fixtureValues(want);
  assert.equal(a.length, b.length, `${what}: length`);
  a.forEach((x, i) => assert.ok(Math.abs(x - b[i]!) <= tol * (1 + Math.abs(b[i]!)), `${what}[${i}]: ${x} vs torch ${b[i]}`));
}

function bnOf(kind: '1d' | '2d', c: number, opts: nn.BatchNormModuleOptions = {}): nn.BatchNormBase {
  return kind === '1d' ? new nn.BatchNorm1d(c, opts) : new nn.BatchNorm2d(c, opts);
}

/** One forward/backward of sum(w * m(x)) compared with torch's step. */
function checkStep(m: nn.BatchNormBase, s: Step, tol: number, what: string, dtype: 'float64' | 'float32' = 'float64'): void {
  const x = fromFixture(s.x).to({ dtype }).detach();
  x.requiresGrad = true;
  if (m.weight) m.weight.grad = null;
  if (m.bias) m.bias.grad = null;
  const out = m.forward(x);
  out.mul(fromFixture(s.w).to({ dtype })).sum().backward();
  close(out, s.out, tol, `${what} out`);
  close(x.grad!, s.grad_x, tol, `${what} grad x`);
  if (s.grad_weight) close(m.weight!.grad!, s.grad_weight, tol, `${what} grad weight`);
  if (s.grad_bias) close(m.bias!.grad!, s.grad_bias, tol, `${what} grad bias`);
  if (s.running_mean) {
    close(m.runningMean!, s.running_mean, tol, `${what} running_mean`);
    close(m.runningVar!, s.running_var!, tol, `${what} running_var`);
    assert.equal(Number(m.numBatchesTracked!.item()), s.num_batches_tracked, `${what} num_batches_tracked`);
  }
}

function setAffine(m: nn.BatchNormBase, w: EncodedTensor, b: EncodedTensor): void {
  noGrad(() => {
    m.weight!.copy_(fromFixture(w));
    m.bias!.copy_(fromFixture(b));
  });
}

test('BatchNorm1d/2d: train and eval steps equal torch (outputs, input/weight/bias gradients, running stats), float64 and float32', () => {
  for (const L of fx.layouts) {
    for (const dtype of ['float64', 'float32'] as const) {
      const m = bnOf(L.kind, L.shape[1]!, { dtype });
      setAffine(m, L.weight, L.bias);
      const tol = dtype === 'float64' ? 1e-10 : 2e-4;
      checkStep(m.train(), L.train, tol, `${L.kind} ${L.shape.join('x')} ${dtype} train`, dtype);
      checkStep(m.eval(), L.eval, tol, `${L.kind} ${L.shape.join('x')} ${dtype} eval`, dtype);
    }
  }
});

test('BatchNorm2d: running statistics over steps of changing batch size (momentum 0.1, 0.3, null = cumulative average), then eval', () => {
  for (const S of fx.steps) {
    const m = new nn.BatchNorm2d(3, { momentum: S.momentum, dtype: 'float64' });
    S.runs.forEach((r, i) => checkStep(m.train(), r, 1e-10, `momentum ${S.momentum} step ${i}`));
    checkStep(m.eval(), S.eval, 1e-10, `momentum ${S.momentum} eval`);
  }
});

test('BatchNorm: affine false (no parameters) and trackRunningStats false (batch statistics in eval mode too)', () => {
  const a = new nn.BatchNorm1d(4, { affine: false, dtype: 'float64' });
  assert.equal(a.weight, null);
  assert.equal([...a.parameters()].length, 0);
  checkStep(a.train(), fx.no_affine.train, 1e-10, 'no affine train');
  checkStep(a.eval(), fx.no_affine.eval, 1e-10, 'no affine eval');
  const r = new nn.BatchNorm2d(2, { trackRunningStats: false, dtype: 'float64' });
  assert.equal(r.runningMean, null);
  assert.equal(r.numBatchesTracked, null);
  setAffine(r, fx.no_running_stats.weight, fx.no_running_stats.bias);
  checkStep(r.train(), fx.no_running_stats.train, 1e-10, 'no running stats train');
  checkStep(r.eval(), fx.no_running_stats.eval, 1e-10, 'no running stats eval');
});

test('functional.batchNorm: eval with given statistics and eps; training updates the given running statistics in place', () => {
  const f = fx.functional;
  const x = fromFixture(f.x);
  const args = { weight: fromFixture(f.weight), bias: fromFixture(f.bias), eps: 1e-3 };
  close(F.batchNorm(x, fromFixture(f.running_mean), fromFixture(f.running_var), args), f.eval, 1e-12, 'eval');
  const rm = fromFixture(f.running_mean);
  const rv = fromFixture(f.running_var);
  const y = F.batchNorm(x, rm, rv, { ...args, training: true, momentum: 0.25 });
  close(y, f.train.out, 1e-12, 'train out');
  close(rm, f.train.running_mean, 1e-12, 'train running mean');
  close(rv, f.train.running_var, 1e-12, 'train running var');
  // training without running statistics is allowed, eval is not
  F.batchNorm(x, null, null, { training: true });
  assert.throws(() => F.batchNorm(x, null, null), { code: 'ERR_INVALID_ARG', message: /runningMean and runningVar must be given in evaluation mode/ });
});

test('BatchNorm: gradients of input, weight and bias match finite differences (train and eval, [N, C] and [N, C, H, W])', () => {
  for (const shape of [[5, 3], [3, 2, 2, 3]]) {
    const n = shape.reduce((a, b) => a * b, 1);
    const C = shape[1]!;
    const inputs = [{ data: data(n, 3, -2, 2), shape }, { data: data(C, 4, 0.5, 1.5), shape: [C] }, { data: data(C, 5, -1, 1), shape: [C] }];
    gradcheck(`batchNorm train ${shape}`, ([x, w, b]) => F.batchNorm(x!, null, null, { weight: w!, bias: b!, training: true }), inputs);
    const rm = tensor(data(C, 6, -1, 1), { dtype: 'float64' });
    const rv = tensor(data(C, 7, 0.5, 2), { dtype: 'float64' });
    gradcheck(`batchNorm eval ${shape}`, ([x, w, b]) => F.batchNorm(x!, rm, rv, { weight: w!, bias: b! }), inputs);
  }
});

test('BatchNorm: stateDict keys and dtypes are torch\'s (running_mean, running_var, num_batches_tracked), and a torch-shaped checkpoint loads', () => {
  const sd = new nn.BatchNorm2d(3).stateDict();
  assert.deepEqual(Object.keys(sd), fx.state_dict_keys.bn2d);
  for (const [k, d] of Object.entries(fx.state_dict_keys.dtypes)) assert.equal(sd[k]!.dtype, d, k);
  const seq = new nn.Sequential(new nn.Linear(4, 3), new nn.BatchNorm1d(3), new nn.ReLU(), new nn.BatchNorm1d(3, { affine: false }),
    new nn.BatchNorm1d(3, { trackRunningStats: false }));
  assert.deepEqual(Object.keys(seq.stateDict()), fx.state_dict_keys.sequential);
  const bn = new nn.BatchNorm1d(3);
  bn.loadStateDict({
    weight: tensor([1, 2, 3]), bias: tensor([0, 0, 1]), running_mean: tensor([0.5, -0.5, 0]), running_var: tensor([2, 2, 2]),
    num_batches_tracked: tensor([7n]).reshape([]),
  });
  assert.deepEqual(vals(bn.runningMean!), [0.5, -0.5, 0]);
  assert.equal(Number(bn.numBatchesTracked!.item()), 7);
  // the camelCase accessors are the buffers themselves
  assert.equal(bn.runningVar, (bn as unknown as Record<string, Tensor>).running_var);
  bn.runningMean = tensor([1, 1, 1]);
  assert.deepEqual(vals(bn.stateDict().running_mean!), [1, 1, 1]);
  assert.match(String(bn), /BatchNorm1d\(3, eps=0.00001|BatchNorm1d\(3, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True\)/);
});

test('BatchNorm: resetRunningStats, module.to(float64) converts the running statistics, float16 input', () => {
  const bn = new nn.BatchNorm2d(2);
  bn.forward(randn([4, 2, 3, 3]).mul(3).add(1));
  assert.notDeepEqual(vals(bn.runningMean!), [0, 0]);
  bn.resetRunningStats();
  assert.deepEqual(vals(bn.runningMean!), [0, 0]);
  assert.deepEqual(vals(bn.runningVar!), [1, 1]);
  assert.equal(Number(bn.numBatchesTracked!.item()), 0);
  bn.to('float64');
  assert.equal(bn.runningMean!.dtype, 'float64');
  assert.equal(bn.numBatchesTracked!.dtype, 'int64');
  const h = new nn.BatchNorm1d(3).to('float16');
  manualSeed(3);
  const x = randn([8, 3]);
  const y = h.forward(x.to({ dtype: 'float16' }));
  assert.equal(y.dtype, 'float16');
  const ref = new nn.BatchNorm1d(3).forward(x);
  vals(y).forEach((v, i) => assert.ok(Math.abs(v - vals(ref)[i]!) < 1e-2, `float16 [${i}]`));
});

test('BatchNorm: an empty batch gives an empty output and leaves the running statistics alone; non-contiguous input', () => {
  const bn = new nn.BatchNorm1d(3);
  const y = bn.forward(ones([0, 3]));
  assert.deepEqual(y.shape, [0, 3]);
  assert.deepEqual(vals(bn.runningMean!), [0, 0, 0]);
  assert.deepEqual(vals(bn.runningVar!), [1, 1, 1]);
  manualSeed(5);
  const x = randn([3, 4, 5]);
  const t = x.transpose(0, 2); // [5, 4, 3], channels 4, not contiguous
  const a = new nn.BatchNorm1d(4).forward(t);
  const b = new nn.BatchNorm1d(4).forward(t.contiguous());
  assert.deepEqual(vals(a), vals(b));
});

test('BatchNorm: bad inputs are typed errors for the calls torch refuses', () => {
  const E = fx.errors;
  assert.ok(E.bn2d_3d_input && E.bn1d_4d_input && E.one_value_per_channel && E.channel_mismatch && E.eval_without_running_stats && E.weight_shape && E.dropout2d_p);
  assert.throws(() => new nn.BatchNorm2d(3).forward(ones([2, 3, 4])), { code: 'ERR_SHAPE_MISMATCH', message: /expected 4D input \(got 3D input/ });
  assert.throws(() => new nn.BatchNorm1d(3).forward(ones([2, 3, 4, 4])), { code: 'ERR_SHAPE_MISMATCH', message: /expected 2D or 3D input \(got 4D input/ });
  assert.throws(() => new nn.BatchNorm1d(3).forward(ones([1, 3])), { code: 'ERR_INVALID_ARG', message: /expected more than 1 value per channel when training/ });
  assert.throws(() => new nn.BatchNorm1d(3).forward(ones([4, 5])), { code: 'ERR_SHAPE_MISMATCH', message: /expected 3 channels/ });
  assert.throws(() => F.batchNorm(ones([4, 3]), null, null, { training: false }), { code: 'ERR_INVALID_ARG' });
  assert.throws(() => F.batchNorm(ones([4, 3]), ones([3]), ones([3]), { weight: ones([2]) }), { code: 'ERR_SHAPE_MISMATCH', message: /weight must have shape \[3\]/ });
  assert.throws(() => F.batchNorm(ones([4, 3]), ones([3]), ones([3]), { weight: ones([3], { dtype: 'float64' }) }), { code: 'ERR_DTYPE', message: /weight is float64/ });
  assert.throws(() => F.batchNorm(ones([4]), null, null, { training: true }), { code: 'ERR_SHAPE_MISMATCH', message: /at least 2 dims/ });
  assert.throws(() => F.batchNorm(tensor([[1, 2], [3, 4]], { dtype: 'int32' }), null, null, { training: true }), { code: 'ERR_DTYPE' });
  assert.throws(() => F.batchNorm(ones([4, 3]), null, null, { training: true, eps: -1 }), { code: 'ERR_INVALID_ARG', message: /eps/ });
  assert.throws(() => F.batchNorm(ones([4, 3]), null, null, { training: true, momentun: 0.1 } as never), { code: 'ERR_INVALID_ARG', message: /momentun/ });
  assert.throws(() => new nn.BatchNorm1d(-1), { code: 'ERR_INVALID_ARG' });
  assert.throws(() => new nn.BatchNorm1d(3, { momentum: Number.NaN }), { code: 'ERR_INVALID_ARG', message: /momentum/ });
  assert.throws(() => new nn.Dropout2d(1.5), { code: 'ERR_INVALID_ARG', message: /between 0 and 1/ });
  assert.throws(() => F.dropout2d(ones([3])), { code: 'ERR_SHAPE_MISMATCH' });
});

test('nn.Flatten: the shapes torch gives; nn.Unflatten', () => {
  const t = ones([2, 3, 4, 5]);
  for (const c of fx.flatten) assert.deepEqual(new nn.Flatten(c.start, c.end).forward(t).shape, c.shape, `Flatten(${c.start}, ${c.end})`);
  assert.deepEqual(new nn.Flatten().forward(t).shape, [2, 60]);
  assert.equal(String(new nn.Flatten()), 'Flatten(start_dim=1, end_dim=-1)');
  // Unflatten is its inverse (torch.nn.Unflatten)
  assert.deepEqual(new nn.Unflatten(1, [3, 20]).forward(ones([2, 60])).shape, [2, 3, 20]);
  assert.deepEqual(new nn.Unflatten(-1, [1, 28, -1]).forward(ones([4, 784])).shape, [4, 1, 28, 28]);
  assert.throws(() => new nn.Unflatten(1, []), { code: 'ERR_INVALID_ARG' });
  assert.throws(() => new nn.Unflatten(3, [2]).forward(ones([2, 2])), { code: 'ERR_INVALID_ARG' });
});

test('nn.Dropout2d: whole channels zeroed with probability p, the rest scaled by 1/(1-p); identity in eval mode; gradient through the mask', () => {
  manualSeed(11);
  const p = 0.3;
  const d = new nn.Dropout2d(p);
  const x = ones([40, 25, 3, 3]);
  x.requiresGrad = true;
  const y = d.forward(x);
  const v = vals(y);
  let zeros = 0;
  for (let ch = 0; ch < 40 * 25; ch++) {
    const block = v.slice(ch * 9, ch * 9 + 9);
    const first = block[0]!;
    assert.ok(block.every((e) => e === first), `channel ${ch} is not uniform`);
    assert.ok(first === 0 || Math.abs(first - 1 / (1 - p)) < 1e-6, `channel ${ch}: ${first}`);
    if (first === 0) zeros++;
  }
  const rate = zeros / 1000;
  assert.ok(Math.abs(rate - p) < 0.06, `drop rate ${rate}`);
  y.sum().backward();
  assert.deepEqual(vals(x.grad!), v);
  d.eval();
  assert.equal(d.forward(x), x);
  assert.equal(String(d), 'Dropout2d(p=0.3, inplace=False)');
});
