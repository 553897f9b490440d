/**
 * The collectives lib/parallel uses, in one place (layer: lib/parallel → lib/distributed).
 * Every call takes the process group DDP was given (or the default group) and returns something
 * awaitable; the rest of lib/parallel never imports lib/distributed directly.
 */
import * as dist from '../distributed/index.js';
import { createError } from '../errors.js';
import type { Tensor } from '../tensor/index.js';
import type { Waitable } from './future.js';

export type ProcessGroup = dist.ProcessGroup;

/** A collective in flight: `await` it, or `wait()` (blocks on the cpu backend, orders streams on nccl). */
export type Pending = Waitable;

export interface Comm {
  readonly rank: number;
  readonly size: number;
  readonly group: ProcessGroup | undefined;
  /** Whether its ops can be waited for synchronously (see ProcessGroup.supportsSyncWait). */
  readonly syncWait: boolean;
  /** In-place sum across ranks. */
  allReduceSum(t: Tensor): Pending;
  /** Copies group rank `src`'s t to every rank. */
  broadcast(t: Tensor, src: number): Pending;
  /** Gathers t from every rank into out[r] (one tensor per rank, same shape as t). */
  allGather(out: Tensor[], t: Tensor): Pending;
  barrier(): Pending;
}

/** lib/distributed types tensors structurally (DistTensor); ours are Tensors. */
const asDist = (t: Tensor): dist.DistTensor => t as unknown as dist.DistTensor;

export function isDistributedInitialized(): boolean {
  return dist.isInitialized();
}

/** The Comm of a process group (default: the default group; error if none is initialized). */
export function commFor(group: ProcessGroup | undefined, who: string): Comm {
  if (!dist.isInitialized()) {
    throw createError(
      'ERR_DIST_NOT_INITIALIZED',
      `${who}: the default process group is not initialized; call \`await dist.initProcessGroup(...)\` first`,
    );
  }
  const opts = group ? { group } : {};
  // lib/parallel counts in group ranks; torch.distributed's src is a global rank
  const global = (r: number): number => (group ? group.ranks[r]! : r);
  return {
    rank: dist.getRank(group),
    size: dist.getWorldSize(group),
    group,
    syncWait: (group ?? dist.defaultGroup(who)).supportsSyncWait,
    allReduceSum: (t) => dist.allReduce(asDist(t), { op: 'sum', ...opts }),
    broadcast: (t, src) => dist.broadcast(asDist(t), { src: global(src), ...opts }),
    allGather: (out, t) => dist.allGather(out.map(asDist), asDist(t), opts),
    barrier: () => dist.barrier(opts),
  };
}

/** Point-to-point within a group, by group rank (what pipeline stages use). */
export interface P2PComm {
  /** This process's rank in the group. */
  readonly rank: number;
  readonly size: number;
  readonly group: ProcessGroup | undefined;
  /** Sends t to group rank `to`; the Work settles when the data left (or failed). */
  isend(t: Tensor, to: number): Pending;
  /** Receives into t from group rank `from`. */
  irecv(t: Tensor, from: number): Pending;
}

export function p2pFor(group: ProcessGroup | undefined, who: string): P2PComm {
  const c = commFor(group, who);
  if (c.rank < 0) {
    throw createError('ERR_DIST', `${who}: this process (rank ${dist.getRank()}) is not a member of the process group it was given`);
  }
  const ranks = group ? group.ranks : Array.from({ length: c.size }, (_, r) => r);
  const opts = group ? { group } : {};
  return {
    rank: c.rank,
    size: c.size,
    group,
    isend: (t, to) => dist.isend(asDist(t), { dst: ranks[to]!, ...opts }),
    irecv: (t, from) => dist.irecv(asDist(t), { src: ranks[from]!, ...opts }),
  };
}
