/**
 * `node-nccl bench ddp`: training-step time and samples/s of an MLP under DistributedDataParallel
 * at each world size given, with communication overlapped with backward (DDP's buckets, reduced as
 * soon as their gradients are ready) and without (backward under noSync(), then every gradient
 * all-reduced). Each world size is started through the launcher; rank 0 reports.
 */
import { ArgumentError } from '../errors.js';
import { loadLib } from './api.js';
import { type FlagSpec, helpText, parseFlags, parseInteger } from './argparse.js';
import { collectEnvironment } from './env.js';
import { launchRanks } from './launch.js';
import { commandLine, lineSink, writeResult } from './output.js';
import { type DdpResult, type DdpRow, SCHEMA_ID } from './schema.js';
import { checkRanksPerGpu, probeGpus } from './run-collective.js';

const FLAGS: readonly FlagSpec[] = [
  { key: 'worldSizes', long: ['world-sizes', 'np'], meta: 'list', help: 'world sizes to run, e.g. 1,2,4 (default 1,2)' },
  { key: 'overlap', long: ['overlap'], meta: 'on|off|both', help: 'overlap gradient all-reduce with backward (default both)' },
  { key: 'backend', long: ['backend'], meta: 'nccl|cpu', help: 'default nccl with a GPU, cpu otherwise' },
  { key: 'batch', long: ['batch'], meta: 'n', help: 'samples per rank per step (default 64)' },
  { key: 'in', long: ['in-features'], meta: 'n', help: 'input features (default 784)' },
  { key: 'hidden', long: ['hidden'], meta: 'n', help: 'hidden width (default 1024)' },
  { key: 'layers', long: ['layers'], meta: 'n', help: 'Linear layers (default 4)' },
  { key: 'classes', long: ['classes'], meta: 'n', help: 'output classes (default 10)' },
  { key: 'iters', short: 'n', long: ['iters'], meta: 'n', help: 'timed steps (default 20)' },
  { key: 'warmup', short: 'w', long: ['warmup_iters', 'warmup-iters'], meta: 'n', help: 'warm-up steps (default 3)' },
  { key: 'json', long: ['json'], meta: 'file', help: 'write the results as JSON' },
  { key: 'worker', long: ['worker'], boolean: true, help: '(internal) run as one rank' },
  { key: 'help', short: 'h', long: ['help'], boolean: true, help: 'this help' },
];

export interface DdpOptions {
  worldSizes: number[];
  overlaps: boolean[];
  backend: 'auto' | 'cpu' | 'nccl';
  batch: number;
  inFeatures: number;
  hidden: number;
  layers: number;
  classes: number;
  iters: number;
  warmup: number;
  json?: string;
  worker: boolean;
}

export function parseDdpArgs(argv: readonly string[]): DdpOptions {
  const { values, positionals } = parseFlags(argv, FLAGS, 'bench ddp');
  if (positionals.length) throw new ArgumentError(`bench ddp: unexpected argument '${positionals[0]}'`);
  const int = (k: string, flag: string, def: number, min: number, max: number): number =>
    values.has(k) ? parseInteger(flag, values.get(k)!, min, max) : def;
  const worldSizes = (values.get('worldSizes') ?? '1,2').split(',').map((s) => parseInteger('--world-sizes', s, 1, 1024));
  const ov = values.get('overlap') ?? 'both';
  if (!['on', 'off', 'both'].includes(ov)) throw new ArgumentError(`--overlap ${ov}: expected on, off or both`);
  const backend = values.get('backend') ?? 'auto';
  if (!['auto', 'cpu', 'nccl'].includes(backend)) throw new ArgumentError(`--backend ${backend}: expected nccl or cpu`);
  const o: DdpOptions = {
    worldSizes,
    overlaps: ov === 'both' ? [true, false] : [ov === 'on'],
    backend: backend as DdpOptions['backend'],
    batch: int('batch', '--batch', 64, 1, 1 << 20),
    inFeatures: int('in', '--in-features', 784, 1, 1 << 20),
    hidden: int('hidden', '--hidden', 1024, 1, 1 << 20),
    layers: int('layers', '--layers', 4, 2, 1000),
    classes: int('classes', '--classes', 10, 2, 1 << 20),
    iters: int('iters', '-n', 20, 1, 1e6),
    warmup: int('warmup', '-w', 3, 0, 1e6),
    worker: values.get('worker') === 'true',
  };
  if (values.has('json')) o.json = values.get('json')!;
  return o;
}

