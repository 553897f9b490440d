/**
 * A gradcheck: compares autograd's gradients of a scalar function of float64 tensors with central
 * finite differences (h = 1e-6), element by element.
 */
import assert from 'node:assert/strict';
import { Tensor, tensor } from '../../lib/tensor/index.js';

export interface GradInput {
  data: number[];
  shape: number[];
}

function leaf(x: GradInput, requiresGrad: boolean): Tensor {
  const t = tensor(x.data, { dtype: 'float64' }).reshape(x.shape).detach();
  t.requiresGrad = requiresGrad;
  return t;
}

/**
 * f takes tensors built from `inputs` and returns a tensor; the checked function is
 * sum(f(inputs) * w) with fixed random weights w (so every output element is checked).
 */
export function gradcheck(name: string, f: (xs: Tensor[]) => Tensor, inputs: GradInput[], { h = 1e-6, atol = 1e-6, rtol = 1e-4 } = {}): void {
  const probe = f(inputs.map((x) => leaf(x, false)));
  const n = probe.numel();
  let s = 12345;
  const w = tensor(Array.from({ length: n }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0), (s / 2 ** 32) * 2 - 1)), { dtype: 'float64' }).reshape([...probe.shape]);
  const scalar = (xs: Tensor[]): Tensor => f(xs).mul(w).sum();

  const leaves = inputs.map((x) => leaf(x, true));
  scalar(leaves).backward();
  inputs.forEach((x, k) => {
    const analytic = leaves[k]!.grad ? Array.from(leaves[k]!.grad!.dataSync() as Float64Array) : x.data.map(() => 0);
    for (let i = 0; i < x.data.length; i++) {
      const plus = inputs.map((y, j) => (j === k ? { shape: y.shape, data: y.data.map((v, q) => (q === i ? v + h : v)) } : y));
      const minus = inputs.map((y, j) => (j === k ? { shape: y.shape, data: y.data.map((v, q) => (q === i ? v - h : v)) } : y));
      const fp = Number(scalar(plus.map((y) => leaf(y, false))).item());
      const fm = Number(scalar(minus.map((y) => leaf(y, false))).item());
      const numeric = (fp - fm) / (2 * h);
      const a = analytic[i]!;
      assert.ok(
        Math.abs(a - numeric) <= atol + rtol * Math.abs(numeric),
        `${name}: d/d input${k}[${i}]: autograd ${a} vs finite differences ${numeric}`,
      );
    }
  });
}

/** Deterministic test data in [lo, hi). */
export function data(n: number, seed: number, lo = -1, hi = 1): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return lo + (s / 2 ** 32) * (hi - lo);
  });
}
