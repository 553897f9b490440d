/**
 * Types of the native addon's surface: every function and handle cpp/ exports. The C++ side
 * validates every argument anyway; these types are for the TypeScript layers above lib/native.
 */

export interface BuildInfo {
  /** CUDA kernels and the CUDA runtime were compiled in (nvcc was found at build time). */
  cuda: boolean;
  /** The SASS architectures compiled, e.g. ['sm_75', ..., 'sm_90a']. */
  cudaArchs: string[];
  /** Why the CUDA kernels are not compiled in ('NODE_NCCL_WITH_CUDA=0 at build time', 'nvcc was not found at build time', ...); null when they are. */
  cudaOffReason: string | null;
  napiVersion: number;
  compiler: string;
}

export interface NativeAddon {
  setErrorFactory(fn: (code: string, message: string, details: Record<string, unknown>) => Error): void;
  buildInfo(): BuildInfo;
  kernels: NativeKernels;
  cuda: NativeCuda;
  loader: NativeLoader;
  dist: NativeDist;
  nccl: NativeNccl;
}

// ---------------------------------------------------------------------------------------------
// CUDA runtime (cpp/runtime.cc), streams/events (cpp/stream.cc), memory (cpp/allocator.cc,
// cpp/buffer.cc), copies (cpp/copy.cc). Every function exists in a CPU-only build; those that need
// a GPU throw ERR_NO_CUDA_BUILD / ERR_NO_DRIVER / ERR_NO_GPU there.
// ---------------------------------------------------------------------------------------------

export interface DeviceProperties {
  index: number;
  name: string;
  /** Compute capability major / minor, e.g. 9 / 0 for an H100. */
  major: number;
  minor: number;
  /** "9.0" */
  computeCapability: string;
  /** Bytes of device memory. */
  totalMemory: number;
  multiProcessorCount: number;
  warpSize: number;
  maxThreadsPerBlock: number;
  maxThreadsPerMultiProcessor: number;
  sharedMemoryPerBlock: number;
  sharedMemoryPerBlockOptin: number;
  l2CacheSize: number;
  memoryBusWidth: number;
  clockRateKHz: number;
  memoryClockRateKHz: number;
  pciBusId: number;
  pciDeviceId: number;
  pciDomainId: number;
  /** "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", as nvidia-smi prints it. */
  uuid: string;
  integrated: boolean;
  eccEnabled: boolean;
  concurrentKernels: boolean;
  streamPriorities: boolean;
  /** A simulated device (NODE_NCCL_SIM_DEVICES), not a GPU. */
  simulated: boolean;
}

/** Counters of one device's caching allocator (bytes and counts), plus the pinned host pool. */
export interface NativeMemoryStats {
  device: number;
  /** Bytes in blocks handed out (rounded to the allocator's block sizes). */
  allocatedBytes: number;
  /** Bytes obtained from cudaMalloc and held by the cache (allocated + cached). */
  reservedBytes: number;
  peakAllocatedBytes: number;
  peakReservedBytes: number;
  activeBlocks: number;
  segments: number;
  numAllocs: number;
  numFrees: number;
  /** Allocations served from the cache without cudaMalloc. */
  cacheHits: number;
  numDeviceMallocs: number;
  numDeviceFrees: number;
  numOoms: number;
  numSplits: number;
  numMerges: number;
  pinnedReservedBytes: number;
  pinnedAllocatedBytes: number;
}

/** A CUDA stream (cudaStreamNonBlocking, with a priority), or a device's legacy default stream. */
export interface NativeStream {
  readonly device: number;
  readonly priority: number;
  readonly disposed: boolean;
  /** The legacy default stream of the device (not owned: dispose() does nothing). */
  readonly isDefault: boolean;
  /** The cudaStream_t as an address, for interop with other native code. */
  readonly handle: bigint;
  /** true when everything queued so far has finished. */
  query(): boolean;
  /** Resolves when the work queued so far is done; the event loop keeps running. */
  synchronize(): Promise<void>;
  /** Blocks the calling thread until the work queued so far is done. */
  synchronizeSync(): void;
  /** Work queued from now on waits for the event. */
  waitEvent(event: NativeEvent): void;
  /** Work queued from now on waits for what `other` has queued so far. */
  waitStream(other: NativeStream): void;
  dispose(): void;
}

export interface NativeStreamClass {
  /** device defaults to the current device; priority 0 (lower numbers run first, as in CUDA). */
  new (device?: number, priority?: number, isDefault?: boolean): NativeStream;
  /** { least, greatest } priorities of the device (greatest is the numerically lowest). */
  priorityRange(device?: number): { least: number; greatest: number };
}

