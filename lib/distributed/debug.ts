/**
 * Collective call checking for NODE_NCCL_DEBUG=detail (layer: lib/distributed; ProcessGroup runs it
 * before every collective when the group was made with that setting), like PyTorch's
 * TORCH_DISTRIBUTED_DEBUG=DETAIL: before each collective every rank of the group publishes a
 * fingerprint of its call (operation, dtype, shape or count, reduce op, root, sequence number)
 * through the store and compares it with everyone else's. A mismatch, which would otherwise hang
 * or silently corrupt results, becomes ERR_DIST_MISMATCH on every rank, naming each rank's call; a
 * rank that never arrives becomes ERR_DIST_TIMEOUT naming the missing ranks.
 *
 * Cost: one store round trip to publish, one to read the others (pipelined), one counter update;
 * meant for debugging, as in PyTorch. Keys are deleted once every rank has read them.
 */
import { createError } from '../errors.js';
import type { GroupStore } from './types.js';

export type DebugLevel = 'off' | 'info' | 'detail';

/** NODE_NCCL_DEBUG: off (default) | info | detail (case-insensitive). Throws ERR_INVALID_ARG. */
export function distributedDebugLevel(env: Record<string, string | undefined> = process.env): DebugLevel {
  const v = (env.NODE_NCCL_DEBUG ?? '').trim().toLowerCase();
  if (v === '' || v === 'off' || v === '0') return 'off';
  if (v === 'info' || v === 'detail') return v;
  throw createError('ERR_INVALID_ARG', `NODE_NCCL_DEBUG=${JSON.stringify(env.NODE_NCCL_DEBUG)} is not valid: expected off, info or detail`);
}

/** What one rank's collective call looked like. Only the fields given are compared. */
export interface CollectiveFingerprint {
  /** The collective, e.g. 'allReduce', 'broadcast', 'allGather'. */
  op: string;
  dtype?: string;
  /** Shape of the (input) tensor; for lists of tensors, one shape per tensor. */
  shape?: number[] | number[][];
  /** Element count, for calls on raw buffers. */
  count?: number;
  /** Reduce operation ('sum', 'avg', …). */
  reduceOp?: string;
  /** src/dst rank for rooted collectives. */
  root?: number;
  /** Device type of the tensors ('cpu' | 'cuda'). */
  device?: string;
}

const FIELDS: Array<keyof CollectiveFingerprint> = ['dtype', 'shape', 'count', 'reduceOp', 'root', 'device'];

/** allReduce(dtype=float32, shape=[4, 5], reduceOp=sum) */
export function formatFingerprint(fp: CollectiveFingerprint): string {
  const parts: string[] = [];
  for (const k of FIELDS) {
    const v = fp[k];
    if (v === undefined) continue;
    parts.push(`${k}=${Array.isArray(v) ? JSON.stringify(v).replace(/,/g, ', ') : String(v)}`);
  }
  return `${fp.op}(${parts.join(', ')})`;
}

/** The canonical text two equal calls share (fixed field order). */
function canonical(fp: CollectiveFingerprint): string {
  return JSON.stringify([fp.op, ...FIELDS.map((k) => fp[k] ?? null)]);
}

function parse(text: string, rank: number): CollectiveFingerprint {
  try {
    const v = JSON.parse(text) as CollectiveFingerprint;
    if (v && typeof v === 'object' && typeof v.op === 'string') return v;
  } catch {
    // reported below
  }
  throw createError('ERR_DIST', `rank ${rank} published an unreadable collective fingerprint: ${text.slice(0, 200)}`);
}

/** "ranks 0, 1 and 3" / "rank 2" */
function rankList(ranks: number[]): string {
  if (ranks.length === 1) return `rank ${ranks[0]}`;
  const shown = ranks.length > 16 ? [...ranks.slice(0, 16).map(String), `… (${ranks.length} ranks)`] : ranks.map(String);
  return `ranks ${shown.slice(0, -1).join(', ')} and ${shown[shown.length - 1]}`;
}

function checkInt(name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw createError('ERR_INVALID_ARG', `checkCollectiveFingerprint: ${name} must be an integer >= ${min}, got ${String(v)}`);
  }
  return v;
}

/**
 * Publishes this rank's fingerprint for collective number `seq` of `groupName` and checks it
 * against every rank's. Resolves when all match; rejects with ERR_DIST_MISMATCH (naming each
 * rank's call) when they differ, or ERR_DIST_TIMEOUT (naming the ranks that never published)
 * after `timeoutMs`.
 */
export async function checkCollectiveFingerprint(
  store: GroupStore,
  groupName: string,
  rank: number,
  worldSize: number,
  seq: number,
  fingerprint: CollectiveFingerprint,
  timeoutMs: number,
): Promise<void> {
  checkInt('worldSize', worldSize, 1);
  checkInt('rank', rank, 0);
  checkInt('seq', seq, 0);
  if (rank >= worldSize) throw createError('ERR_INVALID_ARG', `checkCollectiveFingerprint: rank ${rank} is out of range for world size ${worldSize}`);
  if (!fingerprint || typeof fingerprint.op !== 'string') {
    throw createError('ERR_INVALID_ARG', 'checkCollectiveFingerprint: fingerprint must be an object with an op name');
  }
  const base = `debug/${groupName}/${seq}`;
  const keys = Array.from({ length: worldSize }, (_, r) => `${base}/${r}`);
  const mine = canonical(fingerprint);
  await store.set(keys[rank]!, JSON.stringify(fingerprint));
  const what = `collective #${seq} of group '${groupName}' (rank ${rank} called ${formatFingerprint(fingerprint)})`;
  try {
    await store.wait(keys, { timeoutMs });
  } catch (e) {
    if ((e as { code?: string }).code !== 'ERR_DIST_TIMEOUT') throw e;
    const missing: number[] = [];
    for (let r = 0; r < worldSize; r++) if (!(await store.check([keys[r]!]))) missing.push(r);
    throw createError(
      'ERR_DIST_TIMEOUT',
      `NODE_NCCL_DEBUG=detail: ${what}: ${rankList(missing)} did not reach this collective within ${timeoutMs} ms ` +
        '(they are behind, stuck in another call, or gone)',
      { missingRanks: missing, seq, groupName },
    );
  }
  const values = await Promise.all(keys.map((k) => store.get(k, { timeoutMs })));
  const calls = values.map((v, r) => parse(Buffer.from(v).toString('utf8'), r));
  // The last rank to finish reading removes the keys.
  const readers = await store.add(`${base}/read`, 1);
  if (readers === BigInt(worldSize)) {
    await Promise.all([...keys, `${base}/read`].map((k) => store.deleteKey(k)));
  }
  const groups = new Map<string, number[]>();
  calls.forEach((c, r) => {
    const k = canonical(c);
    const list = groups.get(k);
    if (list) list.push(r);
    else groups.set(k, [r]);
  });
  if (groups.size === 1 && groups.has(mine)) return;
  const described = [...groups.values()].map((ranks) => `${rankList(ranks)} called ${formatFingerprint(calls[ranks[0]!]!)}`);
  throw createError(
    'ERR_DIST_MISMATCH',
    `NODE_NCCL_DEBUG=detail: collective #${seq} of group '${groupName}' does not match across ranks: ${described.join('; ')}`,
    { seq, groupName, calls },
  );
}
