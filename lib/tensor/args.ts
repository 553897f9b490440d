/** Argument checks shared by the ops: tensors, options objects, numbers; values described safely in messages. */
import { createError } from '../errors.js';
import { checkOptions, optionKeys, type OptionKeys } from '../options.js';
import type { ReduceOptions, VarOptions } from './ops/reduce.js';
import type { EmbeddingOptions } from './ops/indexing.js';
import type { FromDataOptions, TensorOptions } from './creation.js';
import type { BackwardOptions, ToOptions } from './tensor.js';
import { Tensor } from './tensor.js';
import { describe } from './describe.js';

export { describe };

/** ERR_INVALID_ARG unless v is a Tensor; checks it is not disposed. */
export function tensorArg(v: unknown, op: string, what = 'argument'): Tensor {
  if (!(v instanceof Tensor)) throw createError('ERR_INVALID_ARG', `${op}: ${what} must be a Tensor, got ${describe(v)}`);
  return v._check(op);
}

/**
 * An options object: undefined/null mean {}; anything but an object, or a key `keys` does not
 * list, is ERR_INVALID_ARG (lib/options.ts: the key and the nearest valid one are named).
 */
export function optsArg<T extends object>(o: T | null | undefined, op: string, keys: OptionKeys): T {
  return checkOptions(o, keys, op);
}

/** The options the tensor ops take, each listed once (lib/options.ts checks them). */
export const KEEPDIM_OPTIONS = optionKeys<{ keepdim?: boolean }>({ keepdim: true });
export const ALPHA_OPTIONS = optionKeys<{ alpha?: number }>({ alpha: true });
export const GELU_OPTIONS = optionKeys<{ approximate?: 'none' | 'tanh' }>({ approximate: true });
export const REDUCE_OPTIONS = optionKeys<ReduceOptions>({ keepdim: true, dtype: true });
export const VAR_OPTIONS = optionKeys<VarOptions>({ correction: true, keepdim: true });
export const EMBEDDING_OPTIONS = optionKeys<EmbeddingOptions>({ paddingIdx: true });
export const TENSOR_OPTIONS = optionKeys<TensorOptions>({ dtype: true, device: true, requiresGrad: true });
export const FROM_DATA_OPTIONS = optionKeys<FromDataOptions>({ dtype: true, device: true, requiresGrad: true, shape: true, copy: true });
export const TO_OPTIONS = optionKeys<ToOptions>({ dtype: true, device: true, copy: true, nonBlocking: true });
export const BACKWARD_OPTIONS = optionKeys<BackwardOptions>({ retainGraph: true });

/** A finite number (or ERR_INVALID_ARG). */
export function numberArg(v: unknown, op: string, what: string): number {
  if (typeof v !== 'number' || Number.isNaN(v)) throw createError('ERR_INVALID_ARG', `${op}: ${what} must be a number, got ${describe(v)}`);
  return v;
}
