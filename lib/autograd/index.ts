/** lib/autograd: grad mode, the graph, the engine. */
export { noGrad, enableGrad, isGradEnabled, setGradEnabled } from './grad-mode.js';
export { Node, AccumulateGrad, type GradHook, type PostAccumulateGradHook, type RemovableHandle } from './node.js';
export { backward, queueCallback } from './engine.js';
export { record, needsGrad, type OpBackward } from './function.js';