export interface NativeEvent {
  readonly device: number;
  readonly disposed: boolean;
  readonly enableTiming: boolean;
  readonly recorded: boolean;
  /** Records the work queued on the stream so far (default: the device's current stream). */
  record(stream?: NativeStream | null): void;
  query(): boolean;
  synchronize(): Promise<void>;
  synchronizeSync(): void;
  /** Milliseconds between this event and `end` (both recorded with enableTiming). */
  elapsedTime(end: NativeEvent): number;
  dispose(): void;
}

export interface NativeEventClass {
  new (device?: number, enableTiming?: boolean, blocking?: boolean): NativeEvent;
}

export interface NativeDeviceBufferClass {
  /**
   * Allocates from the caching allocator of `device` (default: current) for use on `stream`
   * (default: the device's current stream). Throws ERR_CUDA_OOM (after emptying the cache and
   * retrying once), ERR_NO_GPU / ERR_NO_DRIVER / ERR_NO_CUDA_BUILD where there is no device.
   */
  new (byteLength: number, device?: number, stream?: NativeStream | null): NativeDeviceBuffer;
}

export interface DeviceApiInfo {
  kind: 'cuda' | 'simulated' | 'none';
  /** The simulated devices ("2 simulated device(s), 2048 MiB each ..."), or why there is none; "" for CUDA. */
  description: string;
}

export interface NativeCuda {
  isAvailable(): boolean;
  deviceCount(): number;
  /** Why deviceCount() is 0: "built without CUDA", "no CUDA driver", "no GPU", ...; "" otherwise. */
  noGpuReason(): string;
  /** What drives the devices: the CUDA runtime, NODE_NCCL_SIM_DEVICES simulated devices, or none (with why). */
  deviceApi(): DeviceApiInfo;
  /** CUDA encodes versions as 1000 * major + 10 * minor; null when absent (no driver). */
  versions(): { driver: number | null; runtime: number | null };
  getDeviceProperties(device: number): DeviceProperties;
  setDevice(device: number): void;
  currentDevice(): number;
  memGetInfo(device?: number): { free: number; total: number };
  /** Resolves when all work on the device (default: current) is done; does not block the loop. */
  synchronize(device?: number): Promise<void>;
  synchronizeSync(device?: number): void;

  Stream: NativeStreamClass;
  Event: NativeEventClass;
  /** The stream ops on the device are queued on (the same object each call). */
  currentStream(device?: number): NativeStream;
  /** Makes the stream current on its device (like torch.cuda.set_stream). */
  setCurrentStream(stream: NativeStream): void;

  DeviceBuffer: NativeDeviceBufferClass;
  memoryStats(device?: number): NativeMemoryStats;
  resetPeakMemoryStats(device?: number): void;
  /** Releases every cached device block not in use (all devices) and unused pinned blocks. */
  emptyCache(): void;
  /** Page-locked host memory from the pinned pool; the block returns to the pool when collected. */
  pinnedBuffer(byteLength: number): ArrayBuffer;

  /** Copies byteLength bytes (any direction) and returns when they are there. */
  memcpy(dst: NativeMemory, dstOffset: number, src: NativeMemory, srcOffset: number, byteLength: number,
         stream?: NativeStream | null): void;
  /**
   * Queues the copy on the stream and returns at once (host memory is read or written before the
   * call returns when it is pageable; device and pinned memory copies run asynchronously).
   */
  memcpyEnqueue(dst: NativeMemory, dstOffset: number, src: NativeMemory, srcOffset: number, byteLength: number,
                stream?: NativeStream | null): void;
  /**
   * Queues the copy on the stream (default: the device's current stream) and resolves when it is
   * done. Pageable host memory is staged through the pinned pool (the source is read at the call).
   */
  memcpyAsync(dst: NativeMemory, dstOffset: number, src: NativeMemory, srcOffset: number, byteLength: number,
              stream?: NativeStream | null): Promise<void>;
  /** Sets bytes to value (0..255); device memory: queued on the stream. */
  memset(dst: NativeMemory, offset: number, byteLength: number, value: number, stream?: NativeStream | null): void;
}

// ---------------------------------------------------------------------------------------------
// Run-time libraries (cpp/loader.cc)
// ---------------------------------------------------------------------------------------------

export type LibraryName = 'nccl' | 'cublas' | 'blas';

export interface LibraryInfo {
  name: LibraryName;
  loaded: boolean;
  /** The file that was loaded. */
  path: string | null;
  /** NCCL: ncclGetVersion's code (e.g. 22803); cuBLAS: major*10000 + minor*100 + patch. */
  version: number | null;
  /** "2.28.3" (for BLAS the implementation's own version, "0.3.21"; null where it does not export one). */
  versionString: string | null;
  /** Why it is not loaded, with every place tried. */
  error: string | null;
  /** Every place tried, in order, each with the reason it failed. */
  tried: string[];
  /** blas only: 'OpenBLAS', 'BLIS', 'MKL' or 'FlexiBLAS', recognized by the library's own symbols. */
  vendor?: string | null;
  /** blas only: the library's own description (OpenBLAS's config string, MKL's version string). */
  detail?: string | null;
  /** blas only: the threads it runs with (NODE_NCCL_CPU_THREADS, else every core). */
  threads?: number | null;
}

