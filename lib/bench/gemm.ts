/**
 * `node-nccl bench gemm`: C = A·B through Tensor.matmul (cuBLAS on a GPU, the host BLAS on the CPU)
 * for the shapes and dtypes given, with TF32 on and/or off, reporting time and TFLOP/s (2·M·N·K
 * floating-point operations per product).
 */
import { ArgumentError } from '../errors.js';
import { type LibApi, loadLib, sync } from './api.js';
import { type FlagSpec, helpText, parseFlags, parseInteger } from './argparse.js';
import { collectEnvironment } from './env.js';
import { commandLine, writeResult } from './output.js';
import { type GemmResult, type GemmRow, SCHEMA_ID } from './schema.js';

const FLAGS: readonly FlagSpec[] = [
  { key: 'shapes', long: ['shapes'], meta: 'MxNxK,...', help: 'problem shapes (default 1024,2048,4096 cubes on a GPU; 256,512,1024 on the CPU)' },
  { key: 'dtype', short: 'd', long: ['dtype'], meta: 'list', help: 'float32,float16,bfloat16,float64 (default float32)' },
  { key: 'tf32', long: ['tf32'], meta: 'on|off|both', help: 'TF32 tensor cores for float32 on a GPU (default both; the CPU has none: off)' },
  { key: 'device', long: ['device'], meta: 'cpu|cuda', help: 'where to run (default cuda with a GPU, else cpu)' },
  { key: 'iters', short: 'n', long: ['iters'], meta: 'n', help: 'timed products per shape (default 20)' },
  { key: 'warmup', short: 'w', long: ['warmup_iters', 'warmup-iters'], meta: 'n', help: 'warm-up products (default 3)' },
  { key: 'json', long: ['json'], meta: 'file', help: 'write the results as JSON' },
  { key: 'help', short: 'h', long: ['help'], boolean: true, help: 'this help' },
];

export interface GemmOptions {
  shapes: [number, number, number][] | null;
  dtypes: string[];
  tf32: ('on' | 'off')[];
  device: 'cpu' | 'cuda' | null;
  iters: number;
  warmup: number;
  json?: string;
}

const GEMM_DTYPES = ['float32', 'float16', 'bfloat16', 'float64'];

export function parseShapes(v: string): [number, number, number][] {
  return v.split(',').map((s) => {
    const parts = s.trim().toLowerCase().split('x');
    if (parts.length === 1) parts.push(parts[0]!, parts[0]!);
    if (parts.length !== 3) throw new ArgumentError(`--shapes ${v}: '${s}' is not MxNxK (or a single N for NxNxN)`);
    return parts.map((p) => parseInteger('--shapes', p, 1, 1 << 20)) as [number, number, number];
  });
}

export function parseGemmArgs(argv: readonly string[]): GemmOptions {
  const { values, positionals } = parseFlags(argv, FLAGS, 'bench gemm');
  if (positionals.length) throw new ArgumentError(`bench gemm: unexpected argument '${positionals[0]}'`);
  const dtypes = (values.get('dtype') ?? 'float32').split(',').map((d) => {
    const n = { float: 'float32', half: 'float16', double: 'float64', bf16: 'bfloat16', fp16: 'float16' }[d.trim()] ?? d.trim();
    if (!GEMM_DTYPES.includes(n)) throw new ArgumentError(`-d ${d}: gemm runs ${GEMM_DTYPES.join(', ')}`, 'ERR_DTYPE');
    return n;
  });
  const tf = values.get('tf32') ?? 'both';
  if (!['on', 'off', 'both'].includes(tf)) throw new ArgumentError(`--tf32 ${tf}: expected on, off or both`);
  const device = values.get('device');
  if (device !== undefined && device !== 'cpu' && device !== 'cuda') throw new ArgumentError(`--device ${device}: expected cpu or cuda`);
  const opts: GemmOptions = {
    shapes: values.has('shapes') ? parseShapes(values.get('shapes')!) : null,
    dtypes,
    tf32: tf === 'both' ? ['off', 'on'] : [tf as 'on' | 'off'],
    device: (device as 'cpu' | 'cuda' | undefined) ?? null,
    iters: values.has('iters') ? parseInteger('-n', values.get('iters')!, 1, 1e6) : 20,
    warmup: values.has('warmup') ? parseInteger('-w', values.get('warmup')!, 0, 1e6) : 3,
  };
  if (values.has('json')) opts.json = values.get('json')!;
  return opts;
}

