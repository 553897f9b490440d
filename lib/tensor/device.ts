/** Devices: 'cpu', 'cuda' (the current CUDA device) and 'cuda:N'. */
import { describe } from './describe.js';
import { createError } from '../errors.js';

export type DeviceType = 'cpu' | 'cuda';
/** What APIs accept: a Device or its string ('cpu', 'cuda', 'cuda:1'). */
export type DeviceLike = Device | string;

export class Device {
  readonly type: DeviceType;
  /** The CUDA device index; -1 for the CPU. */
  readonly index: number;
  constructor(type: DeviceType, index = -1) {
    this.type = type;
    this.index = type === 'cpu' ? -1 : index;
  }
  get isCuda(): boolean {
    return this.type === 'cuda';
  }
  equals(other: Device): boolean {
    return this.type === other.type && this.index === other.index;
  }
  toString(): string {
    return this.type === 'cpu' ? 'cpu' : `cuda:${this.index}`;
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `device(type='${this.type}'${this.type === 'cuda' ? `, index=${this.index}` : ''})`;
  }
}

export const CPU = new Device('cpu');
const cudaDevices: Device[] = [];

/** The Device for cuda:index (interned, so the same object each time). */
export function cudaDevice(index: number): Device {
  return (cudaDevices[index] ??= new Device('cuda', index));
}

let currentCudaIndex: () => number = () => 0;
/** lib/tensor's CUDA bridge tells us which device 'cuda' means (cuda.currentDevice()). */
export function setCurrentCudaIndexProvider(fn: () => number): void {
  currentCudaIndex = fn;
}

/**
 * Parses 'cpu', 'cuda', 'cuda:N' (or passes a Device through). ERR_INVALID_ARG for anything else.
 * Whether cuda:N exists is checked when memory is allocated on it.
 */
export function toDevice(d: DeviceLike | undefined | null, what = 'device'): Device {
  if (d === undefined || d === null) return CPU;
  if (d instanceof Device) return d;
  if (typeof d === 'string') {
    if (d === 'cpu') return CPU;
    if (d === 'cuda') return cudaDevice(currentCudaIndex());
    const m = /^cuda:(\d{1,4})$/.exec(d);
    if (m) return cudaDevice(Number(m[1]));
  }
  throw createError(
    'ERR_INVALID_ARG',
    `${what}: invalid device ${describe(d)}; expected 'cpu', 'cuda' or 'cuda:N'`,
  );
}
