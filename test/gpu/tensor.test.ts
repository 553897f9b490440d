// Every tensor op and dtype on CUDA against the CPU result, within the tolerances below. Skips
// (saying why) where no GPU is visible.
//
// Tolerances (max |cuda - cpu| <= atol + rtol * |cpu|):
//   float64 1e-12/1e-10, float32 1e-5/1e-5 (matmul: 1e-4 relative to the row's magnitude),
//   float16 1e-2/1e-2, bfloat16 4e-2/4e-2, integer and bool dtypes: exact.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { arange, cat, gather, indexSelect, layerNorm, manualSeed, matmul, oneHot, rand, randn, scatterAdd, stack, tensor, where, type DType, type Tensor } from '../../lib/index.js';
import { cudaDeviceCount } from '../../lib/tensor/cuda-bridge.js';

const gpus = cudaDeviceCount();
const skip = gpus === 0 ? 'no GPU: cuda.deviceCount() is 0 here' : false;

const TOL: Record<DType, [number, number]> = {
  float64: [1e-12, 1e-10], float32: [1e-5, 1e-5], float16: [1e-2, 1e-2], bfloat16: [4e-2, 4e-2],
  int32: [0, 0], int64: [0, 0], uint8: [0, 0], bool: [0, 0],
};

function same(name: string, cpu: Tensor, gpu: Tensor, scale = 1): void {
  assert.equal(gpu.device.toString(), 'cuda:0', name);
  assert.deepEqual(gpu.shape, cpu.shape, `${name}: shape`);
  assert.equal(gpu.dtype, cpu.dtype, `${name}: dtype`);
  const [atol, rtol] = TOL[cpu.dtype];
  const a = Array.from(cpu.dataSync() as ArrayLike<number | bigint>, Number);
  const b = Array.from(gpu.dataSync() as ArrayLike<number | bigint>, Number);
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]!)) { assert.ok(Number.isNaN(b[i]!), `${name}[${i}] NaN`); continue; }
    if (!Number.isFinite(a[i]!)) { assert.equal(b[i], a[i], `${name}[${i}]`); continue; }
    assert.ok(Math.abs(a[i]! - b[i]!) <= atol * scale + rtol * Math.abs(a[i]!), `${name}[${i}]: cpu ${a[i]} vs cuda ${b[i]}`);
  }
}

const FLOATS: DType[] = ['float32', 'float64', 'float16', 'bfloat16'];
const ALL: DType[] = [...FLOATS, 'int32', 'int64', 'uint8'];

test('element-wise ops on CUDA match the CPU for every dtype, with broadcasting and views', { skip }, () => {
  manualSeed(1);
  const unary: [string, (t: Tensor) => Tensor][] = [
    ['neg', (t) => t.neg()], ['abs', (t) => t.abs()], ['exp', (t) => t.exp()], ['log', (t) => t.abs().add(0.1).log()],
    ['sqrt', (t) => t.abs().sqrt()], ['rsqrt', (t) => t.abs().add(0.1).rsqrt()], ['sin', (t) => t.sin()], ['cos', (t) => t.cos()],
    ['tanh', (t) => t.tanh()], ['sigmoid', (t) => t.sigmoid()], ['relu', (t) => t.relu()], ['gelu', (t) => t.gelu()],
    ['gelu tanh', (t) => t.gelu({ approximate: 'tanh' })], ['silu', (t) => t.silu()], ['clamp', (t) => t.clamp(-0.5, 0.5)],
  ];
  for (const dtype of FLOATS) {
    const x = randn([33, 17], { dtype: 'float64' }).to(dtype);
    const xg = x.to('cuda:0');
    for (const [name, f] of unary) {
      same(`${name} ${dtype}`, f(x), f(xg));
      same(`${name} ${dtype} (transposed)`, f(x.t()), f(xg.t()));
    }
  }
  for (const dtype of ALL) {
    const a = (dtype === 'uint8' ? rand([4, 1, 5]).mul(10) : randn([4, 1, 5]).mul(10)).to(dtype);
    const b = (dtype === 'uint8' ? rand([3, 1]).mul(10).add(1) : randn([3, 1]).mul(10)).to(dtype);
    const ag = a.to('cuda:0');
    const bg = b.to('cuda:0');
    const bin: [string, (p: Tensor, q: Tensor) => Tensor][] = [
      ['add', (p, q) => p.add(q)], ['sub', (p, q) => p.sub(q)], ['mul', (p, q) => p.mul(q)], ['maximum', (p, q) => p.maximum(q)],
      ['minimum', (p, q) => p.minimum(q)], ['lt', (p, q) => p.lt(q)], ['eq', (p, q) => p.eq(q)], ['add scalar', (p) => p.add(3)],
      ['mul scalar', (p) => p.mul(2)], ['where', (p, q) => where(p.gt(q), p, q)],
    ];
    if (dtype !== 'uint8') bin.push(['div', (p, q) => p.div(q.abs().add(1))]);
    for (const [name, f] of bin) same(`${name} ${dtype}`, f(a, b), f(ag, bg));
  }
});

