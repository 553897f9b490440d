// Batch normalization on CUDA against the CPU: both reduction layouts of the kernels (inner == 1:
// [N, C] columns; inner > 1: a block per channel), train and eval mode, gradients of input,
// weight and bias, the running statistics, float32/float64/float16/bfloat16, and an empty batch.
// Skips where no GPU is visible; npm test runs it on simulated devices too (the kernels' host
// twins, queued on the stream: plumbing and ordering).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { manualSeed, nn, randn, type DType, type Tensor } from '../../lib/index.js';
import { cudaDeviceCount } from '../../lib/tensor/cuda-bridge.js';

const skip = cudaDeviceCount() === 0 ? 'no GPU: cuda.deviceCount() is 0 here' : false;

function near(name: string, cpu: Tensor, gpu: Tensor, tol: number): void {
  assert.equal(gpu.device.toString(), 'cuda:0', name);
  assert.deepEqual(gpu.shape, cpu.shape, `${name}: shape`);
  const a = Array.from(cpu.float().dataSync() as Float32Array);
  const b = Array.from(gpu.float().dataSync() as Float32Array);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol * Math.max(1, Math.abs(a[i]!)), `${name}[${i}]: cpu ${a[i]} vs cuda ${b[i]}`);
}

test('BatchNorm on CUDA equals the CPU: train/eval, both layouts, gradients, running statistics, every float dtype', { skip }, () => {
  manualSeed(21);
  const cases: [string, number[]][] = [['1d', [64, 40]], ['1d', [7, 5, 33]], ['2d', [4, 3, 9, 11]], ['2d', [2, 70, 1, 1]]];
  for (const dtype of ['float32', 'float64', 'float16', 'bfloat16'] as DType[]) {
    const tol = dtype === 'float32' ? 1e-4 : dtype === 'float64' ? 1e-10 : 5e-2;
    for (const [kind, shape] of cases) {
      const C = shape[1]!;
      const make = (): nn.BatchNormBase => (kind === '1d' ? new nn.BatchNorm1d(C, { dtype }) : new nn.BatchNorm2d(C, { dtype }));
      const mc = make();
      const mg = make().to('cuda:0');
      const x = randn(shape).mul(2).add(0.5).to({ dtype });
      const w = randn(shape).to({ dtype });
      for (const mode of ['train', 'eval'] as const) {
        mc.train(mode === 'train');
        mg.train(mode === 'train');
        const xc = x.detach();
        xc.requiresGrad = true;
        const xg = x.to('cuda:0').detach();
        xg.requiresGrad = true;
        const yc = mc.forward(xc);
        const yg = mg.forward(xg);
        yc.mul(w).sum().backward();
        yg.mul(w.to('cuda:0')).sum().backward();
        const what = `${dtype} ${kind} ${shape} ${mode}`;
        near(`${what} out`, yc, yg, tol);
        near(`${what} grad x`, xc.grad!, xg.grad!, tol * 4);
        near(`${what} grad weight`, mc.weight!.grad!, mg.weight!.grad!, tol * 4);
        near(`${what} grad bias`, mc.bias!.grad!, mg.bias!.grad!, tol * 4);
        near(`${what} running mean`, mc.runningMean!, mg.runningMean!, tol);
        near(`${what} running var`, mc.runningVar!, mg.runningVar!, tol);
        mc.zeroGrad();
        mg.zeroGrad();
      }
    }
  }
  const empty = new nn.BatchNorm2d(3).to('cuda:0');
  assert.deepEqual(empty.forward(randn([0, 3, 2, 2]).to('cuda:0')).shape, [0, 3, 2, 2]);
  assert.deepEqual(Array.from(empty.runningVar!.dataSync() as Float32Array), [1, 1, 1]);
});
