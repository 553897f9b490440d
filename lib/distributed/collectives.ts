/**
 * The collectives, as functions of the default group (or `opts.group`), with torch.distributed's
 * meanings. Every call returns a Work (awaitable); arguments are checked at once (a wrong call
 * throws before anything is sent). src/dst/peer ranks are global ranks, as in PyTorch.
 */
import { createError } from '../errors.js';
import { resolveGroup } from './init.js';
import { P2POp, type ProcessGroup } from './process_group.js';
import type { DistTensor, ReduceOpName } from './types.js';
import type { Work } from './work.js';
import { checkOptions, optionKeys } from '../options.js';

export interface GroupOptions {
  /** The process group (default: the default group). */
  group?: ProcessGroup;
  /**
   * Accepted for PyTorch compatibility: every call returns a Work either way (await it, or keep
   * it and call `wait()` later).
   */
  asyncOp?: boolean;
}
export interface ReduceOptions extends GroupOptions {
  /** Default 'sum'. */
  op?: ReduceOpName;
}
export interface BroadcastOptions extends GroupOptions {
  /** Global rank that sends. Default 0. */
  src?: number;
}
export interface RootReduceOptions extends ReduceOptions {
  /** Global rank that receives the result. Default 0. */
  dst?: number;
}
export interface GatherOptions extends GroupOptions {
  /** On dst: one tensor per rank, receiving each rank's tensor. Omit elsewhere. */
  gatherList?: DistTensor[] | null;
  /** Default 0. */
  dst?: number;
}
export interface ScatterOptions extends GroupOptions {
  /** On src: one tensor per rank to send. Omit elsewhere. */
  scatterList?: DistTensor[] | null;
  /** Default 0. */
  src?: number;
}
export interface AllToAllSingleOptions extends GroupOptions {
  /** Rows (first dimension) received from each rank. Default: equal split. */
  outputSplitSizes?: number[] | null;
  /** Rows (first dimension) sent to each rank. Default: equal split. */
  inputSplitSizes?: number[] | null;
}
export interface SendOptions extends GroupOptions {
  /** Global rank to send to. */
  dst: number;
  /** Must equal the receiver's tag. Default 0. */
  tag?: number;
}
export interface RecvOptions extends GroupOptions {
  /** Global rank to receive from. */
  src: number;
  /** Must equal the sender's tag. Default 0. */
  tag?: number;
}

const G = { group: true, asyncOp: true } as const;
const GROUP_OPTIONS = optionKeys<GroupOptions>(G);
const REDUCE_OPTIONS = optionKeys<ReduceOptions>({ ...G, op: true });
const BROADCAST_OPTIONS = optionKeys<BroadcastOptions>({ ...G, src: true });
const ROOT_REDUCE_OPTIONS = optionKeys<RootReduceOptions>({ ...G, op: true, dst: true });
const GATHER_OPTIONS = optionKeys<GatherOptions>({ ...G, gatherList: true, dst: true });
const SCATTER_OPTIONS = optionKeys<ScatterOptions>({ ...G, scatterList: true, src: true });
const ALL_TO_ALL_SINGLE_OPTIONS = optionKeys<AllToAllSingleOptions>({ ...G, outputSplitSizes: true, inputSplitSizes: true });
const SEND_OPTIONS = optionKeys<SendOptions>({ ...G, dst: true, tag: true });
const RECV_OPTIONS = optionKeys<RecvOptions>({ ...G, src: true, tag: true });

/** In-place all-reduce: every rank ends with op over all ranks' tensors. */
export function allReduce(tensor: DistTensor, opts: ReduceOptions = {}): Work {
  opts = checkOptions(opts, REDUCE_OPTIONS, 'allReduce');
  return resolveGroup('allReduce', opts.group).allReduce(tensor, opts.op ?? 'sum');
}

/** Copies src's tensor into every rank's tensor. */
export function broadcast(tensor: DistTensor, opts: BroadcastOptions = {}): Work {
  opts = checkOptions(opts, BROADCAST_OPTIONS, 'broadcast');
  return resolveGroup('broadcast', opts.group).broadcast(tensor, opts.src ?? 0);
}

/** Reduces every rank's tensor into dst's (in place there; other ranks' tensors are unchanged). */
export function reduce(tensor: DistTensor, opts: RootReduceOptions = {}): Work {
  opts = checkOptions(opts, ROOT_REDUCE_OPTIONS, 'reduce');
  return resolveGroup('reduce', opts.group).reduce(tensor, opts.dst ?? 0, opts.op ?? 'sum');
}

/** outputList[i] receives rank i's tensor. */
export function allGather(outputList: DistTensor[], tensor: DistTensor, opts: GroupOptions = {}): Work {
  opts = checkOptions(opts, GROUP_OPTIONS, 'allGather');
  return resolveGroup('allGather', opts.group).allGather(outputList, tensor);
}

/** output (world size x input's elements) receives every rank's input, in rank order. */
export function allGatherIntoTensor(output: DistTensor, input: DistTensor, opts: GroupOptions = {}): Work {
  opts = checkOptions(opts, GROUP_OPTIONS, 'allGatherIntoTensor');
  return resolveGroup('allGatherIntoTensor', opts.group).allGatherIntoTensor(output, input);
}

