/**
 * `node-nccl bench ops`: memory-bound tensor ops through the public API — element-wise add, mul,
 * gelu, softmax (last dim) and layerNorm (last dim) — reported as effective bandwidth (bytes read
 * + written per call / time), plus the host time one tiny op costs to issue (launch overhead).
 */
import { ArgumentError } from '../errors.js';
import { type BenchTensor, type LibApi, loadLib, sync } from './api.js';
import { type FlagSpec, helpText, parseFlags, parseInteger, parseSize } from './argparse.js';
import { collectEnvironment } from './env.js';
import { commandLine, writeResult } from './output.js';
import { type OpsResult, type OpsRow, SCHEMA_ID } from './schema.js';

const FLAGS: readonly FlagSpec[] = [
  { key: 'numel', long: ['numel'], meta: 'list', help: 'elements per tensor, K/M suffixes (default 1M,16M on a GPU; 256K,1M on the CPU)' },
  { key: 'ops', long: ['ops'], meta: 'list', help: 'add,mul,gelu,softmax,layerNorm (default all)' },
  { key: 'dtype', short: 'd', long: ['dtype'], meta: 'dtype', help: 'float32|float16|bfloat16 (default float32)' },
  { key: 'device', long: ['device'], meta: 'cpu|cuda', help: 'where to run (default cuda with a GPU, else cpu)' },
  { key: 'row', long: ['row'], meta: 'n', help: 'row length of softmax/layerNorm (default 1024)' },
  { key: 'iters', short: 'n', long: ['iters'], meta: 'n', help: 'timed calls per op (default 50)' },
  { key: 'warmup', short: 'w', long: ['warmup_iters', 'warmup-iters'], meta: 'n', help: 'warm-up calls (default 5)' },
  { key: 'json', long: ['json'], meta: 'file', help: 'write the results as JSON' },
  { key: 'help', short: 'h', long: ['help'], boolean: true, help: 'this help' },
];

export const OP_NAMES = ['add', 'mul', 'gelu', 'softmax', 'layerNorm'] as const;
export type OpName = (typeof OP_NAMES)[number];

/** Tensors of `numel` elements each op reads and writes (the minimum traffic it must move). */
export const TRAFFIC: Record<OpName, number> = { add: 3, mul: 3, gelu: 2, softmax: 2, layerNorm: 2 };

export interface OpsOptions {
  numels: number[] | null;
  ops: OpName[];
  dtype: string;
  device: 'cpu' | 'cuda' | null;
  row: number;
  iters: number;
  warmup: number;
  json?: string;
}

export function parseOpsArgs(argv: readonly string[]): OpsOptions {
  const { values, positionals } = parseFlags(argv, FLAGS, 'bench ops');
  if (positionals.length) throw new ArgumentError(`bench ops: unexpected argument '${positionals[0]}'`);
  const ops = (values.get('ops') ?? OP_NAMES.join(',')).split(',').map((s) => {
    const n = OP_NAMES.find((o) => o.toLowerCase() === s.trim().toLowerCase());
    if (!n) throw new ArgumentError(`--ops ${s}: unknown op (expected ${OP_NAMES.join(', ')})`);
    return n;
  });
  const dtype = values.get('dtype') ?? 'float32';
  if (!['float32', 'float16', 'bfloat16'].includes(dtype)) throw new ArgumentError(`-d ${dtype}: ops runs float32, float16 or bfloat16`, 'ERR_DTYPE');
  const device = values.get('device');
  if (device !== undefined && device !== 'cpu' && device !== 'cuda') throw new ArgumentError(`--device ${device}: expected cpu or cuda`);
  const row = values.has('row') ? parseInteger('--row', values.get('row')!, 1, 1 << 24) : 1024;
  const numels = values.has('numel')
    ? values.get('numel')!.split(',').map((s) => {
        const v = parseSize('--numel', s);
        if (v < row || v % row) throw new ArgumentError(`--numel ${s}: must be a positive multiple of the row length ${row}`);
        return v;
      })
    : null;
  const o: OpsOptions = {
    numels,
    ops,
    dtype,
    device: (device as 'cpu' | 'cuda' | undefined) ?? null,
    row,
    iters: values.has('iters') ? parseInteger('-n', values.get('iters')!, 1, 1e6) : 50,
    warmup: values.has('warmup') ? parseInteger('-w', values.get('warmup')!, 0, 1e6) : 5,
  };
  if (values.has('json')) o.json = values.get('json')!;
  return o;
}