function modelName(o: DdpOptions): string {
  return `MLP ${o.inFeatures}-${Array(o.layers - 1).fill(o.hidden).join('-')}-${o.classes}, batch ${o.batch}/rank, SGD`;
}

/** One rank: build the model, wrap it, time the steps; rank 0 writes one JSON line per mode. */
async function worker(o: DdpOptions, backend: 'cpu' | 'nccl'): Promise<number> {
  const lib = (await loadLib('ddp', [
    'distributed.initProcessGroup',
    'distributed.allReduce',
    'DistributedDataParallel.create',
    'nn.Sequential',
    'nn.Linear',
    'nn.ReLU',
    'nn.functional.crossEntropy',
    'optim.SGD',
    'randn',
    'randint',
    'manualSeed',
  ])) as unknown as DdpLib;
  const dist = lib.distributed;
  await dist.initProcessGroup({ backend });
  const rank = dist.getRank();
  const size = dist.getWorldSize();
  const localRank = Number(process.env.LOCAL_RANK ?? 0);
  const device = backend === 'nccl' ? `cuda:${localRank}` : 'cpu';
  if (backend === 'nccl') lib.cuda?.setDevice?.(localRank);
  lib.manualSeed(1234 + rank);
  const layers: unknown[] = [];
  for (let i = 0; i < o.layers; i++) {
    const inF = i === 0 ? o.inFeatures : o.hidden;
    const outF = i === o.layers - 1 ? o.classes : o.hidden;
    layers.push(new lib.nn.Linear(inF, outF));
    if (i < o.layers - 1) layers.push(new lib.nn.ReLU());
  }
  const model = new lib.nn.Sequential(...layers);
  if (device !== 'cpu') model.to(device);
  const ddp = await lib.DistributedDataParallel.create(model, device !== 'cpu' ? { deviceIds: [localRank] } : {});
  const opt = new lib.optim.SGD(ddp.parameters(), { lr: 0.01 });
  const x = lib.randn([o.batch, o.inFeatures], { device });
  const y = lib.randint(0, o.classes, [o.batch], { device });
  const params = ddp.parameters();
  const emit = lineSink();
  const step = async (overlap: boolean): Promise<void> => {
    let out: DdpTensor;
    let loss: DdpTensor;
    if (overlap) {
      out = ddp.forward(x);
      loss = lib.nn.functional.crossEntropy(out, y);
      await ddp.backward(loss);
    } else {
      // Forward and backward without DDP's hooks (as torch's `with ddp.no_sync():`), then every
      // gradient all-reduced after backward: communication that cannot overlap computation.
      [out, loss] = ddp.noSync(() => {
        const o = ddp.forward(x);
        const l = lib.nn.functional.crossEntropy(o, y);
        l.backward();
        return [o, l] as const;
      });
      await Promise.all(params.map((p) => (p.grad ? dist.allReduce(p.grad, { op: 'avg' }) : null)));
    }
    opt.step();
    opt.zeroGrad();
    loss.dispose();
    out.dispose();
  };
  const sync = async (): Promise<void> => {
    if (device !== 'cpu') await lib.cuda?.synchronize();
  };
  for (const overlap of o.overlaps) {
    for (let i = 0; i < o.warmup; i++) await step(overlap);
    await sync();
    await dist.barrier();
    const t0 = performance.now();
    for (let i = 0; i < o.iters; i++) await step(overlap);
    await sync();
    await dist.barrier();
    const stepMs = (performance.now() - t0) / o.iters;
    if (rank === 0) {
      const row: DdpRow = { worldSize: size, overlap, backend, batchSize: o.batch, stepMs, samplesPerSec: (o.batch * size * 1000) / stepMs };
      emit(`${ROW_PREFIX}${JSON.stringify(row)}`);
    }
  }
  await dist.destroyProcessGroup();
  return 0;
}

const ROW_PREFIX = '#ddp-row ';

