// conv2d, conv1d, maxPool2d, avgPool2d and adaptiveAvgPool2d against PyTorch 1.13
// (scripts/torch_fixtures/conv_pool.py -> test/fixtures/torch/conv_pool.json): forward values,
// max-pooling indices and the gradients of sum(w * out) for input, weight and bias; finite
// differences on small cases; the layers' defaults, initialization, state dicts and reprs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { manualSeed, nn, optim, randn, tensor, type Tensor } from '../../lib/index.js';
import { fixtureValues, fromFixture, torchFixture, type EncodedTensor } from '../helpers/torch-fixtures.js';
import { data, gradcheck } from './gradcheck.js';
import { liveTensorCount } from '../../lib/tensor/scope.js';

const F = nn.functional;

interface ConvCase {
  name: string;
  opts: Record<string, unknown>;
  x: EncodedTensor; w: EncodedTensor; b: EncodedTensor | null;
  out: EncodedTensor; gout: EncodedTensor; gx: EncodedTensor; gw: EncodedTensor; gb: EncodedTensor | null;
}
interface PoolCase {
  name: string;
  op: 'max' | 'avg' | 'adaptive';
  opts: Record<string, unknown>;
  x: EncodedTensor; out: EncodedTensor; indices: EncodedTensor | null; gout: EncodedTensor; gx: EncodedTensor;
}
const fx = torchFixture<{ conv2d: ConvCase[]; conv1d: ConvCase[]; pool: PoolCase[] }>('conv_pool');

function close(name: string, got: Tensor, want: EncodedTensor, tol: number): void {
  assert.deepEqual(got.shape, want.shape, `${name}: shape`);
  const a = Array.from(got.dataSync() as ArrayLike<number | bigint>, Number);
  const b = fixtureValues(want);
  for (let i = 0; i < b.length; i++) {
    if (Number.isNaN(b[i]!)) {
      assert.ok(Number.isNaN(a[i]!), `${name}[${i}]: expected NaN, got ${a[i]}`);
      continue;
    }
    assert.ok(Math.abs(a[i]! - b[i]!) <= tol * Math.max(1, Math.abs(b[i]!)), `${name}[${i}]: got ${a[i]}, torch ${b[i]}`);
  }
}

function leaf(e: EncodedTensor): Tensor {
  return fromFixture(e).requiresGrad_();
}

function convCases(cases: ConvCase[], fn: (x: Tensor, w: Tensor, b: Tensor | null, o: never) => Tensor): void {
  for (const c of cases) {
    const tol = c.x.dtype === 'float32' ? 2e-5 : 1e-11;
    const x = leaf(c.x);
    const w = leaf(c.w);
    const b = c.b ? leaf(c.b) : null;
    const y = fn(x, w, b, c.opts as never);
    close(`${c.name}: out`, y, c.out, tol);
    y.mul(fromFixture(c.gout)).sum().backward();
    close(`${c.name}: grad input`, x.grad!, c.gx, tol);
    close(`${c.name}: grad weight`, w.grad!, c.gw, tol);
    if (c.gb) close(`${c.name}: grad bias`, b!.grad!, c.gb, tol);
  }
}

test('conv2d equals torch: stride, padding (numbers, pairs, same with odd and even kernels, valid), dilation, groups, no bias, 1x1, unbatched', () => {
  assert.equal(fx.conv2d.length, 14);
  convCases(fx.conv2d, (x, w, b, o) => F.conv2d(x, w, b, o));
});

test('conv1d equals torch (a conv2d over a height of 1): stride, padding, same, groups, dilation, unbatched', () => {
  assert.equal(fx.conv1d.length, 3);
  convCases(fx.conv1d, (x, w, b, o) => F.conv1d(x, w, b, o));
});

