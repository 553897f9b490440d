/**
 * Gradient clipping, torch.nn.utils.clip_grad_norm_ / clip_grad_value_. The 2-norm is computed by
 * the fused multi-tensor kernel native.kernels.sumSquares (one launch per device and dtype, always
 * accumulated in float64). As in torch, the total norm and the clipping coefficient have the
 * gradients' (promoted) dtype: float64 gradients get a float64 norm, float32 ones a float32 one.
 */
import { createError } from '../errors.js';
import type { Span } from '../../typings/native.js';
import { Tensor, zeros } from '../tensor/index.js';
import { noGrad } from '../autograd/index.js';
import { K } from './kernels.js';
import { dtypeCodeOf } from './optimizer.js';
import { checkOptions, optionKeys } from '../options.js';

export interface ClipGradNormOptions {
  /** The p of the p-norm: a number > 0, or Infinity for the max-norm. Default 2. */
  normType?: number;
  /** Throw when the total norm is NaN or infinite (ERR_INVALID_ARG). Default false. */
  errorIfNonfinite?: boolean;
}

const CLIP_GRAD_NORM_OPTIONS = optionKeys<ClipGradNormOptions>({ normType: true, errorIfNonfinite: true });

function gradsOf(params: Iterable<Tensor> | Tensor, who: string): Tensor[] {
  const list = params instanceof Tensor ? [params] : [...params];
  list.forEach((p, i) => {
    if (!(p instanceof Tensor)) throw createError('ERR_INVALID_ARG', `${who}: entry ${i} is not a Tensor`);
    p._gradSync?.(); // a DDP gradient sync in flight writes .grad: finish it first
  });
  return list.filter((p) => p.grad).map((p) => p.grad!);
}

/**
 * The total norm of the gradients of `params` (as if concatenated into one vector), and scales
 * them in place by maxNorm / (total + 1e-6) when that is below 1. Returns the total norm (before
 * clipping), as a number.
 */
export function clipGradNorm(params: Iterable<Tensor> | Tensor, maxNorm: number, options: ClipGradNormOptions = {}): number {
  const { normType = 2, errorIfNonfinite = false } = checkOptions(options, CLIP_GRAD_NORM_OPTIONS, 'clipGradNorm');
  if (typeof maxNorm !== 'number' || Number.isNaN(maxNorm)) throw createError('ERR_INVALID_ARG', `clipGradNorm: maxNorm must be a number, got ${String(maxNorm)}`);
  if (!(normType > 0)) throw createError('ERR_INVALID_ARG', `clipGradNorm: normType must be > 0 or Infinity, got ${normType}`);
  const grads = gradsOf(params, 'clipGradNorm');
  if (grads.length === 0) return 0;
  const total = noGrad(() => {
    if (normType === Infinity) {
      return Math.max(...grads.filter((g) => g.numel() > 0).map((g) => Number(g.abs().max().item())), 0);
    }
    if (normType === 2) {
      // One sumSquares launch per (device, dtype) bucket.
      const buckets = new Map<string, { spans: Span[]; numels: number[]; keep: Tensor[]; g: Tensor }>();
      for (const g of grads) {
        if (g.numel() === 0) continue;
        const c = g.isContiguous() ? g : g.contiguous();
        const key = `${g.device}|${g.dtype}`;
        let b = buckets.get(key);
        if (!b) buckets.set(key, (b = { spans: [], numels: [], keep: [], g }));
        b.spans.push(c.span());
        b.numels.push(c.numel());
        b.keep.push(c);
      }
      let sumSq = 0;
      for (const b of buckets.values()) {
        const out = zeros([1], { dtype: 'float64', device: b.g.device.toString() });
        K().sumSquares(dtypeCodeOf(b.g.dtype), b.spans, b.numels, out.span());
        sumSq += Number(out.item());
        out.dispose();
        for (const c of b.keep) if (!grads.includes(c)) c.dispose();
      }
      return Math.sqrt(sumSq);
    }
    let acc = 0;
    for (const g of grads) if (g.numel() > 0) acc += Number(g.abs().pow(normType).sum().item());
    return acc ** (1 / normType);
  });
  if (errorIfNonfinite && !Number.isFinite(total)) {
    throw createError('ERR_INVALID_ARG', `clipGradNorm: the total norm of order ${normType} for gradients from \`params\` is non-finite (${total}), so it cannot be clipped. To disable this error and scale the gradients by the non-finite norm anyway, set errorIfNonfinite = false`);
  }
  // torch keeps the norm and the coefficient in the gradients' promoted dtype.
  const inFloat64 = grads.some((g) => g.dtype === 'float64');
  const norm = inFloat64 ? total : Math.fround(total);
  const coef = inFloat64 ? maxNorm / (norm + 1e-6) : Math.fround(maxNorm / Math.fround(norm + 1e-6));
  if (!(coef >= 1)) noGrad(() => grads.forEach((g) => g.mul_(coef)));
  return norm;
}

/** Clamps every gradient element of `params` into [-clipValue, clipValue], in place. */
export function clipGradValue(params: Iterable<Tensor> | Tensor, clipValue: number): void {
  if (!(clipValue >= 0)) throw createError('ERR_INVALID_ARG', `clipGradValue: clipValue must be a non-negative number, got ${clipValue}`);
  for (const g of gradsOf(params, 'clipGradValue')) noGrad(() => g.copy_(g.clamp(-clipValue, clipValue)));
}