interface DdpTensor {
  grad: DdpTensor | null;
  backward(): void;
  dispose(): void;
}
interface DdpLib {
  distributed: {
    initProcessGroup(o: { backend: string }): Promise<unknown>;
    destroyProcessGroup(): unknown;
    getRank(): number;
    getWorldSize(): number;
    allReduce(t: DdpTensor, o: { op: string }): PromiseLike<unknown>;
    barrier(): PromiseLike<unknown>;
  };
  cuda?: { setDevice?(i: number): void; synchronize(): unknown };
  nn: {
    Linear: new (i: number, o: number) => unknown;
    ReLU: new () => unknown;
    Sequential: new (...m: unknown[]) => { to(d: string): unknown };
    functional: { crossEntropy(x: DdpTensor, y: DdpTensor): DdpTensor };
  };
  optim: { SGD: new (p: DdpTensor[], o: { lr: number }) => { step(): void; zeroGrad(): void } };
  DistributedDataParallel: {
    create(m: unknown, o: object): Promise<{
      forward(x: DdpTensor): DdpTensor;
      backward(loss: DdpTensor): Promise<void>;
      noSync<T>(fn: () => T): T;
      parameters(): DdpTensor[];
    }>;
  };
  randn(shape: number[], o: object): DdpTensor;
  randint(low: number, high: number, shape: number[], o: object): DdpTensor;
  manualSeed(s: number): void;
}

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(helpText('usage: node-nccl bench ddp [options]', FLAGS));
    return 0;
  }
  const o = parseDdpArgs(argv);
  const gpus = await probeGpus();
  const backend = o.backend === 'auto' ? (gpus.deviceCount() > 0 ? 'nccl' : 'cpu') : o.backend;
  if (o.worker) return worker(o, backend);
  if (backend === 'nccl') {
    const n = gpus.deviceCount();
    if (n === 0) throw new ArgumentError(`--backend nccl needs a GPU: ${gpus.reason ?? 'none found'}`, 'ERR_NO_GPU');
    for (const w of o.worldSizes) checkRanksPerGpu(`--world-sizes ${w}`, w, n);
  }
  // Fail here, not in N ranks, when this build lacks what the benchmark drives.
  await loadLib('ddp', ['DistributedDataParallel.create', 'nn.Sequential', 'nn.functional.crossEntropy', 'optim.SGD', 'distributed.initProcessGroup']);
  const out = (s: string): void => void process.stdout.write(s + '\n');
  out(`# ddp: ${modelName(o)}, backend ${backend}, ${o.iters} steps after ${o.warmup} warm-up`);
  out(`#${'world'.padStart(6)} ${'overlap'.padStart(8)} ${'step(ms)'.padStart(10)} ${'samples/s'.padStart(11)}`);
  const rows: DdpRow[] = [];
  const workerArgv = ['ddp', '--worker', '--backend', backend, '--batch', String(o.batch), '--in-features', String(o.inFeatures), '--hidden', String(o.hidden),
    '--layers', String(o.layers), '--classes', String(o.classes), '-n', String(o.iters), '-w', String(o.warmup), '--overlap', o.overlaps.length === 2 ? 'both' : o.overlaps[0] ? 'on' : 'off'];
  for (const ws of o.worldSizes) {
    let pending = '';
    const code = await launchRanks({
      np: ws,
      benchArgv: workerArgv,
      out: (chunk) => {
        pending += chunk;
        const lines = pending.split('\n');
        pending = lines.pop()!;
        for (const l of lines) {
          if (!l.startsWith(ROW_PREFIX)) continue;
          const row = JSON.parse(l.slice(ROW_PREFIX.length)) as DdpRow;
          rows.push(row);
          out(` ${String(row.worldSize).padStart(6)} ${(row.overlap ? 'on' : 'off').padStart(8)} ${row.stepMs.toFixed(3).padStart(10)} ${row.samplesPerSec.toFixed(1).padStart(11)}`);
        }
      },
    });
    if (code !== 0) {
      process.stderr.write(`node-nccl bench ddp: world size ${ws} failed (exit code ${code})\n`);
      return code;
    }
  }
  if (o.json) {
    const result: DdpResult = {
      schema: SCHEMA_ID,
      kind: 'ddp',
      benchmark: 'ddp',
      tool: 'node-nccl',
      label: `node-nccl DDP ${backend}`,
      createdAt: new Date().toISOString(),
      command: { argv: ['bench', 'ddp', ...argv], line: commandLine(['bench', 'ddp', ...argv]) },
      environment: await collectEnvironment({ useGpu: backend === 'nccl' }),
      config: { iters: o.iters, warmupIters: o.warmup, model: modelName(o) },
      rows,
    };
    out(`# Results written to ${writeResult(o.json, result)}`);
  }
  return 0;
}
