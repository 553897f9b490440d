/**
 * How an op joins the graph: `record(name, out, inputs, backward, save)` after computing its
 * forward. The backward receives the output's gradient and the saved tensors (version-checked) and
 * returns one gradient per input, in the output's (broadcast) shape and dtype: this wrapper sums
 * broadcast dims away and casts back to each input's dtype, so ops need not.
 */
import type { Tensor } from '../tensor/tensor.js';
import { isGradEnabled } from './grad-mode.js';
import { Node, SavedTensor } from './node.js';
import { sumToShape } from '../tensor/ops/reduce.js';
import { cast } from '../tensor/ops/copy.js';
import { shapesEqual } from '../tensor/shape.js';

export type OpBackward = (grad: Tensor, saved: Tensor[], needs: boolean[]) => (Tensor | null | undefined)[];

/** True when grad mode is on and some input requires grad. */
export function needsGrad(...inputs: unknown[]): boolean {
  if (!isGradEnabled()) return false;
  for (const t of inputs) if (t !== null && typeof t === 'object' && (t as Tensor).requiresGrad) return true;
  return false;
}

/** Attaches a backward node to `out` when grad mode is on and an input requires grad. */
export function record(name: string, out: Tensor, inputs: (Tensor | null)[], backward: OpBackward, save: Tensor[] = []): Tensor {
  if (!needsGrad(...inputs)) return out;
  const edges = inputs.map((t) => (t ? t._gradEdge() : null));
  const needs = edges.map((e) => e !== null);
  const meta = inputs.map((t) => ({ shape: t ? [...t.shape] : [], dtype: t ? t.dtype : out.dtype }));
  const saved = save.map((t) => new SavedTensor(t, name));
  const node = new Node(name, edges, meta, (g) => {
    const vals = saved.map((s) => s.get());
    const grads = backward(g, vals, needs);
    return inputs.map((_, i) => {
      const gi = grads[i];
      if (!needs[i] || !gi) return null;
      return fitGrad(gi, meta[i]!.shape, meta[i]!.dtype);
    });
  }, saved);
  out._setGradFn(node);
  return out;
}

/** Sums broadcast dims away and casts to the input's dtype. */
export function fitGrad(g: Tensor, shape: readonly number[], dtype: Tensor['dtype']): Tensor {
  let r = g;
  if (!shapesEqual(r.shape, shape)) r = sumToShape(r, shape);
  if (r.dtype !== dtype) r = cast(r, dtype);
  return r;
}
