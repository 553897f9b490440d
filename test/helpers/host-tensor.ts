/**
 * A minimal strided host tensor for the distributed tests: it implements exactly the surface the
 * collectives rely on (DistTensor) over a typed array, so these tests exercise lib/distributed
 * without depending on lib/tensor. Views (transpose, narrow) make non-contiguous inputs.
 */
import type { DType, DistTensor } from '../../lib/distributed/types.js';

export type Arr = Float32Array | Float64Array | Uint16Array | Int32Array | BigInt64Array | Uint8Array;

export function makeArray(dtype: DType, n: number): Arr {
  switch (dtype) {
    case 'float32': return new Float32Array(n);
    case 'float64': return new Float64Array(n);
    case 'float16': case 'bfloat16': return new Uint16Array(n);
    case 'int32': return new Int32Array(n);
    case 'int64': return new BigInt64Array(n);
    case 'uint8': case 'bool': return new Uint8Array(n);
  }
}

class Device {
  constructor(readonly type: 'cpu' | 'cuda', readonly index: number) {}
  toString(): string {
    return this.type === 'cpu' ? 'cpu' : `cuda:${this.index}`;
  }
}

function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

export class HostTensor implements DistTensor {
  readonly device: Device;
  constructor(
    readonly dtype: DType,
    readonly data: Arr,
    readonly shape: readonly number[],
    readonly strides: readonly number[] = contiguousStrides(shape),
    readonly offset = 0,
    device: 'cpu' | 'cuda' = 'cpu',
  ) {
    this.device = new Device(device, device === 'cpu' ? -1 : 0);
  }

  static from(dtype: DType, data: Arr, shape?: number[]): HostTensor {
    return new HostTensor(dtype, data, shape ?? [data.length]);
  }
  static zeros(dtype: DType, shape: number[]): HostTensor {
    return new HostTensor(dtype, makeArray(dtype, shape.reduce((a, b) => a * b, 1)), shape);
  }

  /** The number of elements (torch: numel()). */
  numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  isContiguous(): boolean {
    const c = contiguousStrides(this.shape);
    return this.shape.every((d, i) => d <= 1 || this.strides[i] === c[i]);
  }

  /** Element indices (into data) in row-major order of the view. */
  indices(): number[] {
    const out: number[] = [];
    const n = this.numel();
    const idx = new Array<number>(this.shape.length).fill(0);
    for (let k = 0; k < n; k++) {
      let p = this.offset;
      for (let d = 0; d < idx.length; d++) p += idx[d]! * this.strides[d]!;
      out.push(p);
      for (let d = idx.length - 1; d >= 0; d--) {
        if (++idx[d]! < this.shape[d]!) break;
        idx[d] = 0;
      }
    }
    return out;
  }

  values(): (number | bigint)[] {
    return this.indices().map((i) => this.data[i]!);
  }

  contiguous(): HostTensor {
    if (this.isContiguous()) return this;
    const out = makeArray(this.dtype, this.numel());
    this.indices().forEach((p, k) => {
      (out as unknown as (number | bigint)[])[k] = this.data[p]!;
    });
    return new HostTensor(this.dtype, out, this.shape);
  }

  span(): { mem: Arr; offset: number } {
    if (!this.isContiguous()) throw new Error('span() of a non-contiguous tensor');
    return { mem: this.data, offset: this.offset };
  }

  copy_(src: HostTensor): this {
    const s = src;
    const v = s.values();
    this.indices().forEach((p, k) => {
      (this.data as unknown as (number | bigint)[])[p] = v[k]!;
    });
    return this;
  }

  transpose(): HostTensor {
    if (this.shape.length !== 2) throw new Error('transpose of 2-D only');
    return new HostTensor(this.dtype, this.data, [this.shape[1]!, this.shape[0]!], [this.strides[1]!, this.strides[0]!], this.offset);
  }

  /** Rows [start, start + len) of dim 0. */
  narrow(start: number, len: number): HostTensor {
    return new HostTensor(this.dtype, this.data, [len, ...this.shape.slice(1)], this.strides, this.offset + start * this.strides[0]!);
  }

  onDevice(type: 'cpu' | 'cuda'): HostTensor {
    return new HostTensor(this.dtype, this.data, this.shape, this.strides, this.offset, type);
  }
}
