/**
 * Data-parallel training of an MLP or a CNN on real MNIST digits — `npm start`.
 *
 *   npm start                                   # the launcher starts one rank per GPU, or 2 CPU ranks
 *   npm start -- --model cnn                    # a LeNet-5-sized CNN with SyncBatchNorm
 *   npx node-nccl run --nproc-per-node 2 dist/examples/mnist-ddp.js --epochs 8
 *   node dist/examples/mnist-ddp.js --world-size 1      # re-launches itself through the launcher
 *   node dist/examples/mnist-ddp.js --help
 *
 * Each rank trains on its DistributedSampler share of the 8,499 training digits; gradients are
 * averaged by DistributedDataParallel (the CNN's batch norms are converted to SyncBatchNorm, so
 * their statistics cover the global batch); rank 0 draws the progress bar, evaluates on the 1,501
 * held-out digits (a fixed, seeded 15% of each digit, never trained on) and writes the checkpoint.
 */
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  distributed as dist,
  DataLoader,
  DistributedDataParallel,
  DistributedSampler,
  loadCheckpoint,
  manualSeed,
  nn,
  optim,
  saveCheckpoint,
  type Tensor,
} from '../lib/index.js';
import { gpuCount, ncclAvailable, setDevice } from './devices.js';
import { loadMnist } from './mnist-data.js';
import { buildCnn, buildMlp, cosineLr, evaluate, MnistTrain } from './mnist-train.js';
import { ProgressBar } from './progress.js';

const HELP = `Train an MLP or a CNN on MNIST digits with DistributedDataParallel.

usage: npm start -- [options]
       npx node-nccl run --nproc-per-node N dist/examples/mnist-ddp.js [options]
       node dist/examples/mnist-ddp.js [options]        (starts the launcher itself)

options:
  --model M           mlp | cnn (default mlp; cnn: a LeNet-5-sized CNN with batch norm)
  --no-sync-bn        cnn: keep per-rank BatchNorm (default: converted to SyncBatchNorm)
  --epochs N          passes over the training digits (default 8)
  --max-steps N       stop after N optimizer steps (default: all the epochs' steps)
  --batch-size N      samples per rank per step (default 64; the global batch is N x world size)
  --lr X              peak AdamW learning rate, cosine-decayed to 0 (default 0.002)
  --hidden A,B,...    mlp: hidden layer sizes (default 512,256)
  --world-size N      ranks to start when run without the launcher (default: one per GPU, else 2)
  --backend B         auto | nccl | cpu (default auto: nccl when GPUs and NCCL are present)
  --out DIR           checkpoint directory (default ./checkpoints/mnist-ddp)
  --resume            continue from the latest checkpoint in --out
  --seed N            seed of the initial weights, shuffling and augmentation (default 0)
  --no-augment        train on the digits as they are (no random 2-pixel shifts)
  -h, --help          show this help
`;

interface Args {
  model: 'mlp' | 'cnn';
  syncBn: boolean;
  epochs: number;
  maxSteps: number | null;
  batchSize: number;
  lr: number;
  hidden: number[];
  worldSize: number | null;
  backend: 'auto' | 'nccl' | 'cpu';
  out: string;
  resume: boolean;
  seed: number;
  augment: boolean;
}

