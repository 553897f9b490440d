/** The ops as free functions (torch.add(a, b), torch.matmul(a, b), ...). */
export {
  add, sub, mul, div, pow, maximum, minimum, atan2, where, clamp, neg, abs, exp, log, sqrt, rsqrt, sin, cos, tanh,
  sigmoid, relu, gelu, silu, sign, square, reciprocal, log1p, expm1, erf, logicalNot, compare, logical, resultType,
  round, floor, ceil, trunc, isnan, isinf, isfinite, type RoundOptions,
} from './ops/elementwise.js';
export { sum, mean, prod, variance as var, std, logsumexp, norm, sumToShape, any, all } from './ops/reduce.js';
export { flip, roll, repeat, tile, tril, triu } from './ops/rearrange.js';
export { softmax, logSoftmax, layerNorm } from './ops/rows.js';
export { matmul, mm, bmm } from './ops/matmul.js';
export { cat, stack, split, chunk, unbind } from './ops/join.js';
export { gather, indexSelect, scatterAdd, embedding, oneHot, type EmbeddingOptions } from './ops/indexing.js';
export { reshape, view, flatten, transpose, permute, squeeze, unsqueeze, expand, narrow, slice, select } from './ops/view.js';
export { contiguous, clone, to, cast } from './ops/copy.js';
export {
  sort, argsort, topk, cumsum, cumprod, nonzero, maskedSelect,
  type SortOptions, type TopkOptions, type ScanOptions, type SortResult,
} from './ops/sort.js';
export { einsum } from './ops/einsum.js';
