/**
 * `node-nccl bench <collective>` options: nccl-tests' flags with nccl-tests' meanings and defaults,
 * plus --backend, --np and --json. Parsing is pure (no addon, no processes) so it is tested alone.
 */
import { ArgumentError } from '../errors.js';
import { type FlagSpec, helpText, parseFlags, parseInteger, parseSize, MAX_SIZE_BYTES } from './argparse.js';
import { type CollectiveName, COLLECTIVE_NAMES, isCollectiveName } from './collectives.js';
import { type BenchDType, type ReduceOp, parseDTypes, parseOps } from './dtypes.js';

export type BackendChoice = 'auto' | 'cpu' | 'nccl';

/** 0 = rank 0's time, 1 = average over ranks, 2 = minimum, 3 = maximum (nccl-tests' -a). */
export type AverageMode = 0 | 1 | 2 | 3;

export interface CollectiveOptions {
  collective: CollectiveName;
  /** -b, default 32M (nccl-tests' default). */
  minBytes: number;
  /** -e, default 32M. */
  maxBytes: number;
  /** -f, default 1 (then -i steps). */
  stepFactor: number;
  /** -i, default 1M. */
  stepBytes: number;
  /** -n, default 20. */
  iters: number;
  /** -w, default 5. */
  warmupIters: number;
  /** -c, default 1: the number of checked iterations (0 turns the check off, #wrong shows N/A). */
  check: number;
  /** -d, default float. */
  dtypes: BenchDType[];
  /** -o, default sum. */
  ops: ReduceOp[];
  /** -r, default 0. */
  root: number;
  /** -z, default 0: 1 waits for each collective and barriers after it. */
  blocking: boolean;
  /** -a, default 1. */
  average: AverageMode;
  /** -G, default 0: the number of CUDA-graph launches of the captured iterations. */
  graphLaunches: number;
  /** -T, default 0: seconds before a collective that does not complete is an error (0: the process group's default). */
  timeoutSec: number;
  /** --backend, default auto: nccl where a GPU is present, cpu otherwise. */
  backend: BackendChoice;
  /** --np: ranks to start through the launcher; undefined when not given. */
  np: number | undefined;
  /** --json: file to write the results to. */
  json: string | undefined;
  help: boolean;
}

export const COLLECTIVE_FLAGS: readonly FlagSpec[] = [
  { key: 'minBytes', short: 'b', long: ['minbytes'], meta: 'size', help: 'smallest size in bytes, K/M/G suffixes (default 32M)' },
  { key: 'maxBytes', short: 'e', long: ['maxbytes'], meta: 'size', help: 'largest size in bytes (default 32M)' },
  { key: 'stepFactor', short: 'f', long: ['stepfactor'], meta: 'n', help: 'multiply the size by n each step (default 1: use -i)' },
  { key: 'stepBytes', short: 'i', long: ['stepbytes'], meta: 'size', help: 'add this many bytes each step when -f is 1 (default 1M)' },
  { key: 'iters', short: 'n', long: ['iters'], meta: 'n', help: 'timed iterations per size (default 20)' },
  { key: 'warmupIters', short: 'w', long: ['warmup_iters', 'warmup-iters'], meta: 'n', help: 'warm-up iterations (default 5)' },
  { key: 'check', short: 'c', long: ['check'], meta: 'n', help: 'check results n times per size, 0 = off (default 1)' },
  { key: 'dtype', short: 'd', long: ['datatype', 'dtype'], meta: 'type', help: 'float|half|bfloat16|double|int32|int64|uint8 (or float32, float16, float64), all (default float)' },
  { key: 'op', short: 'o', long: ['op'], meta: 'op', help: 'sum|prod|min|max|avg|all (default sum)' },
  { key: 'root', short: 'r', long: ['root'], meta: 'rank', help: 'root of broadcast/reduce (default 0)' },
  { key: 'blocking', short: 'z', long: ['blocking'], meta: '0/1', help: 'wait for each collective and barrier (default 0)' },
  { key: 'average', short: 'a', long: ['average'], meta: '0-3', help: 'time reported: 0 rank 0, 1 average, 2 min, 3 max over ranks (default 1)' },
  { key: 'graph', short: 'G', long: ['cudagraph'], meta: 'n', help: 'capture the iterations in a CUDA graph, launch it n times (nccl only; default 0)' },
  { key: 'timeout', short: 'T', long: ['timeout'], meta: 'sec', help: 'fail a collective that takes longer (default: process group timeout)' },
  { key: 'backend', long: ['backend'], meta: 'nccl|cpu', help: 'communication backend (default: nccl with a GPU, cpu without)' },
  { key: 'np', long: ['np', 'nproc-per-node'], meta: 'N', help: 'start N ranks through `node-nccl run` (rank 0 prints)' },
  { key: 'json', long: ['json'], meta: 'file', help: 'also write the results as JSON (see BENCHMARKS.md for the schema)' },
  { key: 'help', short: 'h', long: ['help'], boolean: true, help: 'this help' },
];

