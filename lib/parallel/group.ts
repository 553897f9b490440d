/**
 * Defaults taken from the default process group (layer: lib/parallel → lib/distributed), as
 * torch's DistributedSampler takes num_replicas and rank from the initialized default group.
 */
import { createError } from '../errors.js';
import { getRank, getWorldSize, isInitialized } from '../distributed/index.js';

function notInitialized(who: string, what: string): never {
  throw createError(
    'ERR_DIST_NOT_INITIALIZED',
    `${who}: ${what} was not given and the default process group is not initialized; ` +
      `call \`await dist.initProcessGroup(...)\` first or pass it explicitly`,
  );
}

export function defaultWorldSize(who: string): number {
  return isInitialized() ? getWorldSize() : notInitialized(who, 'numReplicas');
}

export function defaultRank(who: string): number {
  return isInitialized() ? getRank() : notInitialized(who, 'rank');
}
