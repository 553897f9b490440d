// round / floor / ceil / trunc / isnan / isinf / isfinite / any / all / flip / roll / repeat /
// tile / tril / triu on CUDA against the CPU, for every dtype, contiguous and strided inputs (the
// vectorized and the strided elementwise paths), with gradients. Skips where no GPU is visible;
// npm test runs it on simulated devices too (the kernels' host twins, queued on the stream).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { manualSeed, randn, tensor, type DType, type Tensor } from '../../lib/index.js';
import { cudaDeviceCount } from '../../lib/tensor/cuda-bridge.js';

const skip = cudaDeviceCount() === 0 ? 'no GPU: cuda.deviceCount() is 0 here' : false;
const DTYPES: DType[] = ['float32', 'float64', 'float16', 'bfloat16', 'int32', 'int64', 'uint8', 'bool'];

function same(name: string, cpu: Tensor, gpu: Tensor, tol = 0): void {
  assert.equal(gpu.device.toString(), 'cuda:0', name);
  assert.deepEqual(gpu.shape, cpu.shape, `${name}: shape`);
  assert.equal(gpu.dtype, cpu.dtype, `${name}: dtype`);
  const a = Array.from(cpu.dataSync() as ArrayLike<number | bigint>, Number);
  const b = Array.from(gpu.dataSync() as ArrayLike<number | bigint>, Number);
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]!)) { assert.ok(Number.isNaN(b[i]!), `${name}[${i}] NaN`); continue; }
    assert.ok(Object.is(a[i], b[i]) || Math.abs(a[i]! - b[i]!) <= tol * Math.max(1, Math.abs(a[i]!)), `${name}[${i}]: cpu ${a[i]} vs cuda ${b[i]}`);
  }
}

/** Values with halves, zeros, NaN and infinities (floats), in the given dtype. */
function data(shape: number[], dtype: DType): Tensor {
  const base = randn(shape, { dtype: 'float64' }).mul(3).mul(2).round().div(2); // many exact halves
  if (dtype === 'bool') return base.gt(0);
  if (dtype === 'uint8') return base.abs().to(dtype);
  const t = base.to(dtype);
  if ((dtype === 'float32' || dtype === 'float64' || dtype === 'float16' || dtype === 'bfloat16') && t.numel() > 3) {
    const flat = t.view(-1);
    flat.narrow(0, 0, 1).fill_(NaN);
    flat.narrow(0, 1, 1).fill_(Infinity);
    flat.narrow(0, 2, 1).fill_(-Infinity);
  }
  return t;
}

test('round, floor, ceil, trunc and the float predicates on CUDA equal the CPU, every dtype, contiguous and strided', { skip }, () => {
  manualSeed(21);
  for (const dtype of DTYPES) {
    for (const shape of [[37, 29], [1, 1], [0, 3]]) {
      const x = data(shape, dtype);
      for (const [name, v] of [['contiguous', x], ['transposed', x.t()]] as [string, Tensor][]) {
        const vg = v.to('cuda:0');
        const tag = `${dtype} ${shape} ${name}`;
        same(`isnan ${tag}`, v.isnan(), vg.isnan());
        same(`isinf ${tag}`, v.isinf(), vg.isinf());
        same(`isfinite ${tag}`, v.isfinite(), vg.isfinite());
        if (dtype === 'bool') continue;
        for (const op of ['round', 'floor', 'ceil', 'trunc'] as const) same(`${op} ${tag}`, v[op](), vg[op]());
        if (dtype.startsWith('float') || dtype === 'bfloat16') {
          for (const decimals of [2, -1]) same(`round decimals ${decimals} ${tag}`, v.round({ decimals }), vg.round({ decimals }));
        }
      }
    }
  }
  // a transposed view of a CUDA tensor (the strided kernel path, on the device)
  const x = randn([8, 6], { dtype: 'float64' }).mul(10);
  same('round of a device view', x.t().round({ decimals: 1 }), x.to('cuda:0').t().round({ decimals: 1 }));
});

