/**
 * CPU matmul benchmark: our cache-blocked kernel vs OpenBLAS, float32, in one run.
 *
 *   node dist/bench/cpu-matmul.js [--size 512] [--reps 20] [--rounds 3] [--blas /path/to/libopenblas.so.0]
 *
 * Each side runs in its own child process (the BLAS choice is made once per process):
 *   ours:      NODE_NCCL_BLAS=0 (forces the blocked kernel of cpp/kernels/matmul.cc)
 *   reference: NODE_NCCL_BLAS_PATH=<libopenblas> (Debian: apt-get install libopenblas0-pthread)
 * both multi-threaded (all cores) and single-threaded (NODE_NCCL_CPU_THREADS=1 /
 * OPENBLAS_NUM_THREADS=1). Prints GFLOP/s of each and the ratio ours / OpenBLAS.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '512' },
    reps: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '3' },
    blas: { type: 'string' },
    child: { type: 'boolean', default: false },
  },
});
const n = Number(values.size), reps = Number(values.reps), rounds = Math.max(1, Number(values.rounds));

async function child(): Promise<void> {
  const { native } = await import('../lib/native/index.js');
  const a = new Float32Array(n * n).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const b = new Float32Array(n * n).map((_, i) => ((i * 104729) % 1000) / 1000 - 0.5);
  const c = new Float32Array(n * n);
  const run = () => native.kernels.matmul(0, 1, n, n, n, { mem: a, offset: 0 }, n, 0, false, { mem: b, offset: 0 }, n, 0, false,
    { mem: c, offset: 0 }, n, 0, 1, 0, false);
  for (let i = 0; i < 3; i++) run(); // warm-up (thread start, BLAS load, caches)
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    run();
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  times.sort((x, y) => x - y);
  const median = times[Math.floor(times.length / 2)]!;
  process.stdout.write(JSON.stringify({ gflops: (2 * n ** 3) / median / 1e9, median, checksum: c[12345 % c.length] }) + '\n');
}

function findOpenBlas(): string {
  const candidates = [values.blas, process.env.NODE_NCCL_BLAS_PATH, '/usr/lib/x86_64-linux-gnu/libopenblas.so.0',
    '/usr/lib/aarch64-linux-gnu/libopenblas.so.0', '/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0'];
  const found = candidates.find((c) => c && existsSync(c));
  if (!found) {
    console.error('OpenBLAS not found: apt-get install -y libopenblas0-pthread, or pass --blas /path/to/libopenblas.so');
    process.exit(2);
  }
  return found;
}

function measure(env: Record<string, string>): { gflops: number; median: number; checksum: number } {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', '--size', String(n), '--reps', String(reps)], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`benchmark child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as { gflops: number; median: number; checksum: number };
}

if (values.child) {
  await child();
} else {
  const blas = findOpenBlas();
  console.log(`float32 matmul ${n}x${n}x${n}, median of ${reps} calls, best of ${rounds} alternating rounds; OpenBLAS: ${blas}`);
  for (const [label, threads] of [['all threads', {}], ['1 thread', { NODE_NCCL_CPU_THREADS: '1', OPENBLAS_NUM_THREADS: '1' }]] as const) {
    // alternate the two sides a few times and keep each side's best run, so that load from other
    // processes on the machine does not favour whichever side happened to run in a quiet moment
    let ours = measure({ ...threads, NODE_NCCL_BLAS: '0' });
    let ref = measure({ ...threads, NODE_NCCL_BLAS_PATH: blas });
    for (let round = 1; round < rounds; round++) {
      const o = measure({ ...threads, NODE_NCCL_BLAS: '0' });
      const r = measure({ ...threads, NODE_NCCL_BLAS_PATH: blas });
      if (o.gflops > ours.gflops) ours = o;
      if (r.gflops > ref.gflops) ref = r;
    }
    if (Math.abs(ours.checksum - ref.checksum) > 1e-3 * Math.max(1, Math.abs(ref.checksum)))
      throw new Error(`results differ: ${ours.checksum} vs ${ref.checksum}`);
    console.log(`${label.padEnd(12)} ours ${ours.gflops.toFixed(1).padStart(7)} GFLOP/s   OpenBLAS ${ref.gflops.toFixed(1).padStart(7)} GFLOP/s   ratio ${(ours.gflops / ref.gflops).toFixed(2)}`);
  }
}
