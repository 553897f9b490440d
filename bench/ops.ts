/**
 * Tensor op benchmark (issue 4's shapes), comparable line by line with bench/compare/torch_ops.py:
 *   - element-wise add, mul, gelu on 2^26 float32 (2^22 on the CPU): effective bandwidth
 *     (bytes read + written / time), next to the device-to-device copy bandwidth (clone);
 *   - softmax and layerNorm over the last dim of 4096 x 4096 (1024 x 1024 on the CPU);
 *   - host overhead of one small op: 1e5 launches of a 1-element add (each result disposed).
 *
 *   node dist/bench/ops.js [--device cpu|cuda] [--iters N] [--json]
 * Prints a table, then one JSON line with every figure.
 */
import * as lib from '../lib/index.js';
import { add, gelu, layerNorm, mul, noGrad, randn, softmax, type Tensor } from '../lib/index.js';
import { cudaDeviceCount } from '../lib/tensor/cuda-bridge.js';

interface CudaSync { synchronizeSync?: () => void; synchronize?: () => unknown }

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}

const gpus = cudaDeviceCount();
const device = arg('device', gpus > 0 ? 'cuda' : 'cpu') === 'cuda' ? 'cuda:0' : 'cpu';
if (device !== 'cpu' && gpus === 0) {
  console.error('bench/ops: --device cuda but no GPU is visible');
  process.exit(2);
}
const onGpu = device !== 'cpu';
const iters = Number(arg('iters', onGpu ? '50' : '5'));
const cudaNs = (lib as unknown as Record<string, unknown>)['cuda'] as CudaSync | undefined;

async function sync(): Promise<void> {
  if (!onGpu) return;
  if (cudaNs?.synchronize) await cudaNs.synchronize();
}

/** Mean seconds per call of fn (its result disposed), after warm-up. */
async function time(fn: () => Tensor, n = iters): Promise<number> {
  for (let i = 0; i < Math.min(3, n); i++) fn().dispose();
  await sync();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn().dispose();
  await sync();
  return (performance.now() - t0) / 1e3 / n;
}

const results: Record<string, { timeUs: number; gbps?: number }> = {};
function report(name: string, sec: number, bytes?: number): void {
  const gbps = bytes ? bytes / sec / 1e9 : undefined;
  results[name] = { timeUs: sec * 1e6, ...(gbps !== undefined ? { gbps } : {}) };
  console.log(`${name.padEnd(28)} ${(sec * 1e6).toFixed(2).padStart(12)} us ${gbps !== undefined ? gbps.toFixed(1).padStart(9) + ' GB/s' : ''}`);
}

await noGrad(async () => {
  console.log(`# node-nccl ops on ${device}`);
  const n = onGpu ? 1 << 26 : 1 << 22;
  const x = randn([n], { device });
  const y = randn([n], { device });
  report(`copy (clone) 2^${Math.log2(n)}`, await time(() => x.clone()), 2 * 4 * n);
  report(`add 2^${Math.log2(n)}`, await time(() => add(x, y)), 3 * 4 * n);
  report(`mul 2^${Math.log2(n)}`, await time(() => mul(x, y)), 3 * 4 * n);
  report(`gelu 2^${Math.log2(n)}`, await time(() => gelu(x)), 2 * 4 * n);
  x.dispose();
  y.dispose();
  const rows = onGpu ? 4096 : 1024;
  const m = randn([rows, rows], { device });
  const w = randn([rows], { device });
  const b = randn([rows], { device });
  report(`softmax ${rows}x${rows}`, await time(() => softmax(m, -1)), 2 * 4 * rows * rows);
  report(`layerNorm ${rows}x${rows}`, await time(() => layerNorm(m, [rows], w, b)), 2 * 4 * rows * rows);
  for (const t of [m, w, b]) t.dispose();
  const one = randn([1], { device });
  const two = randn([1], { device });
  const launches = Number(arg('launches', '100000'));
  report(`host overhead 1-elem add`, await time(() => add(one, two), launches));
});
console.log(JSON.stringify({ impl: 'node-nccl', device, results }));
