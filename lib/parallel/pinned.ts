/**
 * Page-locked host arrays for batches bound to a GPU (layer: lib/parallel → lib/cuda). Without a
 * GPU (or without lib/cuda's pinned pool) there is nothing to pin for, and an ordinary array is
 * returned: the copy to the device is then staged by the runtime instead.
 */
interface PinnedApi {
  isAvailable(): boolean;
  pinnedBuffer(bytes: number): ArrayBuffer;
}

let api: PinnedApi | null = null;
try {
  const spec = '../cuda/index.js';
  const mod = (await import(spec)) as Record<string, unknown>;
  const ns = (mod['cuda'] ?? mod) as Record<string, unknown>;
  if (typeof ns['pinnedBuffer'] === 'function' && typeof ns['isAvailable'] === 'function') api = ns as unknown as PinnedApi;
} catch {
  api = null;
}

type TypedCtor = (new (buf: ArrayBuffer, byteOffset?: number, length?: number) => ArrayBufferView) & { BYTES_PER_ELEMENT: number };

/** A typed array of `length` elements, in pinned host memory when a GPU is there to copy to. */
export function pinnedArray<T extends ArrayBufferView>(Ctor: TypedCtor, length: number): T {
  if (api && api.isAvailable()) {
    const buf = api.pinnedBuffer(Math.max(1, length * Ctor.BYTES_PER_ELEMENT));
    return new Ctor(buf, 0, length) as T;
  }
  return new (Ctor as unknown as new (n: number) => T)(length);
}
