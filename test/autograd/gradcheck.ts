/** gradcheck: analytic gradients from backward() vs central finite differences in float64. */
import assert from 'node:assert/strict';
import { noGrad, tensor, type Tensor } from '../../lib/index.js';
import { rng } from '../tensor/helpers.js';

export interface GradInput {
  shape: number[];
  values?: number[];
  /** range of random values */
  lo?: number;
  hi?: number;
}

/**
 * Checks d(sum(w * f(inputs)))/d(input) for random weights w. `make` builds each input from plain
 * values (so views and non-contiguous layouts can be produced inside f).
 */
export function gradcheck(name: string, f: (xs: Tensor[]) => Tensor, specs: GradInput[], { eps = 1e-6, atol = 1e-5, rtol = 1e-4, seed = 7 } = {}): void {
  const r = rng(seed);
  const values = specs.map((s) => s.values ?? Array.from({ length: s.shape.reduce((a, b) => a * b, 1) }, () => (s.lo ?? -1) + ((s.hi ?? 1) - (s.lo ?? -1)) * r()));
  const leaves = values.map((v, i) => tensor(v, { shape: specs[i]!.shape, dtype: 'float64', requiresGrad: true }));
  const out = f(leaves);
  const w = Array.from({ length: out.numel() }, () => r() * 2 - 1);
  const wt = tensor(w, { shape: [...out.shape], dtype: 'float64' });
  out.mul(wt).sum().backward();
  const evalAt = (vals: number[][]): number => noGrad(() => {
    const xs = vals.map((v, i) => tensor(v, { shape: specs[i]!.shape, dtype: 'float64' }));
    const y = f(xs);
    return Number(y.mul(wt).sum().item());
  });
  leaves.forEach((leaf, li) => {
    const analytic = leaf.grad ? Array.from(leaf.grad.dataSync() as Float64Array) : new Array<number>(leaf.numel()).fill(0);
    assert.deepEqual(leaf.grad?.shape ?? leaf.shape, leaf.shape, `${name}: grad shape of input ${li}`);
    for (let k = 0; k < values[li]!.length; k++) {
      const plus = values.map((v) => [...v]);
      const minus = values.map((v) => [...v]);
      plus[li]![k]! += eps;
      minus[li]![k]! -= eps;
      const numeric = (evalAt(plus) - evalAt(minus)) / (2 * eps);
      const a = analytic[k]!;
      assert.ok(Math.abs(a - numeric) <= atol + rtol * Math.abs(numeric),
        `${name}: d/d input${li}[${k}]: analytic ${a} vs numeric ${numeric}`);
    }
  });
}
