/**
 * Where a process finds its place in a job (layer: lib/distributed): rank, world size, local rank,
 * the store's address, the token and the timeout, from explicit options, `tcp://host:port`, or the
 * environment written by torchrun / `node-nccl run`, Slurm's srun or Open MPI's mpirun.
 *
 * Precedence for rank and world size: explicit `opts.rank` / `opts.worldSize` (each overrides on its
 * own), then `tcp://…?rank=R&world_size=N`, then the first launcher whose variables are present:
 *
 * | source    | rank           | world size           | local rank                 | local world size                                    |
 * |-----------|----------------|----------------------|----------------------------|-----------------------------------------------------|
 * | env       | RANK           | WORLD_SIZE           | LOCAL_RANK                 | LOCAL_WORLD_SIZE                                    |
 * | slurm     | SLURM_PROCID   | SLURM_NTASKS (or SLURM_NPROCS) | SLURM_LOCALID    | SLURM_NTASKS_PER_NODE, else this node's entry (SLURM_NODEID) of SLURM_TASKS_PER_NODE ("2(x3),1") |
 * | openmpi   | OMPI_COMM_WORLD_RANK | OMPI_COMM_WORLD_SIZE | OMPI_COMM_WORLD_LOCAL_RANK | OMPI_COMM_WORLD_LOCAL_SIZE                  |
 *
 * When the local values are absent the job is taken to be one node (localRank = rank,
 * localWorldSize = worldSize). The store's address: `tcp://host:port` when given, else MASTER_ADDR /
 * MASTER_PORT, else
 * - MASTER_ADDR: under Slurm the first host of SLURM_STEP_NODELIST / SLURM_JOB_NODELIST /
 *   SLURM_NODELIST (where rank 0 runs with srun's default block distribution; bracket ranges such as
 *   `gpu[03-05,9]` are expanded), then SLURM_LAUNCH_NODE_IPADDR; otherwise 127.0.0.1 when every
 *   rank is on this node (localWorldSize === worldSize), and an error naming MASTER_ADDR when not.
 * - MASTER_PORT: under Slurm 20000 + (SLURM_JOB_ID mod 10000), so two jobs sharing a node do not
 *   collide; otherwise 29500 (torchrun's default).
 * The token is NODE_NCCL_STORE_TOKEN ('' = no authentication) and the timeout `opts.timeoutMs`, else
 * NODE_NCCL_TIMEOUT_MS, else 600000 ms (PyTorch's 10 minutes).
 */
import { createError, type NodeNcclError } from '../errors.js';

export type InitSource = 'env' | 'slurm' | 'openmpi' | 'tcp' | 'explicit';

export interface InitOptions {
  /** 'env://' (default) or 'tcp://host:port' (optionally `?rank=R&world_size=N`). */
  initMethod?: string;
  /** This process's rank; overrides the environment. */
  rank?: number;
  /** Number of processes; overrides the environment. */
  worldSize?: number;
  /** Timeout of rendezvous and collectives in ms. Default NODE_NCCL_TIMEOUT_MS, else 600000. */
  timeoutMs?: number;
}

export interface InitConfig {
  rank: number;
  worldSize: number;
  localRank: number;
  localWorldSize: number;
  /** Host of the store (rank 0 binds it, the others connect to it). */
  masterAddr: string;
  masterPort: number;
  /** Shared store secret; '' when none is set. */
  token: string;
  timeoutMs: number;
  /** Where rank and world size came from. */
  source: InitSource;
}

/** PyTorch's default process-group timeout: 10 minutes. */
export const DEFAULT_INIT_TIMEOUT_MS = 600_000;
/** torchrun's default MASTER_PORT. */
export const DEFAULT_MASTER_PORT = 29500;

type Env = Record<string, string | undefined>;

function invalid(message: string): NodeNcclError {
  return createError('ERR_INVALID_ARG', message);
}

/** A non-negative integer from a variable's text; the error names the variable and what was expected. */
function parseIntVar(name: string, text: string, min: number): number {
  const t = text.trim();
  if (!/^\d+$/.test(t) || !Number.isSafeInteger(Number(t)) || Number(t) < min) {
    throw invalid(`${name}=${JSON.stringify(text)} is not valid: expected an integer >= ${min}`);
  }
  return Number(t);
}

function checkIntOpt(name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw invalid(`${name} must be an integer >= ${min}, got ${String(v)}`);
  }
  return v;
}

function parsePort(name: string, text: string): number {
  const t = text.trim();
  const n = Number(t);
  if (!/^\d+$/.test(t) || n < 1 || n > 65535) {
    throw invalid(`${name}=${JSON.stringify(text)} is not a valid port: expected an integer in 1..65535`);
  }
  return n;
}

