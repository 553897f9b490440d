/**
 * Pipeline parallelism across processes on real MNIST digits — `npm run pipeline`.
 *
 *   npm run pipeline                                  # 2 ranks: the MLP split in two stages
 *   node dist/examples/mnist-pipeline.js --chunks 1,2,4 --schedule 1f1b
 *   npx node-nccl run --nproc-per-node 2 dist/examples/mnist-pipeline.js
 *
 * Rank 0 holds the first layer (784 → 512, ReLU), rank 1 the rest (512 → 256 → 10); each batch
 * is cut into micro-batches that flow through the stages (PipelineStage + ScheduleGPipe or
 * Schedule1F1B, over the cpu backend's send/recv), so rank 1 computes micro-batch i while rank 0
 * computes micro-batch i+1. For each micro-batch count given, the model is trained from the same
 * initial weights and the throughput and held-out accuracy are reported.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  DataLoader,
  dist,
  DistributedSampler,
  manualSeed,
  nn,
  optim,
  PipelineStage,
  Schedule1F1B,
  ScheduleGPipe,
  tensor,
  type Tensor,
} from '../lib/index.js';
import { IMAGE_SIZE, loadMnist } from './mnist-data.js';
import { buildMlp, cosineLr, MnistTrain } from './mnist-train.js';

const HELP = `Train an MLP on MNIST digits split into two pipeline stages on two processes.

usage: npm run pipeline -- [options]
       node dist/examples/mnist-pipeline.js [options]     (starts the launcher itself: 2 processes)

options:
  --chunks A,B,...    micro-batch counts to train with, one run each (default 1,2,4)
  --schedule NAME     gpipe (default) or 1f1b
  --epochs N          passes over the training digits per run (default 2)
  --batch-size N      samples per step (default 128)
  --lr X              peak AdamW learning rate, cosine-decayed to 0 (default 0.002)
  --steps N           stop each run after N steps (default: all epochs)
  --seed N            seed of the initial weights and the shuffling (default 0)
  --json              rank 1 prints each run's summary as a JSON line too
  -h, --help          show this help
`;

interface Args {
  chunks: number[];
  schedule: 'gpipe' | '1f1b';
  epochs: number;
  batchSize: number;
  lr: number;
  steps: number | null;
  seed: number;
  json: boolean;
}

function fail(msg: string): never {
  process.stderr.write(`mnist-pipeline: ${msg}\n\n${HELP}`);
  process.exit(2);
}

function intArg(v: string | undefined, name: string, def: number, min: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) fail(`--${name} must be an integer >= ${min}, got '${v}'`);
  return n;
}

function parse(argv: string[]): Args {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        chunks: { type: 'string' },
        schedule: { type: 'string' },
        epochs: { type: 'string' },
        'batch-size': { type: 'string' },
        lr: { type: 'string' },
        steps: { type: 'string' },
        seed: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (e) {
    fail((e as Error).message);
  }
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const schedule = ((values.schedule as string | undefined) ?? 'gpipe').toLowerCase();
  if (schedule !== 'gpipe' && schedule !== '1f1b') fail(`--schedule must be gpipe or 1f1b, got '${schedule}'`);
  const lr = values.lr === undefined ? 0.002 : Number(values.lr);
  if (!(lr > 0 && Number.isFinite(lr))) fail(`--lr must be a positive number, got '${String(values.lr)}'`);
  const a: Args = {
    chunks: ((values.chunks as string | undefined) ?? '1,2,4').split(',').map((s) => intArg(s, 'chunks', 0, 1)),
    schedule,
    epochs: intArg(values.epochs as string | undefined, 'epochs', 2, 1),
    batchSize: intArg(values['batch-size'] as string | undefined, 'batch-size', 128, 1),
    lr,
    steps: values.steps === undefined ? null : intArg(values.steps as string, 'steps', 1, 1),
    seed: intArg(values.seed as string | undefined, 'seed', 0, 0),
    json: Boolean(values.json),
  };
  const big = a.chunks.find((c) => c > a.batchSize);
  if (big !== undefined) fail(`--chunks ${big} is more than the batch size (${a.batchSize})`);
  return a;
}

function relaunch(argv: string[]): Promise<number> {
  const bin = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'node-nccl.js');
  const child = spawn(process.execPath, [bin, 'run', '--nproc-per-node', '2', fileURLToPath(import.meta.url), ...argv], {
    stdio: 'inherit',
    env: { ...process.env, NODE_NCCL_BACKEND: 'cpu' },
  });
  return new Promise((res) => child.on('exit', (code, sig) => res(code ?? (sig ? 1 : 0))));
}

/** The two stages of the MNIST MLP: layers [0, 2) on stage 0, the rest on stage 1. */
function stageModule(stage: number, seed: number): nn.Sequential {
  manualSeed(seed);
  const mlp = buildMlp([512, 256]);
  const mods = Array.from({ length: mlp.length }, (_, i) => mlp.at(i));
  return new nn.Sequential(...(stage === 0 ? mods.slice(0, 2) : mods.slice(2)));
}