export interface NativeLoader {
  /** What happened when looking for the library (looked for once per process; never throws). */
  info(name: LibraryName): LibraryInfo;
  /** Like info() but throws ERR_LIB_NOT_FOUND, listing every place tried. */
  load(name: LibraryName): LibraryInfo;
}

// ---------------------------------------------------------------------------------------------
// Memory handles (cpp/buffer.cc, cpp/allocator.cc)
// ---------------------------------------------------------------------------------------------

/** Device memory from the caching allocator. `dispose()` returns it to the cache at once. */
export interface NativeDeviceBuffer {
  /** 0 once disposed. */
  readonly byteLength: number;
  readonly device: number;
  readonly disposed: boolean;
  /** The device address (0n once disposed), for interop with other native code. */
  readonly address: bigint;
  dispose(): void;
  /** Like torch.Tensor.record_stream: not reused before the work queued on `stream` is done. */
  recordStream(stream: NativeStream): void;
  /** While held, dispose() frees the memory only at the last unhold() (for work not yet on a stream). */
  hold(): void;
  unhold(): void;
}

/** Host memory: an ArrayBuffer (pageable or pinned), or any view of one. */
export type HostMemory = ArrayBuffer | ArrayBufferView;

/** Memory a kernel reads or writes: host memory for 'cpu' tensors, a DeviceBuffer for 'cuda:N'. */
export type NativeMemory = HostMemory | NativeDeviceBuffer;

// ---------------------------------------------------------------------------------------------
// Kernels (cpp/kernels/*.cc on the host, cpp/kernels/*.cu on the GPU, cpp/kernels.cc dispatch)
//
// Conventions, the same for every kernel:
//  - dtype codes: DTypeCode below. Operands of one call share one dtype unless stated.
//  - A View is { mem, offset, strides }: offset and strides in ELEMENTS of the op's dtype. A
//    stride of 0 broadcasts. The op's `shape` is passed once; every view is indexed by it.
//  - Host memory runs on the calling thread, synchronously; device memory is queued on the
//    device's current stream and returns at once. All operands must be on one device
//    (ERR_DEVICE_MISMATCH otherwise). Ranges are checked against buffer lengths (ERR_INVALID_ARG).
// ---------------------------------------------------------------------------------------------

/** 0 float32, 1 float64, 2 float16, 3 bfloat16, 4 int32, 5 int64, 6 uint8, 7 bool. */
export type DTypeCode = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7;

export interface View {
  mem: NativeMemory;
  offset: number;
  strides: number[];
}

/** A contiguous run of elements: mem + offset (elements). */
export interface Span {
  mem: NativeMemory;
  offset: number;
}

export type UnaryOp =
  | 'neg' | 'abs' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'sin' | 'cos' | 'tanh' | 'sigmoid' | 'relu'
  | 'gelu' | 'gelu_tanh' | 'silu' | 'sign' | 'square' | 'reciprocal' | 'log1p' | 'expm1' | 'erf'
  | 'logical_not'
  // with scalar parameters p0 (and p1):
  | 'fill'          // out = p0 (a ignored; pass out as a)
  | 'add_scalar'    // a + p0
  | 'mul_scalar'    // a * p0
  | 'rsub_scalar'   // p0 - a
  | 'rdiv_scalar'   // p0 / a
  | 'pow_scalar'    // a ** p0
  | 'rpow_scalar'   // p0 ** a
  | 'maximum_scalar' | 'minimum_scalar'
  | 'clamp'         // min(max(a, p0), p1)
  | 'eq_scalar' | 'ne_scalar' | 'lt_scalar' | 'le_scalar' | 'gt_scalar' | 'ge_scalar' // out is bool
  | 'round'         // half to even at p0 = decimals (an integer, default 0; != 0 needs a float dtype)
  | 'floor' | 'ceil' | 'trunc' // integer dtypes: identity, as round
  | 'isnan' | 'isinf' | 'isfinite'; // out is bool

export type BinaryOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum' | 'atan2'
  | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | 'logical_and' | 'logical_or' // comparisons: out is bool
  // backward helpers: out = f(a = grad of the output, b = the op's input x, or its output y):
  | 'relu_backward' | 'gelu_backward' | 'gelu_tanh_backward' | 'silu_backward'
  | 'sigmoid_backward_y' | 'tanh_backward_y';

export type ReduceOp = 'sum' | 'mean' | 'prod' | 'max' | 'min' | 'argmax' | 'argmin' | 'var';

/**
 * A 2-D convolution's geometry (NCHW, all operands contiguous): input [n, c, h, w], weight
 * [outC, c / groups, kh, kw], output [n, outC, oh, ow]. padH/padW pad the top/left; oh/ow are
 * given, so any extra bottom/right padding is implied. Reads outside the input are zeros.
 */
