/**
 * The parameter-server paradigm over RPC on real MNIST digits — `npm run ps`.
 *
 *   npm run ps -- --mode sync                     # 1 parameter server + 2 trainers on this machine
 *   node dist/examples/mnist-ps.js --mode async --workers 3
 *   npx node-nccl run --nproc-per-node 3 dist/examples/mnist-ps.js --mode sync
 *   node dist/examples/mnist-ps.js --help
 *
 * Rank 0 is the parameter server ('ps'), ranks 1..N are trainers. As in torch's batch-updating
 * parameter server tutorial:
 *   1. the server owns the model and the optimizer and hands every trainer an RRef to itself;
 *   2. each trainer fetches the weights and computes the gradients of its slice of the batch
 *      (its DistributedSampler share of the 8,499 training digits);
 *   3. it sends them to the server (`psRRef.rpcSync().updateAndFetch(...)`);
 *   4. sync: the server waits for every trainer's gradients, averages them and takes one
 *      optimizer step; async: it takes a step with each trainer's gradients as they arrive;
 *   5. it answers each trainer with the new weights, and the trainer goes on with them.
 * The server then evaluates on the 1,501 held-out digits (never trained on).
 */
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  DataLoader,
  DistributedSampler,
  manualSeed,
  nn,
  noGrad,
  optim,
  rpc,
  save,
  type Tensor,
} from '../lib/index.js';
import { loadMnist } from './mnist-data.js';
import { buildMlp, cosineLr, evaluate, MnistTrain } from './mnist-train.js';

const HELP = `Train an MLP on MNIST digits with a parameter server and trainers over RPC.

usage: npm run ps -- [options]
       node dist/examples/mnist-ps.js [options]        (starts the launcher itself: workers + 1 processes)
       npx node-nccl run --nproc-per-node N+1 dist/examples/mnist-ps.js [options]

options:
  --mode sync|async   sync: the server averages every trainer's gradients, then steps (default);
                      async: it steps with each trainer's gradients as they arrive
  --workers N         trainers when run without the launcher (default 2)
  --epochs N          passes over the training digits (default 8)
  --batch-size N      samples per trainer per step (default 64)
  --optimizer NAME    adamw (default; weight decay 0.01, as the DDP example) or sgd (momentum 0.9)
  --lr X              peak learning rate, cosine-decayed to 0 (default 0.002)
  --hidden A,B,...    hidden layer sizes (default 512,256)
  --steps N           stop after N steps per trainer (default: all epochs)
  --seed N            seed of the initial weights, shuffling and augmentation (default 0)
  --no-augment        train on the digits as they are (no random 2-pixel shifts)
  --out FILE          save the server's final weights there (safetensors)
  --json              the server prints its summary as one JSON line too
  -h, --help          show this help
`;

interface Args {
  mode: 'sync' | 'async';
  optimizer: 'adamw' | 'sgd';
  workers: number;
  epochs: number;
  batchSize: number;
  lr: number;
  hidden: number[];
  steps: number | null;
  seed: number;
  augment: boolean;
  out: string | null;
  json: boolean;
}

function fail(msg: string): never {
  process.stderr.write(`mnist-ps: ${msg}\n\n${HELP}`);
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
        mode: { type: 'string' },
        optimizer: { type: 'string' },
        workers: { type: 'string' },
        epochs: { type: 'string' },
        'batch-size': { type: 'string' },
        lr: { type: 'string' },
        hidden: { type: 'string' },
        steps: { type: 'string' },
        seed: { type: 'string' },
        'no-augment': { type: 'boolean' },
        out: { type: 'string' },
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
  const mode = (values.mode as string | undefined) ?? 'sync';
  if (mode !== 'sync' && mode !== 'async') fail(`--mode must be sync or async, got '${mode}'`);
  const optimizer = (values.optimizer as string | undefined) ?? 'adamw';
  if (optimizer !== 'adamw' && optimizer !== 'sgd') fail(`--optimizer must be adamw or sgd, got '${optimizer}'`);
  const lr = values.lr === undefined ? 0.002 : Number(values.lr);
  if (!(lr > 0 && Number.isFinite(lr))) fail(`--lr must be a positive number, got '${String(values.lr)}'`);
  return {
    mode,
    optimizer,
    workers: intArg(values.workers as string | undefined, 'workers', 2, 1),
    epochs: intArg(values.epochs as string | undefined, 'epochs', 8, 1),
    batchSize: intArg(values['batch-size'] as string | undefined, 'batch-size', 64, 1),
    lr,
    hidden: ((values.hidden as string | undefined) ?? '512,256').split(',').map((s) => intArg(s, 'hidden', 0, 1)),
    steps: values.steps === undefined ? null : intArg(values.steps as string, 'steps', 1, 1),
    seed: intArg(values.seed as string | undefined, 'seed', 0, 0),
    augment: !values['no-augment'],
    out: values.out === undefined ? null : resolve(values.out as string),
    json: Boolean(values.json),
  };
}

