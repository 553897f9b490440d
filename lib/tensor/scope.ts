/**
 * Memory hygiene: tidy(fn) scopes, keep(), and live-tensor accounting. Tensors made inside
 * tidy(fn) are disposed when fn returns, except those it returns (a tensor, or tensors inside a
 * returned array/object) and those passed to keep(). Returned tensors move to the enclosing scope.
 */
import { createError } from '../errors.js';

export interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
  /** Never disposed by a tidy scope (keep()). */
  kept: boolean;
}

const scopes: Disposable[][] = [];
let liveTensors = 0;

/** Called by every new Tensor. */
export function track(t: Disposable): void {
  liveTensors++;
  const s = scopes[scopes.length - 1];
  if (s) s.push(t);
}

export function untrackLive(): void {
  liveTensors--;
}

export function liveTensorCount(): number {
  return liveTensors;
}

/** Exempts a tensor from every tidy scope (it is freed by dispose() or garbage collection). */
export function keep<T extends Disposable>(t: T): T {
  t.kept = true;
  return t;
}

function collect(v: unknown, out: Set<unknown>, depth = 0): void {
  if (v === null || typeof v !== 'object' || depth > 8) return;
  if ('kept' in v && 'dispose' in v) {
    out.add(v);
    return;
  }
  if (Array.isArray(v)) for (const x of v) collect(x, out, depth + 1);
  else if (Object.getPrototypeOf(v) === Object.prototype || v instanceof Map) {
    for (const x of v instanceof Map ? v.values() : Object.values(v)) collect(x, out, depth + 1);
  }
}

function close(scope: Disposable[], result: unknown): void {
  scopes.pop();
  const keepSet = new Set<unknown>();
  collect(result, keepSet);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (t.isDisposed) continue;
    if (keepSet.has(t)) parent?.push(t);
    else if (!t.kept) t.dispose();
  }
}

/**
 * Runs fn and disposes every tensor created inside it except the ones it returns and kept ones.
 * Async functions are refused (the scope would capture other work's tensors meanwhile).
 */
export function tidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw createError('ERR_INVALID_ARG', 'tidy(fn): fn must be a function');
  const scope: Disposable[] = [];
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    close(scope, undefined);
    throw e;
  }
  if (result instanceof Promise) {
    close(scope, undefined);
    throw createError('ERR_INVALID_ARG', 'tidy(fn): fn must not be async (it returned a Promise); await outside tidy');
  }
  close(scope, result);
  return result;
}
