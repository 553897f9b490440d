/** lib/parallel: data-parallel training on top of nn and distributed. */
export { DistributedDataParallel, type DistributedDataParallelOptions, type JoinOptions, type DdpLoggingData } from './ddp.js';
export { DataParallel, replicate, scatter, type DataParallelOptions } from './data-parallel.js';
export {
  DistributedSampler,
  RandomSampler,
  SequentialSampler,
  BatchSampler,
  type Sampler,
  type Sized,
  type DistributedSamplerOptions,
  type RandomSamplerOptions,
} from './sampler.js';
export { DataLoader, TensorDataset, defaultCollate, moveBatch, type Dataset, type DataLoaderOptions, type Collate, type Collated, type CollateContext } from './data-loader.js';
export { saveCheckpoint, loadCheckpoint, latestCheckpoint, type SaveCheckpointOptions, type LoadCheckpointOptions, type CheckpointInfo } from './checkpoint.js';
export { allreduceHook, fp16CompressHook, bf16CompressHook, defaultHooks, type CommHook, type GradBucket } from './comm-hooks.js';
export { Future, type Waitable } from './future.js';
export { planBuckets, DEFAULT_BUCKET_CAP_MB, DEFAULT_FIRST_BUCKET_BYTES, type Bucket, type BucketParam } from './buckets.js';
export * from './pipeline/index.js';
