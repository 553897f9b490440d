/**
 * `node-nccl bench conv`: nn.functional.conv2d (and max pooling) through the public API, forward
 * and forward + backward (input, weight and bias gradients), on LeNet-5 and ResNet shapes, with
 * PyTorch timed on the same shapes, dtype, device and thread count in the same run when a Python
 * with torch is found (--python, NODE_NCCL_PYTHON, python3, /usr/bin/python3; --torch off skips
 * it). GFLOP/s of the training step: 2·N·out·(in/groups)·kh·kw·oh·ow for the forward, twice that for
 * the backward.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { ArgumentError, UnsupportedError } from '../errors.js';
import { type BenchTensor, type LibApi, loadLib, sync } from './api.js';
import { type FlagSpec, helpText, parseFlags, parseInteger } from './argparse.js';
import { collectEnvironment } from './env.js';
import { commandLine, writeResult } from './output.js';
import { type ConvResult, type ConvRow, SCHEMA_ID } from './schema.js';


/** One benchmark case: a convolution (kind 'conv') or a max pooling of its input (kind 'maxpool'). */
export interface ConvCase {
  name: string;
  kind: 'conv' | 'maxpool';
  /** input [n, c, h, w] */
  input: [number, number, number, number];
  /** conv: out channels, kernel, stride, padding, groups; maxpool: kernel and stride */
  outC: number;
  kernel: number;
  stride: number;
  padding: number;
  groups: number;
  /** only run where a GPU is */
  gpuOnly: boolean;
}

const c = (name: string, input: ConvCase['input'], outC: number, kernel: number, stride: number, padding: number, gpuOnly = false, groups = 1): ConvCase =>
  ({ name, kind: 'conv', input, outC, kernel, stride, padding, groups, gpuOnly });

export const CASES: readonly ConvCase[] = [
  c('lenet-conv1', [64, 1, 28, 28], 6, 5, 1, 2),
  c('lenet-conv2', [64, 6, 14, 14], 16, 5, 1, 0),
  { name: 'lenet-pool', kind: 'maxpool', input: [64, 6, 28, 28], outC: 6, kernel: 2, stride: 2, padding: 0, groups: 1, gpuOnly: false },
  c('resnet-3x3', [8, 64, 56, 56], 64, 3, 1, 1),
  c('resnet-1x1', [8, 256, 28, 28], 128, 1, 1, 0),
  c('depthwise-3x3', [8, 128, 28, 28], 128, 3, 1, 1, false, 128),
  c('resnet-stem', [32, 3, 224, 224], 64, 7, 2, 3, true),
  c('resnet-3x3-b32', [32, 128, 28, 28], 128, 3, 1, 1, true),
];
function CASE_NAMES(): string {
  return CASES.map((x) => x.name).join(',');
}

const FLAGS: readonly FlagSpec[] = [
  { key: 'cases', long: ['cases'], meta: 'list', help: `${CASE_NAMES()} (default: all but the GPU-sized ones on the CPU)` },
  { key: 'batch', short: 'b', long: ['batch'], meta: 'n', help: "the batch size of every case (default each case's own)" },
  { key: 'dtype', short: 'd', long: ['dtype'], meta: 'dtype', help: 'float32|float16|bfloat16|float64 (default float32)' },
  { key: 'device', long: ['device'], meta: 'cpu|cuda', help: 'where to run (default cuda with a GPU, else cpu)' },
  { key: 'iters', short: 'n', long: ['iters'], meta: 'n', help: 'timed calls per case (default 20)' },
  { key: 'warmup', short: 'w', long: ['warmup_iters', 'warmup-iters'], meta: 'n', help: 'warm-up calls (default 3)' },
  { key: 'torch', long: ['torch'], meta: 'on|off', help: 'time PyTorch on the same cases in this run (default on: skipped, saying why, without torch)' },
  { key: 'python', long: ['python'], meta: 'path', help: 'the Python with torch (default NODE_NCCL_PYTHON, then python3, then /usr/bin/python3)' },
  { key: 'json', long: ['json'], meta: 'file', help: 'write the results as JSON' },
  { key: 'help', short: 'h', long: ['help'], boolean: true, help: 'this help' },
];

export interface ConvOptions {
  cases: ConvCase[] | null;
  batch: number | null;
  dtype: string;
  device: 'cpu' | 'cuda' | null;
  iters: number;
  warmup: number;
  torch: boolean;
  python: string | null;
  json?: string;
}

