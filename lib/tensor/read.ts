/** Reading values back: TypedArrays (sync or async) and nested arrays. */
import { cudaApi } from './cuda-bridge.js';
import { bfloat16ToFloat, halfToFloat, itemSize, storageArray, type StorageArray, type TypedArray } from './dtype.js';
import type { Tensor, NestedArray } from './tensor.js';
import { contiguous } from './ops/copy.js';

function widen(t: Tensor, raw: StorageArray): TypedArray {
  if (t.dtype === 'float16' || t.dtype === 'bfloat16') {
    const out = new Float32Array(raw.length);
    const conv = t.dtype === 'float16' ? halfToFloat : bfloat16ToFloat;
    for (let i = 0; i < raw.length; i++) out[i] = conv(raw[i] as number);
    return out;
  }
  return raw as TypedArray;
}

/** Copies the (contiguous) values of a host tensor into a fresh array. */
function hostCopy(c: Tensor): StorageArray {
  const bytes = c._storage.hostBytes();
  const size = itemSize(c.dtype);
  const start = c.offset * size;
  const copy = bytes.slice(start, start + c.numel() * size);
  return storageArray(c.dtype, copy.buffer, 0, c.numel());
}

export function readDataSync(t: Tensor): TypedArray {
  t._storage.settleWritesSync();
  const c = contiguous(t.detach());
  try {
    if (c.device.type === 'cpu') return widen(t, hostCopy(c));
    const out = new Uint8Array(c.numel() * itemSize(c.dtype));
    if (out.length) cudaApi('dataSync').copyDeviceToHost(out, c._storage.buffer!, c.offset * itemSize(c.dtype), { sync: true });
    return widen(t, storageArray(c.dtype, out.buffer, 0, c.numel()));
  } finally {
    c.dispose();
  }
}

export async function readData(t: Tensor): Promise<TypedArray> {
  await t._storage.settleWrites();
  if (t.device.type === 'cpu') return readDataSync(t);
  const c = contiguous(t.detach());
  try {
    const out = new Uint8Array(c.numel() * itemSize(c.dtype));
    if (out.length) await cudaApi('data').copyDeviceToHost(out, c._storage.buffer!, c.offset * itemSize(c.dtype), { sync: false });
    return widen(t, storageArray(c.dtype, out.buffer, 0, c.numel()));
  } finally {
    c.dispose();
  }
}

/** Nested arrays of a tensor's values (numbers; booleans for bool). */
export function toNested(t: Tensor, data: TypedArray): NestedArray {
  const isBool = t.dtype === 'bool';
  const get = (i: number): number | boolean => (isBool ? data[i] !== 0 : Number(data[i]!));
  if (t.ndim === 0) return get(0);
  let pos = 0;
  const build = (d: number): NestedArray[] => {
    const n = t.shape[d]!;
    const out: NestedArray[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = d === t.ndim - 1 ? get(pos++) : build(d + 1);
    return out;
  };
  return build(0);
}
