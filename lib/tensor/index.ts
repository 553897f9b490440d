/** lib/tensor: the Tensor class, creation, ops and memory hygiene. */
export { Tensor, type TensorLike, type NestedArray, type ToOptions, type BackwardOptions } from './tensor.js';
export { DTYPES, isDType, promoteTypes, itemSize, type DType, type Scalar, type TypedArray } from './dtype.js';
export { Device, toDevice, type DeviceLike, type DeviceType } from './device.js';
export {
  tensor, empty, zeros, ones, full, arange, linspace, eye, rand, randn, randint,
  zerosLike, onesLike, fullLike, emptyLike, randperm,
  type TensorOptions, type RandpermOptions, type FromDataOptions, type NestedData,
} from './creation.js';
export { manualSeed, initialSeed, getRngState, setRngState } from './ops/random.js';
export { Generator, defaultGenerator, type GeneratorState } from './generator.js';
export { tidy, keep } from './scope.js';
export { memory, type MemoryInfo } from './memory.js';
export * as ops from './functional.js';
export {
  add, sub, mul, div, pow, maximum, minimum, where, clamp, neg, abs, exp, log, sqrt, rsqrt, sin, cos, tanh,
  sigmoid, relu, gelu, silu, sum, mean, prod, matmul, softmax, logSoftmax, layerNorm, cat, stack, split, chunk,
  gather, indexSelect, scatterAdd, embedding, oneHot,
} from './functional.js';
export {
  sort, argsort, topk, cumsum, cumprod, nonzero, maskedSelect, einsum,
  type SortOptions, type TopkOptions, type ScanOptions, type SortResult,
} from './functional.js';
export {
  round, floor, ceil, trunc, isnan, isinf, isfinite, any, all, flip, roll, repeat, tile, tril, triu,
  type RoundOptions,
} from './functional.js';