export interface ConvGeometry {
  n: number; c: number; h: number; w: number; outC: number; kh: number; kw: number; oh: number; ow: number;
  strideH: number; strideW: number; padH: number; padW: number; dilH: number; dilW: number; groups: number;
}

/** Pooling over `planes` contiguous [h, w] planes into [oh, ow] ones (window fields unused by adaptive pooling). */
export interface PoolGeometry {
  planes: number; h: number; w: number; oh: number; ow: number;
  kh: number; kw: number; strideH: number; strideW: number; padH: number; padW: number; dilH: number; dilW: number;
}

export type AdaptivePoolGeometry = Pick<PoolGeometry, 'planes' | 'h' | 'w' | 'oh' | 'ow'>;

export interface NativeKernels {
  /** out = op(a[, p0, p1]) over `shape`. Comparisons (*_scalar) write bool (code 7) to out. */
  unary(op: UnaryOp, dtype: DTypeCode, shape: number[], out: View, a: View, p0?: number, p1?: number): void;
  /** out = op(a, b) over `shape` (a and b already broadcast through zero strides). */
  binary(op: BinaryOp, dtype: DTypeCode, shape: number[], out: View, a: View, b: View): void;
  /** out = cond ? a : b; cond is bool (code 7), a/b/out of dtype. */
  where(dtype: DTypeCode, shape: number[], out: View, cond: View, a: View, b: View): void;
  /** out (dstDtype) = a (srcDtype) converted; with equal dtypes this is the strided copy. */
  copy(srcDtype: DTypeCode, dstDtype: DTypeCode, shape: number[], out: View, a: View): void;
  /**
   * Reduces the middle axis of a contiguous [outer, size, inner] input into contiguous
   * [outer, inner] output. argmax/argmin write int64 to out. max/min write int64 indices to
   * `indices` when given. var uses `correction` (1 = unbiased, as torch.var's default).
   */
  reduce(op: ReduceOp, dtype: DTypeCode, outer: number, size: number, inner: number, out: Span, input: Span,
         indices?: Span | null, correction?: number): void;
  /** Row-wise (log-)softmax of a contiguous [rows, cols] input. */
  softmax(dtype: DTypeCode, rows: number, cols: number, out: Span, input: Span, log: boolean): void;
  /** gradIn = softmax backward from gradOut and the forward output y (log: y is log-softmax). */
  softmaxBackward(dtype: DTypeCode, rows: number, cols: number, gradIn: Span, gradOut: Span, y: Span, log: boolean): void;
  /**
   * LayerNorm over the last `cols` of a contiguous [rows, cols] input. weight/bias (cols) may be
   * null. mean and rstd (rows; float64 for float64 inputs, else float32) are written for the backward pass.
   */
  layerNorm(dtype: DTypeCode, rows: number, cols: number, out: Span, mean: Span, rstd: Span, x: Span,
            weight: Span | null, bias: Span | null, eps: number): void;
  /** gradX (always) and gradWeight/gradBias (when given; float32-accumulated, overwritten). */
  layerNormBackward(dtype: DTypeCode, rows: number, cols: number, gradX: Span, gradWeight: Span | null,
                    gradBias: Span | null, gradOut: Span, x: Span, mean: Span, rstd: Span, weight: Span | null): void;
  /**
   * Batch normalization over the channel axis of a contiguous [outer, channels, inner] input (N, C
   * and the product of the spatial dims), in torch's native split (so SyncBatchNorm can combine
   * the per-channel pieces across ranks between the steps). Per-channel spans (mean, var, invstd,
   * dy, dyXmu, meanDy, meanDyXmu) are float64 for float64 inputs, else float32; weight, bias,
   * gradWeight and gradBias are of the input dtype. batchNormStats writes the mean and the biased
   * variance of each channel (0 for an empty one).
   */
  batchNormStats(dtype: DTypeCode, outer: number, channels: number, inner: number, mean: Span, variance: Span, x: Span): void;
  /** out = (x - mean) * invstd * weight + bias (weight/bias may be null). */
  batchNormElemt(dtype: DTypeCode, outer: number, channels: number, inner: number, out: Span, x: Span, mean: Span,
                 invstd: Span, weight: Span | null, bias: Span | null): void;
  /**
   * Per channel: dy = scale * sum(gradOut), dyXmu = scale * sum(gradOut * (x - mean)),
   * gradWeight = invstd * sum(gradOut * (x - mean)), gradBias = sum(gradOut); each output may be null.
   */
  batchNormBackwardReduce(dtype: DTypeCode, outer: number, channels: number, inner: number, dy: Span | null,
                          dyXmu: Span | null, gradWeight: Span | null, gradBias: Span | null, gradOut: Span, x: Span,
                          mean: Span, invstd: Span, scale: number): void;
  /**
   * gradX = (gradOut - meanDy - (x - mean) * invstd^2 * meanDyXmu) * invstd * weight (training), or,
   * with meanDy and meanDyXmu both null, gradOut * invstd * weight (eval: constant statistics).
   */
  batchNormBackwardElemt(dtype: DTypeCode, outer: number, channels: number, inner: number, gradX: Span, gradOut: Span,
                         x: Span, mean: Span, invstd: Span, weight: Span | null, meanDy: Span | null,
                         meanDyXmu: Span | null): void;
  /**
   * Batched row-major GEMM: for each b < batch, C[b] = alpha * op(A[b]) @ op(B[b]) + beta * C[b],
   * op(A) is m x k, op(B) is k x n, C is m x n with row stride ldc and unit column stride.
   * A is stored row-major with row stride lda (transA: A is stored as k x m). Batch strides in
   * elements (0 broadcasts). fp16/bf16 accumulate in fp32. allowTf32 only affects float32 on CUDA.
   */
  matmul(dtype: DTypeCode, batch: number, m: number, n: number, k: number,
         a: Span, lda: number, strideA: number, transA: boolean,
         b: Span, ldb: number, strideB: number, transB: boolean,
         c: Span, ldc: number, strideC: number, alpha: number, beta: number, allowTf32: boolean): void;
  /**
   * Contiguous [outer, srcSize, inner] src; index: int64 contiguous of length idxLen.
   * indexSelect: out[o, i, :] = src[o, index[i], :]  (out is [outer, idxLen, inner]).
   * indexAdd:    out[o, index[i], :] += src[o, i, :] (out is [outer, outSize, inner]; accumulates).
   * Indices out of range throw ERR_INDEX_OUT_OF_RANGE on the host; on the GPU they are checked
   * before launch by the caller (lib/tensor) through a max/min reduction.
   */
  indexSelect(dtype: DTypeCode, outer: number, srcSize: number, inner: number, out: Span, src: Span,
              index: Span, idxLen: number): void;
  indexAdd(dtype: DTypeCode, outer: number, outSize: number, inner: number, out: Span, src: Span,
           index: Span, idxLen: number): void;
  /**
   * gather / scatterAdd along `dim` of contiguous tensors: index (int64) has shape `shape`;
   * gather: out[..i..] = src[..index[..i..]..]; scatterAdd: out[..index[..i..]..] += src[..i..].
   * srcShape is the shape of src (gather) or of out (scatterAdd).
   */
  gather(dtype: DTypeCode, dim: number, shape: number[], srcShape: number[], out: Span, src: Span, index: Span): void;
  scatterAdd(dtype: DTypeCode, dim: number, shape: number[], outShape: number[], out: Span, src: Span, index: Span): void;
  /**
   * Fills `numel` contiguous elements with counter-based Philox-4x32-10 random numbers:
   * element i uses counter (offset + i/4) and lane i%4 under key `seed`, so host and device give
   * the same numbers for the same (seed, offset). uniform: [p0, p1); normal: mean p0, std p1
   * (Box-Muller); randint: integers in [p0, p1); bernoulli: 1 with probability p0.
   */
  random(dist: 'uniform' | 'normal' | 'randint' | 'bernoulli', dtype: DTypeCode, out: Span, numel: number,
         seed: bigint, offset: bigint, p0: number, p1: number): void;
  /** out[i] = start + i * step for numel contiguous elements. */
  arange(dtype: DTypeCode, out: Span, numel: number, start: number, step: number): void;
  /**
   * Fused multi-tensor optimizer steps (PyTorch's update rules exactly). All lists have equal
   * length; each entry is a contiguous span of numels[i] elements of dtype. State tensors (exp_avg,
   * exp_avg_sq, momentum, max_exp_avg_sq) have the params' dtype too; fp16/bf16 compute in float32.
   */
  adamStep(dtype: DTypeCode, params: Span[], grads: Span[], expAvg: Span[], expAvgSq: Span[],
           maxExpAvgSq: Span[] | null, numels: number[], opts: {
             lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; step: number;
             decoupled: boolean; amsgrad: boolean; maximize: boolean;
           }): void;
  sgdStep(dtype: DTypeCode, params: Span[], grads: Span[], momentum: Span[] | null, numels: number[], opts: {
    lr: number; momentum: number; dampening: number; weightDecay: number; nesterov: boolean; maximize: boolean;
    firstStep: boolean;
  }): void;
  /** Sum of squares of all the spans, accumulated in float64 on the host and the device, into out (float64, 1 element). */
  sumSquares(dtype: DTypeCode, spans: Span[], numels: number[], out: Span): void;
  /**
   * Sorts each row of a contiguous [rows, n] input (stable; NaN above every number) and writes the
   * first k (k <= n) of each row: values [rows, k] of dtype and their column indices (int64).
   */
  sort(dtype: DTypeCode, rows: number, n: number, k: number, values: Span, indices: Span, input: Span,
       descending: boolean): void;
  /** Inclusive cumulative sum/product along the middle axis of contiguous [outer, size, inner]; reverse: from the end. */
  scan(op: 'cumsum' | 'cumprod', dtype: DTypeCode, outer: number, size: number, inner: number, out: Span, input: Span,
       reverse: boolean): void;
  /**
   * Stream compaction: out[pos[i] - 1] = src[i] for each i < n with mask[i] (mask bool, pos the
   * int64 inclusive prefix count of mask); slots outside [0, outLen) are skipped.
   */
  compact(dtype: DTypeCode, n: number, out: Span, outLen: number, src: Span, mask: Span, pos: Span): void;
  /** out[pos[i] - 1] = the coordinates of element i of a contiguous bool mask of `shape`, for each set mask[i] ([outLen, ndim] int64). */
  nonzero(shape: number[], out: Span, outLen: number, mask: Span, pos: Span): void;
  /**
   * out = conv2d(input, weight) + bias (bias [outC] or null): im2col + GEMM (host GEMM threads;
   * on CUDA im2col kernels and cuBLAS, the batch in chunks of bounded col memory).
   */
  conv2d(dtype: DTypeCode, geometry: ConvGeometry, out: Span, input: Span, weight: Span, bias: Span | null,
         allowTf32: boolean): void;
  /** gradInput (overwritten) of conv2d from gradOut and the weight. */
  conv2dBackwardInput(dtype: DTypeCode, geometry: ConvGeometry, gradInput: Span, gradOut: Span, weight: Span,
                      allowTf32: boolean): void;
  /**
   * gradWeight and gradBias (either may be null, not both; overwritten, summed over the batch) of
   * conv2d from gradOut and the input.
   */
  conv2dBackwardWeight(dtype: DTypeCode, geometry: ConvGeometry, gradWeight: Span | null, gradBias: Span | null,
                       gradOut: Span, input: Span, allowTf32: boolean): void;
  /**
   * Max pooling: out and, per output, the flat index iy * w + ix (int64) of its window's maximum
   * within its plane (NaN wins), as torch's max_pool2d_with_indices.
   */
  maxPool2d(dtype: DTypeCode, geometry: PoolGeometry, out: Span, indices: Span, input: Span): void;
  /** gradInput[plane, indices[o]] += gradOut[o]: gradInput accumulates (zero it first). */
  maxPool2dBackward(dtype: DTypeCode, geometry: PoolGeometry, gradInput: Span, gradOut: Span, indices: Span): void;
  /**
   * Average pooling: each window's sum divided by `divisor` when > 0, else by its size clipped to
   * the padded input (countIncludePad) or to the input (torch's avg_pool2d).
   */
  avgPool2d(dtype: DTypeCode, geometry: PoolGeometry, out: Span, input: Span, countIncludePad: boolean,
            divisor: number): void;
  /** gradInput (overwritten) of avgPool2d. */
  avgPool2dBackward(dtype: DTypeCode, geometry: PoolGeometry, gradInput: Span, gradOut: Span,
                    countIncludePad: boolean, divisor: number): void;
  /** Adaptive average pooling: output (oy, ox) averages rows [floor(oy*h/oh), ceil((oy+1)*h/oh)), columns likewise. */
  adaptiveAvgPool2d(dtype: DTypeCode, geometry: AdaptivePoolGeometry, out: Span, input: Span): void;
  /** gradInput += the adaptive average pooling's gradient (zero it first). */
  adaptiveAvgPool2dBackward(dtype: DTypeCode, geometry: AdaptivePoolGeometry, gradInput: Span, gradOut: Span): void;
  /**
   * tril / triu of each [rows, cols] matrix of a contiguous [batch, rows, cols] input: element
   * (i, j) is kept when j - i <= diagonal (upper false) or j - i >= diagonal (upper true), else 0.
   */
  triangle(dtype: DTypeCode, batch: number, rows: number, cols: number, diagonal: number, upper: boolean, out: Span,
           input: Span): void;
}

