/**
 * DDP communication hooks (torch.distributed.algorithms.ddp_comm_hooks.default_hooks).
 *
 * A hook receives the hook state given to `ddp.registerCommHook(state, hook)` and a GradBucket —
 * the bucket's flat gradient buffer (the sum of nothing yet: this rank's local gradients) — and
 * returns a Future of a tensor of the same shape holding the *averaged* gradients across ranks,
 * as torch's hooks return a torch.futures.Future: `Future.of(work, () => result)`. DDP copies that
 * result back into the parameters' `.grad`. A Future can be waited for synchronously, which is what
 * PyTorch-style `loss.backward()` does at its end; a hook may return a Promise instead, but then
 * only the asynchronous form (`await ddp.backward(loss)`) can finish the iteration. A hook must
 * issue its collective synchronously (before returning) so that the bucket's communication overlaps
 * the rest of backward, and every rank must issue the same collectives in the same order.
 */
import type { Tensor } from '../tensor/index.js';
import type { Comm } from './comm.js';
import { Future } from './future.js';

export interface GradBucket {
  /** The bucket's index (0 is the first to be launched, the last layers' gradients). */
  index(): number;
  /** The flat buffer with this rank's gradients of the bucket's parameters, concatenated. */
  buffer(): Tensor;
  /** Views of buffer() shaped like each parameter. */
  gradients(): Tensor[];
  parameters(): Tensor[];
  /** True for the last bucket of the iteration. */
  isLast(): boolean;
  /** The communicator of the DDP's process group (rank, size, allReduceSum, ...). */
  comm(): Comm;
}

/** Returns the averaged bucket (a tensor shaped like bucket.buffer()). */
export type CommHook<S> = (state: S, bucket: GradBucket) => Future<Tensor> | PromiseLike<Tensor> | Tensor;

/** PyTorch's default: sum across ranks, divide by the world size, in place. */
export function allreduceHook(_state: unknown, bucket: GradBucket): Future<Tensor> {
  const buf = bucket.buffer();
  const comm = bucket.comm();
  buf.div_(comm.size);
  return Future.of(comm.allReduceSum(buf), () => buf);
}

function compressHook(dtype: 'float16' | 'bfloat16') {
  return (_state: unknown, bucket: GradBucket): Future<Tensor> => {
    const buf = bucket.buffer();
    const comm = bucket.comm();
    // Divide before compressing (as torch does) so the sum stays in range.
    const compressed = buf.to(dtype).div_(comm.size);
    return Future.of(comm.allReduceSum(compressed), () => {
      buf.copy_(compressed);
      compressed.dispose();
      return buf;
    });
  };
}

/** Casts the bucket to float16, all-reduces it, and casts back: half the bytes on the wire. */
export const fp16CompressHook: CommHook<unknown> = compressHook('float16');
/** Casts the bucket to bfloat16, all-reduces it, and casts back (bfloat16's range, float32's exponent). */
export const bf16CompressHook: CommHook<unknown> = compressHook('bfloat16');

/** The built-in hooks, as in torch's `default_hooks` module. */
export const defaultHooks = {
  allreduceHook,
  fp16CompressHook,
  bf16CompressHook,
} as const;