interface RunResult {
  chunks: number;
  schedule: string;
  steps: number;
  samples: number;
  seconds: number;
  samplesPerSec: number;
  loss: number;
  accuracy: number;
}

async function train(args: Args, chunks: number, rank: number): Promise<RunResult | null> {
  const { train: split, test } = loadMnist();
  const dataset = new MnistTrain(split, true, args.seed);
  const sampler = new DistributedSampler(dataset, { numReplicas: 1, rank: 0, seed: args.seed, dropLast: true });
  const loader = new DataLoader<[Float32Array, number], [Tensor, Tensor]>(dataset, { batchSize: args.batchSize, sampler, dropLast: true });
  const mod = stageModule(rank, args.seed);
  const stage = new PipelineStage(mod, rank, 2, 'cpu');
  const loss = (out: Tensor, y: Tensor): Tensor => nn.functional.crossEntropy(out, y);
  const Schedule = args.schedule === '1f1b' ? Schedule1F1B : ScheduleGPipe;
  const schedule = new Schedule(stage, chunks, loss);
  const opt = new optim.AdamW([...mod.parameters()], { lr: args.lr, weightDecay: 0.01 });
  const total = Math.min(args.steps ?? Infinity, loader.length * args.epochs);
  await dist.barrier();
  const t0 = performance.now();
  let steps = 0;
  let samples = 0;
  let lossSum = 0;
  for (let epoch = 0; steps < total; epoch++) {
    sampler.setEpoch(epoch);
    dataset.epoch = epoch;
    for await (const [x, y] of loader) {
      opt.paramGroups[0]!.lr = cosineLr(args.lr, steps, total);
      const losses: Tensor[] = [];
      await schedule.step(stage.isFirst ? x : null, stage.isLast ? { target: y, losses } : {});
      opt.step();
      opt.zeroGrad();
      if (stage.isLast) lossSum = losses.reduce((a, l) => a + Number(l.item()), 0) / losses.length;
      samples += x.shape[0]!;
      x.dispose();
      y.dispose();
      if (++steps >= total) break;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  // held-out accuracy, through the same two stages (forwards only)
  const evalSchedule = new ScheduleGPipe(stage, 1);
  let correct = 0;
  for (let s = 0; s < test.length; s += 500) {
    const n = Math.min(500, test.length - s);
    const x = tensor(test.images.subarray(s * IMAGE_SIZE, (s + n) * IMAGE_SIZE)).reshape([n, IMAGE_SIZE]);
    const out = await evalSchedule.step(stage.isFirst ? x : null);
    if (out) {
      const p = (await out.argmax(1).data()) as BigInt64Array;
      for (let i = 0; i < n; i++) if (Number(p[i]) === test.labels[s + i]) correct++;
    }
  }
  if (!stage.isLast) return null;
  return { chunks, schedule: args.schedule, steps, samples, seconds, samplesPerSec: samples / seconds, loss: lossSum, accuracy: correct / test.length };
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const args = parse(argv);
  if (process.env.RANK === undefined || process.env.WORLD_SIZE === undefined) return relaunch(argv);
  if (Number(process.env.WORLD_SIZE) !== 2) fail(`runs on 2 processes (one per stage), got WORLD_SIZE=${process.env.WORLD_SIZE}`);
  await dist.initProcessGroup({ backend: 'cpu' });
  const rank = dist.getRank();
  if (rank === 1) {
    process.stdout.write(`mnist-pipeline: 2 stages (784-512 | 512-256-10) on 2 processes, ${args.schedule}, batch ${args.batchSize}, AdamW lr ${args.lr}\n`);
  }
  const results: RunResult[] = [];
  for (const chunks of args.chunks) {
    const r = await train(args, chunks, rank);
    if (r) {
      results.push(r);
      process.stdout.write(
        `mnist-pipeline: ${String(chunks).padStart(2)} micro-batch(es): ${Math.round(r.samplesPerSec)} samples/s ` +
          `(${r.samples} samples in ${r.seconds.toFixed(1)} s), last loss ${r.loss.toFixed(4)}, test accuracy ${(r.accuracy * 100).toFixed(2)}%\n`,
      );
      if (args.json) process.stdout.write(`SUMMARY ${JSON.stringify(r)}\n`);
    }
  }
  await dist.destroyProcessGroup();
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`mnist-pipeline: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