function opFn(lib: LibApi, op: OpName, x: BenchTensor, y: BenchTensor, row: number): () => BenchTensor {
  switch (op) {
    case 'add':
      return () => x.add(y);
    case 'mul':
      return () => x.mul(y);
    case 'gelu':
      return () => x.gelu();
    case 'softmax':
      return () => x.softmax(-1);
    case 'layerNorm': {
      const ln = lib.nn?.functional?.layerNorm;
      if (!ln) throw new ArgumentError('layerNorm: nn.functional.layerNorm is not in this build');
      return () => ln(x, [row]);
    }
  }
}

async function timeCalls(lib: LibApi, device: string, fn: () => BenchTensor, iters: number, warmup: number): Promise<number> {
  for (let i = 0; i < warmup; i++) fn().dispose();
  await sync(lib, device);
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) fn().dispose();
  await sync(lib, device);
  return (performance.now() - t0) / 1e3 / iters;
}

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(helpText('usage: node-nccl bench ops [options]', FLAGS));
    return 0;
  }
  const o = parseOpsArgs(argv);
  const lib = await loadLib('ops', ['randn', ...(o.ops.includes('layerNorm') ? ['nn.functional.layerNorm'] : [])]);
  const gpus = lib.cuda ? (() => { try { return lib.cuda!.deviceCount(); } catch { return 0; } })() : 0;
  const device = o.device ?? (gpus > 0 ? 'cuda' : 'cpu');
  if (device === 'cuda' && gpus === 0) throw new ArgumentError('--device cuda: no GPU is visible (cuda.deviceCount() is 0)', 'ERR_NO_GPU');
  const devName = device === 'cuda' ? 'cuda:0' : 'cpu';
  const numels = o.numels ?? (device === 'cuda' ? [1 << 20, 1 << 24] : [1 << 18, 1 << 20]);
  const esize = o.dtype === 'float32' ? 4 : 2;
  const out = (s: string): void => void process.stdout.write(s + '\n');
  out(`# ops on ${devName}, ${o.dtype}, rows of ${o.row} for softmax/layerNorm, ${o.iters} calls after ${o.warmup} warm-up`);
  out(`#${'op'.padStart(11)} ${'numel'.padStart(11)} ${'time(us)'.padStart(11)} ${'GB/s'.padStart(9)}`);
  const rows: OpsRow[] = [];
  for (const numel of numels) {
    const x = lib.randn([numel / o.row, o.row], { dtype: o.dtype, device: devName });
    const y = lib.randn([numel / o.row, o.row], { dtype: o.dtype, device: devName });
    try {
      for (const op of o.ops) {
        const sec = await timeCalls(lib, devName, opFn(lib, op, x, y, o.row), o.iters, o.warmup);
        const bytes = TRAFFIC[op] * numel * esize;
        const row: OpsRow = { op, numel, dtype: o.dtype, device: devName, bytes, timeUs: sec * 1e6, bandwidth: bytes / sec / 1e9 };
        rows.push(row);
        out(` ${op.padStart(11)} ${String(numel).padStart(11)} ${row.timeUs.toFixed(2).padStart(11)} ${row.bandwidth.toFixed(2).padStart(9)}`);
      }
    } finally {
      x.dispose();
      y.dispose();
    }
  }
  // Launch overhead: host time to issue one add of 1-element tensors (queued, not waited, on a GPU).
  const a = lib.randn([1], { dtype: o.dtype, device: devName });
  const b = lib.randn([1], { dtype: o.dtype, device: devName });
  // Steady state: V8 optimizes the call path only after a few thousand calls.
  const n = 20000;
  for (let i = 0; i < 5000; i++) a.add(b).dispose();
  await sync(lib, devName);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) a.add(b).dispose();
  const issueUs = ((performance.now() - t0) * 1e3) / n;
  await sync(lib, devName);
  a.dispose();
  b.dispose();
  out(`# host overhead per launch (add of 1 element, ${n} calls): ${issueUs.toFixed(2)} us`);
  if (o.json) {
    const result: OpsResult = {
      schema: SCHEMA_ID,
      kind: 'ops',
      benchmark: 'ops',
      tool: 'node-nccl',
      label: `node-nccl ops ${devName}`,
      createdAt: new Date().toISOString(),
      command: { argv: ['bench', 'ops', ...argv], line: commandLine(['bench', 'ops', ...argv]) },
      environment: await collectEnvironment({ useGpu: device === 'cuda' }),
      config: { iters: o.iters, warmupIters: o.warmup },
      rows,
      launchOverheadUs: { [devName]: issueUs },
    };
    out(`# Results written to ${writeResult(o.json, result)}`);
  }
  return 0;
}
