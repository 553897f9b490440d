/**
 * `node-nccl bench <collective>`: resolves the backend, refuses what it cannot run (before any
 * process starts), then either starts --np ranks through the launcher or, inside a rank (RANK is
 * set, or no --np), joins the process group and runs the driver. Rank 0 prints and writes --json.
 */
import { ArgumentError, DeviceError, UnsupportedError } from '../errors.js';
import { runCollectiveBenchmark } from './driver.js';
import { collectEnvironment } from './env.js';
import { launchRanks, stripNp } from './launch.js';
import { type BackendChoice, type CollectiveOptions, collectiveHelp, parseCollectiveArgs } from './options.js';
import { optionalModule } from './optional.js';
import { commandLine, lineSink, writeResult } from './output.js';
import { SCHEMA_ID, type CollectiveResult } from './schema.js';
import { COLLECTIVES } from './collectives.js';

/** The original argv of the user's command, handed to the ranks so --json records it. */
const ARGV_ENV = 'NODE_NCCL_BENCH_ARGV';

interface CudaProbe {
  deviceCount(): number;
  reason: string | null;
}

/** How many GPUs this process sees, and why none when none (without throwing). */
export async function probeGpus(): Promise<CudaProbe> {
  try {
    const lib = await optionalModule<{ cuda?: { deviceCount?(): number; isAvailable?(): boolean } }>('../index.js');
    const cuda = lib?.cuda;
    if (!cuda?.deviceCount) return { deviceCount: () => 0, reason: 'this build of node-nccl has no CUDA runtime module' };
    const n = cuda.deviceCount();
    return { deviceCount: () => n, reason: n > 0 ? null : 'no CUDA device is visible (cuda.deviceCount() is 0)' };
  } catch (e) {
    return { deviceCount: () => 0, reason: (e as Error).message };
  }
}

/** dtypes each backend carries (node-nccl's names). */
export const BACKEND_DTYPES: Record<'cpu' | 'nccl', readonly string[]> = {
  cpu: ['float32', 'float64', 'float16', 'bfloat16', 'int32', 'int64', 'uint8'],
  nccl: ['float32', 'float64', 'float16', 'bfloat16', 'int32', 'int64', 'uint8'],
};

/**
 * NCCL ranks on `gpus` GPUs of one machine: one per GPU, or, with NCCL_MULTI_RANK_GPU_ENABLE=1
 * (NCCL >= 2.30), at most 2 per GPU, the most NCCL's documentation says its default configuration
 * runs ("up to 2 ranks per GPU"; more can exhaust the GPU's resources and hang). `what` names the
 * option for the message.
 */
export function checkRanksPerGpu(what: string, ranks: number, gpus: number, env: NodeJS.ProcessEnv = process.env): void {
  if (ranks <= gpus) return;
  const machine = `this machine has ${gpus} GPU${gpus === 1 ? '' : 's'}`;
  if (env.NCCL_MULTI_RANK_GPU_ENABLE !== '1') {
    throw new ArgumentError(
      `${what}: the nccl backend runs one rank per GPU and ${machine} ` +
        '(up to 2 ranks on one GPU need NCCL >= 2.30 and NCCL_MULTI_RANK_GPU_ENABLE=1)',
      'ERR_INDEX_OUT_OF_RANGE',
    );
  }
  if (ranks > 2 * gpus) {
    throw new ArgumentError(
      `${what}: NCCL_MULTI_RANK_GPU_ENABLE=1 allows at most 2 ranks per GPU (NCCL's documentation: its default ` +
        `configuration runs up to 2; more can exhaust a GPU and hang), and ${machine}: at most ${2 * gpus} ranks`,
      'ERR_INDEX_OUT_OF_RANGE',
    );
  }
}

/**
 * Checks the options against the backend and the machine; returns the concrete backend. Pure
 * apart from the GPU probe, so tests call it with a fake probe.
 */
export function resolveBackend(opts: CollectiveOptions, gpus: CudaProbe, env: NodeJS.ProcessEnv = process.env): 'cpu' | 'nccl' {
  const choice: BackendChoice = opts.backend;
  const backend = choice === 'auto' ? (gpus.deviceCount() > 0 ? 'nccl' : 'cpu') : choice;
  if (backend === 'nccl') {
    const n = gpus.deviceCount();
    if (n === 0) throw new DeviceError('ERR_NO_GPU', `--backend nccl needs a GPU: ${gpus.reason ?? 'none found'}. Use --backend cpu to benchmark the CPU backend.`);
    checkRanksPerGpu(`--np ${opts.np ?? Number(env.LOCAL_WORLD_SIZE ?? 1)}`, opts.np ?? Number(env.LOCAL_WORLD_SIZE ?? 1), n, env);
  }
  if (opts.graphLaunches > 0 && backend === 'cpu') {
    throw new UnsupportedError(`-G ${opts.graphLaunches}: CUDA graphs capture GPU work; the cpu backend has none. Use --backend nccl, or -G 0.`);
  }
  for (const d of opts.dtypes) {
    if (!BACKEND_DTYPES[backend].includes(d.name)) {
      throw new ArgumentError(`-d ${d.ncclName}: the ${backend} backend has no ${d.name} collectives (it has ${BACKEND_DTYPES[backend].join(', ')})`, 'ERR_DTYPE');
    }
  }
  const spec = COLLECTIVES[opts.collective];
  if (spec.usesRoot && opts.np !== undefined && opts.root >= opts.np) {
    throw new ArgumentError(`-r ${opts.root}: out of range for --np ${opts.np}`, 'ERR_INDEX_OUT_OF_RANGE');
  }
  return backend;
}

export async function main(name: string, argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(collectiveHelp());
    return 0;
  }
  const opts = parseCollectiveArgs(name, argv);
  const inRank = process.env.RANK !== undefined && process.env.WORLD_SIZE !== undefined;
  const gpus = await probeGpus();
  const backend = resolveBackend(opts, gpus);

  if (!inRank && opts.np !== undefined) {
    const benchArgv = [name, ...stripNp(argv).filter((a, i, all) => a !== '--backend' && all[i - 1] !== '--backend' && !a.startsWith('--backend=')), '--backend', backend];
    return launchRanks({ np: opts.np, benchArgv, env: { [ARGV_ENV]: JSON.stringify(['bench', name, ...argv]) } });
  }
  return runRank(name, argv, opts, backend);
}

async function runRank(name: string, argv: string[], opts: CollectiveOptions, backend: 'cpu' | 'nccl'): Promise<number> {
  const { createDistComm } = await import('./dist-comm.js');
  const comm = await createDistComm({ backend, timeoutSec: opts.timeoutSec });
  try {
    const emit = lineSink();
    const outcome = await runCollectiveBenchmark(comm, opts, { emit });
    if (comm.rank === 0 && opts.json) {
      const userArgv = process.env[ARGV_ENV] ? (JSON.parse(process.env[ARGV_ENV]!) as string[]) : ['bench', name, ...argv];
      const result: CollectiveResult = {
        schema: SCHEMA_ID,
        kind: 'collective',
        tool: 'node-nccl',
        label: `node-nccl ${backend} np=${comm.worldSize}`,
        benchmark: name,
        createdAt: new Date().toISOString(),
        command: { argv: userArgv, line: commandLine(userArgv) },
        environment: await collectEnvironment({ useGpu: backend === 'nccl' }),
        ...outcome,
      };
      const path = writeResult(opts.json, result);
      emit(`# Results written to ${path}`);
    }
    return outcome.summary.outOfBounds ? 1 : 0;
  } finally {
    await comm.close();
  }
}
