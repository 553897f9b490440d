/**
 * All-reduce on the cpu backend through the public API (dist.allReduce on float32 Tensors), 2+
 * ranks on this host, sizes 8 B .. 16 MiB: time per op, algbw and busbw (nccl-tests' definitions:
 * busbw = algbw * 2 (n-1) / n), plus the latency of one awaited 8-byte all-reduce.
 *
 *   node dist/bench/cpu-allreduce.js [--np 2] [-b 8] [-e 16M] [-n 50] [-w 10] [--memory library|caller|both]
 *
 * --memory: `library` (default) reduces tensors the library allocated (SharedArrayBuffer memory,
 * used in place); `caller` tensors over the caller's own ArrayBuffer (copied in and out by the
 * backend, see cpp/cpu_comm_napi.cc); `both` runs the two, one after the other, in the same run.
 *
 * Without RANK in the environment it starts --np copies of itself (ranks) and prints rank 0's
 * table. Two timings per size: "pipelined" issues n ops back to back and awaits the last (as
 * nccl-tests times GPU collectives: the host does not wait between ops); "awaited" awaits each op
 * before issuing the next (the latency a JS caller sees per round trip). Compare with
 * bench/compare/mpi_allreduce.c (`bash bench/compare/run-mpi.sh`).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dist, tensor, zeros } from '../lib/index.js';

export interface CpuAllReduceRow {
  bytes: number;
  pipelinedUs: number;
  awaitedUs: number;
  busbwGBs: number;
}

function parseSize(s: string): number {
  const m = /^(\d+)([KMG]?)$/i.exec(s);
  if (!m) throw new Error(`bad size ${s}`);
  return Number(m[1]) * ({ '': 1, K: 1024, M: 1 << 20, G: 1 << 30 } as Record<string, number>)[m[2]!.toUpperCase()]!;
}

function arg(argv: string[], name: string, dflt: string): string {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt;
}

/** Runs on every rank of an initialized cpu group; returns the rows (rank 0's times matter). */
export async function benchCpuAllReduce(opts: {
  minBytes: number;
  maxBytes: number;
  iters: number;
  warmup: number;
  /** Whose memory the tensors are in (default 'library'). */
  memory?: 'library' | 'caller';
}): Promise<CpuAllReduceRow[]> {
  const n = dist.getWorldSize();
  const rows: CpuAllReduceRow[] = [];
  for (let bytes = opts.minBytes; bytes <= opts.maxBytes; bytes *= 2) {
    const n4 = Math.max(1, bytes / 4);
    const t = opts.memory === 'caller' ? tensor(new Float32Array(n4)) : zeros([n4]);
    const iters = bytes >= 4 << 20 ? Math.max(5, opts.iters >> 2) : opts.iters;
    for (let i = 0; i < opts.warmup; i++) await dist.allReduce(t);
    await dist.barrier();
    let t0 = process.hrtime.bigint();
    const works = [];
    for (let i = 0; i < iters; i++) works.push(dist.allReduce(t));
    await Promise.all(works);
    const pipelinedUs = Number(process.hrtime.bigint() - t0) / 1e3 / iters;
    await dist.barrier();
    t0 = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) await dist.allReduce(t);
    const awaitedUs = Number(process.hrtime.bigint() - t0) / 1e3 / iters;
    const algbw = bytes / (pipelinedUs * 1e3);
    rows.push({ bytes, pipelinedUs, awaitedUs, busbwGBs: (algbw * 2 * (n - 1)) / n });
  }
  return rows;
}

async function rankMain(argv: string[]): Promise<void> {
  await dist.initProcessGroup({ backend: 'cpu' });
  const memory = arg(argv, '--memory', 'library');
  if (!['library', 'caller', 'both'].includes(memory)) throw new Error(`--memory must be library, caller or both, got ${memory}`);
  for (const m of memory === 'both' ? (['library', 'caller'] as const) : [memory as 'library' | 'caller']) {
    const rows = await benchCpuAllReduce({
      minBytes: parseSize(arg(argv, '-b', '8')),
      maxBytes: parseSize(arg(argv, '-e', '16M')),
      iters: Number(arg(argv, '-n', '50')),
      warmup: Number(arg(argv, '-w', '10')),
      memory: m,
    });
    if (dist.getRank() === 0) {
      const what = m === 'library' ? 'library memory, in place' : "a caller's ArrayBuffer, staged";
      console.log(`# node-nccl cpu backend all-reduce (float32 sum, in place; ${what}), ${dist.getWorldSize()} ranks`);
      console.log('#   bytes   pipelined(us)  awaited(us)  busbw(GB/s)');
      for (const r of rows) {
        console.log(`${String(r.bytes).padStart(9)} ${r.pipelinedUs.toFixed(2).padStart(14)} ${r.awaitedUs.toFixed(2).padStart(12)} ${r.busbwGBs.toFixed(3).padStart(12)}`);
      }
      console.log(`# JSON ${JSON.stringify(rows)}`);
    }
  }
  await dist.destroyProcessGroup();
}

async function launch(argv: string[]): Promise<void> {
  const np = Number(arg(argv, '--np', '2'));
  const port = 29500 + Math.floor(Math.random() * 20000);
  const self = fileURLToPath(import.meta.url);
  const codes = await Promise.all(
    Array.from({ length: np }, (_, rank) =>
      new Promise<number>((resolve) => {
        const p = spawn(process.execPath, [self, ...argv], {
          env: { ...process.env, RANK: String(rank), WORLD_SIZE: String(np), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) },
          stdio: rank === 0 ? 'inherit' : ['ignore', 'ignore', 'inherit'],
        });
        p.on('close', (c) => resolve(c ?? 1));
      }),
    ),
  );
  process.exitCode = codes.some((c) => c !== 0) ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const argv = process.argv.slice(2);
  await (process.env.RANK === undefined ? launch(argv) : rankMain(argv));
}
