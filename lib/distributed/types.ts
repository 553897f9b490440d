/**
 * Shared types of lib/distributed: dtypes and reduce ops as the collectives name them, the tensor
 * surface collectives rely on (lib/tensor's Tensor satisfies it), and flat buffers for backends.
 */
import type { DTypeCode, NativeMemory } from '../../typings/native.js';
import { createError } from '../errors.js';

/** Element types, as lib/tensor names them. */
export type DType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int32' | 'int64' | 'uint8' | 'bool';
/** Reduction ops (PyTorch's ReduceOp.SUM, PRODUCT, MIN, MAX, AVG). */
export type ReduceOpName = 'sum' | 'prod' | 'min' | 'max' | 'avg';
/** PyTorch-style constants: `dist.ReduceOp.SUM === 'sum'`. */
export const ReduceOp = { SUM: 'sum', PRODUCT: 'prod', MIN: 'min', MAX: 'max', AVG: 'avg' } as const;
export type BackendName = 'nccl' | 'cpu';

/** What a collective needs from a tensor (lib/tensor's Tensor has all of it). */
export interface DistTensor {
  readonly dtype: DType;
  numel(): number;
  readonly shape: readonly number[];
  readonly device: { readonly type: 'cpu' | 'cuda'; readonly index: number; toString(): string };
  isContiguous(): boolean;
  /** A contiguous tensor with the same values (itself when already contiguous). */
  contiguous(): DistTensor;
  /** The raw memory of a contiguous tensor: `offset` in elements of its dtype. */
  span(): { mem: NativeMemory; offset: number };
  /**
   * Copies src's values into this tensor, in place. Collectives only pass a tensor of the same
   * class (the result of `contiguous()`); the parameter is `never` so any tensor class whose
   * copy_ accepts its own kind fits this interface.
   */
  copy_(src: never): unknown;
  /**
   * Registers a collective in flight that writes this tensor, so that reading its values
   * (dataSync(), data()) waits for it first, as the data would otherwise be half written.
   */
  _pendingWrite?(w: PendingWrite): void;
}

/** A collective a tensor's readers wait for (a Work has this surface). */
export interface PendingWrite extends PromiseLike<void> {
  isCompleted(): boolean;
  /** Blocks until it completed (throws its error). */
  wait(): void;
}

/**
 * The part of a rendezvous store that process groups use (TCPStore and PrefixStore from
 * ./store.ts have it): `get` waits until the key exists.
 */
export interface GroupStore {
  set(key: string, value: string | Uint8Array): Promise<void>;
  get(key: string, opts?: { timeoutMs?: number }): Promise<Uint8Array>;
  add(key: string, amount: number | bigint): Promise<bigint>;
  wait(keys: string[], opts?: { timeoutMs?: number }): Promise<void>;
  check(keys: string[]): Promise<boolean>;
  deleteKey(key: string): Promise<boolean>;
  /** The local address that reaches the store (see Store.localAddress), where known. */
  readonly localAddress?: string | undefined;
}

/** A flat run of bytes in some memory: what backends take. */
export interface Buf {
  mem: NativeMemory;
  byteOffset: number;
}

export const DTYPE_CODE: Record<DType, DTypeCode> = {
  float32: 0, float64: 1, float16: 2, bfloat16: 3, int32: 4, int64: 5, uint8: 6, bool: 7,
};
export const DTYPE_BYTES: Record<DType, number> = {
  float32: 4, float64: 8, float16: 2, bfloat16: 2, int32: 4, int64: 8, uint8: 1, bool: 1,
};
export const REDUCE_OPS: readonly ReduceOpName[] = ['sum', 'prod', 'min', 'max', 'avg'];

export function checkReduceOp(who: string, op: unknown, dtype: DType): ReduceOpName {
  if (typeof op !== 'string' || !(REDUCE_OPS as readonly string[]).includes(op)) {
    throw createError('ERR_INVALID_ARG', `${who}: op must be one of ${REDUCE_OPS.join(', ')}, got ${String(op)}`);
  }
  if (op === 'avg' && dtype === 'bool') {
    throw createError('ERR_DTYPE', `${who}: op 'avg' is not defined for bool tensors (PyTorch refuses it too)`);
  }
  return op as ReduceOpName;
}
