/**
 * What lib/parallel needs of a model: the nn.Module surface (parameters, buffers, forward, state).
 * Typed structurally so that any nn.Module — and user classes shaped like one — fit.
 */
import type { Tensor } from '../tensor/index.js';

export interface ModuleLike {
  namedParameters(): Iterable<readonly [string, Tensor]>;
  namedBuffers?(): Iterable<readonly [string, Tensor]>;
  forward(...args: never[]): unknown;
  stateDict(): unknown;
  loadStateDict(sd: never, opts?: { strict?: boolean }): unknown;
  train?(mode?: boolean): unknown;
  eval?(): unknown;
  readonly training?: boolean;
}

export type ForwardArgs<M extends ModuleLike> = M['forward'] extends (...args: infer A) => unknown ? A : never;
export type ForwardResult<M extends ModuleLike> = M['forward'] extends (...args: never[]) => infer R ? R : never;

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<string, number>> = {
  float64: 8,
  float32: 4,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  uint8: 1,
  bool: 1,
};

export function namedParams(m: ModuleLike): [string, Tensor][] {
  return [...m.namedParameters()].map(([n, t]) => [n, t] as [string, Tensor]);
}

export function namedBufs(m: ModuleLike): [string, Tensor][] {
  return m.namedBuffers ? [...m.namedBuffers()].map(([n, t]) => [n, t] as [string, Tensor]) : [];
}
