/**
 * The JSON results schema (`--json out.json`), shared by node-nccl's benchmarks and the comparison
 * harnesses in bench/compare/ (PyTorch, Open MPI). Documented in BENCHMARKS.md ("JSON schema");
 * validateResult() is the one reader: `bench report` and the tests go through it.
 */
import { ArgumentError } from '../errors.js';

export const SCHEMA_ID = 'node-nccl-bench/1';

export interface Environment {
  /** GPU name(s), or the CPU model for host-only runs. */
  device: string | null;
  /** NVIDIA driver version, null without one. */
  driver: string | null;
  /** CUDA runtime version, null when not built with / not running CUDA. */
  cuda: string | null;
  /** NCCL version loaded, null when not loaded. */
  nccl: string | null;
  /** cuBLAS version loaded, null when not loaded. */
  cublas: string | null;
  /** Node.js version (process.version), or null for non-Node tools. */
  node: string | null;
  /** Versions of the software measured: node-nccl, torch, Open MPI, ... */
  packages: Record<string, string>;
  host: { hostname: string; platform: string; arch: string; cpus: number; cpuModel: string; memoryBytes: number };
}

export interface CommandInfo {
  /** The arguments as given (after the program name). */
  argv: string[];
  /** The command line a user would type to repeat the run. */
  line: string;
}

export interface TimingCell {
  timeUs: number;
  /** GB/s, 1e9 bytes per second. */
  algBw: number;
  busBw: number;
  /** Wrong elements summed over ranks; null when not checked (N/A). */
  wrong: number | null;
}

export interface CollectiveRow {
  size: number;
  count: number;
  type: string;
  redop: string;
  root: number;
  outOfPlace: TimingCell;
  inPlace: TimingCell;
}

export interface CollectiveConfig {
  backend: string;
  worldSize: number;
  minBytes: number;
  maxBytes: number;
  stepFactor: number;
  stepBytes: number;
  iters: number;
  warmupIters: number;
  check: number;
  blocking: boolean;
  average: number;
  graphLaunches: number;
}

interface ResultBase {
  schema: typeof SCHEMA_ID;
  /** Who measured: 'node-nccl', 'torch', 'openmpi'. */
  tool: string;
  /** Legend label in reports, e.g. "node-nccl cpu np=2". */
  label: string;
  /** ISO 8601 time the run ended. */
  createdAt: string;
  command: CommandInfo;
  environment: Environment;
}

export interface CollectiveResult extends ResultBase {
  kind: 'collective';
  /** all-reduce, all-gather, reduce-scatter, broadcast, reduce, all-to-all, send-recv. */
  benchmark: string;
  config: CollectiveConfig;
  /** The `# Using devices` lines, one per rank. */
  devices: string[];
  rows: CollectiveRow[];
  summary: { outOfBounds: number; avgBusBw: number };
}

export interface GemmRow {
  m: number;
  n: number;
  k: number;
  dtype: string;
  tf32: boolean;
  device: string;
  timeUs: number;
  tflops: number;
}

export interface OpsRow {
  op: string;
  numel: number;
  dtype: string;
  device: string;
  /** Bytes read + written per call. */
  bytes: number;
  timeUs: number;
  /** Effective bandwidth, GB/s. */
  bandwidth: number;
}

export interface DdpRow {
  worldSize: number;
  overlap: boolean;
  backend: string;
  batchSize: number;
  stepMs: number;
  samplesPerSec: number;
}

export interface GemmResult extends ResultBase {
  kind: 'gemm';
  benchmark: 'gemm';
  config: { iters: number; warmupIters: number };
  rows: GemmRow[];
}

export interface OpsResult extends ResultBase {
  kind: 'ops';
  benchmark: 'ops';
  config: { iters: number; warmupIters: number };
  rows: OpsRow[];
  /** Host time to issue one tiny op (the launch overhead), microseconds, per device. */
  launchOverheadUs: Record<string, number>;
}

export interface DdpResult extends ResultBase {
  kind: 'ddp';
  benchmark: 'ddp';
  config: { iters: number; warmupIters: number; model: string };
  rows: DdpRow[];
}

export interface ConvRow {
  case: string;
  kind: 'conv' | 'maxpool';
  /** [n, c, h, w] */
  input: number[];
  outChannels: number;
  kernel: number;
  stride: number;
  padding: number;
  groups: number;
  dtype: string;
  device: string;
  /** Forward only, milliseconds. */
  fwdMs: number;
  /** Forward + backward (input, weight and bias gradients), milliseconds. */
  trainMs: number;
  /** Of the training step (convolutions; null for pooling). */
  gflops: number | null;
  /** PyTorch on the same case in the same run (null: not run). */
  torchFwdMs: number | null;
  torchTrainMs: number | null;
}

export interface ConvResult extends ResultBase {
  kind: 'conv';
  benchmark: 'conv';
  config: { iters: number; warmupIters: number; threads: number; torch: string | null };
  rows: ConvRow[];
}

export type BenchResult = CollectiveResult | GemmResult | OpsResult | DdpResult | ConvResult;

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

