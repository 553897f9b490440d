/**
 * RPC benchmark: 2 processes on this host, worker0 calls worker1.
 *   - latency: rpcSync of an empty function (no arguments, no result), mean round trip in us
 *   - throughput: rpcSync of a function taking one 4 MiB float32 tensor (returns nothing): MB/s of tensor bytes
 *   - echo: the same tensor sent and returned: MB/s counting both directions
 * With --compare, bench/compare/torch_rpc.py measures the same with torch.distributed.rpc
 * (TensorPipe) in the same run; the two alternate for --rounds rounds and the medians are reported.
 *
 *   node dist/bench/rpc.js [--iters 5000] [--tensor-iters 100] [--mib 4] [--rounds 3] [--transport auto|tcp]
 *                          [--compare] [--python /usr/bin/python3] [--json]
 */
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rpc } from '../lib/index.js';
import { randn, type Tensor } from '../lib/tensor/index.js';
import { findFreePort } from '../lib/cli/run.js';

interface Args { iters: number; tensorIters: number; mib: number; rounds: number; transport: string; compare: boolean; python: string; json: boolean }

function parseArgs(argv: string[]): Args {
  const a: Args = { iters: 5000, tensorIters: 100, mib: 4, rounds: 3, transport: 'auto', compare: false, python: '/usr/bin/python3', json: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k} needs a value`);
      return x;
    };
    const n = (): number => {
      const x = Number(v());
      if (!Number.isSafeInteger(x) || x < 1) throw new Error(`${k} needs a positive integer`);
      return x;
    };
    if (k === '--iters') a.iters = n();
    else if (k === '--tensor-iters') a.tensorIters = n();
    else if (k === '--mib') a.mib = n();
    else if (k === '--rounds') a.rounds = n();
    else if (k === '--transport') a.transport = v();
    else if (k === '--compare') a.compare = true;
    else if (k === '--python') a.python = v();
    else if (k === '--json') a.json = true;
    else throw new Error(`unknown argument ${k} (expected --iters N, --tensor-iters N, --mib N, --rounds N, --transport auto|tcp, --compare, --python PATH, --json)`);
  }
  if (a.transport !== 'auto' && a.transport !== 'tcp') throw new Error(`--transport must be auto or tcp, got ${a.transport}`);
  return a;
}

export interface RpcResult {
  impl: string;
  transport: string;
  /** mean round trip of an empty call, microseconds */
  latencyUs: number;
  /** tensor bytes per second of calls taking one tensor argument, MB/s (1e6) */
  argMBps: number;
  /** bytes per second, both directions, of calls returning their tensor argument, MB/s */
  echoMBps: number;
  mib: number;
}

/** One rank of the measurement (RANK set by the parent). */
async function worker(a: Args): Promise<void> {
  const rank = Number(process.env.RANK);
  rpc.register('bench.noop', () => undefined);
  rpc.register('bench.take', (t: Tensor) => {
    void t;
    return undefined;
  });
  rpc.register('bench.echo', (t: Tensor) => t);
  await rpc.initRpc({ name: `worker${rank}`, transport: a.transport as 'auto' | 'tcp', rpcTimeoutMs: 120_000 });
  if (rank === 0) {
    for (let i = 0; i < Math.min(500, a.iters); i++) await rpc.rpcSync('worker1', 'bench.noop');
    let t0 = performance.now();
    for (let i = 0; i < a.iters; i++) await rpc.rpcSync('worker1', 'bench.noop');
    const latencyUs = ((performance.now() - t0) * 1000) / a.iters;
    const x = randn([(a.mib * 2 ** 20) / 4]);
    const bytes = a.mib * 2 ** 20;
    for (let i = 0; i < 50; i++) await rpc.rpcSync('worker1', 'bench.take', [x]);
    t0 = performance.now();
    for (let i = 0; i < a.tensorIters; i++) await rpc.rpcSync('worker1', 'bench.take', [x]);
    const argMBps = (a.tensorIters * bytes) / ((performance.now() - t0) / 1000) / 1e6;
    for (let i = 0; i < 50; i++) await rpc.rpcSync('worker1', 'bench.echo', [x]);
    t0 = performance.now();
    for (let i = 0; i < a.tensorIters; i++) await rpc.rpcSync('worker1', 'bench.echo', [x]);
    const echoMBps = (2 * a.tensorIters * bytes) / ((performance.now() - t0) / 1000) / 1e6;
    const r: RpcResult = { impl: 'node-nccl', transport: a.transport === 'tcp' ? 'tcp' : 'unix socket', latencyUs, argMBps, echoMBps, mib: a.mib };
    process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
  }
  await rpc.shutdown();
}

async function ours(a: Args, argv: string[]): Promise<RpcResult> {
  const port = await findFreePort('127.0.0.1');
  const self = fileURLToPath(import.meta.url);
  const outs = [0, 1].map(
    (rank) =>
      new Promise<string>((resolve, reject) => {
        const p = spawn(process.execPath, [self, ...argv], {
          env: { ...process.env, RPC_BENCH_WORKER: '1', RANK: String(rank), WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        p.stdout.on('data', (d: Buffer) => (out += d.toString()));
        p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`rank ${rank} exited with ${code}`))));
      }),
  );
  const [out0] = await Promise.all(outs);
  const line = out0!.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`rank 0 printed no result:\n${out0}`);
  return JSON.parse(line.slice(7)) as RpcResult;
}

async function torch(a: Args): Promise<RpcResult | { skipped: string }> {
  const script = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'compare', 'torch_rpc.py');
  const port = await findFreePort('127.0.0.1');
  const r = spawnSync(a.python, [script, '--port', String(port), '--iters', String(a.iters), '--tensor-iters', String(a.tensorIters), '--mib', String(a.mib)], {
    encoding: 'utf8',
    timeout: 600_000,
  });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('{'));
  if (!line) return { skipped: `${a.python} ${script} printed no result (exit ${r.status}): ${(r.stderr ?? '').slice(-500)}` };
  return JSON.parse(line) as RpcResult | { skipped: string };
}

function median(xs: number[]): number {
  const s = [...xs].sort((p, q) => p - q);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const a = parseArgs(argv);
  if (process.env.RPC_BENCH_WORKER === '1') return worker(a);
  const runs: Record<string, RpcResult[]> = {};
  let skipped = '';
  for (let round = 0; round < a.rounds; round++) {
    const o = await ours(a, argv);
    (runs[o.impl] ??= []).push(o);
    if (a.compare) {
      const t = await torch(a);
      if ('skipped' in t) skipped = t.skipped;
      else (runs[t.impl] ??= []).push(t);
    }
  }
  const rows = Object.values(runs).map((rs) => ({
    impl: rs[0]!.impl,
    transport: rs[0]!.transport,
    mib: a.mib,
    latencyUs: median(rs.map((r) => r.latencyUs)),
    argMBps: median(rs.map((r) => r.argMBps)),
    echoMBps: median(rs.map((r) => r.echoMBps)),
    rounds: rs.length,
  }));
  if (a.json) {
    process.stdout.write(JSON.stringify({ rows, skipped: skipped || undefined }) + '\n');
    return;
  }
  console.log(`RPC between 2 processes on this host; median of ${a.rounds} round(s); ${a.iters} empty calls, ${a.tensorIters} calls per tensor row`);
  console.log(`${'impl'.padEnd(10)} ${'transport'.padEnd(18)} ${'empty call us'.padStart(14)} ${`${a.mib} MiB arg MB/s`.padStart(16)} ${`${a.mib} MiB echo MB/s`.padStart(17)}`);
  for (const r of rows) {
    console.log(`${r.impl.padEnd(10)} ${r.transport.padEnd(18)} ${r.latencyUs.toFixed(1).padStart(14)} ${r.argMBps.toFixed(0).padStart(16)} ${r.echoMBps.toFixed(0).padStart(17)}`);
  }
  const t = rows.find((r) => r.impl === 'torch');
  const o = rows.find((r) => r.impl === 'node-nccl');
  if (t && o) {
    console.log(
      `node-nccl / torch: latency ${(o.latencyUs / t.latencyUs).toFixed(2)}x (lower is better), arg throughput ${(o.argMBps / t.argMBps).toFixed(2)}x, echo ${(o.echoMBps / t.echoMBps).toFixed(2)}x (higher is better)`,
    );
  }
  if (skipped) console.log(`torch: skipped: ${skipped}`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench/rpc: ${(e as Error)?.stack ?? String(e)}\n`);
  process.exitCode = 1;
});
