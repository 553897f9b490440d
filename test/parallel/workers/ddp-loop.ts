/**
 * DDP training that runs until something breaks (test/parallel/ddp-faults.test.ts): every rank
 * prints `STEP <n>` after each optimizer step; the test kills or stops one rank from outside.
 * A survivor prints `RESULT {code, message, msSinceStep}` and exits 3 when a step fails;
 * reaching `maxSteps` prints RESULT "finished" and exits 0.
 *
 *   node ddp-loop.js <maxSteps>        (timeout: TEST_DIST_TIMEOUT_MS, default 4000)
 */
import { distributed as dist, DistributedDataParallel, type Tensor } from '../../../lib/index.js';
import { lossOf, makeModel, makeOptimizer, rows } from './common.js';

const maxSteps = Number(process.argv[2] ?? 1000);
const B = 8;

async function main(): Promise<void> {
  await dist.initProcessGroup({ backend: 'cpu', timeoutMs: Number(process.env.TEST_DIST_TIMEOUT_MS ?? 4000) });
  const rank = dist.getRank();
  const n = dist.getWorldSize();
  // a model big enough for several gradient buckets (all-reduces in flight during backward)
  const model = makeModel(1, 256);
  const ddp = await DistributedDataParallel.create(model, { bucketCapMb: 0.002 });
  const opt = makeOptimizer('sgd', ddp.parameters());
  let last = Date.now();
  for (let step = 0; step < maxSteps; step++) {
    try {
      const { x, y } = rows(step * n * B + rank * B, B);
      await ddp.backward(lossOf(ddp.forward(x) as Tensor, y));
      opt.step();
      opt.zeroGrad();
    } catch (e) {
      const err = e as { code?: string; message?: string };
      process.stdout.write(`RESULT ${JSON.stringify({ code: err.code ?? null, message: String(err.message), msSinceStep: Date.now() - last })}\n`);
      process.exit(3);
    }
    last = Date.now();
    process.stdout.write(`STEP ${step}\n`);
  }
  process.stdout.write('RESULT "finished"\n');
  await dist.destroyProcessGroup();
}

main().catch((e: unknown) => {
  process.stderr.write(`rank ${process.env.RANK}: ${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(1);
});
