// conv2d / conv1d and the 2-D poolings on CUDA against the CPU: every floating dtype, the
// im2col + cuBLAS path (groups, strides, dilation, asymmetric 'same' padding, the 1x1 shortcut),
// the batch split into several chunks (NODE_NCCL_CONV_CHUNK_BYTES), an empty batch, bias-only
// and input-only gradients, and pooling values, max indices and gradients. Skips where no GPU is
// visible; npm test runs it on simulated devices too (the kernels' host twins queued on the
// stream, cuBLAS as the host GEMM).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { manualSeed, nn, randn, zeros, type DType, type Tensor } from '../../lib/index.js';
import { cudaDeviceCount } from '../../lib/tensor/cuda-bridge.js';

const skip = cudaDeviceCount() === 0 ? 'no GPU: cuda.deviceCount() is 0 here' : false;
const F = nn.functional;

function same(name: string, cpu: Tensor, gpu: Tensor, tol: number): void {
  assert.equal(gpu.device.toString(), 'cuda:0', name);
  assert.deepEqual(gpu.shape, cpu.shape, `${name}: shape`);
  assert.equal(gpu.dtype, cpu.dtype, `${name}: dtype`);
  const a = Array.from(cpu.dataSync() as ArrayLike<number | bigint>, Number);
  const b = Array.from(gpu.dataSync() as ArrayLike<number | bigint>, Number);
  let scale = 1;
  for (const v of a) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]!)) { assert.ok(Number.isNaN(b[i]!), `${name}[${i}] NaN`); continue; }
    assert.ok(Math.abs(a[i]! - b[i]!) <= tol * scale, `${name}[${i}]: cpu ${a[i]} vs cuda ${b[i]}`);
  }
}

const TOL: [DType, number][] = [['float64', 1e-12], ['float32', 1e-5], ['float16', 1e-2], ['bfloat16', 4e-2]];

interface Geometry { x: number[]; w: number[]; bias: boolean; opts: nn.functional.Conv2dOptions }
const GEOMETRIES: Geometry[] = [
  { x: [3, 4, 9, 8], w: [6, 4, 3, 3], bias: true, opts: { padding: 1 } },
  { x: [2, 4, 10, 9], w: [6, 2, 3, 2], bias: true, opts: { groups: 2, stride: [2, 1], dilation: [1, 2], padding: [1, 0] } },
  { x: [2, 3, 7, 6], w: [5, 3, 4, 2], bias: false, opts: { padding: 'same', dilation: [1, 2] } },
  { x: [2, 6, 5, 5], w: [4, 6, 1, 1], bias: true, opts: {} },
  { x: [2, 4, 6, 6], w: [8, 1, 3, 3], bias: true, opts: { groups: 4, stride: 2 } },
  { x: [2, 3, 7, 6], w: [3, 1, 3, 3], bias: true, opts: { groups: 3, padding: 'same', dilation: 2 } },
];

function runConv(g: Geometry, dtype: DType, device: string): Tensor[] {
  manualSeed(7);
  const x = randn(g.x, { dtype: 'float64' }).to({ dtype, device }).detach().requiresGrad_();
  const w = randn(g.w, { dtype: 'float64' }).to({ dtype, device }).detach().requiresGrad_();
  const b = g.bias ? randn([g.w[0]!], { dtype: 'float64' }).to({ dtype, device }).detach().requiresGrad_() : null;
  const y = F.conv2d(x, w, b, g.opts);
  const gout = randn(y.shape as number[], { dtype: 'float64' }).to({ dtype, device });
  y.mul(gout).sum().backward();
  return [y, x.grad!, w.grad!, ...(b ? [b.grad!] : [])];
}

test('conv2d on CUDA equals the CPU: values and input, weight and bias gradients, for every floating dtype', { skip }, () => {
  for (const g of GEOMETRIES) {
    for (const [dtype, tol] of TOL) {
      const cpu = runConv(g, dtype, 'cpu');
      const gpu = runConv(g, dtype, 'cuda:0');
      ['out', 'grad input', 'grad weight', 'grad bias'].slice(0, cpu.length).forEach((what, i) => {
        same(`${JSON.stringify(g.opts)} ${dtype} ${what}`, cpu[i]!, gpu[i]!, tol);
      });
    }
  }
});

test('conv2d on CUDA over a batch split into chunks (NODE_NCCL_CONV_CHUNK_BYTES) equals one chunk and the CPU', { skip }, () => {
  const g: Geometry = { x: [7, 3, 8, 8], w: [4, 3, 3, 3], bias: true, opts: { padding: 1 } };
  const whole = runConv(g, 'float64', 'cuda:0');
  const cpu = runConv(g, 'float64', 'cpu');
  const before = process.env.NODE_NCCL_CONV_CHUNK_BYTES;
  // one image's col is 27 * 64 * 8 bytes: 2 images per chunk, so 4 chunks (the last of 1)
  process.env.NODE_NCCL_CONV_CHUNK_BYTES = String(27 * 64 * 8 * 2 + (4 * 64 * 8) * 2);
  try {
    const chunked = runConv(g, 'float64', 'cuda:0');
    chunked.forEach((t, i) => {
      same(`chunked vs whole ${i}`, whole[i]!.to('cpu'), t, 1e-12);
      same(`chunked vs cpu ${i}`, cpu[i]!, t, 1e-12);
    });
  } finally {
    if (before === undefined) delete process.env.NODE_NCCL_CONV_CHUNK_BYTES;
    else process.env.NODE_NCCL_CONV_CHUNK_BYTES = before;
  }
});