export function parseConvArgs(argv: readonly string[]): ConvOptions {
  const { values, positionals } = parseFlags(argv, FLAGS, 'bench conv');
  if (positionals.length) throw new ArgumentError(`bench conv: unexpected argument '${positionals[0]}'`);
  const cases = values.has('cases')
    ? values.get('cases')!.split(',').map((s) => {
        const k = CASES.find((x) => x.name === s.trim());
        if (!k) throw new ArgumentError(`--cases ${s}: unknown case (expected ${CASE_NAMES()})`);
        return k;
      })
    : null;
  const dtype = values.get('dtype') ?? 'float32';
  if (!['float32', 'float16', 'bfloat16', 'float64'].includes(dtype)) throw new ArgumentError(`-d ${dtype}: conv runs float32, float16, bfloat16 or float64`, 'ERR_DTYPE');
  const device = values.get('device');
  if (device !== undefined && device !== 'cpu' && device !== 'cuda') throw new ArgumentError(`--device ${device}: expected cpu or cuda`);
  const torch = values.get('torch') ?? 'on';
  if (torch !== 'on' && torch !== 'off') throw new ArgumentError(`--torch ${torch}: expected on or off`);
  const o: ConvOptions = {
    cases,
    batch: values.has('batch') ? parseInteger('--batch', values.get('batch')!, 1, 1 << 16) : null,
    dtype,
    device: (device as 'cpu' | 'cuda' | undefined) ?? null,
    iters: values.has('iters') ? parseInteger('-n', values.get('iters')!, 1, 1e6) : 20,
    warmup: values.has('warmup') ? parseInteger('-w', values.get('warmup')!, 0, 1e6) : 3,
    torch: torch === 'on',
    python: values.get('python') ?? null,
  };
  if (values.has('json')) o.json = values.get('json')!;
  return o;
}

/** The output size of a case (conv or pool, floor mode). */
export function outputShape(k: ConvCase): [number, number, number, number] {
  const [n, , h, w] = k.input;
  const pad = k.kind === 'conv' ? k.padding : 0;
  const oh = Math.floor((h + 2 * pad - k.kernel) / k.stride) + 1;
  const ow = Math.floor((w + 2 * pad - k.kernel) / k.stride) + 1;
  return [n, k.kind === 'conv' ? k.outC : k.input[1], oh, ow];
}

/** Forward floating-point operations of a case (a max pooling: one comparison per window element). */
export function forwardFlops(k: ConvCase): number {
  const [n, oc, oh, ow] = outputShape(k);
  if (k.kind === 'maxpool') return n * oc * oh * ow * k.kernel * k.kernel;
  return 2 * n * oc * (k.input[1] / k.groups) * k.kernel * k.kernel * oh * ow;
}

interface ConvLib extends LibApi {
  nn: { functional: {
    layerNorm?(x: BenchTensor, normalizedShape: number[]): BenchTensor;
    conv2d(x: BenchTensor, w: BenchTensor, b: BenchTensor | null, o: object): ConvTensor;
    maxPool2d(x: BenchTensor, k: number, o: object): ConvTensor;
  } };
}
interface ConvTensor extends BenchTensor {
  requiresGrad_(on?: boolean): ConvTensor;
  sum(): ConvTensor;
  backward(): void;
  grad: ConvTensor | null;
}

async function timeIt(lib: LibApi, device: string, fn: () => void, iters: number, warmup: number): Promise<number> {
  for (let i = 0; i < warmup; i++) fn();
  await sync(lib, device);
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) fn();
  await sync(lib, device);
  return (performance.now() - t0) / iters;
}

async function runOurs(lib: ConvLib, k: ConvCase, dtype: string, device: string, o: ConvOptions): Promise<{ fwd: number; train: number }> {
  const F = lib.nn.functional;
  const x = lib.randn(k.input, { dtype, device }) as ConvTensor;
  const w = lib.randn([k.outC, k.input[1] / k.groups, k.kernel, k.kernel], { dtype, device }) as ConvTensor;
  const b = lib.randn([k.outC], { dtype, device }) as ConvTensor;
  const forward = (): ConvTensor => (k.kind === 'conv'
    ? F.conv2d(x, w, b, { stride: k.stride, padding: k.padding, groups: k.groups })
    : F.maxPool2d(x, k.kernel, { stride: k.stride }));
  try {
    const fwd = await timeIt(lib, device, () => lib.noGrad!(() => forward().dispose()), o.iters, o.warmup);
    x.requiresGrad_(true);
    w.requiresGrad_(true);
    b.requiresGrad_(true);
    const train = await timeIt(lib, device, () => {
      const y = forward();
      const s = y.sum();
      s.backward();
      for (const t of [x, w, b]) {
        t.grad?.dispose();
        t.grad = null;
      }
      s.dispose();
      y.dispose();
    }, o.iters, o.warmup);
    return { fwd, train };
  } finally {
    for (const t of [x, w, b]) t.dispose();
  }
}