/** output on rank i = op over ranks of their inputList[i]. */
export function reduceScatter(output: DistTensor, inputList: DistTensor[], opts: ReduceOptions = {}): Work {
  opts = checkOptions(opts, REDUCE_OPTIONS, 'reduceScatter');
  return resolveGroup('reduceScatter', opts.group).reduceScatter(output, inputList, opts.op ?? 'sum');
}

/** output on rank i = op over ranks of block i of their input (world size x output's elements). */
export function reduceScatterTensor(output: DistTensor, input: DistTensor, opts: ReduceOptions = {}): Work {
  opts = checkOptions(opts, REDUCE_OPTIONS, 'reduceScatterTensor');
  return resolveGroup('reduceScatterTensor', opts.group).reduceScatterTensor(output, input, opts.op ?? 'sum');
}

/** dst's gatherList[i] receives rank i's tensor. */
export function gather(tensor: DistTensor, opts: GatherOptions = {}): Work {
  opts = checkOptions(opts, GATHER_OPTIONS, 'gather');
  return resolveGroup('gather', opts.group).gather(tensor, opts.gatherList, opts.dst ?? 0);
}

/** Rank i's tensor receives src's scatterList[i]. */
export function scatter(tensor: DistTensor, opts: ScatterOptions = {}): Work {
  opts = checkOptions(opts, SCATTER_OPTIONS, 'scatter');
  return resolveGroup('scatter', opts.group).scatter(tensor, opts.scatterList, opts.src ?? 0);
}

/** outputList[j] receives rank j's inputList[i] (i = this rank). Sizes may differ per pair. */
export function allToAll(outputList: DistTensor[], inputList: DistTensor[], opts: GroupOptions = {}): Work {
  opts = checkOptions(opts, GROUP_OPTIONS, 'allToAll');
  return resolveGroup('allToAll', opts.group).allToAll(outputList, inputList);
}

/** Splits input along its first dimension, sends piece j to rank j, concatenates what arrives. */
export function allToAllSingle(output: DistTensor, input: DistTensor, opts: AllToAllSingleOptions = {}): Work {
  opts = checkOptions(opts, ALL_TO_ALL_SINGLE_OPTIONS, 'allToAllSingle');
  return resolveGroup('allToAllSingle', opts.group).allToAllSingle(output, input, opts.outputSplitSizes, opts.inputSplitSizes);
}

/** Blocks (asynchronously) until every rank of the group has called it. */
export function barrier(opts: GroupOptions = {}): Work {
  opts = checkOptions(opts, GROUP_OPTIONS, 'barrier');
  return resolveGroup('barrier', opts.group).barrier();
}

function need(who: string, opts: unknown, key: 'dst' | 'src'): number {
  const v = opts && typeof opts === 'object' ? (opts as Record<string, unknown>)[key] : undefined;
  if (v === undefined) throw createError('ERR_INVALID_ARG', `${who}: option '${key}' (a global rank) is required`);
  return v as number;
}

/** Sends tensor to dst. The Work completes once the data has been handed over. */
export function isend(tensor: DistTensor, opts: SendOptions): Work {
  opts = checkOptions(opts, SEND_OPTIONS, 'isend');
  const dst = need('isend', opts, 'dst');
  return resolveGroup('isend', opts.group).p2p([{ kind: 'send', tensor, peer: dst, tag: opts.tag ?? 0 }])[0]!;
}

/** Receives into tensor from src. */
export function irecv(tensor: DistTensor, opts: RecvOptions): Work {
  opts = checkOptions(opts, RECV_OPTIONS, 'irecv');
  const src = need('irecv', opts, 'src');
  return resolveGroup('irecv', opts.group).p2p([{ kind: 'recv', tensor, peer: src, tag: opts.tag ?? 0 }])[0]!;
}

/** Same as isend (await the result to block, as torch's send does). */
export function send(tensor: DistTensor, opts: SendOptions): Work {
  return isend(tensor, opts);
}

/** Same as irecv (await the result to block, as torch's recv does). */
export function recv(tensor: DistTensor, opts: RecvOptions): Work {
  return irecv(tensor, opts);
}

/**
 * Runs the point-to-point ops together (they progress concurrently, so exchanges between pairs
 * of ranks in both directions never deadlock). All ops must use the same group.
 */
export function batchIsendIrecv(p2pOpList: P2POp[]): Work[] {
  if (!Array.isArray(p2pOpList) || p2pOpList.length === 0 || !p2pOpList.every((o) => o instanceof P2POp)) {
    throw createError('ERR_INVALID_ARG', 'batchIsendIrecv: expected a non-empty array of P2POp');
  }
  const group = p2pOpList[0]!.group;
  if (p2pOpList.some((o) => o.group !== group)) {
    throw createError('ERR_INVALID_ARG', 'batchIsendIrecv: all ops must use the same group');
  }
  return resolveGroup('batchIsendIrecv', group).p2p(
    p2pOpList.map((o) => ({ kind: o.op === 'isend' ? ('send' as const) : ('recv' as const), tensor: o.tensor, peer: o.peer, tag: o.tag })),
  );
}