function fail(msg: string): never {
  process.stderr.write(`mnist-ddp: ${msg}\n\n${HELP}`);
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
        model: { type: 'string' },
        'no-sync-bn': { type: 'boolean' },
        epochs: { type: 'string' },
        'max-steps': { type: 'string' },
        'batch-size': { type: 'string' },
        lr: { type: 'string' },
        hidden: { type: 'string' },
        'world-size': { type: 'string' },
        backend: { type: 'string' },
        out: { type: 'string' },
        resume: { type: 'boolean' },
        seed: { type: 'string' },
        'no-augment': { type: 'boolean' },
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
  const lr = values.lr === undefined ? 0.002 : Number(values.lr);
  if (!(lr > 0 && Number.isFinite(lr))) fail(`--lr must be a positive number, got '${String(values.lr)}'`);
  const backend = (values.backend as string | undefined) ?? 'auto';
  if (!['auto', 'nccl', 'cpu'].includes(backend)) fail(`--backend must be auto, nccl or cpu, got '${backend}'`);
  const model = (values.model as string | undefined) ?? 'mlp';
  if (model !== 'mlp' && model !== 'cnn') fail(`--model must be mlp or cnn, got '${model}'`);
  const hidden = ((values.hidden as string | undefined) ?? '512,256').split(',').map((s) => intArg(s, 'hidden', 0, 1));
  return {
    model,
    syncBn: !values['no-sync-bn'],
    epochs: intArg(values.epochs as string | undefined, 'epochs', 8, 1),
    maxSteps: values['max-steps'] === undefined ? null : intArg(values['max-steps'] as string, 'max-steps', 0, 1),
    batchSize: intArg(values['batch-size'] as string | undefined, 'batch-size', 64, 1),
    lr,
    hidden,
    worldSize: values['world-size'] === undefined ? null : intArg(values['world-size'] as string, 'world-size', 1, 1),
    backend: backend as Args['backend'],
    out: resolve((values.out as string | undefined) ?? 'checkpoints/mnist-ddp'),
    resume: Boolean(values.resume),
    seed: intArg(values.seed as string | undefined, 'seed', 0, 0),
    augment: !values['no-augment'],
  };
}

