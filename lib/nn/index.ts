/** nn: modules, layers, initializations and functional ops, with torch.nn's meanings. */
export { Module, type StateDict, type LoadStateDictOptions, type LoadStateDictResult, type ModuleToTarget } from './module.js';
export { Parameter, isParameter } from './parameter.js';
export {
  Linear, Embedding, LayerNorm, Dropout, Dropout2d, Flatten, Unflatten, ReLU, GELU, SiLU, Tanh, Sigmoid, Sequential, ModuleList,
  type LinearOptions, type EmbeddingOptions, type LayerNormOptions, type FactoryOptions, type TensorModule,
} from './layers.js';
export {
  Conv1d, Conv2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, type ConvOptions, type Conv1dOptions,
} from './conv.js';
export {
  BatchNormBase, BatchNorm1d, BatchNorm2d, SyncBatchNorm,
  type BatchNormModuleOptions, type SyncBatchNormOptions, type ConvertSyncBatchnormOptions, type BatchNormOptions,
} from './batchnorm.js';
export * as init from './init.js';
export * as functional from './functional.js';
