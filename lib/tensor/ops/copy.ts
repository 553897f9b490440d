/** Copies: empty outputs, dtype casts, contiguous(), clone(), detach(), to(device | dtype). */
import { TO_OPTIONS, optsArg, tensorArg } from '../args.js';
import { createError } from '../../errors.js';
import { record } from '../../autograd/function.js';
import { cudaApi } from '../cuda-bridge.js';
import { checkDType, dtypeCode, itemSize, parseDType, type DType, type DTypeLike } from '../dtype.js';
import { CPU, toDevice, type Device, type DeviceLike } from '../device.js';
import { K, viewOf } from '../kernels.js';
import { contiguousStrides, numelOf, shapesEqual } from '../shape.js';
import { Storage } from '../storage.js';
import { Tensor, type ToOptions } from '../tensor.js';

/** A new contiguous tensor with uninitialized (device) or zeroed (host) values. */
export function emptyTensor(shape: readonly number[], dtype: DType, device: Device = CPU, op = 'empty'): Tensor {
  const numel = numelOf(shape, op);
  const bytes = numel * itemSize(dtype);
  if (bytes > Number.MAX_SAFE_INTEGER) throw createError('ERR_INVALID_ARG', `${op}: ${numel} elements of ${dtype} overflow the byte count`);
  return new Tensor(Storage.allocate(device, bytes, op), shape, contiguousStrides(shape), 0, dtype);
}

/** Raw strided copy (with dtype conversion) of src into dst (same shape, same device). */
export function copyInto(dst: Tensor, src: Tensor): void {
  if (src.numel() === 0) return;
  if (src.dtype === dst.dtype && src.device.equals(dst.device) && shapesEqual(src.shape, dst.shape) && src.isContiguous() && dst.isContiguous()) {
    // a plain byte copy: memmove on the host, a queued device-to-device copy on the GPU
    const size = itemSize(src.dtype);
    const bytes = src.numel() * size;
    if (src.device.type === 'cpu') {
      const from = src._storage.hostBytes().subarray(src.offset * size, src.offset * size + bytes);
      dst._storage.hostBytes().set(from, dst.offset * size);
    } else {
      cudaApi('copy').copyDeviceToDevice(dst._storage.buffer!, dst.offset * size, src._storage.buffer!, src.offset * size, bytes);
    }
    return;
  }
  K().copy(dtypeCode(src.dtype), dtypeCode(dst.dtype), dst.shape as number[], viewOf(dst), viewOf(src, dst.shape));
}

/** x converted to dtype (x itself when it already has it). */
export function cast(x: Tensor, dtype: DType): Tensor {
  tensorArg(x, 'to', 'input');
  if (x.dtype === dtype) return x;
  const out = emptyTensor(x.shape, dtype, x.device, 'to');
  copyInto(out, x);
  return record('ToCopyBackward0', out, [x], (g) => [g]);
}

export function contiguous(x: Tensor): Tensor {
  tensorArg(x, 'contiguous', 'input');
  if (x.isContiguous()) return x;
  return clone(x);
}

export function clone(x: Tensor): Tensor {
  tensorArg(x, 'clone', 'input');
  const out = emptyTensor(x.shape, x.dtype, x.device, 'clone');
  copyInto(out, x);
  return record('CloneBackward0', out, [x], (g) => [g]);
}

export function detach(x: Tensor): Tensor {
  tensorArg(x, 'detach', 'input');
  const t = new Tensor(x._storage, x.shape, x.strides, x.offset, x.dtype);
  t._base = x._base ?? x;
  return t;
}

function parseTo(target: DTypeLike | DeviceLike | ToOptions): { dtype?: DType; device?: Device; copy: boolean; nonBlocking: boolean } {
  if (typeof target === 'string') {
    const dtype = parseDType(target);
    return dtype ? { dtype, copy: false, nonBlocking: false } : { device: toDevice(target, 'to'), copy: false, nonBlocking: false };
  }
  if (target && typeof target === 'object' && !('type' in target && 'index' in target)) {
    const o = optsArg(target as ToOptions, 'to', TO_OPTIONS);
    return {
      ...(o.dtype !== undefined ? { dtype: checkDType(o.dtype, 'to') } : {}),
      ...(o.device !== undefined ? { device: toDevice(o.device, 'to') } : {}),
      copy: o.copy ?? false,
      nonBlocking: o.nonBlocking ?? false,
    };
  }
  return { device: toDevice(target as DeviceLike, 'to'), copy: false, nonBlocking: false };
}

/** Moves between devices (copies on the current stream) and/or converts the dtype. */
export function to(x: Tensor, target: DTypeLike | DeviceLike | ToOptions): Tensor {
  tensorArg(x, 'to', 'input');
  const { dtype = x.dtype, device = x.device, copy, nonBlocking } = parseTo(target);
  if (device.equals(x.device)) {
    if (dtype === x.dtype) return copy ? clone(x) : x;
    return cast(x, dtype);
  }
  // Convert on the source side when narrowing, on the destination side when widening.
  const src = contiguous(itemSize(dtype) < itemSize(x.dtype) ? cast(x, dtype) : x);
  const moved = transfer(src, device, nonBlocking);
  const out = moved.dtype === dtype ? moved : cast(moved, dtype);
  if (out !== moved) moved.dispose();
  if (src !== x) src.dispose();
  const srcDevice = x.device;
  return record('ToCopyBackward0', out, [x], (g) => [transfer(contiguous(g), srcDevice)]);
}

/**
 * A contiguous copy of a contiguous tensor on another device (no autograd). Device-to-device
 * copies are queued on the current stream; host-to-device copies wait for the bytes unless
 * nonBlocking (then the source storage is held until the copy is done, and a failure surfaces on
 * the next use of the result).
 */
export function transfer(src: Tensor, device: Device, nonBlocking = false): Tensor {
  if (src.device.equals(device)) return src;
  const out = emptyTensor(src.shape, src.dtype, device, 'to');
  const bytes = src.numel() * itemSize(src.dtype);
  if (bytes === 0) return out;
  const api = cudaApi('to');
  const srcOff = src.offset * itemSize(src.dtype);
  if (src.device.type === 'cpu') {
    const hb = src._storage.hostBytes().subarray(srcOff, srcOff + bytes);
    if (nonBlocking) {
      const held = src._storage;
      const dst = out._storage;
      held.retain();
      Promise.resolve(api.copyHostToDevice(out._storage.buffer!, 0, hb, { sync: false }))
        .catch((e: unknown) => { dst.failed = e as Error; })
        .finally(() => held.release());
    } else {
      api.copyHostToDevice(out._storage.buffer!, 0, hb, { sync: true });
    }
  } else if (device.type === 'cpu') {
    api.copyDeviceToHost(out._storage.hostBytes(), src._storage.buffer!, srcOff, { sync: true });
  } else {
    api.copyDeviceToDevice(out._storage.buffer!, 0, src._storage.buffer!, srcOff, bytes);
  }
  return out;
}
