/**
 * Model parallelism: the layers of one model on two devices (the first half on device 0, the
 * second on device 1), the activations moved between them. `to(device)` is differentiable, so
 * backward carries the gradients back across the devices on its own.
 *
 *   node dist/examples/model-parallel.js [--steps 40]
 *
 * With fewer than two GPUs it puts both halves on what exists (cuda:0 twice, or the CPU) and says so.
 */
import { parseArgs } from 'node:util';
import { manualSeed, nn, noGrad, optim, tensor, type Tensor } from '../lib/index.js';
import { gpuCount } from './devices.js';
import { IMAGE_SIZE, loadMnist } from './mnist-data.js';

const { values } = parseArgs({ options: { steps: { type: 'string', default: '40' }, help: { type: 'boolean', short: 'h' } } });
if (values.help) {
  process.stdout.write('usage: node dist/examples/model-parallel.js [--steps N]\n');
  process.exit(0);
}
const steps = Number(values.steps);
if (!Number.isSafeInteger(steps) || steps < 1) {
  process.stderr.write('model-parallel: --steps must be an integer >= 1\n');
  process.exit(2);
}

const gpus = gpuCount();
const [dev0, dev1] = gpus >= 2 ? ['cuda:0', 'cuda:1'] : gpus === 1 ? ['cuda:0', 'cuda:0'] : ['cpu', 'cpu'];
if (gpus < 2) {
  console.log(`model-parallel: ${gpus === 0 ? 'no GPU on this machine' : 'one GPU'}: both halves run on ${dev0} (the code is the same as on two devices)`);
}

/** Two stages on two devices; forward moves the activations from the first to the second. */
class TwoDeviceMlp extends nn.Module {
  readonly stage1: nn.Sequential;
  readonly stage2: nn.Sequential;
  constructor() {
    super();
    this.stage1 = new nn.Sequential(new nn.Linear(IMAGE_SIZE, 256), new nn.ReLU()).to(dev0);
    this.stage2 = new nn.Sequential(new nn.Linear(256, 128), new nn.ReLU(), new nn.Linear(128, 10)).to(dev1);
    this.registerModule('stage1', this.stage1);
    this.registerModule('stage2', this.stage2);
  }
  forward(x: Tensor): Tensor {
    const h = this.stage1.forward(x.to(dev0));
    return this.stage2.forward(h.to(dev1));
  }
}

manualSeed(0);
const model = new TwoDeviceMlp();
const opt = new optim.AdamW([...model.parameters()], { lr: 2e-3 });
const { train, test } = loadMnist();
const bs = 128;
const labels = (from: number, n: number, s = train) => tensor(BigInt64Array.from(s.labels.subarray(from, from + n), (v) => BigInt(v)), { dtype: 'int64' });
for (let step = 0; step < steps; step++) {
  const start = (step * bs) % (train.length - bs);
  const x = tensor(train.images.slice(start * IMAGE_SIZE, (start + bs) * IMAGE_SIZE)).reshape([bs, IMAGE_SIZE]);
  const loss = nn.functional.crossEntropy(model.forward(x), labels(start, bs).to(dev1)); // the loss lives on dev1
  loss.backward(); // gradients flow from dev1 back to dev0
  opt.step();
  opt.zeroGrad();
  if (step % 10 === 0 || step === steps - 1) console.log(`step ${String(step + 1).padStart(3)}/${steps}  loss ${((await loss.data())[0] as number).toFixed(4)}`);
}
const n = 1000;
const pred = noGrad(() => model.forward(tensor(test.images.slice(0, n * IMAGE_SIZE)).reshape([n, IMAGE_SIZE])).argmax(1));
const p = await pred.data();
let correct = 0;
for (let i = 0; i < n; i++) if (Number(p[i]) === test.labels[i]) correct++;
console.log(`model-parallel: stage1 on ${dev0}, stage2 on ${dev1}; accuracy ${(correct / 10).toFixed(1)}% on ${n} held-out digits after ${steps} steps`);
