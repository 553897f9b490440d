/**
 * NODE_NCCL_DEBUG=detail (like TORCH_DISTRIBUTED_DEBUG=DETAIL): before each collective, every
 * rank publishes a fingerprint of its call (collective, dtype, sizes, op, root, sequence number)
 * in the group's store and compares it with every other rank's. A mismatch fails the collective on
 * every rank with ERR_DIST_MISMATCH naming each rank's call, before any data moves.
 */
import { createError } from '../errors.js';
import type { GroupStore } from './types.js';

/** Whether NODE_NCCL_DEBUG asks for the cross-rank checks (a ProcessGroup reads it when it is made). */
export function debugDetail(): boolean {
  return (process.env.NODE_NCCL_DEBUG ?? '').toLowerCase() === 'detail';
}

export async function checkFingerprints(
  store: GroupStore,
  group: string,
  seq: number,
  rank: number,
  size: number,
  fingerprint: string,
  timeoutMs: number,
): Promise<void> {
  const key = (s: number, r: number) => `debug/${s}/${r}`;
  await store.set(key(seq, rank), fingerprint);
  const calls: string[] = [];
  for (let r = 0; r < size; r++) {
    calls.push(r === rank ? fingerprint : Buffer.from(await store.get(key(seq, r), { timeoutMs })).toString('utf8'));
  }
  // Everyone has read the keys of seq - 1 before publishing seq: those can go.
  if (seq > 1) await store.deleteKey(key(seq - 1, rank)).catch(() => false);
  if (calls.some((c) => c !== fingerprint)) {
    const list = calls.map((c, r) => `rank ${r}: ${c}`).join('; ');
    throw createError(
      'ERR_DIST_MISMATCH',
      `NODE_NCCL_DEBUG=detail: collective #${seq} of process group '${group}' does not match across ranks: ${list}`,
    );
  }
}
