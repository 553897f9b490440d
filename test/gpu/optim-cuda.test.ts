/**
 * The optimizers on the GPU (fused CUDA kernels) against the same optimizers on the CPU (the host
 * twins, themselves checked against the reference sequences in test/optim): several steps of
 * SGD (Nesterov, weight decay), Adam (amsgrad) and AdamW on float32, bfloat16 and float16
 * parameters, plus clipGradNorm. Skips, naming the reason, without a GPU.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cuda } from '../../lib/cuda/index.js';
import { Adam, AdamW, SGD, clipGradNorm, type Optimizer } from '../../lib/optim/index.js';
import { manualSeed, randn, type DType, type Tensor } from '../../lib/tensor/index.js';

const reason = cuda.deviceCount() === 0 ? `no GPU: ${cuda.noGpuReason()}` : false;

function leaf(t: Tensor): Tensor {
  const l = t.detach();
  l.requiresGrad = true;
  return l;
}

function run(make: (ps: Tensor[]) => Optimizer, dtype: DType, device: string): number[][] {
  manualSeed(7);
  const shapes = [[1000, 3], [257], [4, 4, 4]];
  const init = shapes.map((s) => randn(s, { dtype: 'float32' }));
  const grads = [0, 1, 2, 3].map(() => shapes.map((s) => randn(s, { dtype: 'float32' })));
  const ps = init.map((t) => leaf(t.to({ dtype, device })));
  const opt = make(ps);
  for (const gs of grads) {
    ps.forEach((p, j) => (p.grad = gs[j]!.to({ dtype, device })));
    clipGradNorm(ps, 10);
    opt.step();
  }
  return ps.map((p) => Array.from(p.to({ device: 'cpu', dtype: 'float32' }).dataSync() as Float32Array));
}

const makers: Array<[string, (ps: Tensor[]) => Optimizer]> = [
  ['SGD nesterov', (ps) => new SGD(ps, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-3 })],
  ['Adam amsgrad', (ps) => new Adam(ps, { lr: 1e-2, amsgrad: true, weightDecay: 1e-2 })],
  ['AdamW', (ps) => new AdamW(ps, { lr: 1e-2 })],
];

for (const [name, make] of makers) {
  for (const dtype of ['float32', 'bfloat16', 'float16'] as DType[]) {
    test(`${name} on cuda:0 matches the CPU (${dtype})`, { skip: reason }, () => {
      const cpu = run(make, dtype, 'cpu');
      const gpu = run(make, dtype, 'cuda:0');
      const tol = dtype === 'float32' ? 1e-5 : dtype === 'bfloat16' ? 1e-2 : 2e-3;
      cpu.forEach((c, j) => c.forEach((v, i) => {
        const g = gpu[j]![i]!;
        assert.ok(Math.abs(v - g) <= tol * (1 + Math.abs(v)), `${name} ${dtype} param ${j}[${i}]: cpu ${v} vs cuda ${g}`);
      }));
    });
  }
}