type Check = (v: unknown, path: string, errs: string[]) => void;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const num: Check = (v, p, e) => {
  if (typeof v !== 'number' || !Number.isFinite(v)) e.push(`${p}: expected a finite number, got ${JSON.stringify(v)}`);
};
const nonneg: Check = (v, p, e) => {
  num(v, p, e);
  if (typeof v === 'number' && v < 0) e.push(`${p}: expected >= 0, got ${v}`);
};
const int: Check = (v, p, e) => {
  if (typeof v !== 'number' || !Number.isInteger(v)) e.push(`${p}: expected an integer, got ${JSON.stringify(v)}`);
};
const str: Check = (v, p, e) => {
  if (typeof v !== 'string') e.push(`${p}: expected a string, got ${JSON.stringify(v)}`);
};
const bool: Check = (v, p, e) => {
  if (typeof v !== 'boolean') e.push(`${p}: expected a boolean, got ${JSON.stringify(v)}`);
};
const strOrNull: Check = (v, p, e) => {
  if (v !== null && typeof v !== 'string') e.push(`${p}: expected a string or null, got ${JSON.stringify(v)}`);
};
const intOrNull: Check = (v, p, e) => {
  if (v !== null) int(v, p, e);
};
const nonnegOrNull: Check = (v, p, e) => {
  if (v !== null) nonneg(v, p, e);
};
const obj =
  (fields: Record<string, Check>): Check =>
  (v, p, e) => {
    if (!isObj(v)) {
      e.push(`${p}: expected an object`);
      return;
    }
    for (const [k, c] of Object.entries(fields)) {
      if (!(k in v)) e.push(`${p}.${k}: missing`);
      else c(v[k], `${p}.${k}`, e);
    }
  };
const arr =
  (item: Check): Check =>
  (v, p, e) => {
    if (!Array.isArray(v)) {
      e.push(`${p}: expected an array`);
      return;
    }
    v.forEach((x, i) => item(x, `${p}[${i}]`, e));
  };
const record =
  (item: Check): Check =>
  (v, p, e) => {
    if (!isObj(v)) {
      e.push(`${p}: expected an object`);
      return;
    }
    for (const [k, x] of Object.entries(v)) item(x, `${p}.${k}`, e);
  };

const environment = obj({
  device: strOrNull,
  driver: strOrNull,
  cuda: strOrNull,
  nccl: strOrNull,
  cublas: strOrNull,
  node: strOrNull,
  packages: record(str),
  host: obj({ hostname: str, platform: str, arch: str, cpus: int, cpuModel: str, memoryBytes: nonneg }),
});
const base: Record<string, Check> = {
  tool: str,
  label: str,
  createdAt: (v, p, e) => {
    str(v, p, e);
    if (typeof v === 'string' && Number.isNaN(Date.parse(v))) e.push(`${p}: not an ISO 8601 time: ${v}`);
  },
  command: obj({ argv: arr(str), line: str }),
  environment,
  benchmark: str,
};
const timing = obj({ timeUs: nonneg, algBw: nonneg, busBw: nonneg, wrong: intOrNull });
const iterCfg = obj({ iters: int, warmupIters: int });

const byKind: Record<string, Check> = {
  collective: obj({
    ...base,
    config: obj({
      backend: str,
      worldSize: int,
      minBytes: int,
      maxBytes: int,
      stepFactor: int,
      stepBytes: int,
      iters: int,
      warmupIters: int,
      check: int,
      blocking: bool,
      average: int,
      graphLaunches: int,
    }),
    devices: arr(str),
    rows: arr(obj({ size: int, count: int, type: str, redop: str, root: int, outOfPlace: timing, inPlace: timing })),
    summary: obj({ outOfBounds: int, avgBusBw: nonneg }),
  }),
  gemm: obj({
    ...base,
    config: iterCfg,
    rows: arr(obj({ m: int, n: int, k: int, dtype: str, tf32: bool, device: str, timeUs: nonneg, tflops: nonneg })),
  }),
  ops: obj({
    ...base,
    config: iterCfg,
    rows: arr(obj({ op: str, numel: int, dtype: str, device: str, bytes: int, timeUs: nonneg, bandwidth: nonneg })),
    launchOverheadUs: record(nonneg),
  }),
  conv: obj({
    ...base,
    config: obj({ iters: int, warmupIters: int, threads: int, torch: strOrNull }),
    rows: arr(obj({
      case: str, kind: str, input: arr(int), outChannels: int, kernel: int, stride: int, padding: int, groups: int,
      dtype: str, device: str, fwdMs: nonneg, trainMs: nonneg, gflops: nonnegOrNull, torchFwdMs: nonnegOrNull,
      torchTrainMs: nonnegOrNull,
    })),
  }),
  ddp: obj({
    ...base,
    config: obj({ iters: int, warmupIters: int, model: str }),
    rows: arr(
      obj({ worldSize: int, overlap: bool, backend: str, batchSize: int, stepMs: nonneg, samplesPerSec: nonneg }),
    ),
  }),
};

/** Checks a parsed JSON value against the schema; returns it typed, or throws listing every problem. */
export function validateResult(value: unknown, source = 'result'): BenchResult {
  const errs: string[] = [];
  if (!isObj(value)) throw new ArgumentError(`${source}: not a node-nccl benchmark result (expected a JSON object)`);
  if (value.schema !== SCHEMA_ID) {
    throw new ArgumentError(`${source}: schema is ${JSON.stringify(value.schema)}, expected "${SCHEMA_ID}"`);
  }
  const kind = value.kind;
  const check = typeof kind === 'string' ? byKind[kind] : undefined;
  if (!check) {
    throw new ArgumentError(`${source}: kind is ${JSON.stringify(kind)}, expected one of ${Object.keys(byKind).join(', ')}`);
  }
  check(value, '$', errs);
  if (errs.length) {
    const shown = errs.slice(0, 12).join('\n  ');
    throw new ArgumentError(`${source}: does not match schema ${SCHEMA_ID}:\n  ${shown}${errs.length > 12 ? `\n  ... ${errs.length - 12} more` : ''}`);
  }
  return value as unknown as BenchResult;
}