function nonEmpty(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** The first host of a Slurm hostlist: "gpu[03-05,9],cpu1" → "gpu03", "r[1-2]-n[01-04]" → "r1-n01". */
export function firstSlurmHost(list: string): string | undefined {
  let depth = 0;
  let end = list.length;
  for (let i = 0; i < list.length; i++) {
    const c = list[i];
    if (c === '[') depth++;
    else if (c === ']') depth--;
    else if (c === ',' && depth === 0) {
      end = i;
      break;
    }
  }
  const first = list.slice(0, end).trim();
  if (first === '') return undefined;
  const host = first.replace(/\[([^\]]*)\]/g, (_, inner: string) => inner.split(/[,-]/)[0]!.trim());
  return /[[\]]/.test(host) || host === '' ? undefined : host;
}

/** Expands SLURM_TASKS_PER_NODE ("2(x3),1") into one count per node ([2, 2, 2, 1]). */
export function expandSlurmTasksPerNode(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(',')) {
    const m = /^\s*(\d+)(?:\(x(\d+)\))?\s*$/.exec(part);
    if (!m) throw invalid(`SLURM_TASKS_PER_NODE=${JSON.stringify(text)} is not valid: expected a list such as "2(x3),1"`);
    const reps = m[2] === undefined ? 1 : Number(m[2]);
    if (reps > 1_000_000) throw invalid(`SLURM_TASKS_PER_NODE=${JSON.stringify(text)} repeats a count too many times`);
    for (let i = 0; i < reps; i++) out.push(Number(m[1]));
  }
  return out;
}

interface Detected {
  source: InitSource;
  rank?: number;
  worldSize?: number;
  localRank?: number;
  localWorldSize?: number;
  /** Names of the variables, for error messages. */
  rankName: string;
  worldSizeName: string;
  masterAddr?: string;
  masterPort?: number;
}

function detectTorchrun(env: Env): Detected | undefined {
  if (nonEmpty(env, 'RANK') === undefined && nonEmpty(env, 'WORLD_SIZE') === undefined) return undefined;
  const d: Detected = { source: 'env', rankName: 'RANK', worldSizeName: 'WORLD_SIZE' };
  const r = nonEmpty(env, 'RANK');
  const w = nonEmpty(env, 'WORLD_SIZE');
  if (r !== undefined) d.rank = parseIntVar('RANK', r, 0);
  if (w !== undefined) d.worldSize = parseIntVar('WORLD_SIZE', w, 1);
  const lr = nonEmpty(env, 'LOCAL_RANK');
  const lw = nonEmpty(env, 'LOCAL_WORLD_SIZE');
  if (lr !== undefined) d.localRank = parseIntVar('LOCAL_RANK', lr, 0);
  if (lw !== undefined) d.localWorldSize = parseIntVar('LOCAL_WORLD_SIZE', lw, 1);
  return d;
}

function detectSlurm(env: Env): Detected | undefined {
  const r = nonEmpty(env, 'SLURM_PROCID');
  if (r === undefined) return undefined;
  const wName = nonEmpty(env, 'SLURM_NTASKS') !== undefined ? 'SLURM_NTASKS' : 'SLURM_NPROCS';
  const d: Detected = { source: 'slurm', rankName: 'SLURM_PROCID', worldSizeName: wName };
  d.rank = parseIntVar('SLURM_PROCID', r, 0);
  const w = nonEmpty(env, wName);
  if (w !== undefined) d.worldSize = parseIntVar(wName, w, 1);
  const lr = nonEmpty(env, 'SLURM_LOCALID');
  if (lr !== undefined) d.localRank = parseIntVar('SLURM_LOCALID', lr, 0);
  const perNode = nonEmpty(env, 'SLURM_NTASKS_PER_NODE');
  const tasks = nonEmpty(env, 'SLURM_TASKS_PER_NODE');
  if (perNode !== undefined) {
    d.localWorldSize = parseIntVar('SLURM_NTASKS_PER_NODE', perNode, 1);
  } else if (tasks !== undefined) {
    const counts = expandSlurmTasksPerNode(tasks);
    const nodeIdText = nonEmpty(env, 'SLURM_NODEID');
    const nodeId = nodeIdText === undefined ? 0 : parseIntVar('SLURM_NODEID', nodeIdText, 0);
    if (nodeId >= counts.length) {
      throw invalid(
        `SLURM_NODEID=${nodeId} is out of range for SLURM_TASKS_PER_NODE=${JSON.stringify(tasks)} (${counts.length} node(s))`,
      );
    }
    d.localWorldSize = counts[nodeId]!;
  }
  for (const name of ['SLURM_STEP_NODELIST', 'SLURM_JOB_NODELIST', 'SLURM_NODELIST']) {
    const list = nonEmpty(env, name);
    const host = list === undefined ? undefined : firstSlurmHost(list);
    if (host !== undefined) {
      d.masterAddr = host;
      break;
    }
  }
  d.masterAddr ??= nonEmpty(env, 'SLURM_LAUNCH_NODE_IPADDR');
  const job = nonEmpty(env, 'SLURM_JOB_ID') ?? nonEmpty(env, 'SLURM_JOBID');
  if (job !== undefined && /^\d+$/.test(job)) d.masterPort = 20000 + (Number(job.slice(-4)) % 10000);
  return d;
}

