/**
 * DataParallel: one process, several devices (torch.nn.DataParallel).
 *
 *   node dist/examples/data-parallel.js [--steps 30] [--batch-size 256]
 *
 * Every forward replicates the model onto each GPU, splits the batch along dim 0, runs the
 * replicas, and gathers the outputs on the first GPU; backward sums the replicas' gradients into
 * the model on the first GPU, so the optimizer sees one model. With no GPU it runs two replicas on
 * the CPU — the same code path, without the speed-up — and says so.
 * (For real multi-GPU training prefer DistributedDataParallel: one process per GPU, no
 * replication per step; see examples/mnist-ddp.ts.)
 */
import { parseArgs } from 'node:util';
import { DataParallel, manualSeed, nn, optim, tensor } from '../lib/index.js';
import { gpuCount } from './devices.js';
import { IMAGE_SIZE, loadMnist } from './mnist-data.js';

const { values } = parseArgs({
  options: { steps: { type: 'string', default: '30' }, 'batch-size': { type: 'string', default: '256' }, help: { type: 'boolean', short: 'h' } },
});
if (values.help) {
  process.stdout.write('usage: node dist/examples/data-parallel.js [--steps N] [--batch-size N]\n');
  process.exit(0);
}
const steps = Number(values.steps);
const batchSize = Number(values['batch-size']);
if (!Number.isSafeInteger(steps) || steps < 1 || !Number.isSafeInteger(batchSize) || batchSize < 2) {
  process.stderr.write('data-parallel: --steps must be >= 1 and --batch-size >= 2\n');
  process.exit(2);
}

const gpus = gpuCount();
const deviceIds = gpus > 0 ? Array.from({ length: gpus }, (_, i) => `cuda:${i}`) : ['cpu', 'cpu'];
console.log(
  gpus > 0
    ? `data-parallel: ${gpus} GPU(s): ${deviceIds.join(', ')}`
    : 'data-parallel: no GPU on this machine: running 2 replicas on the cpu (same logic, no speed-up)',
);

manualSeed(0);
const model = new nn.Sequential(new nn.Linear(IMAGE_SIZE, 256), new nn.ReLU(), new nn.Linear(256, 10)).to(deviceIds[0]!);
const dp = new DataParallel(model, { deviceIds });
const opt = new optim.SGD([...model.parameters()], { lr: 0.1, momentum: 0.9 });
const { train } = loadMnist();

const t0 = performance.now();
for (let step = 0; step < steps; step++) {
  const start = (step * batchSize) % (train.length - batchSize);
  const x = tensor(train.images.slice(start * IMAGE_SIZE, (start + batchSize) * IMAGE_SIZE)).reshape([batchSize, IMAGE_SIZE]);
  const y = tensor(BigInt64Array.from(train.labels.subarray(start, start + batchSize), (v) => BigInt(v)), { dtype: 'int64' }).to(deviceIds[0]!);
  const loss = nn.functional.crossEntropy(dp.forward(x), y); // x is scattered from the host
  loss.backward(); // gradients of every replica land in `model` on deviceIds[0]
  opt.step();
  opt.zeroGrad();
  if (step % 10 === 0 || step === steps - 1) console.log(`step ${String(step + 1).padStart(3)}/${steps}  loss ${((await loss.data())[0] as number).toFixed(4)}`);
}
const s = (performance.now() - t0) / 1000;
console.log(`data-parallel: ${steps} steps of ${batchSize} samples in ${s.toFixed(1)} s (${Math.round((steps * batchSize) / s)} samples/s)`);
