// sort / argsort / topk / cumsum / cumprod / nonzero / maskedSelect / einsum on CUDA against the
// CPU, for every dtype, both sort paths (rows in shared memory and the long-row global-memory
// path past kSortSharedMax = 2048), both scan layouts (rows along the last dim, and lines over an
// inner dim) and with gradients. Skips where no GPU is visible; npm test runs it on simulated
// devices too (the kernels' host twins, queued on the stream).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { einsum, manualSeed, randn, tensor, type DType, type Tensor } from '../../lib/index.js';
import { cudaDeviceCount } from '../../lib/tensor/cuda-bridge.js';

const skip = cudaDeviceCount() === 0 ? 'no GPU: cuda.deviceCount() is 0 here' : false;

function same(name: string, cpu: Tensor, gpu: Tensor, tol = 0): void {
  assert.equal(gpu.device.toString(), 'cuda:0', name);
  assert.deepEqual(gpu.shape, cpu.shape, `${name}: shape`);
  assert.equal(gpu.dtype, cpu.dtype, `${name}: dtype`);
  const a = Array.from(cpu.dataSync() as ArrayLike<number | bigint>, Number);
  const b = Array.from(gpu.dataSync() as ArrayLike<number | bigint>, Number);
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]!)) { assert.ok(Number.isNaN(b[i]!), `${name}[${i}] NaN`); continue; }
    assert.ok(a[i] === b[i] || Math.abs(a[i]! - b[i]!) <= tol * Math.max(1, Math.abs(a[i]!)), `${name}[${i}]: cpu ${a[i]} vs cuda ${b[i]}`);
  }
}

/** Values with ties and (for floats) NaN, so order, stability and NaN placement are all exercised. */
function data(shape: number[], dtype: DType): Tensor {
  const base = randn(shape, { dtype: 'float64' }).mul(4).to('int32').to('float64');
  if ((dtype === 'float32' || dtype === 'float64') && base.numel() > 0) base.view(-1).narrow(0, 0, 1).fill_(NaN);
  if (dtype === 'uint8') return base.abs().to(dtype);
  if (dtype === 'bool') return base.gt(0);
  return base.to(dtype);
}

test('sort, argsort and topk on CUDA equal the CPU for every dtype, short and long rows, any dim', { skip }, () => {
  manualSeed(3);
  for (const dtype of ['float32', 'float64', 'float16', 'bfloat16', 'int32', 'int64', 'uint8', 'bool'] as DType[]) {
    for (const shape of [[5, 37], [3, 2100], [1, 1], [4, 0]]) {
      const x = data(shape, dtype);
      const xg = x.to('cuda:0');
      for (const descending of [false, true]) {
        for (const dim of [1, 0]) {
          const c = x.sort(dim, { descending });
          const g = xg.sort(dim, { descending });
          same(`sort ${dtype} ${shape} dim ${dim} desc ${descending} values`, c.values, g.values);
          same(`sort ${dtype} ${shape} dim ${dim} desc ${descending} indices`, c.indices, g.indices);
        }
        same(`argsort ${dtype} ${shape}`, x.argsort(-1, { descending }), xg.argsort(-1, { descending }));
      }
      const k = Math.min(3, shape[1]!);
      const c = x.topk(k, 1, { largest: false });
      const g = xg.topk(k, 1, { largest: false });
      same(`topk ${dtype} ${shape} values`, c.values, g.values);
      same(`topk ${dtype} ${shape} indices`, c.indices, g.indices);
    }
  }
});

test('cumsum and cumprod on CUDA equal the CPU (rows and inner lines, reverse in backward), with dtypes', { skip }, () => {
  manualSeed(4);
  for (const [dtype, tol] of [['float32', 1e-5], ['float64', 1e-12], ['float16', 1e-2], ['int32', 0], ['int64', 0], ['uint8', 0], ['bool', 0]] as [DType, number][]) {
    const x = (dtype === 'uint8' || dtype === 'bool' ? randn([6, 300]).abs().mul(2).to('int32') : randn([6, 300]).mul(1.01)).to(dtype);
    const xg = x.to('cuda:0');
    for (const dim of [1, 0]) {
      same(`cumsum ${dtype} dim ${dim}`, x.cumsum(dim), xg.cumsum(dim), tol * 30);
      const small = dtype === 'float16' ? x.narrow(1, 0, 8) : x.narrow(1, 0, 40);
      same(`cumprod ${dtype} dim ${dim}`, small.cumprod(dim), small.to('cuda:0').cumprod(dim), tol * 30);
    }
  }
  const w = randn([3, 5, 4], { dtype: 'float64' });
  w.view(-1).narrow(0, 7, 1).fill_(0);
  for (const dim of [0, 1, 2]) {
    const a = w.clone().requiresGrad_();
    const b = w.to('cuda:0').requiresGrad_();
    a.cumprod(dim).cumsum(dim).sum().backward();
    b.cumprod(dim).cumsum(dim).sum().backward();
    same(`cumprod+cumsum grad dim ${dim}`, a.grad!, b.grad!, 1e-12);
  }
});

test('nonzero and maskedSelect on CUDA equal the CPU (a device count, then a stream-ordered host read)', { skip }, () => {
  manualSeed(5);
  const x = randn([7, 9, 3]).mul(1.5).to('int32').to('float32');
  const xg = x.to('cuda:0');
  same('nonzero', x.nonzero(), xg.nonzero());
  same('nonzero none', x.mul(0).nonzero(), xg.mul(0).nonzero());
  const m = randn([9, 1]).gt(0);
  same('maskedSelect broadcast', x.maskedSelect(m), xg.maskedSelect(m.to('cuda:0')));
  const a = x.to('float64').requiresGrad_();
  const b = xg.to('float64').requiresGrad_();
  a.maskedSelect(m).square().sum().backward();
  b.maskedSelect(m.to('cuda:0')).square().sum().backward();
  same('maskedSelect grad', a.grad!, b.grad!, 1e-12);
  // the count is read after the producing kernels: a result computed on the stream right before
  const y = xg.add(1).nonzero();
  same('nonzero after a queued op', x.add(1).nonzero(), y);
});

test('einsum on CUDA equals the CPU, with gradients', { skip }, () => {
  manualSeed(6);
  const cases: [string, number[][]][] = [['ij,jk->ik', [[3, 4], [4, 5]]], ['bij,bjk->bik', [[2, 3, 4], [2, 4, 2]]], ['ii->i', [[4, 4]]], ['i,j->ij', [[3], [4]]], ['...ij->...ji', [[2, 3, 4]]]];
  for (const [eq, shapes] of cases) {
    const xs = shapes.map((s) => randn(s, { dtype: 'float64' }));
    const cpu = xs.map((t) => t.clone().requiresGrad_());
    const gpu = xs.map((t) => t.to('cuda:0').requiresGrad_());
    const oc = einsum(eq, ...cpu);
    const og = einsum(eq, ...gpu);
    same(`einsum ${eq}`, oc, og, 1e-12);
    oc.square().sum().backward();
    og.square().sum().backward();
    cpu.forEach((t, i) => same(`einsum ${eq} grad ${i}`, t.grad!, gpu[i]!.grad!, 1e-12));
  }
});
