/**
 * PyTorch's DDP training loop, line by line in JavaScript spelling (test/parallel/torch-ddp.test.ts
 * compares its result with torch DDP on gloo, scripts/torch_fixtures/ddp_gloo.py): no await in the
 * loop, the constructor used at once, loss.backward() then opt.step(), save on rank 0.
 *
 *   node torch-style.js <out.safetensors>
 */
import { dist, nn, optim, noGrad, save, DataLoader, DistributedDataParallel, DistributedSampler, TensorDataset, type Tensor } from '../../../lib/index.js';
import { fromFixture, torchFixture, type EncodedTensor } from '../../helpers/torch-fixtures.js';

interface Case {
  config: { seed: number; batch: number; steps: number; lr: number; momentum: number; in: number; hidden: number; classes: number };
  x: EncodedTensor;
  y: EncodedTensor;
  initial: Record<string, EncodedTensor>;
}
const f = torchFixture<Case>('ddp_gloo');
const c = f.config;

await dist.initProcessGroup({ backend: 'cpu' });                     // dist.init_process_group("gloo")
const rank = dist.getRank();
const ds = new TensorDataset(fromFixture(f.x), fromFixture(f.y));
const model = new nn.Sequential(new nn.Linear(c.in, c.hidden), new nn.Tanh(), new nn.Linear(c.hidden, c.classes));
model.loadStateDict(Object.fromEntries(Object.entries(f.initial).map(([k, v]) => [k, fromFixture(v)])));
if (rank === 1) noGrad(() => { for (const p of model.parameters()) p.add_(1.0); });   // DDP must broadcast rank 0's
const ddp = new DistributedDataParallel(model);                       // ddp = DDP(model)
const opt = new optim.SGD(ddp.parameters(), { lr: c.lr, momentum: c.momentum });
const sampler = new DistributedSampler(ds, { shuffle: true, seed: c.seed });
const loader = new DataLoader(ds, { batchSize: c.batch, sampler });
let step = 0;
for (let epoch = 0; step < c.steps; epoch++) {
  sampler.setEpoch(epoch);
  for await (const [xb, yb] of loader as AsyncIterable<[Tensor, Tensor]>) {
    const loss = nn.functional.crossEntropy(ddp.forward(xb), yb);  // F.cross_entropy(ddp(xb), yb)
    opt.zeroGrad();
    loss.backward();
    opt.step();
    if (++step === c.steps) break;
  }
}
if (rank === 0) await save(ddp.module.stateDict(), process.argv[2]!);
await dist.barrier();
await dist.destroyProcessGroup();
