/**
 * Checkpoint scenarios for 2+ ranks.
 *   resume DIR   train 6 steps saving at step 3; then a fresh model + optimizer load step 3 and
 *                train to 6: RESULT { unbroken, resumed, loadedStep }
 *   die DIR      save every 2 steps; rank 1 exits abruptly at step 5 (rank 0 must fail, not hang)
 */
import {
  distributed as dist,
  DistributedDataParallel,
  loadCheckpoint,
  saveCheckpoint,
  type Tensor,
} from '../../../lib/index.js';
import { lossOf, makeModel, makeOptimizer, paramValues, rows } from './common.js';

const [mode, dir] = process.argv.slice(2) as [string, string];
const B = 4;

async function train(from: number, to: number, seed: number, opts: { load?: boolean; saveAt?: (s: number) => boolean; dieAt?: number } = {}) {
  const rank = dist.getRank();
  const n = dist.getWorldSize();
  const model = makeModel(seed);
  const ddp = await DistributedDataParallel.create(model);
  const opt = makeOptimizer('adamw', ddp.parameters());
  let step = from;
  if (opts.load) step = (await loadCheckpoint(dir, { model: ddp, optimizer: opt })).step;
  for (; step < to; step++) {
    if (opts.dieAt === step && rank === 1) process.exit(7);
    const { x, y } = rows(step * n * B + rank * B, B);
    await ddp.backward(lossOf(ddp.forward(x) as Tensor, y));
    opt.step();
    opt.zeroGrad();
    if (opts.saveAt?.(step + 1)) {
      const path = await saveCheckpoint(dir, { model: ddp, optimizer: opt, step: step + 1, epoch: 0, extra: { note: 'test' } });
      if (rank === 0) process.stdout.write(`CKPT ${JSON.stringify({ step: step + 1, path, params: await paramValues(model) })}\n`);
    }
  }
  ddp.dispose();
  return { model, step };
}

async function main(): Promise<void> {
  await dist.initProcessGroup({ backend: 'cpu', timeoutMs: mode === 'die' ? 4_000 : 20_000 });
  if (mode === 'resume') {
    const a = await train(0, 6, 1, { saveAt: (s) => s === 3 });
    const unbroken = await paramValues(a.model);
    // A different initial model: everything must come from the checkpoint.
    const b = await train(0, 6, 99, { load: true });
    const resumed = await paramValues(b.model);
    process.stdout.write(`RESULT ${JSON.stringify({ unbroken, resumed })}\n`);
  } else if (mode === 'die') {
    await train(0, 20, 1, { saveAt: (s) => s % 2 === 0, dieAt: 5 });
    process.stdout.write('RESULT "finished without noticing the dead rank"\n');
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  await dist.destroyProcessGroup();
}

main().catch((e: unknown) => {
  process.stderr.write(`rank ${process.env.RANK} failed: ${(e as { code?: string }).code ?? ''} ${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(1);
});
