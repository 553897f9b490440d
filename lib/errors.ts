/**
 * Typed errors. Every error node-nccl throws is a NodeNcclError with a stable `code`. Native
 * failures keep the library's own code and name in `nativeCode` / `nativeName`. The addon builds
 * its errors through createNativeError, so C++ throws real instances of these classes.
 */

export type ErrorCode =
  | 'ERR_INVALID_ARG'
  | 'ERR_SHAPE_MISMATCH'
  | 'ERR_DTYPE'
  | 'ERR_DEVICE_MISMATCH'
  | 'ERR_INDEX_OUT_OF_RANGE'
  | 'ERR_DISPOSED'
  | 'ERR_DETACHED'
  | 'ERR_NO_GPU'
  | 'ERR_NO_DRIVER'
  | 'ERR_NO_CUDA_BUILD'
  | 'ERR_CUDA'
  | 'ERR_CUDA_OOM'
  | 'ERR_HOST_OOM'
  | 'ERR_CUBLAS'
  | 'ERR_NCCL'
  | 'ERR_LIB_NOT_FOUND'
  | 'ERR_SYMBOL_NOT_FOUND'
  | 'ERR_OS'
  | 'ERR_ADDON_NOT_FOUND'
  | 'ERR_AUTOGRAD'
  | 'ERR_STATE_DICT'
  | 'ERR_SAFETENSORS'
  | 'ERR_DIST_NOT_INITIALIZED'
  | 'ERR_DIST_TIMEOUT'
  | 'ERR_DIST_PEER_FAILURE'
  | 'ERR_DIST_ABORTED'
  | 'ERR_DIST_MISMATCH'
  | 'ERR_DIST'
  | 'ERR_STORE'
  | 'ERR_STORE_AUTH'
  | 'ERR_LAUNCH'
  | 'ERR_UNSUPPORTED'
  | 'ERR_INTERNAL';

export interface ErrorDetails {
  /** The native library's numeric code (cudaError_t, cublasStatus_t, ncclResult_t, errno). */
  nativeCode?: number;
  /** The native library's symbolic name, e.g. "cudaErrorMemoryAllocation". */
  nativeName?: string;
  [key: string]: unknown;
}

export class NodeNcclError extends Error {
  readonly code: ErrorCode;
  readonly nativeCode?: number;
  readonly nativeName?: string;
  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    const { nativeCode, nativeName, ...rest } = details;
    if (nativeCode !== undefined) this.nativeCode = nativeCode;
    if (nativeName !== undefined) this.nativeName = nativeName;
    Object.assign(this, rest);
  }
}

/** A wrong argument: type, count, range. */
export class ArgumentError extends NodeNcclError {
  constructor(message: string, code: ErrorCode = 'ERR_INVALID_ARG', details?: ErrorDetails) {
    super(code, message, details);
  }
}
export class ShapeError extends NodeNcclError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_SHAPE_MISMATCH', message, details);
  }
}
export class DTypeError extends NodeNcclError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_DTYPE', message, details);
  }
}
export class DeviceError extends NodeNcclError {}
export class DisposedError extends NodeNcclError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_DISPOSED', message, details);
  }
}
export class CudaError extends NodeNcclError {}
export class OutOfMemoryError extends NodeNcclError {}
export class CublasError extends NodeNcclError {}
export class NcclError extends NodeNcclError {}
export class LibraryNotFoundError extends NodeNcclError {}
export class SystemError extends NodeNcclError {}
export class AutogradError extends NodeNcclError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_AUTOGRAD', message, details);
  }
}
export class DistributedError extends NodeNcclError {}
export class StoreError extends NodeNcclError {}
export class UnsupportedError extends NodeNcclError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_UNSUPPORTED', message, details);
  }
}
export class InternalError extends NodeNcclError {}

type ErrorClass = new (code: ErrorCode, message: string, details?: ErrorDetails) => NodeNcclError;

const classByCode: Partial<Record<ErrorCode, ErrorClass>> = {
  ERR_DEVICE_MISMATCH: DeviceError,
  ERR_NO_GPU: DeviceError,
  ERR_NO_DRIVER: DeviceError,
  ERR_NO_CUDA_BUILD: DeviceError,
  ERR_CUDA: CudaError,
  ERR_CUDA_OOM: OutOfMemoryError,
  ERR_HOST_OOM: OutOfMemoryError,
  ERR_CUBLAS: CublasError,
  ERR_NCCL: NcclError,
  ERR_LIB_NOT_FOUND: LibraryNotFoundError,
  ERR_SYMBOL_NOT_FOUND: LibraryNotFoundError,
  ERR_OS: SystemError,
  ERR_DIST_NOT_INITIALIZED: DistributedError,
  ERR_DIST_TIMEOUT: DistributedError,
  ERR_DIST_PEER_FAILURE: DistributedError,
  ERR_DIST_ABORTED: DistributedError,
  ERR_DIST_MISMATCH: DistributedError,
  ERR_DIST: DistributedError,
  ERR_STORE: StoreError,
  ERR_STORE_AUTH: StoreError,
  ERR_INTERNAL: InternalError,
};

/** Builds the error for a code: the class that code belongs to. Used by the addon and by JS. */
export function createError(code: ErrorCode, message: string, details: ErrorDetails = {}): NodeNcclError {
  switch (code) {
    case 'ERR_INVALID_ARG':
    case 'ERR_INDEX_OUT_OF_RANGE':
    case 'ERR_DETACHED':
      return new ArgumentError(message, code, details);
    case 'ERR_SHAPE_MISMATCH':
      return new ShapeError(message, details);
    case 'ERR_DTYPE':
      return new DTypeError(message, details);
    case 'ERR_DISPOSED':
      return new DisposedError(message, details);
    case 'ERR_AUTOGRAD':
      return new AutogradError(message, details);
    case 'ERR_UNSUPPORTED':
      return new UnsupportedError(message, details);
    default: {
      const Cls = classByCode[code] ?? NodeNcclError;
      return new Cls(code, message, details);
    }
  }
}

/** The factory handed to the addon at load: (code, message, details) => Error instance. */
export function createNativeError(code: string, message: string, details: ErrorDetails): NodeNcclError {
  return createError(code as ErrorCode, message, details);
}

/**
 * A failed Node.js file-system (or other OS) call as ERR_OS: `what` says what was being done and
 * to which path; the errno name (ENOSPC, ENOENT, ...) is kept in `nativeName`, its number in
 * `nativeCode`, the path in `path`. A NodeNcclError passes through unchanged.
 */
export function osError(e: unknown, what: string): NodeNcclError {
  if (e instanceof NodeNcclError) return e;
  const err = e as Partial<NodeJS.ErrnoException> | null;
  const details: ErrorDetails = {};
  if (typeof err?.code === 'string') details.nativeName = err.code;
  if (typeof err?.errno === 'number') details.nativeCode = Math.abs(err.errno);
  if (typeof err?.path === 'string') details.path = err.path;
  if (typeof err?.syscall === 'string') details.syscall = err.syscall;
  const reason = err && typeof err.message === 'string' ? err.message : String(e);
  return createError(err?.code === 'ENOMEM' ? 'ERR_HOST_OOM' : 'ERR_OS', `${what}: ${reason}`, details);
}