// ---------------------------------------------------------------------------------------------
// CPU collective backend (cpp/cpu_comm*.cc, cpp/cpu_shm.cc): shared memory between the
// processes of one host, a native communication thread per communicator.
// ---------------------------------------------------------------------------------------------

export interface NativeCpuCommOptions {
  /** 'shm' (default): one shared-memory segment, the ranks on one host; 'tcp': sockets, any hosts. */
  transport?: 'shm' | 'tcp';
  /** shm: POSIX shared-memory name shared by the group, "/nnccl-<id>" (rank 0 creates it). Unused by tcp. */
  name?: string;
  /** tcp (required there): the local IPv4 or IPv6 address to listen on (port 0: the system picks one). */
  listenHost?: string;
  rank: number;
  size: number;
  /** Timeout of setup and of every op, ms. Default 600000. */
  timeoutMs?: number;
  /** Bytes per rank per phase buffer (chunk size of large ops; tcp: piece size). Default 1 MiB here; the cpu backend passes 256 KiB for shm. */
  slotBytes?: number;
  /** Bytes per point-to-point chunk. Default 256 KiB (64 KiB above 8 ranks). */
  chanBytes?: number;
  /** Busy-wait budget before a wait sleeps, microseconds. Default 50. */
  spinUs?: number;
  /**
   * Direct path: a small collective submitted while the communication thread is idle is first
   * run on the calling thread, spinning at most this many microseconds for the peers; if they are
   * there, submit() returns an already-settled Promise. 0 turns it off. Default 50.
   */
  directUs?: number;
  /**
   * Sends and receives pending at most (submitted, not yet completed): one more is refused with
   * ERR_DIST at once (the group is unaffected). Default 4096.
   */
  maxPendingP2P?: number;
}

