/**
 * Adam and AdamW with torch.optim.Adam/AdamW's update rules (the default single-tensor
 * semantics, which torch's foreach and fused paths reproduce), run by the fused multi-tensor
 * kernel native.kernels.adamStep (CUDA on the GPU, its host twin on the CPU):
 *
 *   t += 1;  g = maximize ? -grad : grad
 *   Adam:  if weightDecay: g += weightDecay * p          AdamW: p *= 1 - lr * weightDecay
 *   m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g * g
 *   vmax = max(vmax, v) (amsgrad)
 *   p -= lr / (1 - beta1^t) * m / (sqrt(amsgrad ? vmax : v) / sqrt(1 - beta2^t) + eps)
 *
 * State per parameter: step (a number), expAvg, expAvgSq, maxExpAvgSq (amsgrad), in the
 * parameter's dtype as torch's; for float16/bfloat16 parameters each step computes in float32 and
 * rounds the state once, as torch's fused Adam does.
 */
import type { Span } from '../../typings/native.js';
import { K } from './kernels.js';
import type { Tensor } from '../tensor/index.js';
import { bumpVersion } from '../tensor/ops/inplace.js';
import { Optimizer, argError, dtypeCodeOf, gradOf, type Params, type ParamGroup } from './optimizer.js';
import { checkOptions, optionKeys } from '../options.js';

export interface AdamOptions {
  /** Learning rate. Default 1e-3. */
  lr: number;
  /** Coefficients of the running averages of the gradient and its square. Default [0.9, 0.999]. */
  betas: [number, number];
  /** Added to the denominator for numerical stability. Default 1e-8. */
  eps: number;
  /** Weight decay: an L2 penalty for Adam (default 0), decoupled for AdamW (default 1e-2). */
  weightDecay: number;
  /** The AMSGrad variant. Default false. */
  amsgrad: boolean;
  /** Maximize the objective instead of minimizing. Default false. */
  maximize: boolean;
}

const ADAM_OPTIONS = optionKeys<AdamOptions>({ lr: true, betas: true, eps: true, weightDecay: true, amsgrad: true, maximize: true });

abstract class AdamBase extends Optimizer<AdamOptions> {
  protected abstract readonly decoupled: boolean;

  protected validateOptions(o: AdamOptions): void {
    const n = this.constructor.name;
    if (!(o.lr >= 0)) throw argError(`${n}: invalid learning rate ${o.lr} (must be >= 0)`);
    if (!(o.eps >= 0)) throw argError(`${n}: invalid epsilon ${o.eps} (must be >= 0)`);
    if (!Array.isArray(o.betas) || o.betas.length !== 2) throw argError(`${n}: betas must be [beta1, beta2]`);
    if (!(o.betas[0] >= 0 && o.betas[0] < 1)) throw argError(`${n}: invalid beta parameter at index 0: ${o.betas[0]} (must be in [0, 1))`);
    if (!(o.betas[1] >= 0 && o.betas[1] < 1)) throw argError(`${n}: invalid beta parameter at index 1: ${o.betas[1]} (must be in [0, 1))`);
    if (!(o.weightDecay >= 0)) throw argError(`${n}: invalid weightDecay ${o.weightDecay} (must be >= 0)`);
  }

  /** One step; with a closure (which recomputes the loss), returns the closure's result. */
  step<L = undefined>(closure?: () => L): L | undefined {
    const loss = closure ? closure() : undefined;
    this.settleGrads();
    for (const g of this.paramGroups) this.stepGroup(g);
    return loss;
  }

  private stepGroup(group: ParamGroup<AdamOptions>): void {
    type Bucket = { dtype: Tensor['dtype']; step: number; params: Span[]; grads: Span[]; m: Span[]; v: Span[]; vmax: Span[]; numels: number[]; keep: Tensor[]; owners: Tensor[] };
    const buckets = new Map<string, Bucket>();
    for (const p of group.params) {
      if (!p.grad) continue;
      const grad = gradOf(p, `${this.constructor.name}.step`);
      let st = this.state.get(p);
      if (!st) {
        st = { step: 0, expAvg: this.stateZeros(p), expAvgSq: this.stateZeros(p) };
        this.state.set(p, st);
      }
      if (group.amsgrad && !st.maxExpAvgSq) st.maxExpAvgSq = this.stateZeros(p);
      const step = (st.step as number) + 1;
      st.step = step;
      if (p.numel() === 0) continue;
      const key = `${p.device}|${p.dtype}|${step}`;
      let b = buckets.get(key);
      if (!b) buckets.set(key, (b = { dtype: p.dtype, step, params: [], grads: [], m: [], v: [], vmax: [], numels: [], keep: [], owners: [] }));
      b.params.push(p.span());
      b.owners.push(p);
      b.grads.push(grad.span());
      b.keep.push(grad);
      b.m.push((st.expAvg as Tensor).span());
      b.v.push((st.expAvgSq as Tensor).span());
      if (group.amsgrad) b.vmax.push((st.maxExpAvgSq as Tensor).span());
      b.numels.push(p.numel());
    }
    for (const b of buckets.values()) {
      K().adamStep(dtypeCodeOf(b.dtype), b.params, b.grads, b.m, b.v, group.amsgrad ? b.vmax : null, b.numels, {
        lr: group.lr, beta1: group.betas[0], beta2: group.betas[1], eps: group.eps, weightDecay: group.weightDecay,
        step: b.step, decoupled: this.decoupled, amsgrad: group.amsgrad, maximize: group.maximize,
      });
      // in-place writes: autograd must see that graphs saved before the step are stale
      for (const p of b.owners) bumpVersion(p);
      b.keep.forEach((g, i) => {
        if (g !== b.owners[i]!.grad) g.dispose(); // a contiguous copy made for the kernel
      });
    }
  }
}

/** torch.optim.Adam: L2 weight decay added to the gradient (default 0). */
export class Adam extends AdamBase {
  protected readonly decoupled = false;
  constructor(params: Params<AdamOptions>, options: Partial<AdamOptions> = {}) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false, ...checkOptions(options, ADAM_OPTIONS, 'Adam') });
  }
}

/** torch.optim.AdamW: decoupled weight decay p *= 1 - lr * weightDecay (default 1e-2). */
export class AdamW extends AdamBase {
  protected readonly decoupled = true;
  constructor(params: Params<AdamOptions>, options: Partial<AdamOptions> = {}) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false, maximize: false, ...checkOptions(options, ADAM_OPTIONS, 'AdamW') });
  }
}
