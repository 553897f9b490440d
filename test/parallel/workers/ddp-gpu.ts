/** One NCCL rank on cuda:LOCAL_RANK: 3 SGD steps of batch 8 through DDP; prints the parameters. */
import { distributed as dist, DistributedDataParallel, type Tensor } from '../../../lib/index.js';
import { lossOf, makeModel, makeOptimizer, paramValues, rows } from './common.js';

async function main(): Promise<void> {
  const device = `cuda:${process.env.LOCAL_RANK ?? 0}`;
  await dist.initProcessGroup({ backend: 'nccl', timeoutMs: 60_000 });
  const model = makeModel().to(device);
  const ddp = await DistributedDataParallel.create(model, { deviceIds: [device] });
  const opt = makeOptimizer('sgd', ddp.parameters());
  const n = dist.getWorldSize();
  for (let s = 0; s < 3; s++) {
    const { x, y } = rows(s * n * 8 + dist.getRank() * 8, 8);
    await ddp.backward(lossOf(ddp.forward(x) as Tensor, y.to(device)));
    opt.step();
    opt.zeroGrad();
  }
  const cpu = makeModel();
  cpu.loadStateDict(Object.fromEntries(Object.entries(model.stateDict()).map(([k, v]) => [k, v.to('cpu')])));
  process.stdout.write(`RESULT ${JSON.stringify(await paramValues(cpu))}\n`);
  await dist.destroyProcessGroup();
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(1);
});