/** The PyTorch side: the same cases, timed the same way, as JSON on stdout. */
const TORCH_SCRIPT = String.raw`
import json, sys, time, torch
import torch.nn.functional as F
cfg = json.loads(sys.argv[1])
torch.set_num_threads(cfg['threads'])
dev = torch.device(cfg['device'])
dt = getattr(torch, cfg['dtype'])
def sync():
    if dev.type == 'cuda': torch.cuda.synchronize()
def timeit(fn):
    for _ in range(cfg['warmup']): fn()
    sync(); t0 = time.perf_counter()
    for _ in range(cfg['iters']): fn()
    sync(); return (time.perf_counter() - t0) / cfg['iters'] * 1e3
rows = []
for k in cfg['cases']:
    n, c, h, w = k['input']
    x = torch.randn(n, c, h, w, device=dev, dtype=dt)
    wt = torch.randn(k['outC'], c // k['groups'], k['kernel'], k['kernel'], device=dev, dtype=dt)
    b = torch.randn(k['outC'], device=dev, dtype=dt)
    if k['kind'] == 'conv':
        fwd = lambda: F.conv2d(x, wt, b, stride=k['stride'], padding=k['padding'], groups=k['groups'])
    else:
        fwd = lambda: F.max_pool2d(x, k['kernel'], stride=k['stride'])
    with torch.no_grad():
        tf = timeit(fwd)
    for t in (x, wt, b): t.requires_grad_(True)
    def train():
        fwd().sum().backward()
        for t in (x, wt, b): t.grad = None
    rows.append({'name': k['name'], 'fwdMs': tf, 'trainMs': timeit(train)})
print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads(), 'mkldnn': torch.backends.mkldnn.is_available(), 'rows': rows}))
`;

interface TorchRun {
  torch: string;
  threads: number;
  mkldnn: boolean;
  rows: { name: string; fwdMs: number; trainMs: number }[];
}

function findPython(o: ConvOptions): { python: string | null; why: string } {
  const tried: string[] = [];
  const candidates = o.python ? [o.python] : [process.env.NODE_NCCL_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => !!p);
  for (const p of candidates) {
    const r = spawnSync(p, ['-c', 'import torch'], { encoding: 'utf8', timeout: 60_000 });
    if (r.status === 0) return { python: p, why: '' };
    tried.push(`${p}: ${r.error ? r.error.message : (r.stderr || '').trim().split('\n').pop()}`);
  }
  return { python: null, why: `no Python with torch (${tried.join('; ')})` };
}

