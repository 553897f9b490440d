/**
 * What the examples need to know about the machine: how many GPUs, whether NCCL loads, and making a
 * GPU current. Read through the addon (`native`), which reports a machine without GPUs as data.
 */
import { native } from '../lib/index.js';

export function gpuCount(): number {
  try {
    return native.cuda.deviceCount();
  } catch {
    return 0;
  }
}

export function ncclAvailable(): boolean {
  try {
    return native.loader.info('nccl').loaded;
  } catch {
    return false;
  }
}

export function setDevice(i: number): void {
  native.cuda.setDevice(i);
}