async function timeMatmul(lib: LibApi, m: number, n: number, k: number, dtype: string, device: string, o: GemmOptions): Promise<number> {
  const a = lib.randn([m, k], { dtype, device });
  const b = lib.randn([k, n], { dtype, device });
  try {
    for (let i = 0; i < o.warmup; i++) a.matmul(b).dispose();
    await sync(lib, device);
    const t0 = performance.now();
    for (let i = 0; i < o.iters; i++) a.matmul(b).dispose();
    await sync(lib, device);
    return (performance.now() - t0) / 1e3 / o.iters;
  } finally {
    a.dispose();
    b.dispose();
  }
}

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(helpText('usage: node-nccl bench gemm [options]', FLAGS));
    return 0;
  }
  const o = parseGemmArgs(argv);
  const lib = await loadLib('gemm', ['randn']);
  const gpus = lib.cuda ? (() => { try { return lib.cuda!.deviceCount(); } catch { return 0; } })() : 0;
  const device = o.device ?? (gpus > 0 ? 'cuda' : 'cpu');
  if (device === 'cuda' && gpus === 0) throw new ArgumentError('--device cuda: no GPU is visible (cuda.deviceCount() is 0)', 'ERR_NO_GPU');
  const devName = device === 'cuda' ? 'cuda:0' : 'cpu';
  const shapes = o.shapes ?? (device === 'cuda' ? [[1024, 1024, 1024], [2048, 2048, 2048], [4096, 4096, 4096]] : [[256, 256, 256], [512, 512, 512], [1024, 1024, 1024]]);
  const rows: GemmRow[] = [];
  const out = (s: string): void => void process.stdout.write(s + '\n');
  out(`# gemm on ${devName}: C[M,N] = A[M,K] B[K,N], ${o.iters} iterations after ${o.warmup} warm-up`);
  out(`#${'M'.padStart(7)} ${'N'.padStart(7)} ${'K'.padStart(7)} ${'dtype'.padStart(9)} ${'tf32'.padStart(5)} ${'time(us)'.padStart(11)} ${'TFLOP/s'.padStart(9)}`);
  const prevTf32 = lib.cuda?.matmulAllowTf32 ?? false;
  try {
    for (const [m, n, k] of shapes as [number, number, number][]) {
      for (const dtype of o.dtypes) {
        const modes = device === 'cuda' && dtype === 'float32' ? o.tf32 : (['off'] as const);
        for (const tf of new Set(modes)) {
          if (lib.cuda && device === 'cuda') lib.cuda.matmulAllowTf32 = tf === 'on';
          const sec = await timeMatmul(lib, m, n, k, dtype, devName, o);
          const row: GemmRow = { m, n, k, dtype, tf32: tf === 'on', device: devName, timeUs: sec * 1e6, tflops: (2 * m * n * k) / sec / 1e12 };
          rows.push(row);
          out(` ${String(m).padStart(7)} ${String(n).padStart(7)} ${String(k).padStart(7)} ${dtype.padStart(9)} ${tf.padStart(5)} ${row.timeUs.toFixed(1).padStart(11)} ${row.tflops.toFixed(3).padStart(9)}`);
        }
      }
    }
  } finally {
    if (lib.cuda && device === 'cuda') lib.cuda.matmulAllowTf32 = prevTf32;
  }
  if (o.json) {
    const result: GemmResult = {
      schema: SCHEMA_ID,
      kind: 'gemm',
      benchmark: 'gemm',
      tool: 'node-nccl',
      label: `node-nccl matmul ${devName}`,
      createdAt: new Date().toISOString(),
      command: { argv: ['bench', 'gemm', ...argv], line: commandLine(['bench', 'gemm', ...argv]) },
      environment: await collectEnvironment({ useGpu: device === 'cuda' }),
      config: { iters: o.iters, warmupIters: o.warmup },
      rows,
    };
    out(`# Results written to ${writeResult(o.json, result)}`);
  }
  return 0;
}
