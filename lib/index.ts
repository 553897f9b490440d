/** node-nccl: CUDA, cuBLAS and NCCL for Node.js. */
export * from './errors.js';
export { native } from './native/index.js';
export { TCPStore, PrefixStore, type Store, type TCPStoreOptions, type StoreWaitOptions } from './distributed/store.js';
export * from './tensor/index.js';
export { noGrad, enableGrad, isGradEnabled, setGradEnabled, type GradHook, type PostAccumulateGradHook, type RemovableHandle } from './autograd/index.js';
export * as nn from './nn/index.js';
export * as optim from './optim/index.js';
export { save, load, loadSync, type SaveOptions, type LoadOptions } from './io/safetensors.js';
export * as safetensors from './io/safetensors.js';
export * as distributed from './distributed/index.js';
export * as dist from './distributed/index.js';
export * as rpc from './distributed/rpc/index.js';
export {
  DistributedDataParallel,
  DataParallel,
  Pipe,
  PipelineStage,
  PipelineSchedule,
  ScheduleGPipe,
  Schedule1F1B,
  type PipeOptions,
  type PipelineStageOptions,
  type ScheduleOptions,
  type StepOptions,
  DistributedSampler,
  RandomSampler,
  SequentialSampler,
  BatchSampler,
  DataLoader,
  TensorDataset,
  defaultCollate,
  saveCheckpoint,
  loadCheckpoint,
  latestCheckpoint,
  allreduceHook,
  fp16CompressHook,
  bf16CompressHook,
  Future,
  type DistributedDataParallelOptions,
  type JoinOptions,
  type DataParallelOptions,
  type DistributedSamplerOptions,
  type Sampler,
  type Dataset,
  type DataLoaderOptions,
  type Collate,
  type Collated,
  type SaveCheckpointOptions,
  type LoadCheckpointOptions,
  type CheckpointInfo,
  type CommHook,
  type GradBucket,
} from './parallel/index.js';
export * as parallel from './parallel/index.js';
export { cuda } from './cuda/index.js';
export { nccl } from './nccl/index.js';
export { cublas } from './cublas/index.js';
