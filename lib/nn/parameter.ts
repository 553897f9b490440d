/**
 * nn.Parameter: a leaf Tensor that requires grad and that modules register as a parameter.
 * `new nn.Parameter(t)` returns a Tensor sharing t's storage (t.detach()) with requiresGrad set;
 * `x instanceof nn.Parameter` is true for such tensors only.
 */
import { createError } from '../errors.js';
import { Tensor, keep } from '../tensor/index.js';

const registry = new WeakSet<Tensor>();

// The instance type of Parameter is a Tensor (interface merged with the class below).
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface Parameter extends Tensor {}

export class Parameter {
  /**
   * @param data the values (its storage is shared, as torch's nn.Parameter(data) does)
   * @param requiresGrad default true
   */
  constructor(data: Tensor, requiresGrad = true) {
    if (!(data instanceof Tensor)) throw createError('ERR_INVALID_ARG', `nn.Parameter: data must be a Tensor, got ${String(data)}`);
    if (requiresGrad && data.dtype !== 'float32' && data.dtype !== 'float64' && data.dtype !== 'float16' && data.dtype !== 'bfloat16') {
      throw createError('ERR_DTYPE', `nn.Parameter: only floating-point tensors can require gradients, got ${data.dtype}`);
    }
    // kept: a module built inside tidy() keeps its parameters when the scope closes
    const p = keep(data.detach());
    p.requiresGrad = requiresGrad;
    registry.add(p);
    return p as Parameter;
  }

  static [Symbol.hasInstance](x: unknown): boolean {
    return x instanceof Tensor && registry.has(x);
  }

  /** A new Parameter holding `data`, with p's requiresGrad and p's grad converted like data. */
  static replaceData(p: Parameter, data: Tensor): Parameter {
    const q = new Parameter(data, p.requiresGrad);
    if (p.grad) q.grad = keep(p.grad.to({ device: data.device.toString(), dtype: data.dtype }));
    return q;
  }
}

export function isParameter(x: unknown): x is Parameter {
  return x instanceof Tensor && registry.has(x);
}