function runTorch(python: string, cases: ConvCase[], dtype: string, device: string, threads: number, o: ConvOptions): TorchRun {
  const cfg = { cases, dtype, device, threads, iters: o.iters, warmup: o.warmup };
  const r = spawnSync(python, ['-c', TORCH_SCRIPT, JSON.stringify(cfg)], { encoding: 'utf8', timeout: 1_800_000, maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new UnsupportedError(`bench conv: the PyTorch run failed (${python}): ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-3).join(' / ')}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as TorchRun;
}

/** The intra-op thread count node-nccl's host kernels use (NODE_NCCL_CPU_THREADS, else every core). */
export function hostThreads(): number {
  const v = Number(process.env.NODE_NCCL_CPU_THREADS);
  if (Number.isInteger(v) && v >= 1) return v;
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(helpText('usage: node-nccl bench conv [options]', FLAGS));
    return 0;
  }
  const o = parseConvArgs(argv);
  const lib = (await loadLib('conv', ['randn', 'noGrad', 'nn.functional.conv2d', 'nn.functional.maxPool2d'])) as unknown as ConvLib;
  const gpus = lib.cuda ? (() => { try { return lib.cuda!.deviceCount(); } catch { return 0; } })() : 0;
  const device = o.device ?? (gpus > 0 ? 'cuda' : 'cpu');
  if (device === 'cuda' && gpus === 0) throw new ArgumentError('--device cuda: no GPU is visible (cuda.deviceCount() is 0)', 'ERR_NO_GPU');
  const devName = device === 'cuda' ? 'cuda:0' : 'cpu';
  const cases = (o.cases ?? CASES.filter((k) => device === 'cuda' || !k.gpuOnly)).map((k) =>
    (o.batch ? { ...k, input: [o.batch, ...k.input.slice(1)] as ConvCase['input'] } : k));
  const threads = hostThreads();
  const out = (s: string): void => void process.stdout.write(s + '\n');
  let torchRun: TorchRun | null = null;
  let torchNote = 'off (--torch off)';
  if (o.torch) {
    const { python, why } = findPython(o);
    if (python) {
      torchRun = runTorch(python, cases, o.dtype, devName, threads, o);
      torchNote = `torch ${torchRun.torch} (${python}), ${torchRun.threads} thread${torchRun.threads === 1 ? '' : 's'}${device === 'cpu' ? `, mkldnn ${torchRun.mkldnn ? 'on' : 'off'}` : ''}`;
    } else {
      torchNote = `skipped: ${why}`;
    }
  }
  out(`# conv on ${devName}, ${o.dtype}, ${o.iters} calls after ${o.warmup} warm-up; node-nccl ${device === 'cpu' ? `${threads} thread${threads === 1 ? '' : 's'}` : 'cuBLAS'}; PyTorch: ${torchNote}`);
  out('# fwd: forward only (noGrad); train: forward + sum + backward (input, weight, bias gradients); vs torch: torch time / node-nccl time (> 1: node-nccl is faster)');
  out(`#${'case'.padStart(15)} ${'input'.padStart(17)} ${'out'.padStart(5)} ${'k/s/p/g'.padStart(9)} ${'fwd(ms)'.padStart(9)} ${'train(ms)'.padStart(10)} ${'GFLOP/s'.padStart(8)} ${'torch fwd'.padStart(10)} ${'torch train'.padStart(12)} ${'vs torch fwd'.padStart(13)} ${'train'.padStart(6)}`);
  const rows: ConvRow[] = [];
  for (const k of cases) {
    const { fwd, train } = await runOurs(lib, k, o.dtype, devName, o);
    const t = torchRun?.rows.find((r) => r.name === k.name) ?? null;
    const flops = forwardFlops(k);
    const row: ConvRow = {
      case: k.name, kind: k.kind, input: [...k.input], outChannels: outputShape(k)[1], kernel: k.kernel, stride: k.stride,
      padding: k.padding, groups: k.groups, dtype: o.dtype, device: devName, fwdMs: fwd, trainMs: train,
      gflops: k.kind === 'conv' ? (3 * flops) / (train * 1e6) : null, torchFwdMs: t?.fwdMs ?? null, torchTrainMs: t?.trainMs ?? null,
    };
    rows.push(row);
    const f = (v: number | null, w: number, d = 3): string => (v === null ? '-' : v.toFixed(d)).padStart(w);
    out(` ${k.name.padStart(15)} ${k.input.join('x').padStart(17)} ${String(row.outChannels).padStart(5)} ${`${k.kernel}/${k.stride}/${k.padding}/${k.groups}`.padStart(9)} ${f(fwd, 9)} ${f(train, 10)} ${f(row.gflops, 8, 1)} ${f(row.torchFwdMs, 10)} ${f(row.torchTrainMs, 12)} ${f(t ? t.fwdMs / fwd : null, 13, 2)} ${f(t ? t.trainMs / train : null, 6, 2)}`);
  }
  if (o.json) {
    const result: ConvResult = {
      schema: SCHEMA_ID,
      kind: 'conv',
      benchmark: 'conv',
      tool: 'node-nccl',
      label: `node-nccl conv ${devName}`,
      createdAt: new Date().toISOString(),
      command: { argv: ['bench', 'conv', ...argv], line: commandLine(['bench', 'conv', ...argv]) },
      environment: await collectEnvironment({ useGpu: device === 'cuda' }),
      config: { iters: o.iters, warmupIters: o.warmup, threads, torch: torchRun ? `${torchRun.torch}, ${torchRun.threads} threads` : null },
      rows,
    };
    out(`# Results written to ${writeResult(o.json, result)}`);
  }
  return 0;
}
