/**
 * Page-locked host arrays for batches bound to a GPU (layer: lib/parallel → lib/cuda). Without a
 * GPU there is nothing to pin for, and an ordinary array is returned: the copy to the device is
 * then staged by the runtime instead.
 */
import { cuda } from '../cuda/index.js';

type TypedCtor = (new (buf: ArrayBuffer, byteOffset?: number, length?: number) => ArrayBufferView) & { BYTES_PER_ELEMENT: number };

/** A typed array of `length` elements, in pinned host memory when a GPU is there to copy to. */
export function pinnedArray<T extends ArrayBufferView>(Ctor: TypedCtor, length: number): T {
  if (cuda.isAvailable()) {
    const buf = cuda.pinnedBuffer(Math.max(1, length * Ctor.BYTES_PER_ELEMENT));
    return new Ctor(buf, 0, length) as T;
  }
  return new (Ctor as unknown as new (n: number) => T)(length);
}