test('maxPool2d, avgPool2d and adaptiveAvgPool2d equal torch: values, max indices (ties, NaN), gradients', () => {
  const ops = new Set<string>();
  for (const c of fx.pool) {
    ops.add(c.op);
    const x = leaf(c.x);
    const { kernelSize, outputSize, ...opts } = c.opts as { kernelSize: number; outputSize: number } & Record<string, unknown>;
    let y: Tensor;
    if (c.op === 'max') {
      const [out, idx] = F.maxPool2d(x, kernelSize, { ...opts, returnIndices: true });
      assert.equal(idx.dtype, 'int64');
      close(`${c.name}: indices`, idx, c.indices!, 0);
      y = out;
      close(`${c.name}: out (no indices)`, F.maxPool2d(x.detach(), kernelSize, opts), c.out, 0);
    } else if (c.op === 'avg') {
      y = F.avgPool2d(x, kernelSize, opts);
    } else {
      y = F.adaptiveAvgPool2d(x, outputSize);
    }
    close(`${c.name}: out`, y, c.out, 1e-12);
    y.mul(fromFixture(c.gout)).sum().backward();
    close(`${c.name}: grad`, x.grad!, c.gx, 1e-12);
  }
  assert.deepEqual([...ops].sort(), ['adaptive', 'avg', 'max']);
});

test('conv2d and conv1d gradients equal finite differences', () => {
  const x = { data: data(2 * 4 * 5 * 6, 1), shape: [2, 4, 5, 6] };
  const w = { data: data(6 * 2 * 3 * 2, 2), shape: [6, 2, 3, 2] };
  const b = { data: data(6, 3), shape: [6] };
  gradcheck('conv2d groups 2, stride, dilation, padding', ([xi, wi, bi]) => F.conv2d(xi!, wi!, bi!, { groups: 2, stride: [2, 1], dilation: [1, 2], padding: [1, 2] }), [x, w, b]);
  gradcheck('conv2d same, even kernel', ([xi, wi]) => F.conv2d(xi!, wi!, null, { padding: 'same', groups: 2 }), [x, w]);
  // depthwise (groups == in channels: the host's direct loops), channel multiplier 2
  gradcheck('conv2d depthwise, padding, dilation, stride', ([xi, wi, bi]) => F.conv2d(xi!, wi!, bi!, { groups: 3, padding: [1, 2], dilation: [2, 1], stride: [1, 2] }),
    [{ data: data(2 * 3 * 5 * 6, 8), shape: [2, 3, 5, 6] }, { data: data(6 * 3 * 2, 9), shape: [6, 1, 3, 2] }, { data: data(6, 10), shape: [6] }]);
  gradcheck('conv1d', ([xi, wi, bi]) => F.conv1d(xi!, wi!, bi!, { stride: 2, padding: 1 }),
    [{ data: data(2 * 3 * 7, 4), shape: [2, 3, 7] }, { data: data(2 * 3 * 3, 5), shape: [2, 3, 3] }, { data: data(2, 6), shape: [2] }]);
});

test('pooling gradients equal finite differences (overlapping windows, padding, ceil mode)', () => {
  const x = { data: data(2 * 2 * 7 * 6, 7), shape: [2, 2, 7, 6] };
  gradcheck('maxPool2d', ([xi]) => F.maxPool2d(xi!, 3, { stride: 2, padding: 1, ceilMode: true }), [x]);
  gradcheck('maxPool2d dilation', ([xi]) => F.maxPool2d(xi!, 2, { stride: 1, dilation: 2 }), [x]);
  gradcheck('avgPool2d', ([xi]) => F.avgPool2d(xi!, 3, { stride: 2, padding: 1, ceilMode: true, countIncludePad: false }), [x]);
  gradcheck('adaptiveAvgPool2d', ([xi]) => F.adaptiveAvgPool2d(xi!, [3, 4]), [x]);
});

test('conv2d in float16 and bfloat16 on the host is close to float32', () => {
  manualSeed(5);
  const x = randn([2, 3, 8, 8]);
  const w = randn([4, 3, 3, 3]);
  const b = randn([4]);
  const ref = F.conv2d(x, w, b, { padding: 1 });
  for (const [dtype, tol] of [['float16', 2e-2], ['bfloat16', 8e-2]] as const) {
    const y = F.conv2d(x.to(dtype), w.to(dtype), b.to(dtype), { padding: 1 }).float();
    const d = y.sub(ref).abs().max().item() as number;
    assert.ok(d < tol * 6, `${dtype}: max difference ${d}`);
  }
});