export function collectiveHelp(): string {
  return helpText(
    `usage: node-nccl bench <${COLLECTIVE_NAMES.join('|')}> [options]\n\n` +
      'nccl-tests compatible: the same flags, table and bandwidth formulas.',
    COLLECTIVE_FLAGS,
  );
}

/** Hard limit on the number of size steps: more is a typo (-i 8 up to 1G), not a benchmark. */
export const MAX_STEPS = 10000;

/** The sizes nccl-tests visits: min, then *factor (factor > 1) or +step, while <= max. */
export function sizeSteps(minBytes: number, maxBytes: number, stepFactor: number, stepBytes: number): number[] {
  const out: number[] = [];
  for (let s = minBytes; s <= maxBytes; ) {
    out.push(s);
    const next = stepFactor > 1 ? s * stepFactor : s + stepBytes;
    if (next <= s) break; // -b equal to -e with a zero step: one size
    s = next;
    if (out.length > MAX_STEPS) {
      throw new ArgumentError(
        `sizes ${minBytes}..${maxBytes} with ${stepFactor > 1 ? `-f ${stepFactor}` : `-i ${stepBytes}`} make more than ${MAX_STEPS} steps; use a larger step`,
      );
    }
  }
  return out;
}

export function parseCollectiveArgs(name: string, argv: readonly string[]): CollectiveOptions {
  if (!isCollectiveName(name)) {
    throw new ArgumentError(`bench: unknown benchmark '${name}' (expected ${COLLECTIVE_NAMES.join(', ')}, gemm, ops, ddp or report)`);
  }
  const cmd = `bench ${name}`;
  const { values, positionals } = parseFlags(argv, COLLECTIVE_FLAGS, cmd);
  if (positionals.length) throw new ArgumentError(`${cmd}: unexpected argument '${positionals[0]}'`);
  const get = (k: string): string | undefined => values.get(k);
  const int = (k: string, flag: string, def: number, min: number, max?: number): number => {
    const v = get(k);
    return v === undefined ? def : parseInteger(flag, v, min, max);
  };
  const minBytes = get('minBytes') === undefined ? 32 * 1024 ** 2 : parseSize('-b', get('minBytes')!);
  const maxBytes = get('maxBytes') === undefined ? 32 * 1024 ** 2 : parseSize('-e', get('maxBytes')!);
  if (minBytes > maxBytes) {
    throw new ArgumentError(`invalid sizes for 'minbytes' and 'maxbytes': ${minBytes} > ${maxBytes} (-b must not exceed -e)`);
  }
  const stepFactor = int('stepFactor', '-f', 1, 1, 1024);
  const stepBytes = get('stepBytes') === undefined ? 1024 ** 2 : parseSize('-i', get('stepBytes')!);
  if (stepFactor > 1 && minBytes === 0) {
    throw new ArgumentError(`-b 0 with -f ${stepFactor}: a size of 0 never grows by a factor; start at -b 1 or more`);
  }
  if (stepFactor === 1 && stepBytes === 0 && minBytes < maxBytes) {
    throw new ArgumentError(`-i 0: the step must be at least 1 byte when -f is 1`);
  }
  sizeSteps(minBytes, maxBytes, stepFactor, stepBytes); // validates the step count
  const backend = (get('backend') ?? 'auto').toLowerCase();
  if (backend !== 'auto' && backend !== 'cpu' && backend !== 'nccl') {
    throw new ArgumentError(`--backend ${get('backend')}: unknown backend (expected nccl or cpu)`);
  }
  const np = get('np') === undefined ? undefined : parseInteger('--np', get('np')!, 1, 1024);
  const root = int('root', '-r', 0, 0, 1023);
  if (np !== undefined && root >= np) {
    throw new ArgumentError(`-r ${root}: root out of range for --np ${np} (expected 0..${np - 1})`, 'ERR_INDEX_OUT_OF_RANGE');
  }
  const json = get('json');
  if (json !== undefined && json.trim() === '') throw new ArgumentError(`--json: expected a file name`);
  return {
    collective: name,
    minBytes,
    maxBytes,
    stepFactor,
    stepBytes,
    iters: int('iters', '-n', 20, 1, 1e7),
    warmupIters: int('warmupIters', '-w', 5, 0, 1e7),
    check: int('check', '-c', 1, 0, 1000),
    dtypes: parseDTypes(get('dtype') ?? 'float'),
    ops: parseOps(get('op') ?? 'sum'),
    root,
    blocking: int('blocking', '-z', 0, 0, 1) === 1,
    average: int('average', '-a', 1, 0, 3) as AverageMode,
    graphLaunches: int('graph', '-G', 0, 0, 1e6),
    timeoutSec: int('timeout', '-T', 0, 0, 86400),
    backend: backend as BackendChoice,
    np,
    json,
    help: get('help') === 'true',
  };
}

export { MAX_SIZE_BYTES };