test('reductions, softmax, layerNorm on CUDA match the CPU', { skip }, () => {
  manualSeed(2);
  for (const dtype of FLOATS) {
    const x = randn([8, 33, 65], { dtype: 'float64' }).to(dtype);
    const g = x.to('cuda:0');
    const n = dtype === 'float64' || dtype === 'float32' ? 1 : 10;
    same(`sum ${dtype}`, x.sum(1), g.sum(1), 33 * n);
    same(`sum all ${dtype}`, x.sum(), g.sum(), 1e4 * n);
    same(`mean ${dtype}`, x.mean([0, 2]), g.mean([0, 2]), n);
    same(`amax ${dtype}`, x.amax(-1), g.amax(-1));
    same(`max values ${dtype}`, x.max(1).values, g.max(1).values);
    same(`argmax ${dtype}`, x.argmax(2), g.argmax(2));
    same(`var ${dtype}`, x.var(1), g.var(1), n);
    same(`std ${dtype}`, x.std(2, { correction: 0 }), g.std(2, { correction: 0 }), n);
    same(`softmax ${dtype}`, x.softmax(-1), g.softmax(-1));
    same(`softmax dim1 ${dtype}`, x.softmax(1), g.softmax(1));
    same(`logSoftmax ${dtype}`, x.logSoftmax(-1), g.logSoftmax(-1), n);
    const w = randn([65], { dtype: 'float64' }).to(dtype);
    const b = randn([65], { dtype: 'float64' }).to(dtype);
    same(`layerNorm ${dtype}`, layerNorm(x, [65], w, b), layerNorm(g, [65], w.to('cuda:0'), b.to('cuda:0')), n);
  }
  for (const dtype of ['int32', 'int64', 'uint8'] as DType[]) {
    const x = rand([6, 7]).mul(100).to(dtype);
    same(`int sum ${dtype}`, x.sum(1), x.to('cuda:0').sum(1));
    same(`int amax ${dtype}`, x.amax(0), x.to('cuda:0').amax(0));
  }
});

test('matmul on CUDA (fp32 without TF32, fp16, bf16, batched, transposed) matches the CPU', { skip }, () => {
  manualSeed(3);
  for (const dtype of FLOATS) {
    const a = randn([3, 65, 129], { dtype: 'float64' }).to(dtype);
    const b = randn([129, 33], { dtype: 'float64' }).to(dtype);
    const scale = dtype === 'float64' ? 1 : dtype === 'float32' ? 20 : 20;
    same(`matmul ${dtype}`, matmul(a, b), matmul(a.to('cuda:0'), b.to('cuda:0')), scale);
    same(`matmul transposed ${dtype}`, matmul(b.t(), a.transpose(1, 2)), matmul(b.to('cuda:0').t(), a.to('cuda:0').transpose(1, 2)), scale);
  }
});

test('views, copies, joins, indexing, random and transfers on CUDA', { skip }, () => {
  const x = arange(60, { dtype: 'float32' }).reshape(3, 4, 5);
  const g = x.to('cuda:0');
  same('permute+contiguous', x.permute(2, 0, 1).contiguous(), g.permute(2, 0, 1).contiguous());
  same('slice', x.slice(2, 1, null, 2).contiguous(), g.slice(2, 1, null, 2).contiguous());
  same('cat', cat([x, x], 1), cat([g, g], 1));
  same('stack', stack([x, x], 0), stack([g, g], 0));
  const idx = tensor([[[0, 4, 2, 1, 3]]], { dtype: 'int64' }).expand(3, 4, 5).contiguous();
  same('gather', gather(x, 2, idx), gather(g, 2, idx.to('cuda:0')));
  same('scatterAdd', scatterAdd(x, 2, idx, x), scatterAdd(g, 2, idx.to('cuda:0'), g));
  same('indexSelect', indexSelect(x, 1, tensor([3, 0], { dtype: 'int64' })), indexSelect(g, 1, tensor([3, 0], { dtype: 'int64', device: 'cuda:0' })));
  same('oneHot', oneHot(tensor([1, 0, 2], { dtype: 'int64' })), oneHot(tensor([1, 0, 2], { dtype: 'int64', device: 'cuda:0' })));
  assert.throws(() => indexSelect(g, 1, tensor([4], { dtype: 'int64', device: 'cuda:0' })), (e: { code?: string }) => e.code === 'ERR_INDEX_OUT_OF_RANGE');
  for (const dtype of ALL) same(`to ${dtype}`, x.to(dtype), g.to(dtype));
  manualSeed(9);
  const rc = rand([1000]);
  const nc = randn([1000]);
  manualSeed(9);
  same('rand (same Philox stream on both devices)', rc, rand([1000], { device: 'cuda:0' }));
  same('randn', nc, randn([1000], { device: 'cuda:0' }));
  assert.throws(() => x.add(g), (e: { code?: string }) => e.code === 'ERR_DEVICE_MISMATCH');
  assert.equal(g.toString().includes("device='cuda:0'"), true);
});

test('autograd on CUDA gives the CPU gradients', { skip }, () => {
  manualSeed(4);
  const w = randn([16, 8], { requiresGrad: true });
  const wg = w.detach().to('cuda:0').requiresGrad_();
  const x = randn([4, 16]);
  const f = (ww: Tensor, xx: Tensor): Tensor => xx.matmul(ww).gelu().logSoftmax(1).mean();
  f(w, x).backward();
  f(wg, x.to('cuda:0')).backward();
  same('grad', w.grad!, wg.grad!, 10);
});