export interface NativeCpuCommPeers {
  /** "host:port" of every rank, by rank (this rank's own included). */
  peers: string[];
  /** The group's secret (1 to 64 bytes): connections that do not present it are dropped. */
  secret: Uint8Array;
}

export type NativeCpuCommKind =
  | 'barrier' | 'allReduce' | 'broadcast' | 'reduce' | 'allGather' | 'reduceScatter' | 'gather' | 'scatter'
  | 'allToAll' | 'send' | 'recv';

/**
 * One op. Counts are in elements; offsets in bytes. Sizes per kind (n = world size, c = count):
 * allReduce/reduce send c, recv c; broadcast recv c (root sends from it); allGather send c,
 * recv n*c; reduceScatter send n*c, recv c; gather send c, recv n*c (root only); scatter send n*c
 * (root only), recv c; allToAll send sum(sendCounts), recv sum(recvCounts); send send c; recv recv c.
 */
export interface NativeCpuCommDesc {
  kind: NativeCpuCommKind;
  dtype?: DTypeCode;
  op?: 'sum' | 'prod' | 'min' | 'max' | 'avg';
  count?: number;
  /** Root (broadcast/reduce/gather/scatter) or peer (send/recv). */
  root?: number;
  tag?: number;
  send?: HostMemory;
  sendOffset?: number;
  recv?: HostMemory;
  recvOffset?: number;
  sendCounts?: number[];
  recvCounts?: number[];
}

