/**
 * Shared by the DDP workers (N processes) and the tests' single-process references: a small
 * model with deterministic weights, deterministic data, and one training step.
 */
import { nn, optim, noGrad, tensor, type Tensor } from '../../../lib/index.js';
import { SeededRandom } from '../../../lib/parallel/permutation.js';

export const IN = 6;
export const HIDDEN = 8;
export const CLASSES = 3;

/** A uniform value in [-1, 1) from a seeded stream. */
function uniform(rng: SeededRandom): number {
  return rng.nextUint32() / 0x80000000 - 1;
}

/** Overwrites every parameter with seeded values (same on every rank and in the reference). */
export function initParams(model: nn.Module, seed: number): void {
  const rng = new SeededRandom(seed);
  noGrad(() => {
    for (const p of [...model.parameters()]) {
      const vals = Float32Array.from({ length: p.numel() }, () => 0.5 * uniform(rng));
      p.copy_(tensor(vals).reshape([...p.shape]));
    }
  });
}

export function makeModel(seed = 1, hidden = HIDDEN): nn.Sequential {
  const m = new nn.Sequential(new nn.Linear(IN, hidden), new nn.Tanh(), new nn.Linear(hidden, CLASSES));
  initParams(m, seed);
  return m;
}

/** Rows [start, start + n) of the deterministic dataset: inputs and labels. */
export function rows(start: number, n: number): { x: Tensor; y: Tensor } {
  const xs = new Float32Array(n * IN);
  const ys = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    const rng = new SeededRandom(1000 + start + i);
    for (let j = 0; j < IN; j++) xs[i * IN + j] = uniform(rng);
    ys[i] = BigInt((start + i) % CLASSES);
  }
  return { x: tensor(xs).reshape([n, IN]), y: tensor(ys, { dtype: 'int64' }) };
}

export type OptName = 'sgd' | 'adamw';

export function makeOptimizer(name: OptName, params: Tensor[]): optim.Optimizer {
  return name === 'sgd' ? new optim.SGD(params, { lr: 0.1, momentum: 0.9 }) : new optim.AdamW(params, { lr: 0.01, weightDecay: 0.01 });
}

export function lossOf(out: Tensor, y: Tensor): Tensor {
  return nn.functional.crossEntropy(out, y);
}

export async function paramValues(model: nn.Module): Promise<number[][]> {
  return Promise.all([...model.parameters()].map(async (p) => Array.from((await p.data()) as Float32Array)));
}

/**
 * The single-process reference: `steps` steps with global batch N*B (rows of step s start at
 * s*N*B), optionally `micro` accumulation micro-batches per step (each a mean over N*B rows).
 */
export async function referenceRun(opt: OptName, worldSize: number, batch: number, steps: number, micro = 1): Promise<number[][]> {
  const model = makeModel();
  const o = makeOptimizer(opt, [...model.parameters()]);
  const global = worldSize * batch;
  for (let s = 0; s < steps; s++) {
    for (let m = 0; m < micro; m++) {
      const { x, y } = rows((s * micro + m) * global, global);
      lossOf(model.forward(x) as Tensor, y).backward();
    }
    o.step();
    o.zeroGrad();
  }
  return paramValues(model);
}

export function maxAbsDiff(a: number[][], b: number[][]): number {
  let m = 0;
  a.forEach((row, i) => row.forEach((v, j) => (m = Math.max(m, Math.abs(v - b[i]![j]!)))));
  return m;
}
