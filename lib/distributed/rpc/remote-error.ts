/**
 * Exceptions across RPC (layer: lib/distributed/rpc): an error thrown by the callee travels as
 * its class name, message, code, stack and own properties, and is rethrown on the caller as an
 * error of the same kind (a NodeNcclError subclass for our codes, TypeError, RangeError, ... for
 * JavaScript's own), with the same message and `code`, the callee's stack in `remoteStack` (and
 * in `stack`), and the worker in `remoteWorker`, as torch re-raises the remote exception type.
 */
import { createError, type ErrorCode } from '../../errors.js';

/** The wire form of an error: plain data the codec can send. */
export interface WireError {
  name: string;
  message: string;
  code?: string;
  stack?: string;
  props: Record<string, unknown>;
}

const OUR_CODES = new Set<string>([
  'ERR_INVALID_ARG', 'ERR_SHAPE_MISMATCH', 'ERR_DTYPE', 'ERR_DEVICE_MISMATCH', 'ERR_INDEX_OUT_OF_RANGE', 'ERR_DISPOSED',
  'ERR_NO_GPU', 'ERR_NO_DRIVER', 'ERR_NO_CUDA_BUILD', 'ERR_CUDA', 'ERR_CUDA_OOM', 'ERR_HOST_OOM', 'ERR_CUBLAS', 'ERR_NCCL',
  'ERR_LIB_NOT_FOUND', 'ERR_SYMBOL_NOT_FOUND', 'ERR_OS', 'ERR_ADDON_NOT_FOUND', 'ERR_AUTOGRAD', 'ERR_STATE_DICT',
  'ERR_SAFETENSORS', 'ERR_DIST_NOT_INITIALIZED', 'ERR_DIST_TIMEOUT', 'ERR_DIST_PEER_FAILURE', 'ERR_DIST_ABORTED',
  'ERR_DIST_MISMATCH', 'ERR_DIST', 'ERR_STORE', 'ERR_STORE_AUTH', 'ERR_LAUNCH', 'ERR_UNSUPPORTED', 'ERR_INTERNAL',
]);

const BUILTIN: Record<string, new (message: string) => Error> = {
  Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError,
};

/** Keeps the own properties of an error that are plain data (what the codec can send). */
function plainProps(e: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(e)) {
    if (k === 'name' || k === 'message' || k === 'stack' || k === 'code') continue;
    const v = (e as Record<string, unknown>)[k];
    if (v === null || ['string', 'number', 'boolean', 'bigint', 'undefined'].includes(typeof v)) out[k] = v;
    else if (Array.isArray(v) && v.every((x) => x === null || ['string', 'number', 'boolean'].includes(typeof x))) out[k] = v;
  }
  return out;
}

/** What a thrown value looks like on the wire. */
export function toWire(e: unknown): WireError {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return {
      name: e.name,
      message: e.message,
      ...(typeof code === 'string' ? { code } : {}),
      ...(typeof e.stack === 'string' ? { stack: e.stack } : {}),
      props: plainProps(e),
    };
  }
  return { name: 'Error', message: `a non-Error value was thrown: ${typeof e === 'string' ? e : String(e)}`, props: {} };
}

function isWire(v: unknown): v is WireError {
  return v !== null && typeof v === 'object' && typeof (v as WireError).message === 'string' && typeof (v as WireError).name === 'string';
}

/** The error to throw on the caller for a callee's `w`. */
export function fromWire(v: unknown, worker: { name: string; id: number }, what: string): Error {
  if (!isWire(v)) return createError('ERR_INTERNAL', `rpc: ${what}: the callee sent a malformed error`);
  const props = v.props !== null && typeof v.props === 'object' ? v.props : {};
  let err: Error;
  if (v.code !== undefined && OUR_CODES.has(v.code)) {
    err = createError(v.code as ErrorCode, v.message, props);
  } else {
    const C = BUILTIN[v.name] ?? Error;
    err = new C(v.message);
    if (!(v.name in BUILTIN)) Object.defineProperty(err, 'name', { value: v.name, writable: true, configurable: true, enumerable: false });
    Object.assign(err, props);
    if (v.code !== undefined) (err as { code?: string }).code = v.code;
  }
  const remoteStack = typeof v.stack === 'string' ? v.stack : `${v.name}: ${v.message}`;
  Object.defineProperty(err, 'remoteStack', { value: remoteStack, enumerable: false, writable: true, configurable: true });
  Object.defineProperty(err, 'remoteWorker', { value: { name: worker.name, id: worker.id }, enumerable: false, writable: true, configurable: true });
  err.stack = `${remoteStack}\n    at ${what} on worker '${worker.name}' (rank ${worker.id}), rethrown by the caller`;
  return err;
}
