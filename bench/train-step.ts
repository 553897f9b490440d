/**
 * Training-step benchmark: MLP 784-4096-4096-10, batch 512, AdamW (lr 1e-3, weightDecay 1e-2),
 * cross entropy; one step = zeroGrad + forward + loss + backward + step, in fp32 and bf16.
 * Reports the mean step time and the peak allocated device memory during the timed steps, and,
 * with --compare, runs bench/compare/torch_train_step.py in the same run and prints the ratios.
 *
 *   node dist/bench/train-step.js [--dtype fp32|bf16|both] [--steps 50] [--warmup 10] [--compare] [--json]
 *
 * Without a GPU it says so plainly, then times the step on the CPU (--cpu-batch, default 32: the
 * full batch of 512 takes many seconds per step on a small CPU).
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cuda } from '../lib/cuda/index.js';
import * as nn from '../lib/nn/index.js';
import { AdamW } from '../lib/optim/index.js';
import { manualSeed, randint, randn, type DType } from '../lib/tensor/index.js';

interface Args { dtype: string; steps: number; warmup: number; compare: boolean; json: boolean; cpuBatch: number }

function parseArgs(argv: string[]): Args {
  const a: Args = { dtype: 'both', steps: 50, warmup: 10, compare: false, json: false, cpuBatch: 32 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k} needs a value`);
      return x;
    };
    if (k === '--dtype') a.dtype = v();
    else if (k === '--steps') a.steps = Number(v());
    else if (k === '--warmup') a.warmup = Number(v());
    else if (k === '--cpu-batch') a.cpuBatch = Number(v());
    else if (k === '--compare') a.compare = true;
    else if (k === '--json') a.json = true;
    else throw new Error(`unknown argument ${k} (expected --dtype fp32|bf16|both, --steps N, --warmup N, --cpu-batch N, --compare, --json)`);
  }
  if (!['fp32', 'bf16', 'both'].includes(a.dtype)) throw new Error(`--dtype must be fp32, bf16 or both, got ${a.dtype}`);
  return a;
}

interface Result { impl: string; device: string; dtype: string; batch: number; steps: number; stepMs: number; peakBytes: number | null }

async function run(device: string, name: 'fp32' | 'bf16', batch: number, steps: number, warmup: number): Promise<Result> {
  const dtype: DType = name === 'fp32' ? 'float32' : 'bfloat16';
  manualSeed(0);
  const model = new nn.Sequential(new nn.Linear(784, 4096), new nn.ReLU(), new nn.Linear(4096, 4096), new nn.ReLU(), new nn.Linear(4096, 10))
    .to({ device, dtype });
  const opt = new AdamW(model.parameters(), { lr: 1e-3 });
  const x = randn([batch, 784], { device, dtype });
  const y = randint(0, 10, [batch], { device, dtype: 'int64' });
  const step = (): void => {
    opt.zeroGrad();
    const loss = nn.functional.crossEntropy(model.forward(x), y);
    loss.backward();
    opt.step();
    loss.dispose();
  };
  const gpu = device.startsWith('cuda');
  for (let i = 0; i < warmup; i++) step();
  if (gpu) {
    await cuda.synchronize(0);
    cuda.resetPeakMemoryStats(0);
  }
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  if (gpu) await cuda.synchronize(0);
  const stepMs = (performance.now() - t0) / steps;
  return { impl: 'node-nccl', device, dtype: name, batch, steps, stepMs: Number(stepMs.toFixed(4)), peakBytes: gpu ? cuda.memoryStats(0).peakAllocatedBytes : null };
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const dtypes: Array<'fp32' | 'bf16'> = a.dtype === 'both' ? ['fp32', 'bf16'] : [a.dtype as 'fp32' | 'bf16'];
  const out = (r: object): void => console.log(a.json ? JSON.stringify(r) : Object.entries(r).map(([k, v]) => `${k}=${v}`).join('  '));
  if (cuda.deviceCount() === 0) {
    console.log(`no GPU: ${cuda.noGpuReason()} — the GPU benchmark (batch 512, fp32/bf16 on cuda:0) did not run; CPU step time follows (batch ${a.cpuBatch}, fp32)`);
    out(await run('cpu', 'fp32', a.cpuBatch, Math.min(a.steps, 3), 1));
    return;
  }
  const ours: Result[] = [];
  for (const d of dtypes) {
    const r = await run('cuda:0', d, 512, a.steps, a.warmup);
    ours.push(r);
    out(r);
  }
  if (a.compare) {
    const script = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'compare', 'torch_train_step.py');
    const p = spawnSync('python3', [script, '--dtype', a.dtype, '--steps', String(a.steps), '--warmup', String(a.warmup)], { encoding: 'utf8' });
    if (p.status !== 0) {
      console.log(`torch baseline failed: ${p.stderr || p.error?.message}`);
      return;
    }
    for (const line of p.stdout.trim().split('\n')) {
      const t = JSON.parse(line) as { dtype?: string; stepMs?: number; peakBytes?: number; skipped?: string };
      out(t);
      const mine = ours.find((r) => r.dtype === t.dtype);
      if (mine && t.stepMs && t.peakBytes) {
        out({ dtype: t.dtype, timeRatio: Number((mine.stepMs / t.stepMs).toFixed(3)), memRatio: mine.peakBytes ? Number((mine.peakBytes / t.peakBytes).toFixed(3)) : null });
      }
    }
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