function detectOpenMpi(env: Env): Detected | undefined {
  const r = nonEmpty(env, 'OMPI_COMM_WORLD_RANK');
  if (r === undefined) return undefined;
  const d: Detected = { source: 'openmpi', rankName: 'OMPI_COMM_WORLD_RANK', worldSizeName: 'OMPI_COMM_WORLD_SIZE' };
  d.rank = parseIntVar('OMPI_COMM_WORLD_RANK', r, 0);
  const w = nonEmpty(env, 'OMPI_COMM_WORLD_SIZE');
  if (w !== undefined) d.worldSize = parseIntVar('OMPI_COMM_WORLD_SIZE', w, 1);
  const lr = nonEmpty(env, 'OMPI_COMM_WORLD_LOCAL_RANK');
  const lw = nonEmpty(env, 'OMPI_COMM_WORLD_LOCAL_SIZE');
  if (lr !== undefined) d.localRank = parseIntVar('OMPI_COMM_WORLD_LOCAL_RANK', lr, 0);
  if (lw !== undefined) d.localWorldSize = parseIntVar('OMPI_COMM_WORLD_LOCAL_SIZE', lw, 1);
  return d;
}

interface ParsedTcp {
  host: string;
  port: number;
  rank?: number;
  worldSize?: number;
}