test('any and all on CUDA equal the CPU: every dtype, whole tensor, each dim, keepdim, empty dims', { skip }, () => {
  manualSeed(22);
  for (const dtype of DTYPES) {
    const x = data([5, 7, 300], dtype).mul(data([5, 7, 300], 'bool').to(dtype === 'bool' ? 'bool' : dtype));
    const xg = x.to('cuda:0');
    same(`any ${dtype}`, x.any(), xg.any());
    same(`all ${dtype}`, x.all(), xg.all());
    for (const dim of [0, 1, 2]) {
      for (const keepdim of [false, true]) {
        same(`any ${dtype} dim ${dim} keepdim ${keepdim}`, x.any(dim, { keepdim }), xg.any(dim, { keepdim }));
        same(`all ${dtype} dim ${dim} keepdim ${keepdim}`, x.all(dim, { keepdim }), xg.all(dim, { keepdim }));
      }
    }
    same(`all of ones ${dtype}`, x.ne(0).all(), xg.ne(0).all());
  }
  const e = tensor([], { shape: [3, 0] }).to('cuda:0');
  assert.deepEqual(e.all(1).arraySync(), [true, true, true]);
  assert.deepEqual(e.any(1).arraySync(), [false, false, false]);
  assert.equal(e.any().item(), false);
});

test('flip, roll, repeat, tile, tril and triu on CUDA equal the CPU, every dtype, views included', { skip }, () => {
  manualSeed(23);
  for (const dtype of DTYPES) {
    const x = data([3, 4, 5], dtype);
    for (const [name, v] of [['contiguous', x], ['permuted', x.permute(2, 0, 1)]] as [string, Tensor][]) {
      const vg = v.to('cuda:0');
      const tag = `${dtype} ${name}`;
      same(`flip ${tag}`, v.flip(0, 2), vg.flip(0, 2));
      same(`flip none ${tag}`, v.flip([]), vg.flip([]));
      same(`roll flattened ${tag}`, v.roll(7), vg.roll(7));
      same(`roll dims ${tag}`, v.roll([1, -2, 3], [0, 1, 2]), vg.roll([1, -2, 3], [0, 1, 2]));
      same(`repeat ${tag}`, v.repeat(2, 1, 3, 2), vg.repeat(2, 1, 3, 2));
      same(`tile ${tag}`, v.tile(2), vg.tile(2));
      for (const k of [0, 2, -1]) {
        same(`tril ${k} ${tag}`, v.tril(k), vg.tril(k));
        same(`triu ${k} ${tag}`, v.triu(k), vg.triu(k));
      }
    }
  }
  // past the single-pass roll (4 dims) and the 16-dim repeat limits
  const y = randn([2, 2, 2, 2, 2, 2], { dtype: 'float64' });
  same('roll over 6 dims', y.roll([1, 1, 1, 1, 1, 1], [0, 1, 2, 3, 4, 5]), y.to('cuda:0').roll([1, 1, 1, 1, 1, 1], [0, 1, 2, 3, 4, 5]));
  const z = randn([2, 1, 2, 1, 2, 1, 2, 1, 2]);
  const sizes = [2, 1, 2, 1, 2, 1, 2, 1, 2];
  same('repeat over 9 dims', z.repeat(sizes), z.to('cuda:0').repeat(sizes));
  // in place on the device
  const m = randn([4, 4]);
  const mg = m.to('cuda:0');
  mg.tril_(-1);
  same('tril_ in place', m.tril(-1), mg);
});

test('gradients of round, flip, roll, repeat, tile, tril, triu on CUDA equal the CPU', { skip }, () => {
  manualSeed(24);
  const x = randn([3, 4, 5], { dtype: 'float64' });
  const w = randn([6, 4, 10], { dtype: 'float64' });
  const f = (t: Tensor, wt: Tensor): Tensor =>
    t.flip(1).roll([1, 2], [0, 2]).repeat(2, 1, 2).mul(wt).tril(1).add(t.tile(2, 1, 2).triu(-1).mul(wt).round()).sum();
  const a = x.clone().requiresGrad_();
  const b = x.to('cuda:0').requiresGrad_();
  f(a, w).backward();
  f(b, w.to('cuda:0')).backward();
  same('composed gradient', a.grad!, b.grad!, 1e-12);
});
