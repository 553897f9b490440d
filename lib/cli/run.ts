/**
 * `node-nccl run`: the launcher (layer: lib/cli), following torchrun's conventions. It starts one
 * process per rank on this node with RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK,
 * MASTER_ADDR, MASTER_PORT, NODE_NCCL_STORE_TOKEN and NODE_NCCL_BACKEND set, prefixes their output
 * with `[rankN]: `, forwards signals, and when one rank fails stops the others and exits with its
 * code. It loads the native addon only to count GPUs (`--nproc-per-node auto|gpu`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, constants as osConstants } from 'node:os';
import { extname, resolve as resolvePath } from 'node:path';
import { createError } from '../errors.js';
import { LinePrefixer, TerminalMux } from './line-prefixer.js';
import type { Command } from './main.js';

/** Intra-op threads per rank under the launcher: the node's cores divided among its ranks (at least 1). */
export function threadsPerRank(nprocPerNode: number, cores = availableParallelism()): number {
  return Math.max(1, Math.floor(cores / Math.max(1, nprocPerNode)));
}

export const USAGE = `usage: node-nccl run [options] script.js [script args...]

Starts one process per rank on this node, torchrun style, and waits for them.

options:
  --nproc-per-node N|auto|gpu|cpu
                        processes on this node (default 1). auto: one per GPU, or 2 when there is
                        no GPU; gpu: one per GPU (an error without one); cpu: one per CPU core.
  --nnodes M            number of nodes (default 1); run the same command on every node.
  --node-rank R         this node's index, 0..M-1 (default 0).
  --master-addr A       address of node 0, where rank 0 serves the store (default 127.0.0.1;
                        required with --nnodes > 1).
  --master-port P       the store's port (default: a free port on one node, 29500 on several).
  --standalone          one node with a free port (the default; accepted for torchrun users).
  --timeout-ms T        sets NODE_NCCL_TIMEOUT_MS for the ranks: rendezvous and collective timeout.
  --grace-ms G          when stopping ranks, time between SIGTERM and SIGKILL (default 5000).
  --no-node             run the script as an executable instead of with node.
  -h, --help            this text.
Options also accept torchrun's spellings (--nproc_per_node, --master_addr, ...) and --opt=value.

Scripts ending in .js, .mjs or .cjs run with this Node.js (${process.execPath}); TypeScript
(.ts, .mts, .cts) is refused: compile it first and pass the .js file.

Each rank gets, besides this process's environment:
  RANK               global rank: node-rank * nproc-per-node + LOCAL_RANK
  WORLD_SIZE         nnodes * nproc-per-node
  LOCAL_RANK         rank on this node, 0..nproc-per-node-1
  LOCAL_WORLD_SIZE   nproc-per-node
  GROUP_RANK         node rank
  MASTER_ADDR, MASTER_PORT   where rank 0 serves the rendezvous store
  NODE_NCCL_STORE_TOKEN      the store's shared secret: kept when already set, else random per
                             launch (set it yourself, identically on every node, with --nnodes > 1)
  NODE_NCCL_BACKEND  the default backend hint: 'nccl' when GPUs were counted (auto/gpu found some),
                     'cpu' when auto found none or with cpu; with a number it is left unset (or as
                     you set it), and initProcessGroup picks by itself.
  NODE_NCCL_TIMEOUT_MS       with --timeout-ms.
  NODE_NCCL_CPU_THREADS      intra-op threads (host BLAS and CPU matmul): cores / nproc-per-node,
                             at least 1 (${threadsPerRank(1)} cores here); kept when already set.
  NODE_NCCL_TTY, COLUMNS     when this launcher's output is a terminal: NODE_NCCL_TTY=1 and the
                             width left after the prefix, so progress bars redraw their line.

Output: every line a rank writes is prefixed with [rankN]: (stdout and stderr kept apart). Piped,
a partial line is held until its newline or the rank's exit; on a terminal it is drawn at once and
redrawn in place when the rank rewrites it with \\r (a progress bar), other lines appearing above it.
Signals: SIGINT, SIGTERM and SIGHUP are forwarded to every rank; a second one kills them (SIGKILL).
Failure: when a rank exits non-zero or is killed, the others get SIGTERM, then SIGKILL after the
grace period; the launcher prints which rank failed, its exit code or signal and the last lines of
its stderr, and exits with that rank's code (128+n for signal n). After a forwarded signal it exits
with 128+n of that signal.`;

