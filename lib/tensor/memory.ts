/** Live tensor and memory accounting (tf.memory()-style), for leak checks. */
import { liveTensorCount } from './scope.js';
import { storageStats } from './storage.js';

export interface MemoryInfo {
  /** Tensor handles not yet disposed (views and autograd's saved tensors included). */
  numTensors: number;
  /** Storages alive (a storage is shared by a tensor and its views). */
  numStorages: number;
  /** Bytes of live storages per device: { cpu: n, 'cuda:0': n }. */
  bytes: Record<string, number>;
}

export function memory(): MemoryInfo {
  const s = storageStats();
  return { numTensors: liveTensorCount(), numStorages: s.storages, bytes: s.bytes };
}