function parseInitMethod(initMethod: string): ParsedTcp | undefined {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/(.*)$/s.exec(initMethod);
  if (!m) {
    throw invalid(`initMethod ${JSON.stringify(initMethod)} is not valid: expected 'env://' or 'tcp://host:port'`);
  }
  const scheme = m[1]!.toLowerCase();
  if (scheme === 'env') {
    if (m[2] !== '') throw invalid(`initMethod ${JSON.stringify(initMethod)} is not valid: 'env://' takes nothing after it`);
    return undefined;
  }
  if (scheme !== 'tcp') {
    throw invalid(
      `initMethod scheme '${scheme}://' is not supported: expected 'env://' or 'tcp://host:port'` +
        (scheme === 'file' ? ' (file:// rendezvous is not implemented; use tcp:// or env://)' : ''),
    );
  }
  let url: URL;
  try {
    url = new URL(initMethod);
  } catch {
    throw invalid(`initMethod ${JSON.stringify(initMethod)} is not a valid URL: expected 'tcp://host:port'`);
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (host === '') throw invalid(`initMethod ${JSON.stringify(initMethod)} has no host: expected 'tcp://host:port'`);
  if (url.port === '') throw invalid(`initMethod ${JSON.stringify(initMethod)} has no port: expected 'tcp://host:port'`);
  if (url.pathname !== '' && url.pathname !== '/') {
    throw invalid(`initMethod ${JSON.stringify(initMethod)} has a path: expected 'tcp://host:port'`);
  }
  const out: ParsedTcp = { host, port: parsePort('initMethod port', url.port) };
  for (const [k, v] of url.searchParams) {
    if (k === 'rank') out.rank = parseIntVar('initMethod rank', v, 0);
    else if (k === 'world_size' || k === 'worldSize') out.worldSize = parseIntVar('initMethod world_size', v, 1);
    else throw invalid(`initMethod parameter '${k}' is not supported: expected rank and world_size`);
  }
  return out;
}

/**
 * Resolves rank, world size, local rank, store address, token and timeout for initProcessGroup.
 * Throws ERR_INVALID_ARG naming the variable (or option) that is missing or wrong and what was
 * expected. `env` defaults to process.env.
 */
export function resolveInitConfig(opts: InitOptions = {}, env: Env = process.env): InitConfig {
  if (opts === null || typeof opts !== 'object') throw invalid('init options must be an object');
  const initMethod = opts.initMethod ?? 'env://';
  if (typeof initMethod !== 'string') throw invalid(`initMethod must be a string, got ${typeof initMethod}`);
  const tcp = parseInitMethod(initMethod);

  let timeoutMs: number;
  if (opts.timeoutMs !== undefined) {
    if (typeof opts.timeoutMs !== 'number' || !(opts.timeoutMs > 0) || !Number.isFinite(opts.timeoutMs)) {
      throw invalid(`timeoutMs must be a positive number of milliseconds, got ${String(opts.timeoutMs)}`);
    }
    timeoutMs = opts.timeoutMs;
  } else {
    const t = nonEmpty(env, 'NODE_NCCL_TIMEOUT_MS');
    timeoutMs = t === undefined ? DEFAULT_INIT_TIMEOUT_MS : parseIntVar('NODE_NCCL_TIMEOUT_MS', t, 1);
  }
  const token = env.NODE_NCCL_STORE_TOKEN ?? '';

  const detected = detectTorchrun(env) ?? detectSlurm(env) ?? detectOpenMpi(env);
  let rank: number | undefined;
  let worldSize: number | undefined;
  let rankName = 'RANK';
  let worldSizeName = 'WORLD_SIZE';
  let source: InitSource;
  if (detected) {
    rank = detected.rank;
    worldSize = detected.worldSize;
    rankName = detected.rankName;
    worldSizeName = detected.worldSizeName;
  }
  if (!detected) [rankName, worldSizeName] = ['rank (or RANK)', 'worldSize (or WORLD_SIZE)'];
  if (tcp?.rank !== undefined) [rank, rankName] = [tcp.rank, 'initMethod rank'];
  if (tcp?.worldSize !== undefined) [worldSize, worldSizeName] = [tcp.worldSize, 'initMethod world_size'];
  if (opts.rank !== undefined) [rank, rankName] = [checkIntOpt('rank', opts.rank, 0), 'rank'];
  if (opts.worldSize !== undefined) [worldSize, worldSizeName] = [checkIntOpt('worldSize', opts.worldSize, 1), 'worldSize'];
  if (tcp) source = 'tcp';
  else if (opts.rank !== undefined && opts.worldSize !== undefined) source = 'explicit';
  else source = detected?.source ?? 'explicit';

  if (rank === undefined) {
    throw invalid(
      detected
        ? `${rankName} is not set (${worldSizeName} is): expected an integer >= 0`
        : 'no rank: set RANK and WORLD_SIZE (torchrun style, or launch with `node-nccl run`), run under srun or mpirun, or pass { rank, worldSize }',
    );
  }
  if (worldSize === undefined) {
    throw invalid(`${worldSizeName} is not set (${rankName} is ${rank}): expected an integer >= 1`);
  }
  if (rank >= worldSize) {
    throw invalid(`${rankName}=${rank} is out of range for ${worldSizeName}=${worldSize}: expected 0 <= rank < world size`);
  }

  // Local values only mean something when they come from the same launcher as the rank.
  const sameLauncher = detected !== undefined && opts.rank === undefined && tcp?.rank === undefined;
  let localWorldSize = sameLauncher ? detected.localWorldSize : undefined;
  let localRank = sameLauncher ? detected.localRank : undefined;
  localWorldSize ??= worldSize;
  localRank ??= localWorldSize === worldSize ? rank : rank % localWorldSize;
  if (localWorldSize > worldSize) {
    throw invalid(`local world size ${localWorldSize} is larger than the world size ${worldSize}`);
  }
  if (localRank >= localWorldSize) {
    throw invalid(`local rank ${localRank} is out of range for local world size ${localWorldSize}: expected 0 <= local rank < local world size`);
  }

  let masterAddr: string;
  let masterPort: number;
  if (tcp) {
    masterAddr = tcp.host;
    masterPort = tcp.port;
  } else {
    const addr = nonEmpty(env, 'MASTER_ADDR') ?? detected?.masterAddr;
    if (addr !== undefined) masterAddr = addr;
    else if (localWorldSize === worldSize) masterAddr = '127.0.0.1';
    else {
      throw invalid(
        `MASTER_ADDR is not set and the job spans several nodes (world size ${worldSize}, ${localWorldSize} on this node): ` +
          'expected the address of the node running rank 0',
      );
    }
    const port = nonEmpty(env, 'MASTER_PORT');
    masterPort = port !== undefined ? parsePort('MASTER_PORT', port) : (detected?.masterPort ?? DEFAULT_MASTER_PORT);
  }

  return { rank, worldSize, localRank, localWorldSize, masterAddr, masterPort, token, timeoutMs, source };
}