export interface RunOptions {
  nprocSpec: string;
  nnodes: number;
  nodeRank: number;
  masterAddr: string | undefined;
  masterPort: number | undefined;
  timeoutMs: number | undefined;
  graceMs: number;
  noNode: boolean;
  script: string;
  scriptArgs: string[];
}

function usageError(message: string): Error {
  return createError('ERR_INVALID_ARG', message);
}

function parseInteger(flag: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in ${min}..${max}`;
    throw usageError(`${flag} ${JSON.stringify(text)} is not valid: expected an integer ${range}`);
  }
  return Number(text);
}

/** Parses the launcher's arguments. Returns undefined for --help. Throws ERR_INVALID_ARG. */
export function parseRunArgs(argv: string[]): RunOptions | undefined {
  const o: RunOptions = {
    nprocSpec: '1',
    nnodes: 1,
    nodeRank: 0,
    masterAddr: undefined,
    masterPort: undefined,
    timeoutMs: undefined,
    graceMs: 5000,
    noNode: false,
    script: '',
    scriptArgs: [],
  };
  let i = 0;
  const valueOf = (flag: string, inline: string | undefined): string => {
    if (inline !== undefined) return inline;
    const v = argv[++i];
    if (v === undefined) throw usageError(`${flag} needs a value`);
    return v;
  };
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      i++;
      break;
    }
    if (!arg.startsWith('-') || arg === '-') break;
    const eq = arg.indexOf('=');
    const rawFlag = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    const flag = rawFlag.replace(/_/g, '-');
    switch (flag) {
      case '-h':
      case '--help':
        return undefined;
      case '--nproc-per-node': {
        const v = valueOf(rawFlag, inline);
        if (!['auto', 'gpu', 'cpu'].includes(v)) parseInteger(rawFlag, v, 1);
        o.nprocSpec = v;
        break;
      }
      case '--nnodes': {
        const v = valueOf(rawFlag, inline);
        if (v.includes(':')) throw usageError(`${rawFlag} ${v}: elastic ranges (MIN:MAX) are not supported; give a fixed number of nodes`);
        o.nnodes = parseInteger(rawFlag, v, 1);
        break;
      }
      case '--node-rank':
        o.nodeRank = parseInteger(rawFlag, valueOf(rawFlag, inline), 0);
        break;
      case '--master-addr': {
        const v = valueOf(rawFlag, inline);
        if (v.trim() === '') throw usageError(`${rawFlag} must not be empty`);
        o.masterAddr = v.trim();
        break;
      }
      case '--master-port':
        o.masterPort = parseInteger(rawFlag, valueOf(rawFlag, inline), 1, 65535);
        break;
      case '--timeout-ms':
        o.timeoutMs = parseInteger(rawFlag, valueOf(rawFlag, inline), 1);
        break;
      case '--grace-ms':
        o.graceMs = parseInteger(rawFlag, valueOf(rawFlag, inline), 0);
        break;
      case '--standalone':
        if (inline !== undefined) throw usageError(`${rawFlag} takes no value`);
        o.nnodes = 1;
        break;
      case '--no-node':
        if (inline !== undefined) throw usageError(`${rawFlag} takes no value`);
        o.noNode = true;
        break;
      default:
        throw usageError(`unknown option ${rawFlag} (see node-nccl run --help)`);
    }
  }
  const script = argv[i];
  if (script === undefined) throw usageError('no script given: node-nccl run [options] script.js [args...]');
  o.script = script;
  o.scriptArgs = argv.slice(i + 1);
  if (o.nodeRank >= o.nnodes) throw usageError(`--node-rank ${o.nodeRank} is out of range for --nnodes ${o.nnodes}: expected 0..${o.nnodes - 1}`);
  if (o.nnodes > 1 && o.masterAddr === undefined) {
    throw usageError('--master-addr is required with --nnodes > 1: the address of node 0, reachable from every node');
  }
  return o;
}

/** The command and arguments that run the script. Throws ERR_LAUNCH for a script we will not run. */
export function scriptCommand(o: Pick<RunOptions, 'script' | 'scriptArgs' | 'noNode'>): { file: string; args: string[] } {
  if (o.noNode) return { file: o.script, args: o.scriptArgs };
  const ext = extname(o.script).toLowerCase();
  if (ext === '.ts' || ext === '.mts' || ext === '.cts') {
    throw createError(
      'ERR_LAUNCH',
      `${o.script} is TypeScript, which node-nccl run does not execute: compile it first (npx tsc) and pass the .js file`,
    );
  }
  if (ext !== '.js' && ext !== '.mjs' && ext !== '.cjs') {
    throw createError('ERR_LAUNCH', `${o.script}: expected a .js, .mjs or .cjs script (or --no-node to run an executable)`);
  }
  const path = resolvePath(o.script);
  if (!existsSync(path) || !statSync(path).isFile()) throw createError('ERR_LAUNCH', `script not found: ${o.script}`);
  return { file: process.execPath, args: [path, ...o.scriptArgs] };
}

/** GPU count through lib/cuda, imported only when needed; 0 with the reason when unavailable. */
async function countGpus(): Promise<{ count: number; reason: string }> {
  // A computed specifier: lib/cuda may not exist in every build of this package.
  const candidates = ['../cuda/index.js', '../cuda.js'];
  let lastError = 'lib/cuda is not part of this build';
  for (const spec of candidates) {
    let mod: Record<string, unknown>;
    try {
      mod = (await import(spec)) as Record<string, unknown>;
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('cuda')) continue;
      return { count: 0, reason: err.message };
    }
    const ns = (mod.cuda ?? mod) as { deviceCount?: () => number; noGpuReason?: () => string };
    if (typeof ns.deviceCount !== 'function') {
      lastError = 'lib/cuda has no deviceCount()';
      continue;
    }
    try {
      const count = ns.deviceCount();
      const reason = count > 0 ? '' : typeof ns.noGpuReason === 'function' ? ns.noGpuReason() : 'no CUDA device';
      return { count, reason };
    } catch (e) {
      return { count: 0, reason: (e as Error).message };
    }
  }
  return { count: 0, reason: lastError };
}

/** Processes per node and the backend hint for --nproc-per-node. */
export async function resolveNproc(
  spec: string,
  gpus: () => Promise<{ count: number; reason: string }> = countGpus,
): Promise<{ nproc: number; backend: 'nccl' | 'cpu' | undefined }> {
  if (spec === 'cpu') return { nproc: availableParallelism(), backend: 'cpu' };
  if (spec === 'gpu' || spec === 'auto') {
    const g = await gpus();
    if (g.count > 0) return { nproc: g.count, backend: 'nccl' };
    if (spec === 'gpu') throw createError('ERR_LAUNCH', `--nproc-per-node gpu: no GPU found (${g.reason})`);
    return { nproc: 2, backend: 'cpu' };
  }
  return { nproc: Number(spec), backend: undefined };
}

/** A port nothing listens on right now, found by binding port 0 on `host`. */
export function findFreePort(host: string): Promise<number> {
  const tryHost = (h: string | undefined): Promise<number> =>
    new Promise((resolve, reject) => {
      const s = createServer();
      s.unref();
      s.once('error', reject);
      s.listen({ port: 0, host: h, exclusive: true }, () => {
        const addr = s.address();
        const port = typeof addr === 'object' && addr ? addr.port : 0;
        s.close(() => resolve(port));
      });
    });
  return tryHost(host).catch(() => tryHost(undefined));
}

function signalNumber(sig: NodeJS.Signals): number {
  return (osConstants.signals as Record<string, number>)[sig] ?? 0;
}

interface RankState {
  rank: number;
  localRank: number;
  child: ChildProcess;
  pid: number | undefined;
  done: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  spawnError: string | undefined;
  stderrTail: string[];
  /** Set when the launcher asked it to stop. */
  stoppedWith: NodeJS.Signals | undefined;
  finishedAt: number;
}

const TAIL_LINES = 20;
/** How long the output of an exited rank may keep flowing (from processes it started). */
const PIPE_DRAIN_MS = 2000;

function describeEnd(r: RankState): string {
  if (r.spawnError) return `could not start: ${r.spawnError}`;
  if (r.signal) return `killed by ${r.signal} (exit code ${128 + signalNumber(r.signal)})`;
  return `exit code ${r.code}`;
}

/** Runs the ranks; resolves with the launcher's exit code. */
export async function launch(o: RunOptions): Promise<number> {
  const cmd = scriptCommand(o);
  const { nproc, backend } = await resolveNproc(o.nprocSpec);
  const masterAddr = o.masterAddr ?? '127.0.0.1';
  const masterPort = o.masterPort ?? (o.nnodes > 1 ? 29500 : await findFreePort(masterAddr));
  let token = process.env.NODE_NCCL_STORE_TOKEN;
  if (token === undefined || token === '') {
    if (o.nnodes > 1) {
      throw createError(
        'ERR_LAUNCH',
        'with --nnodes > 1, set NODE_NCCL_STORE_TOKEN to the same secret on every node (a random one per node could not match)',
      );
    }
    token = randomBytes(24).toString('hex');
  }
  const worldSize = o.nnodes * nproc;
  const ranks: RankState[] = [];
  let failed: RankState | undefined;
  let interruptedBy: NodeJS.Signals | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  let resolveAll!: () => void;
  const allDone = new Promise<void>((r) => (resolveAll = r));

  const live = (): RankState[] => ranks.filter((r) => !r.done && r.pid !== undefined);
  const sendAll = (sig: NodeJS.Signals): void => {
    for (const r of live()) {
      r.stoppedWith ??= sig;
      try {
        r.child.kill(sig);
      } catch {
        // already gone
      }
    }
  };
  const stopAll = (sig: NodeJS.Signals): void => {
    sendAll(sig);
    if (!killTimer && live().length > 0) {
      killTimer = setTimeout(() => {
        for (const r of live()) {
          r.stoppedWith = 'SIGKILL';
          r.child.kill('SIGKILL');
        }
      }, o.graceMs);
    }
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    if (interruptedBy) {
      process.stderr.write(`node-nccl run: second ${sig}: killing every rank\n`);
      for (const r of live()) r.child.kill('SIGKILL');
      return;
    }
    interruptedBy = sig;
    process.stderr.write(`node-nccl run: received ${sig}; forwarding it to every rank\n`);
    stopAll(sig);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);
  const ignoreEpipe = (): void => {};
  process.stdout.on('error', ignoreEpipe);
  process.stderr.on('error', ignoreEpipe);

  const finish = (r: RankState, code: number | null, signal: NodeJS.Signals | null, spawnError?: string): void => {
    if (r.done) return;
    r.done = true;
    r.code = code;
    r.signal = signal;
    r.spawnError = spawnError;
    r.finishedAt = Date.now();
    const bad = spawnError !== undefined || signal !== null || code !== 0;
    if (bad && !failed && !interruptedBy && r.stoppedWith === undefined) {
      failed = r;
      stopAll('SIGTERM');
    }
    if (ranks.every((x) => x.done)) resolveAll();
  };

  // The launcher's stdout is a terminal (and stderr the same one): partial lines are drawn live.
  const terminal = process.stdout.isTTY && process.stderr.isTTY
    ? new TerminalMux((b) => process.stdout.write(b), () => process.stdout.columns ?? 80)
    : undefined;
  try {
    for (let localRank = 0; localRank < nproc; localRank++) {
      const rank = o.nodeRank * nproc + localRank;
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        RANK: String(rank),
        WORLD_SIZE: String(worldSize),
        LOCAL_RANK: String(localRank),
        LOCAL_WORLD_SIZE: String(nproc),
        GROUP_RANK: String(o.nodeRank),
        MASTER_ADDR: masterAddr,
        MASTER_PORT: String(masterPort),
        NODE_NCCL_STORE_TOKEN: token,
      };
      if (backend !== undefined && !process.env.NODE_NCCL_BACKEND) env.NODE_NCCL_BACKEND = backend;
      // Intra-op threads (the host BLAS and the built-in matmul): the cores shared by this node's
      // ranks, as torchrun sets OMP_NUM_THREADS; a value the user set is kept.
      if (!process.env.NODE_NCCL_CPU_THREADS) env.NODE_NCCL_CPU_THREADS = String(threadsPerRank(nproc));
      if (terminal) {
        // The ranks write to pipes, but what they print ends up on this terminal: tell them, so a
        // progress bar can redraw its line with \r (the launcher draws it in place, see TerminalMux).
        env.NODE_NCCL_TTY = '1';
        env.COLUMNS = String(Math.max(20, (process.stdout.columns ?? 80) - `[rank${rank}]: `.length));
      }
      if (o.timeoutMs !== undefined) env.NODE_NCCL_TIMEOUT_MS = String(o.timeoutMs);
      const child = spawn(cmd.file, cmd.args, { stdio: ['inherit', 'pipe', 'pipe'], env });
      const r: RankState = {
        rank,
        localRank,
        child,
        pid: child.pid,
        done: false,
        code: null,
        signal: null,
        spawnError: undefined,
        stderrTail: [],
        stoppedWith: undefined,
        finishedAt: 0,
      };
      ranks.push(r);
      const prefix = `[rank${rank}]: `;
      const pipe = (stream: NodeJS.ReadableStream, dest: NodeJS.WriteStream, onLine?: (l: string) => void): LinePrefixer => {
        const p = new LinePrefixer(prefix, (b) => dest.write(b), onLine, undefined,
          terminal ? { mux: terminal, live: dest === process.stdout } : undefined);
        stream.on('data', (chunk: Buffer) => {
          if (!p.push(chunk)) {
            stream.pause();
            dest.once('drain', () => stream.resume());
          }
        });
        return p;
      };
      const out = pipe(child.stdout!, process.stdout);
      const err = pipe(child.stderr!, process.stderr, (line) => {
        r.stderrTail.push(line.length > 500 ? line.slice(0, 500) + '…' : line);
        if (r.stderrTail.length > TAIL_LINES) r.stderrTail.shift();
      });
      child.once('error', (e) => {
        out.flush();
        err.flush();
        finish(r, null, null, e.message);
      });
      let drainTimer: NodeJS.Timeout | undefined;
      child.once('close', (code, signal) => {
        if (drainTimer) clearTimeout(drainTimer);
        out.flush();
        err.flush();
        finish(r, code, signal);
      });
      // 'close' waits for the output pipes; a process the rank started may still hold them. Once the
      // rank itself has exited, give its output a moment to drain, then stop waiting for them.
      child.once('exit', (code, signal) => {
        drainTimer = setTimeout(() => {
          child.stdout!.destroy();
          child.stderr!.destroy();
          out.flush();
          err.flush();
          finish(r, code, signal);
        }, PIPE_DRAIN_MS);
      });
    }
    await allDone;
  } finally {
    terminal?.close();
    if (killTimer) clearTimeout(killTimer);
    for (const s of signals) process.off(s, onSignal);
    process.stdout.off('error', ignoreEpipe);
    process.stderr.off('error', ignoreEpipe);
  }

  if (interruptedBy) {
    const ends = ranks.map((r) => `rank ${r.rank}: ${describeEnd(r)}`).join(', ');
    process.stderr.write(`node-nccl run: stopped after ${interruptedBy} (${ends})\n`);
    return 128 + signalNumber(interruptedBy);
  }
  if (failed) {
    const f = failed;
    const lines = [
      `node-nccl run: rank ${f.rank} (local rank ${f.localRank}, pid ${f.pid ?? '-'}) failed: ${describeEnd(f)}`,
    ];
    const others = ranks.filter((r) => r !== f);
    if (others.length) {
      lines.push(
        '  other ranks: ' +
          others
            .map((r) => `rank ${r.rank} ${r.stoppedWith ? `stopped (${r.stoppedWith}), ${describeEnd(r)}` : describeEnd(r)}`)
            .join('; '),
      );
    }
    if (f.stderrTail.length) {
      lines.push(`  last ${f.stderrTail.length} line(s) of rank ${f.rank}'s stderr:`);
      for (const l of f.stderrTail) lines.push(`    [rank${f.rank}]: ${l}`);
    } else {
      lines.push(`  rank ${f.rank} wrote nothing to stderr`);
    }
    process.stderr.write(lines.join('\n') + '\n');
    if (f.spawnError) return 127;
    return f.signal ? 128 + signalNumber(f.signal) : (f.code ?? 1);
  }
  return 0;
}

const command: Command = {
  summary: 'launch one process per rank (torchrun style): node-nccl run --nproc-per-node N script.js',
  async main(argv: string[]): Promise<number> {
    let opts: RunOptions | undefined;
    try {
      opts = parseRunArgs(argv);
    } catch (e) {
      process.stderr.write(`node-nccl run: ${(e as Error).message}\n`);
      return 2;
    }
    if (!opts) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    try {
      return await launch(opts);
    } catch (e) {
      const err = e as { code?: string; message: string };
      if (err.code === 'ERR_LAUNCH' || err.code === 'ERR_INVALID_ARG') {
        process.stderr.write(`node-nccl run: ${err.message}\n`);
        return err.code === 'ERR_INVALID_ARG' ? 2 : 1;
      }
      throw e;
    }
  },
};

export default command;