/** Not started by the launcher: start it, with this script and the same arguments. */
async function relaunch(args: Args, argv: string[]): Promise<number> {
  const here = dirname(fileURLToPath(import.meta.url));
  const bin = join(here, '..', '..', 'bin', 'node-nccl.js');
  const n = args.worldSize === null ? 'auto' : String(args.worldSize);
  const child = spawn(process.execPath, [bin, 'run', '--nproc-per-node', n, fileURLToPath(import.meta.url), ...argv], { stdio: 'inherit' });
  return new Promise((res) => child.on('exit', (code, sig) => res(code ?? (sig ? 1 : 0))));
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const args = parse(argv);
  if (process.env.RANK === undefined || process.env.WORLD_SIZE === undefined) return relaunch(args, argv);
  const worldSize = Number(process.env.WORLD_SIZE);
  const localRank = Number(process.env.LOCAL_RANK ?? process.env.RANK);
  if (args.worldSize !== null && args.worldSize !== worldSize) {
    fail(`--world-size ${args.worldSize} disagrees with the launcher's WORLD_SIZE=${worldSize}; give --nproc-per-node to the launcher instead`);
  }
  const gpus = gpuCount();
  const hinted = process.env.NODE_NCCL_BACKEND; // set by the launcher ('nccl' when it counted GPUs)
  const backend =
    args.backend !== 'auto' ? args.backend : hinted === 'nccl' || hinted === 'cpu' ? (hinted === 'nccl' && !(gpus > 0 && ncclAvailable()) ? 'cpu' : hinted) : gpus > 0 && ncclAvailable() ? 'nccl' : 'cpu';
  let device = 'cpu';
  if (backend === 'nccl') {
    if (gpus === 0) fail('--backend nccl needs a GPU, and this machine has none (use --backend cpu)');
    device = `cuda:${localRank % gpus}`;
    setDevice(localRank % gpus);
  }
  await dist.initProcessGroup({ backend });
  const rank = dist.getRank();
  const log = (msg: string): void => {
    if (rank === 0) process.stdout.write(msg + '\n');
  };
  log(`mnist-ddp: ${worldSize} rank(s), backend ${backend}, device ${backend === 'nccl' ? 'one GPU per rank' : 'cpu'}` +
    `${gpus === 0 ? ' (no GPU on this machine)' : ''}; batch ${args.batchSize}/rank (${args.batchSize * worldSize} global), ` +
    `${args.epochs} epoch${args.epochs === 1 ? '' : 's'}, AdamW lr ${args.lr}, model ${args.model}` +
    `${args.model === 'cnn' ? (args.syncBn && worldSize > 1 ? ' (SyncBatchNorm)' : ' (BatchNorm per rank)') : ''}`);

  const { train, test } = loadMnist();
  manualSeed(args.seed);
  // the CNN's batch norms become SyncBatchNorm before DDP wraps the model, as torch users convert
  const net = args.model === 'cnn' ? buildCnn() : buildMlp(args.hidden);
  const model = (args.model === 'cnn' && args.syncBn ? nn.SyncBatchNorm.convertSyncBatchnorm(net) : net).to(device);
  const ddp = await DistributedDataParallel.create(model, backend === 'nccl' ? { deviceIds: [device] } : {});
  const opt = new optim.AdamW(ddp.parameters(), { lr: args.lr, weightDecay: 0.01 });

  const dataset = new MnistTrain(train, args.augment, args.seed);
  const sampler = new DistributedSampler(dataset, { seed: args.seed, dropLast: true });
  const loader = new DataLoader<[Float32Array, number], [Tensor, Tensor]>(dataset, {
    batchSize: args.batchSize,
    sampler,
    dropLast: true,
    device,
    pinMemory: device !== 'cpu',
  });
  const stepsPerEpoch = loader.length;
  const totalSteps = Math.min(stepsPerEpoch * args.epochs, args.maxSteps ?? Infinity);
  let step = 0;
  if (args.resume) {
    const ck = await loadCheckpoint(args.out, { model, optimizer: opt }).catch((e: Error) => {
      log(`mnist-ddp: --resume: ${e.message}; starting from scratch`);
      return null;
    });
    if (ck) {
      step = ck.step;
      log(`mnist-ddp: resumed from ${ck.path} (step ${step})`);
    }
  }

  const bar = rank === 0 ? new ProgressBar({ total: stepsPerEpoch, epochs: args.epochs }) : null;
  const t0 = performance.now();
  let samplesSeen = 0;
  for (let epoch = Math.floor(step / stepsPerEpoch); epoch < args.epochs && step < totalSteps; epoch++) {
    sampler.setEpoch(epoch);
    dataset.epoch = epoch;
    const skip = step - epoch * stepsPerEpoch; // batches of this epoch already trained (after --resume)
    let i = 0;
    const te = performance.now();
    let epochSamples = 0;
    for await (const [x, y] of loader) {
      if (step >= totalSteps) {
        x.dispose();
        y.dispose();
        break;
      }
      if (i++ < skip) {
        x.dispose();
        y.dispose();
        continue;
      }
      opt.paramGroups[0]!.lr = cosineLr(args.lr, step, totalSteps);
      const logits = ddp.forward(x) as Tensor;
      const loss = nn.functional.crossEntropy(logits, y);
      await ddp.backward(loss);
      opt.step();
      opt.zeroGrad();
      step++;
      epochSamples += x.shape[0]! * worldSize;
      samplesSeen += x.shape[0]! * worldSize;
      if (bar && (i % 10 === 0 || i === stepsPerEpoch)) {
        bar.update({ epoch, step: i, loss: (await loss.data())[0] as number, samplesPerSec: (epochSamples / (performance.now() - te)) * 1000 });
      }
      loss.dispose();
      logits.dispose();
      x.dispose();
      y.dispose();
    }
    bar?.done();
  }
  const seconds = (performance.now() - t0) / 1000;
  const path = await saveCheckpoint(args.out, { model: ddp, optimizer: opt, step, epoch: args.epochs, extra: { args } });
  // eval mode: batch norm uses its running statistics (no collectives: only rank 0 evaluates)
  model.eval();
  if (rank === 0) {
    const acc = await evaluate(model, test, device);
    log(`mnist-ddp: trained ${samplesSeen} samples in ${seconds.toFixed(1)} s (${Math.round(samplesSeen / seconds)} samples/s over ${worldSize} rank(s))`);
    log(`mnist-ddp: test accuracy ${(acc * 100).toFixed(2)}% on ${test.length} held-out digits`);
    log(`mnist-ddp: checkpoint saved to ${path}`);
  }
  await dist.barrier();
  await dist.destroyProcessGroup();
  return 0;
}


main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`mnist-ddp: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
