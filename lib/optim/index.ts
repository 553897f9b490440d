/** optim: optimizers, gradient clipping and learning-rate schedulers, with torch.optim's meanings. */
export { Optimizer, type OptimizerStateDict, type ParamGroup, type ParamGroupInput, type Params, type ParamState, type ZeroGradOptions } from './optimizer.js';
export { SGD, type SGDOptions } from './sgd.js';
export { Adam, AdamW, type AdamOptions } from './adam.js';
export { clipGradNorm, clipGradValue, type ClipGradNormOptions } from './clip-grad.js';
export * as lrScheduler from './lr-scheduler.js';
export { LRScheduler, StepLR, CosineAnnealingLR, LinearLR, SequentialLR } from './lr-scheduler.js';
