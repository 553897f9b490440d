/**
 * Stochastic gradient descent with torch.optim.SGD's update rule (momentum, dampening, Nesterov,
 * L2 weight decay, maximize), run by the fused multi-tensor kernel native.kernels.sgdStep (CUDA on
 * the GPU, its host twin on the CPU):
 *
 *   g = maximize ? -grad : grad;  if weightDecay: g += weightDecay * p
 *   if momentum: buf = first step ? g : momentum * buf + (1 - dampening) * g
 *                g = nesterov ? g + momentum * buf : buf
 *   p -= lr * g
 */
import type { Span } from '../../typings/native.js';
import { K } from './kernels.js';
import type { Tensor } from '../tensor/index.js';
import { bumpVersion } from '../tensor/ops/inplace.js';
import { Optimizer, argError, dtypeCodeOf, gradOf, type Params, type ParamGroup } from './optimizer.js';
import { checkOptions, optionKeys } from '../options.js';

export interface SGDOptions {
  /** Learning rate. Default 1e-3 (torch 2.x). */
  lr: number;
  /** Momentum factor. Default 0. */
  momentum: number;
  /** Dampening of the momentum. Default 0. */
  dampening: number;
  /** L2 penalty added to the gradient. Default 0. */
  weightDecay: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0). Default false. */
  nesterov: boolean;
  /** Maximize the objective instead of minimizing. Default false. */
  maximize: boolean;
}

const SGD_OPTIONS = optionKeys<SGDOptions>({ lr: true, momentum: true, dampening: true, weightDecay: true, nesterov: true, maximize: true });

export class SGD extends Optimizer<SGDOptions> {
  constructor(params: Params<SGDOptions>, options: Partial<SGDOptions> = {}) {
    super(params, { lr: 1e-3, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, ...checkOptions(options, SGD_OPTIONS, 'SGD') });
  }

  protected validateOptions(o: SGDOptions): void {
    if (!(o.lr >= 0)) throw argError(`SGD: invalid learning rate ${o.lr} (must be >= 0)`);
    if (!(o.momentum >= 0)) throw argError(`SGD: invalid momentum ${o.momentum} (must be >= 0)`);
    if (!(o.weightDecay >= 0)) throw argError(`SGD: invalid weightDecay ${o.weightDecay} (must be >= 0)`);
    if (!Number.isFinite(o.dampening)) throw argError(`SGD: invalid dampening ${o.dampening}`);
    if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0)) {
      throw argError('SGD: Nesterov momentum requires a momentum and zero dampening');
    }
  }

  /** One step; with a closure (which recomputes the loss), returns the closure's result. */
  step<L = undefined>(closure?: () => L): L | undefined {
    const loss = closure ? closure() : undefined;
    this.settleGrads();
    for (const g of this.paramGroups) this.stepGroup(g);
    return loss;
  }

  private stepGroup(group: ParamGroup<SGDOptions>): void {
    type Bucket = { params: Span[]; grads: Span[]; bufs: Span[]; numels: number[]; dtype: Tensor['dtype']; first: boolean; keep: Tensor[]; owners: Tensor[] };
    const buckets = new Map<string, Bucket>();
    for (const p of group.params) {
      if (!p.grad || p.numel() === 0) continue;
      const grad = gradOf(p, 'SGD.step');
      let first = false;
      let buf: Tensor | null = null;
      if (group.momentum !== 0) {
        let st = this.state.get(p);
        if (!st || !st.momentumBuffer) {
          st = { momentumBuffer: this.stateZeros(p) };
          this.state.set(p, st);
          first = true;
        }
        buf = st.momentumBuffer as Tensor;
      }
      const key = `${p.device}|${p.dtype}|${first}`;
      let b = buckets.get(key);
      if (!b) buckets.set(key, (b = { params: [], grads: [], bufs: [], numels: [], dtype: p.dtype, first, keep: [], owners: [] }));
      b.params.push(p.span());
      b.owners.push(p);
      b.grads.push(grad.span());
      b.keep.push(grad);
      if (buf) b.bufs.push(buf.span());
      b.numels.push(p.numel());
    }
    for (const b of buckets.values()) {
      K().sgdStep(dtypeCodeOf(b.dtype), b.params, b.grads, group.momentum !== 0 ? b.bufs : null, b.numels, {
        lr: group.lr, momentum: group.momentum, dampening: group.dampening, weightDecay: group.weightDecay,
        nesterov: group.nesterov, maximize: group.maximize, firstStep: b.first,
      });
      // in-place writes: autograd must see that graphs saved before the step are stale
      for (const p of b.owners) bumpVersion(p);
      b.keep.forEach((g, i) => {
        if (g !== b.owners[i]!.grad) g.dispose(); // a contiguous copy made for the kernel
      });
    }
  }
}