test('conv2d on CUDA: an empty batch, bias-only and input-only gradients, conv1d, nn.Conv2d moved to the device', { skip }, () => {
  manualSeed(8);
  for (const device of ['cpu', 'cuda:0']) {
    const x = zeros([0, 3, 5, 5], { device }).requiresGrad_();
    const w = randn([2, 3, 3, 3]).to(device).detach().requiresGrad_();
    const b = zeros([2], { device }).requiresGrad_();
    const y = F.conv2d(x, w, b);
    assert.deepEqual(y.shape, [0, 2, 3, 3]);
    y.sum().backward();
    assert.deepEqual(Array.from(w.grad!.to('cpu').dataSync() as Float32Array), new Array(54).fill(0), `${device}: empty batch weight grad`);
    assert.deepEqual(Array.from(b.grad!.to('cpu').dataSync() as Float32Array), [0, 0], `${device}: empty batch bias grad`);
  }
  const x = randn([2, 3, 6, 6]);
  const w = randn([4, 3, 3, 3]);
  const b = randn([4]);
  const gpuGrads = (needX: boolean, needW: boolean, needB: boolean, device: string): (Tensor | null)[] => {
    const xs = x.to(device).detach().requiresGrad_(needX);
    const ws = w.to(device).detach().requiresGrad_(needW);
    const bs = b.to(device).detach().requiresGrad_(needB);
    F.conv2d(xs, ws, bs, { stride: 2, padding: 1 }).pow(2).sum().backward();
    return [xs.grad, ws.grad, bs.grad];
  };
  for (const needs of [[false, false, true], [true, false, false], [false, true, false]] as [boolean, boolean, boolean][]) {
    const c = gpuGrads(...needs, 'cpu');
    const d = gpuGrads(...needs, 'cuda:0');
    for (let i = 0; i < 3; i++) {
      assert.equal(c[i] === null, !needs[i]);
      assert.equal(d[i] === null, !needs[i]);
      if (c[i]) same(`needs ${needs} grad ${i}`, c[i]!, d[i]!, 1e-5);
    }
  }
  const x1 = randn([2, 4, 12]);
  const w1 = randn([6, 2, 3]);
  same('conv1d', F.conv1d(x1, w1, null, { groups: 2, padding: 'same', dilation: 2 }),
    F.conv1d(x1.to('cuda:0'), w1.to('cuda:0'), null, { groups: 2, padding: 'same', dilation: 2 }), 1e-5);
  const layer = new nn.Conv2d(3, 4, 3, { padding: 1 });
  const ref = layer.forward(x);
  layer.to('cuda:0');
  same('nn.Conv2d on cuda:0', ref, layer.forward(x.to('cuda:0')), 1e-5);
});

test('maxPool2d, avgPool2d and adaptiveAvgPool2d on CUDA equal the CPU: values, indices (ties, NaN) and gradients', { skip }, () => {
  manualSeed(9);
  // integer values make ties; one NaN (max pooling only: it must win its windows on both sides)
  const clean = randn([2, 3, 11, 10], { dtype: 'float64' }).mul(2).to('int32').to('float64');
  const base = clean.clone();
  base.view(-1).narrow(0, 17, 1).fill_(NaN);
  const pools: [string, (x: Tensor) => Tensor][] = [
    ['max 2', (x) => F.maxPool2d(x, 2)],
    ['max 3 s2 p1 ceil', (x) => F.maxPool2d(x, 3, { stride: 2, padding: 1, ceilMode: true })],
    ['max dilation', (x) => F.maxPool2d(x, [3, 2], { stride: [1, 2], dilation: [2, 3], padding: 1 })],
    ['avg 3 s2 p1', (x) => F.avgPool2d(x, 3, { stride: 2, padding: 1 })],
    ['avg no count pad ceil', (x) => F.avgPool2d(x, 3, { stride: 2, padding: 1, ceilMode: true, countIncludePad: false })],
    ['avg divisor', (x) => F.avgPool2d(x, [2, 3], { stride: 1, divisorOverride: 5 })],
    ['adaptive 4x3', (x) => F.adaptiveAvgPool2d(x, [4, 3])],
    ['adaptive up 13x17', (x) => F.adaptiveAvgPool2d(x, [13, 17])],
  ];
  for (const [dtype, tol] of TOL) {
    for (const [name, f] of pools) {
      const src = name.startsWith('max') ? base : clean;
      const xc = src.to(dtype).detach().requiresGrad_();
      const xg = src.to({ dtype, device: 'cuda:0' }).detach().requiresGrad_();
      const yc = f(xc);
      const yg = f(xg);
      same(`${name} ${dtype}`, yc, yg, tol);
      const gout = randn(yc.shape as number[], { dtype: 'float64' }).to(dtype);
      yc.mul(gout).sum().backward();
      yg.mul(gout.to('cuda:0')).sum().backward();
      same(`${name} ${dtype} grad`, xc.grad!, xg.grad!, tol);
    }
    const [, ic] = F.maxPool2d(base.to(dtype), 3, { stride: 2, padding: 1, returnIndices: true });
    const [, ig] = F.maxPool2d(base.to({ dtype, device: 'cuda:0' }), 3, { stride: 2, padding: 1, returnIndices: true });
    same(`max indices ${dtype}`, ic, ig, 0);
  }
});
