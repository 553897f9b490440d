/** Rank 1 builds a different first layer: DDP's construction must say which parameter and ranks. */
import { distributed as dist, DistributedDataParallel, nn } from '../../../lib/index.js';

async function main(): Promise<void> {
  await dist.initProcessGroup({ backend: 'cpu', timeoutMs: 20_000 });
  const hidden = dist.getRank() === 1 ? 5 : 8;
  const model = new nn.Sequential(new nn.Linear(6, hidden), new nn.Tanh(), new nn.Linear(hidden, 3));
  let out: unknown = { code: null, message: 'no error' };
  try {
    await DistributedDataParallel.create(model);
  } catch (e) {
    out = { code: (e as { code?: string }).code, message: (e as Error).message };
  }
  process.stdout.write(`RESULT ${JSON.stringify(out)}\n`);
  await dist.destroyProcessGroup();
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(1);
});
