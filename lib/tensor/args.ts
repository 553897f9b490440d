/** Argument checks shared by the ops: tensors, options objects, numbers; values described safely in messages. */
import { createError } from '../errors.js';
import { Tensor } from './tensor.js';
import { describe } from './describe.js';

export { describe };

/** ERR_INVALID_ARG unless v is a Tensor; checks it is not disposed. */
export function tensorArg(v: unknown, op: string, what = 'argument'): Tensor {
  if (!(v instanceof Tensor)) throw createError('ERR_INVALID_ARG', `${op}: ${what} must be a Tensor, got ${describe(v)}`);
  return v._check(op);
}

/** An options object: undefined/null mean {}; anything but an object is ERR_INVALID_ARG. */
export function optsArg<T extends object>(o: T | null | undefined, op: string): T {
  if (o === undefined || o === null) return {} as T;
  if (typeof o !== 'object' || Array.isArray(o)) throw createError('ERR_INVALID_ARG', `${op}: options must be an object, got ${describe(o)}`);
  return o;
}

/** A finite number (or ERR_INVALID_ARG). */
export function numberArg(v: unknown, op: string, what: string): number {
  if (typeof v !== 'number' || Number.isNaN(v)) throw createError('ERR_INVALID_ARG', `${op}: ${what} must be a number, got ${describe(v)}`);
  return v;
}
