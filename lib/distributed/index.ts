/**
 * `distributed` (also exported as `dist`): process groups and collectives with PyTorch's meanings.
 *
 * ```ts
 * import { dist } from 'node-nccl';
 * await dist.initProcessGroup({ backend: 'cpu' });   // env:// (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)
 * await dist.allReduce(t, { op: 'sum' });             // in place; returns an awaitable Work
 * await dist.destroyProcessGroup();
 * ```
 */
export {
  initProcessGroup,
  destroyProcessGroup,
  isInitialized,
  getRank,
  getWorldSize,
  getBackend,
  newGroup,
  defaultGroup,
  type InitProcessGroupOptions,
  type NewGroupOptions,
} from './init.js';
export * from './collectives.js';
export { ProcessGroup, P2POp } from './process_group.js';
export { Work } from './work.js';
export { ReduceOp, type DType, type ReduceOpName, type BackendName, type DistTensor } from './types.js';
export { TCPStore, PrefixStore, type Store, type TCPStoreOptions, type StoreWaitOptions } from './store.js';
export * as rpc from './rpc/index.js';
