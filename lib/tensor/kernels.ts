/** The bridge from tensors to native.kernels: views, spans, output allocation and device checks. */
import { createError } from '../errors.js';
import { native } from '../native/index.js';
import type { NativeKernels, Span, View } from '../../typings/native.js';
import type { Tensor } from './tensor.js';
import { broadcastStrides, fmtShape, shapesEqual, type Shape } from './shape.js';

let cached: NativeKernels | null = null;
/** native.kernels, or ERR_UNSUPPORTED when this addon build has none. */
export function K(): NativeKernels {
  if (cached) return cached;
  const k = (native as { kernels?: NativeKernels }).kernels;
  if (!k) throw createError('ERR_UNSUPPORTED', 'this build of the node-nccl addon has no tensor kernels');
  return (cached = k);
}

/** The kernel View of t, indexed by `shape` (broadcast through zero strides when given). */
export function viewOf(t: Tensor, shape?: Shape): View {
  const strides = shape && shape !== t.shape && !shapesEqual(shape, t.shape) ? broadcastStrides(t.shape, t.strides, shape) : t.strides;
  return { mem: t._storage.mem, offset: t.offset, strides: strides as number[] };
}

/** The kernel Span of a contiguous tensor. */
export function spanOf(t: Tensor): Span {
  return { mem: t._storage.mem, offset: t.offset };
}

/** ERR_DEVICE_MISMATCH unless all tensors live on one device. */
export function checkSameDevice(op: string, ...ts: Tensor[]): void {
  const d = ts[0]!.device;
  for (const t of ts) {
    if (!t.device.equals(d)) {
      throw createError(
        'ERR_DEVICE_MISMATCH',
        `${op}: expected all tensors to be on the same device, but found ${d} and ${t.device} ` +
          `(shapes ${fmtShape(ts[0]!.shape)} and ${fmtShape(t.shape)}); move one with .to(device) explicitly`,
      );
    }
  }
}
