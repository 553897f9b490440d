/** node-nccl: CUDA, cuBLAS and NCCL for Node.js. */
export * from './errors.js';
export { native } from './native/index.js';
export { TCPStore, PrefixStore, type Store, type TCPStoreOptions, type StoreWaitOptions } from './distributed/store.js';