/** Not started by the launcher: start it with workers + 1 processes. */
function relaunch(args: Args, argv: string[]): Promise<number> {
  const bin = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'node-nccl.js');
  const child = spawn(process.execPath, [bin, 'run', '--nproc-per-node', String(args.workers + 1), fileURLToPath(import.meta.url), ...argv], {
    stdio: 'inherit',
    env: { ...process.env, NODE_NCCL_BACKEND: 'cpu' },
  });
  return new Promise((res) => child.on('exit', (code, sig) => res(code ?? (sig ? 1 : 0))));
}

/** How many steps each trainer takes: its batches per epoch times the epochs, or --steps. */
function trainerSteps(args: Args, trainLength: number): { perEpoch: number; total: number } {
  const perTrainer = Math.floor(trainLength / args.workers); // DistributedSampler with dropLast
  const perEpoch = Math.floor(perTrainer / args.batchSize); // DataLoader with dropLast
  const total = Math.min(args.steps ?? Infinity, perEpoch * args.epochs);
  return { perEpoch, total };
}

/** What the server keeps: the model, its optimizer, and (sync) the round being gathered. */
export class ParameterServer {
  readonly model: nn.Sequential;
  private readonly params: Tensor[];
  private readonly opt: optim.AdamW | optim.SGD;
  private readonly sums: Tensor[];
  private gathered = 0;
  private round: { promise: Promise<Tensor[]>; resolve(w: Tensor[]): void } = ParameterServer.deferred();
  /** Optimizer steps taken, gradients applied, and the trainers' recent losses. */
  steps = 0;
  updates = 0;
  losses: number[] = [];
  firstLoss: number | null = null;

  constructor(
    private readonly args: Args,
    private readonly totalSteps: number,
  ) {
    manualSeed(args.seed);
    this.model = buildMlp(args.hidden);
    this.params = [...this.model.parameters()];
    this.opt =
      args.optimizer === 'sgd' ? new optim.SGD(this.params, { lr: args.lr, momentum: 0.9 }) : new optim.AdamW(this.params, { lr: args.lr, weightDecay: 0.01 });
    this.sums = this.params.map((p) => p.detach().mul(0));
  }

  private static deferred(): { promise: Promise<Tensor[]>; resolve(w: Tensor[]): void } {
    let resolve!: (w: Tensor[]) => void;
    const promise = new Promise<Tensor[]>((r) => (resolve = r));
    return { promise, resolve };
  }

  /** The current weights (sent as copies: a trainer's own to change). */
  getWeights(): Tensor[] {
    return this.params;
  }

  /** Steps 3-5: one trainer's gradients in, the weights after the update out. */
  updateAndFetch(loss: number, grads: Tensor[]): Tensor[] | Promise<Tensor[]> {
    this.updates++;
    this.firstLoss ??= loss;
    this.losses.push(loss);
    if (this.losses.length > 50) this.losses.shift();
    if (this.args.mode === 'async') {
      this.step(grads);
      return this.params;
    }
    noGrad(() => this.sums.forEach((s, i) => s.add_(grads[i]!)));
    const round = this.round;
    if (++this.gathered === this.args.workers) {
      const avg = this.sums.map((s) => s.div(this.args.workers));
      this.step(avg);
      noGrad(() => this.sums.forEach((s) => s.zero_()));
      this.gathered = 0;
      this.round = ParameterServer.deferred();
      round.resolve(this.params); // every trainer of this round gets the same new weights
    }
    return round.promise;
  }

  private step(grads: Tensor[]): void {
    this.params.forEach((p, i) => (p.grad = grads[i]!));
    this.opt.paramGroups[0]!.lr = cosineLr(this.args.lr, this.steps, this.totalSteps);
    this.opt.step();
    this.opt.zeroGrad();
    this.steps++;
  }
}