export interface NativeCpuComm {
  readonly rank: number;
  readonly size: number;
  /** Ops submitted and not yet settled. */
  readonly pending: number;
  /** An op failed (timeout, peer failure, mismatch) or abort() was called: later ops fail at once. */
  readonly broken: boolean;
  readonly destroyed: boolean;
  /** tcp: "host:port" ("[v6]:port") this rank listens on, to publish to the others; '' for shm. */
  readonly address: string;
  /** Ranks (of this group) a peer failure named: processes known to be gone. Ascending. */
  readonly deadRanks: number[];
  /**
   * Joins the group and waits for every rank (ERR_DIST_TIMEOUT naming the missing). shm: no
   * argument (maps the group's shared memory). tcp: every rank's `address` by rank and the group's
   * secret (random bytes shared through the store), then a full mesh of connections.
   */
  connect(peers?: NativeCpuCommPeers): Promise<void>;
  /**
   * Queues one op on the communication thread; the Promise settles when it completes on this
   * rank. A small op that completed directly (see `directUs`) returns undefined instead, and one
   * that failed so throws its error. Host memory of a SharedArrayBuffer is used in place; any
   * other (an ArrayBuffer, which JavaScript may detach or shrink meanwhile) is copied in at the
   * call and the results copied back on completion, or ERR_DETACHED when it is gone by then.
   */
  submit(desc: NativeCpuCommDesc): Promise<void> | undefined;
  /** The sequence number of the last op submit() queued (read right after it; 0 before any). */
  readonly lastSeq: number;
  /**
   * Blocks the calling thread until queued op `seq` has settled (its Promise is settled too, and
   * staged results are copied back); throws its error if it failed. The op's timeout bounds it.
   */
  waitSync(seq: number): void;
  /** Fails every current and later op with ERR_DIST_ABORTED. */
  abort(reason?: string): void;
  /** Aborts what is in flight, leaves the group (peers fail promptly), stops the thread. */
  destroy(): void;
}

export interface NativeDist {
  CpuComm: new (opts: NativeCpuCommOptions) => NativeCpuComm;
}

// ---------------------------------------------------------------------------------------------
// NCCL communicators (cpp/nccl.cc), for memory the caller brings. NCCL is loaded at run time:
// every call throws ERR_LIB_NOT_FOUND (listing every place tried) when it is not found. Offsets are
// in bytes, counts in elements; stream null/undefined = the device's current stream.
// ---------------------------------------------------------------------------------------------

