/**
 * Pipe (layer: lib/parallel): pipeline parallelism within one process, over the devices its stages
 * live on — torch.distributed.pipeline.sync.Pipe (GPipe, torchgpipe).
 *
 *     const model = new nn.Sequential(
 *       new nn.Sequential(new nn.Linear(784, 512), new nn.ReLU()).to('cuda:0'),   // stage 0
 *       new nn.Sequential(new nn.Linear(512, 10)).to('cuda:1'),                   // stage 1
 *     );
 *     const pipe = new Pipe(model, { chunks: 4 });
 *     const loss = crossEntropy(pipe.forward(x), y.to('cuda:1'));   // the output is on the last stage's device
 *     loss.backward();                                              // gradients as without the pipe
 *
 * The batch is cut into `chunks` micro-batches along dim 0 and run in GPipe's clock order: at
 * clock k, stage j works on micro-batch k - j. On CUDA devices every op is queued on its device's
 * stream and returns at once, so stage j+1 computes micro-batch i while stage j computes
 * micro-batch i+1. The activations move between stages with the differentiable `to(device)`;
 * the outputs are joined with `cat`, so backward follows the same graph in reverse and the
 * gradients equal the unsplit model's (up to the order of floating-point sums).
 */
import { createError } from '../../errors.js';
import { Module, type TensorModule, Sequential } from '../../nn/index.js';
import type { Tensor } from '../../tensor/index.js';
import { checkCount, mergeBatches, splitBatch } from './microbatch.js';

export interface PipeOptions {
  /** Micro-batches per batch (default 1: no pipelining, torch's default). */
  chunks?: number;
  /**
   * Activation checkpointing: only 'never' (torch's default is 'except_last', which recomputes
   * activations in backward to save memory; not offered here).
   */
  checkpoint?: 'never';
}

/** The one device of a stage's parameters and buffers (null: it has none). */
function stageDevice(m: Module, i: number): string | null {
  let dev: string | null = null;
  for (const [name, t] of [...m.namedParameters(), ...m.namedBuffers()]) {
    const d = t.device.toString();
    if (dev === null) dev = d;
    else if (d !== dev) {
      throw createError(
        'ERR_DEVICE_MISMATCH',
        `Pipe: stage ${i} has tensors on ${dev} and on ${d} ('${name}'); each stage (each module of the Sequential) lives on one device`,
      );
    }
  }
  return dev;
}

export class Pipe extends Module {
  readonly chunks: number;
  readonly checkpoint: 'never';
  /** The stages: the Sequential's modules, in order. */
  readonly partitions: readonly TensorModule[];
  /** The device of each stage (a stage without tensors runs where its input comes from the stage before). */
  readonly devices: readonly string[];

  constructor(module: Sequential, opts: PipeOptions = {}) {
    super();
    if (!(module instanceof Sequential)) throw createError('ERR_INVALID_ARG', 'Pipe: module must be an nn.Sequential of stages');
    if (opts === null || typeof opts !== 'object') throw createError('ERR_INVALID_ARG', 'Pipe: options must be an object');
    this.chunks = checkCount('Pipe', 'chunks', opts.chunks ?? 1);
    const ck = opts.checkpoint ?? 'never';
    if (ck !== 'never') {
      throw createError('ERR_UNSUPPORTED', `Pipe: checkpoint '${String(ck)}' is not supported (activation checkpointing is not implemented); use 'never'`);
    }
    this.checkpoint = ck;
    if (module.length === 0) throw createError('ERR_INVALID_ARG', 'Pipe: the Sequential has no stages');
    this.registerModule('module', module);
    const parts: TensorModule[] = [];
    const devs: string[] = [];
    let last = 'cpu';
    for (let i = 0; i < module.length; i++) {
      const m = module.at(i);
      const d = stageDevice(m, i) ?? (i === 0 ? 'cpu' : last);
      parts.push(m);
      devs.push(d);
      last = d;
    }
    // the first parameterless stages run where the first device with parameters is
    const firstReal = devs.findIndex((_, i) => stageDevice(parts[i]!, i) !== null);
    if (firstReal > 0) for (let i = 0; i < firstReal; i++) devs[i] = devs[firstReal]!;
    this.partitions = parts;
    this.devices = devs;
  }

  /** The batch through every stage in micro-batches (GPipe); the output is on the last stage's device. */
  forward(x: Tensor): Tensor {
    const n = this.partitions.length;
    // like torch.chunk, a batch smaller than `chunks` makes fewer (one-row) micro-batches
    const rows = x !== null && typeof x === 'object' && x.ndim > 0 ? x.shape[0]! : 1;
    const acts = splitBatch(x, Math.max(1, Math.min(this.chunks, rows)), 'Pipe.forward', 'the input');
    const m = acts.length;
    for (let clock = 0; clock < m + n - 1; clock++) {
      // stage j on micro-batch clock - j: independent of each other within a clock
      for (let j = Math.min(clock, n - 1); j >= Math.max(0, clock - m + 1); j--) {
        const i = clock - j;
        const a = acts[i]!;
        acts[i] = this.partitions[j]!.forward(a.device.toString() === this.devices[j] ? a : a.to(this.devices[j]!));
      }
    }
    return mergeBatches(acts);
  }
}