test('nn.Conv2d: torch default init bounds, weight layout [out, in/groups, kh, kw], state dict, repr, forward = functional', () => {
  manualSeed(0);
  const conv = new nn.Conv2d(6, 16, 5, { groups: 2, padding: 2 });
  assert.deepEqual(conv.weight.shape, [16, 3, 5, 5]);
  assert.deepEqual(conv.bias!.shape, [16]);
  const fanIn = 3 * 25;
  const bound = 1 / Math.sqrt(fanIn); // kaiming_uniform(a = sqrt(5)): gain sqrt(2 / 6) * sqrt(3 / fanIn)
  const wv = Array.from(conv.weight.dataSync() as Float32Array);
  assert.ok(wv.every((v) => Math.abs(v) <= bound), 'weight within U(±1/sqrt(fanIn))');
  assert.ok(Math.max(...wv.map(Math.abs)) > bound * 0.9, 'weight uses the whole range');
  const bv = Array.from(conv.bias!.dataSync() as Float32Array);
  assert.ok(bv.every((v) => Math.abs(v) <= bound), 'bias within U(±1/sqrt(fanIn))');
  assert.deepEqual(Object.keys(conv.stateDict()).sort(), ['bias', 'weight']);
  assert.equal(conv.extraRepr(), '6, 16, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2), groups=2');
  assert.equal(new nn.Conv2d(1, 2, [3, 1], { bias: false, padding: 'same', dilation: [1, 2] }).extraRepr(),
    '1, 2, kernel_size=(3, 1), stride=(1, 1), padding=same, dilation=(1, 2), bias=false');
  const x = randn([2, 6, 9, 9]);
  const want = F.conv2d(x, conv.weight, conv.bias, { groups: 2, padding: 2 });
  assert.deepEqual(Array.from(conv.forward(x).dataSync() as Float32Array), Array.from(want.dataSync() as Float32Array));
  const c1 = new nn.Conv1d(4, 2, 3, { stride: 2, bias: false });
  assert.deepEqual(c1.weight.shape, [2, 4, 3]);
  assert.equal(c1.bias, null);
  assert.deepEqual(c1.forward(randn([3, 4, 11])).shape, [3, 2, 5]);
  assert.equal(c1.extraRepr(), '4, 2, kernel_size=(3,), stride=(2,), bias=false');
  const f64 = new nn.Conv2d(2, 3, 2, { dtype: 'float64' });
  assert.equal(f64.weight.dtype, 'float64');
});

test('nn.MaxPool2d (returnIndices), nn.AvgPool2d and nn.AdaptiveAvgPool2d as layers, in a Sequential', () => {
  manualSeed(1);
  const x = randn([2, 3, 8, 8]);
  const pool = new nn.MaxPool2d(2);
  assert.equal(pool.extraRepr(), 'kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=false');
  assert.deepEqual(pool.forward(x).shape, [2, 3, 4, 4]);
  const withIdx = new nn.MaxPool2d(2, { returnIndices: true });
  const [y, idx] = withIdx.forward(x);
  assert.deepEqual(idx.shape, [2, 3, 4, 4]);
  assert.deepEqual(Array.from(y.dataSync() as Float32Array), Array.from(pool.forward(x).dataSync() as Float32Array));
  // the indices address the input plane: gathering them gives the output
  const flat = x.reshape([6, 64]).gather(1, idx.reshape([6, 16]));
  assert.deepEqual(Array.from(flat.dataSync() as Float32Array), Array.from(y.dataSync() as Float32Array));
  const avg = new nn.AvgPool2d([2, 4], { stride: [2, 2], countIncludePad: false });
  assert.deepEqual(avg.forward(x).shape, [2, 3, 4, 3]);
  const gap = new nn.AdaptiveAvgPool2d(1);
  const g = gap.forward(x);
  assert.deepEqual(g.shape, [2, 3, 1, 1]);
  const mean = x.mean([2, 3]);
  const diff = g.reshape([2, 3]).sub(mean).abs().max().item() as number;
  assert.ok(diff < 1e-6, `global average = mean (${diff})`);
  assert.equal(new nn.AdaptiveAvgPool2d([5, null]).extraRepr(), 'output_size=(5, None)');
  const net = new nn.Sequential(new nn.Conv2d(3, 4, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2), new nn.AvgPool2d(2), new nn.AdaptiveAvgPool2d([1, 1]));
  const out = net.forward(x);
  assert.deepEqual(out.shape, [2, 4, 1, 1]);
  out.sum().backward();
  const conv = net.at(0) as nn.Conv2d;
  assert.deepEqual(conv.weight.grad!.shape, [4, 3, 3, 3]);
});

