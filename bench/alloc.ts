/**
 * Caching allocator throughput: mixed-size allocate/free pairs per second through the public API
 * (`new cuda.DeviceBuffer(n)` + `dispose()`), comparable line by line with
 * bench/compare/torch_alloc.py (`torch.empty(n, dtype=torch.uint8, device='cuda')` + `del`).
 * Both draw the same size sequence from the same LCG.
 *
 *   node dist/bench/alloc.js [--iters 200000] [--window 64] [--json]
 *
 * Workloads: "pairs" allocates and frees at once; "window" keeps the last `window` buffers alive
 * (each step frees the oldest), so the cache holds many sizes at the same time. Without a GPU it
 * prints why and exits 0.
 */
import { cuda } from '../lib/index.js';

/** The sizes both benchmarks draw from (bytes): small and large pool, odd sizes included. */
const SIZES = [512, 100, 4096, 3000, 65536, 777777, 1 << 20, (1 << 20) + 1, 4 << 20, 16 << 20, 123, 262144];

/** The same LCG as torch_alloc.py: x = (1103515245 x + 12345) mod 2^31. */
function sizeSequence(n: number, seed = 1): number[] {
  const out = new Array<number>(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff;
    out[i] = SIZES[x % SIZES.length]!;
  }
  return out;
}

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? Number(process.argv[i + 1]) : dflt;
}

async function main(): Promise<number> {
  const json = process.argv.includes('--json');
  if (cuda.deviceCount() === 0) {
    const msg = `no GPU (${cuda.noGpuReason()}): the allocator benchmark needs one; nothing measured`;
    console.log(json ? JSON.stringify({ impl: 'node-nccl', skipped: msg }) : `# ${msg}`);
    return 0;
  }
  const iters = arg('iters', 200_000);
  const window = arg('window', 64);
  const seq = sizeSequence(iters);
  const results: Record<string, number> = {};

  // Warm the cache with one pass over every size.
  for (const n of SIZES) new cuda.DeviceBuffer(n).dispose();
  await cuda.synchronize();

  let t0 = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) new cuda.DeviceBuffer(seq[i]!).dispose();
  let s = Number(process.hrtime.bigint() - t0) / 1e9;
  results['pairs_per_s'] = iters / s;

  const ring: Array<InstanceType<typeof cuda.DeviceBuffer> | undefined> = new Array(window);
  t0 = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) {
    const slot = i % window;
    ring[slot]?.dispose();
    ring[slot] = new cuda.DeviceBuffer(seq[i]!);
  }
  s = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const b of ring) b?.dispose();
  results['window_pairs_per_s'] = iters / s;
  await cuda.synchronize();

  const stats = cuda.memoryStats();
  const out = { impl: 'node-nccl', iters, window, ...results, cacheHits: stats.cacheHits, deviceMallocs: stats.numDeviceMallocs };
  if (json) {
    console.log(JSON.stringify(out));
  } else {
    console.log(`# allocator: ${iters} mixed-size allocate/free pairs (${SIZES.length} sizes, 100 B .. 16 MiB)`);
    console.log(`pairs            ${(results['pairs_per_s']! / 1e6).toFixed(3)} M pairs/s`);
    console.log(`window(${window})       ${(results['window_pairs_per_s']! / 1e6).toFixed(3)} M pairs/s`);
    console.log(JSON.stringify(out));
  }
  return 0;
}

main().then((c) => (process.exitCode = c));
