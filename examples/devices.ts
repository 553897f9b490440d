/**
 * What the examples need to know about the machine: how many GPUs, whether NCCL loads, and making a
 * GPU current, through the public `cuda` and `nccl` namespaces (a machine without GPUs is data).
 */
import { cuda, nccl } from '../lib/index.js';

export function gpuCount(): number {
  try {
    return cuda.deviceCount();
  } catch {
    return 0;
  }
}

export function ncclAvailable(): boolean {
  try {
    return nccl.isAvailable();
  } catch {
    return false;
  }
}

export function setDevice(i: number): void {
  cuda.setDevice(i);
}
