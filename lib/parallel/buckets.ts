/**
 * The DDP bucket planner (layer: lib/parallel, pure: no tensors, no communication).
 *
 * Gradients are all-reduced in buckets rather than one by one, so that a few large collectives
 * replace many small ones while still overlapping with the backward pass. The rules are those of
 * PyTorch's `_compute_bucket_assignment_by_size`:
 *  - parameters are visited in the order their gradients are expected to become ready — at
 *    construction the reverse of registration order (the last layer's gradient is computed first),
 *    after the first iteration the order in which gradients actually arrived;
 *  - parameters of different dtypes or devices never share a bucket;
 *  - a bucket is closed as soon as its size reaches its limit: the first bucket of each
 *    (dtype, device) group is capped at `firstBucketBytes` (1 MiB) so the first all-reduce starts
 *    early, every later one at `bucketCapBytes` (bucketCapMb = 25 MiB by default);
 *  - buckets are ordered by the position of their first parameter in the visiting order, which is
 *    the order in which they are launched (every rank launches buckets in the same order).
 */
import { ArgumentError } from '../errors.js';

/** PyTorch's dist._DEFAULT_FIRST_BUCKET_BYTES. */
export const DEFAULT_FIRST_BUCKET_BYTES = 1024 * 1024;
/** PyTorch's default bucket_cap_mb. */
export const DEFAULT_BUCKET_CAP_MB = 25;

/** What the planner needs to know of a parameter. */
export interface BucketParam {
  /** Number of elements of the parameter (and of its gradient). */
  numel: number;
  /** Bytes per element. */
  elementSize: number;
  /** Grouping key: parameters with different keys (dtype, device) never share a bucket. */
  key: string;
}

export interface BucketPlanOptions {
  /** Cap of every bucket after the first, in MiB (default 25). */
  bucketCapMb?: number;
  /** Cap of the first bucket of each group, in bytes (default 1 MiB). */
  firstBucketBytes?: number;
  /**
   * The order in which gradients become ready, as parameter indices (default: reverse registration
   * order). Must be a permutation of 0..params.length-1.
   */
  order?: readonly number[];
}

export interface Bucket {
  /** Parameter indices in this bucket, in visiting order (their order inside the flat buffer). */
  params: number[];
  /** Total bytes of the bucket. */
  bytes: number;
  /** The cap that closed (or would have closed) this bucket. */
  capBytes: number;
  key: string;
}

/** Splits parameters into buckets; see the file comment for the rules. */
export function planBuckets(params: readonly BucketParam[], opts: BucketPlanOptions = {}): Bucket[] {
  const capMb = opts.bucketCapMb ?? DEFAULT_BUCKET_CAP_MB;
  if (typeof capMb !== 'number' || !(capMb > 0) || !Number.isFinite(capMb)) {
    throw new ArgumentError(`bucketCapMb must be a positive finite number, got ${String(capMb)}`);
  }
  const capBytes = Math.round(capMb * 1024 * 1024);
  const firstBytes = opts.firstBucketBytes ?? DEFAULT_FIRST_BUCKET_BYTES;
  if (!Number.isSafeInteger(firstBytes) || firstBytes <= 0) {
    throw new ArgumentError(`firstBucketBytes must be a positive integer, got ${String(firstBytes)}`);
  }
  const n = params.length;
  const order = opts.order ?? Array.from({ length: n }, (_, i) => n - 1 - i);
  checkPermutation(order, n);

  interface Open {
    bucket: Bucket;
    first: number; // position of its first parameter in `order`
    limitIndex: number;
  }
  const open = new Map<string, Open>();
  const limitIndexByKey = new Map<string, number>();
  const closed: { bucket: Bucket; first: number }[] = [];
  const limits = [firstBytes, capBytes];

  order.forEach((pi, pos) => {
    const p = params[pi]!;
    if (!Number.isSafeInteger(p.numel) || p.numel < 0 || !Number.isSafeInteger(p.elementSize) || p.elementSize <= 0) {
      throw new ArgumentError(`planBuckets: parameter ${pi} has an invalid size (numel ${p.numel}, elementSize ${p.elementSize})`);
    }
    let o = open.get(p.key);
    if (!o) {
      const li = limitIndexByKey.get(p.key) ?? 0;
      o = { bucket: { params: [], bytes: 0, capBytes: limits[li]!, key: p.key }, first: pos, limitIndex: li };
      open.set(p.key, o);
    }
    o.bucket.params.push(pi);
    o.bucket.bytes += p.numel * p.elementSize;
    if (o.bucket.bytes >= o.bucket.capBytes) {
      closed.push({ bucket: o.bucket, first: o.first });
      open.delete(p.key);
      limitIndexByKey.set(p.key, Math.min(o.limitIndex + 1, limits.length - 1));
    }
  });
  for (const o of open.values()) closed.push({ bucket: o.bucket, first: o.first });
  closed.sort((a, b) => a.first - b.first);
  return closed.map((c) => c.bucket);
}

function checkPermutation(order: readonly number[], n: number): void {
  if (!Array.isArray(order) || order.length !== n) {
    throw new ArgumentError(`planBuckets: order must list each of the ${n} parameters once, got ${order?.length} entries`);
  }
  const seen = new Uint8Array(n);
  for (const i of order) {
    if (!Number.isInteger(i) || i < 0 || i >= n || seen[i]) {
      throw new ArgumentError(`planBuckets: order must be a permutation of 0..${n - 1}; bad or repeated entry ${String(i)}`);
    }
    seen[i] = 1;
  }
}
