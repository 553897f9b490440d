/** native.kernels for the optimizers (ERR_UNSUPPORTED when this addon build has none). */
import { createError } from '../errors.js';
import { native } from '../native/index.js';
import type { NativeKernels } from '../../typings/native.js';

export function K(): NativeKernels {
  const k = (native as { kernels?: NativeKernels }).kernels;
  if (!k || typeof k.adamStep !== 'function') {
    throw createError('ERR_UNSUPPORTED', 'this build of the node-nccl addon has no optimizer kernels (native.kernels.adamStep/sgdStep)');
  }
  return k;
}