/** NCCL element types ('bfloat16' needs NCCL >= 2.10). */
export type NcclDTypeName = 'int8' | 'uint8' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'float16' | 'float32' | 'float64' | 'bfloat16';
/** NCCL reductions ('avg' needs NCCL >= 2.10). */
export type NcclOpName = 'sum' | 'prod' | 'max' | 'min' | 'avg';

/** An asynchronous failure reported by ncclCommGetAsyncError (or the abort). */
export interface NcclAsyncError {
  /** The typed error code (ERR_NCCL, ERR_DIST_PEER_FAILURE for a remote error, ERR_DIST_ABORTED, ...). */
  code: string;
  /** NCCL's symbolic name, e.g. "ncclRemoteError" ("aborted" after abort()). */
  name: string;
  message: string;
}

/**
 * A communicator. Each op returns true when NCCL has issued it on the stream, false when NCCL is
 * still issuing it in the background (the communicator is `settling`: no op may be issued on it
 * until settle() resolves or settleSync() returns; an op called meanwhile throws ERR_DIST).
 */
export interface NativeNcclCommunicator {
  readonly rank: number;
  readonly size: number;
  readonly device: number;
  readonly aborted: boolean;
  readonly destroyed: boolean;
  readonly settling: boolean;
  allReduce(send: NativeDeviceBuffer, sendOffset: number, recv: NativeDeviceBuffer, recvOffset: number,
            count: number, dtype: NcclDTypeName, op: NcclOpName, stream?: NativeStream | null): boolean;
  broadcast(send: NativeDeviceBuffer, sendOffset: number, recv: NativeDeviceBuffer, recvOffset: number,
            count: number, dtype: NcclDTypeName, root: number, stream?: NativeStream | null): boolean;
  reduce(send: NativeDeviceBuffer, sendOffset: number, recv: NativeDeviceBuffer, recvOffset: number,
         count: number, dtype: NcclDTypeName, op: NcclOpName, root: number, stream?: NativeStream | null): boolean;
  /** recv holds size * sendCount elements. */
  allGather(send: NativeDeviceBuffer, sendOffset: number, recv: NativeDeviceBuffer, recvOffset: number,
            sendCount: number, dtype: NcclDTypeName, stream?: NativeStream | null): boolean;
  /** send holds size * recvCount elements. */
  reduceScatter(send: NativeDeviceBuffer, sendOffset: number, recv: NativeDeviceBuffer, recvOffset: number,
                recvCount: number, dtype: NcclDTypeName, op: NcclOpName, stream?: NativeStream | null): boolean;
  send(buffer: NativeDeviceBuffer, offset: number, count: number, dtype: NcclDTypeName, peer: number, stream?: NativeStream | null): boolean;
  recv(buffer: NativeDeviceBuffer, offset: number, count: number, dtype: NcclDTypeName, peer: number, stream?: NativeStream | null): boolean;
  /** Resolves once NCCL has issued what it was still issuing (at once when nothing), within timeoutMs (default: initRank's); on timeout the communicator is aborted (ERR_DIST_TIMEOUT). */
  settle(timeoutMs?: number): Promise<void>;
  /** The blocking form of settle(). */
  settleSync(timeoutMs?: number): void;
  /** True while work this communicator queued may still be running (or is still being issued). */
  pending(): boolean;
  /** Resolves when the queued work is done; rejects with the async error, or aborts after timeoutMs (ERR_DIST_TIMEOUT; default: initRank's). */
  synchronize(timeoutMs?: number): Promise<void>;
  getAsyncError(): NcclAsyncError | null;
  /** Ends the communicator now (queued and later ops fail); idempotent. */
  abort(reason?: string): void;
  /** Finalizes and frees it on the thread pool; refuses (ERR_DIST) while queued work may still run: synchronize() first, or abort(). */
  destroy(): Promise<void>;
}

export interface NativeNccl {
  /** ncclGetUniqueId: 128 bytes to share with every rank. */
  getUniqueId(): Uint8Array;
  /** ncclCommInitRankConfig, non-blocking and polled on the thread pool (NCCL >= 2.14): ERR_DIST_TIMEOUT after timeoutMs (default 10 min), which also bounds the communicator's later settles. */
  initRank(nranks: number, id: Uint8Array, rank: number, device: number, timeoutMs?: number): Promise<NativeNcclCommunicator>;
  /** One communicator per device of this process, rank i on devices[i] (a group of initRank calls, as ncclCommInitAll). */
  initAll(devices: number[], timeoutMs?: number): Promise<NativeNcclCommunicator[]>;
  groupStart(): void;
  /** True when NCCL issued every grouped op; false when a communicator is still settling. */
  groupEnd(): boolean;
  Communicator: { readonly prototype: NativeNcclCommunicator };
}