/** A trainer's loop (run on each trainer by the server, steps 2-5). */
async function runTrainer(ps: rpc.RRef<ParameterServer>, args: Args, trainer: number): Promise<{ samples: number; steps: number }> {
  const { train } = loadMnist();
  const dataset = new MnistTrain(train, args.augment, args.seed);
  const sampler = new DistributedSampler(dataset, { numReplicas: args.workers, rank: trainer, seed: args.seed, dropLast: true });
  const loader = new DataLoader<[Float32Array, number], [Tensor, Tensor]>(dataset, { batchSize: args.batchSize, sampler, dropLast: true });
  const model = buildMlp(args.hidden);
  const params = [...model.parameters()];
  const { total } = trainerSteps(args, train.length);
  let weights = await ps.rpcSync().getWeights();
  let steps = 0;
  let samples = 0;
  for (let epoch = 0; steps < total; epoch++) {
    sampler.setEpoch(epoch);
    dataset.epoch = epoch;
    for await (const [x, y] of loader) {
      noGrad(() => params.forEach((p, i) => p.copy_(weights[i]!)));
      const loss = nn.functional.crossEntropy(model.forward(x), y);
      loss.backward();
      const grads = params.map((p) => p.grad!);
      weights = await ps.rpcSync().updateAndFetch(Number(loss.item()), grads);
      model.zeroGrad();
      samples += x.shape[0]!;
      x.dispose();
      y.dispose();
      if (++steps >= total) break;
    }
  }
  ps.release();
  return { samples, steps };
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const args = parse(argv);
  if (process.env.RANK === undefined || process.env.WORLD_SIZE === undefined) return relaunch(args, argv);
  const rank = Number(process.env.RANK);
  const world = Number(process.env.WORLD_SIZE);
  if (world < 2) fail(`needs a server and at least one trainer: start ${args.workers + 1} processes (WORLD_SIZE=${world})`);
  const workers = world - 1;
  if (argv.includes('--workers') && args.workers !== workers) {
    fail(`--workers ${args.workers} disagrees with the launcher's WORLD_SIZE=${world} (a server and ${workers} trainers)`);
  }
  args.workers = workers;
  rpc.register('ps.runTrainer', (ps: rpc.RRef<ParameterServer>, a: Args) => runTrainer(ps, a, rank - 1));
  await rpc.initRpc({ name: rank === 0 ? 'ps' : `trainer${rank}` });
  if (rank !== 0) {
    await rpc.shutdown(); // serves the server's call to ps.runTrainer until it is done
    return 0;
  }

  const { train, test } = loadMnist();
  const { perEpoch, total } = trainerSteps(args, train.length);
  const serverSteps = args.mode === 'sync' ? total : total * workers;
  process.stdout.write(
    `mnist-ps: 1 parameter server + ${workers} trainer(s), ${args.mode} updates, batch ${args.batchSize}/trainer, ` +
      `${total} steps per trainer (${perEpoch} per epoch), ${args.optimizer === 'sgd' ? 'SGD' : 'AdamW'} lr ${args.lr}\n`,
  );
  const server = new ParameterServer(args, serverSteps);
  const psRef = new rpc.RRef(server);
  const t0 = performance.now();
  const progress = setInterval(() => {
    const avg = server.losses.reduce((a, b) => a + b, 0) / Math.max(1, server.losses.length);
    const secs = (performance.now() - t0) / 1000;
    process.stdout.write(`mnist-ps: ${server.updates} gradients applied in ${server.steps} steps, loss ${avg.toFixed(4)}, ${secs.toFixed(1)} s\n`);
  }, 5000);
  progress.unref();
  let results: { samples: number; steps: number }[];
  try {
    // step 1: every trainer gets an RRef to the server and runs its loop
    results = await Promise.all(
      Array.from({ length: workers }, (_, i) =>
        rpc.rpcAsync<{ samples: number; steps: number }>(`trainer${i + 1}`, 'ps.runTrainer', [psRef, args], { timeoutMs: 0 }),
      ),
    );
  } finally {
    clearInterval(progress);
  }
  const seconds = (performance.now() - t0) / 1000;
  psRef.release();
  const samples = results.reduce((a, r) => a + r.samples, 0);
  const accuracy = await evaluate(server.model, test, 'cpu');
  const lastLoss = server.losses.reduce((a, b) => a + b, 0) / Math.max(1, server.losses.length);
  process.stdout.write(
    `mnist-ps: trained ${samples} samples in ${seconds.toFixed(1)} s (${Math.round(samples / seconds)} samples/s over ${workers} trainer(s)); ` +
      `${server.updates} gradients applied in ${server.steps} optimizer steps\n`,
  );
  process.stdout.write(`mnist-ps: test accuracy ${(accuracy * 100).toFixed(2)}% on ${test.length} held-out digits\n`);
  if (args.out) {
    await save(Object.fromEntries(server.model.namedParameters()), args.out);
    process.stdout.write(`mnist-ps: weights saved to ${args.out}\n`);
  }
  if (args.json) {
    const summary = { mode: args.mode, workers, samples, seconds, samplesPerSec: samples / seconds, updates: server.updates, steps: server.steps, firstLoss: server.firstLoss, lastLoss, accuracy };
    process.stdout.write(`SUMMARY ${JSON.stringify(summary)}\n`);
  }
  await rpc.shutdown();
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`mnist-ps: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