test('a LeNet-5-sized CNN learns a separable image task (loss falls)', () => {
  manualSeed(2);
  // two classes: a bright top half or a bright bottom half, with noise
  const n = 64;
  const labels = Array.from({ length: n }, (_, i) => i % 2);
  const imgs = randn([n, 1, 12, 12]).mul(0.3);
  const mask = tensor(labels.flatMap((l) => Array.from({ length: 144 }, (_, p) => ((p < 72) === (l === 0) ? 1 : 0))), { shape: [n, 1, 12, 12] });
  const x = imgs.add(mask);
  const t = tensor(BigInt64Array.from(labels.map(BigInt)), { shape: [n] });
  const net = new nn.Sequential(
    new nn.Conv2d(1, 4, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Conv2d(4, 8, 3), new nn.ReLU(), new nn.AdaptiveAvgPool2d(1),
  );
  const head = new nn.Linear(8, 2);
  const params = [...net.parameters(), ...head.parameters()];
  const loss = (): Tensor => F.crossEntropy(head.forward(net.forward(x).reshape([n, 8])), t);
  const opt = new optim.SGD(params, { lr: 0.5 });
  const first = loss().item() as number;
  for (let step = 0; step < 30; step++) {
    opt.zeroGrad();
    loss().backward();
    opt.step();
  }
  const last = loss().item() as number;
  assert.ok(last < first * 0.5, `loss ${first} -> ${last}`);
});

test('the convolutions and poolings leave no intermediate tensors alive (forward and backward)', () => {
  manualSeed(3);
  const x4 = randn([2, 4, 6, 6]);
  const x3 = randn([4, 6, 6]);
  const x1 = randn([2, 4, 36]);
  const x0 = randn([4, 36]);
  const xt = randn([2, 4, 6, 6]).transpose(2, 3);
  const w = randn([2, 4, 3, 3]);
  const b = randn([2]);
  const w1 = randn([2, 4, 3]);
  const runs: [string, Tensor, (x: Tensor) => Tensor[]][] = [
    ['conv2d', x4, (a) => [F.conv2d(a, w, b, { padding: 1 })]],
    ['conv2d unbatched', x3, (a) => [F.conv2d(a, w, b, { padding: 'same' })]],
    ['conv1d', x1, (a) => [F.conv1d(a, w1, b)]],
    ['conv1d unbatched', x0, (a) => [F.conv1d(a, w1, null, { stride: 2 })]],
    ['maxPool2d', x4, (a) => [F.maxPool2d(a, 2)]],
    ['maxPool2d with indices', x4, (a) => F.maxPool2d(a, 3, { stride: 1, returnIndices: true })],
    ['maxPool2d unbatched', x3, (a) => [F.maxPool2d(a, 2, { ceilMode: true, stride: 3 })]],
    ['avgPool2d of a transposed view', xt, (a) => [F.avgPool2d(a, 2)]],
    ['adaptiveAvgPool2d', x3, (a) => [F.adaptiveAvgPool2d(a, [4, 5])]],
  ];
  for (const [name, x, f] of runs) {
    const before = liveTensorCount();
    for (const t of f(x)) t.dispose();
    assert.equal(liveTensorCount(), before, `${name}: forward`);
  }
  for (const [name, x, f] of runs) {
    const a = x.detach().requiresGrad_();
    const before = liveTensorCount();
    const outs = f(a);
    const s = outs[0]!.sum();
    s.backward();
    for (const t of [...outs, s, a.grad!]) t.dispose();
    a.grad = null;
    assert.equal(liveTensorCount(), before, `${name}: backward`);
  }
});
