import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NodeNcclError } from '../../lib/errors.js';
import { LinePrefixer, TerminalMux, displayedText } from '../../lib/cli/line-prefixer.js';
import { parseRunArgs, resolveNproc, scriptCommand, threadsPerRank } from '../../lib/cli/run.js';

const here = dirname(fileURLToPath(import.meta.url));
const fixture = join(here, 'fixtures', 'rank.js');
const bin = resolve(here, '..', '..', '..', 'bin', 'node-nccl.js');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function launch(args: string[], opts: { env?: NodeJS.ProcessEnv; onStdout?: (all: string, kill: (s: NodeJS.Signals) => void) => void } = {}): Promise<Result> {
  const env = { ...process.env, ...opts.env };
  for (const k of ['RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'LOCAL_WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT', 'NODE_NCCL_BACKEND', 'NODE_NCCL_TIMEOUT_MS', 'NODE_NCCL_CPU_THREADS', 'NODE_NCCL_TTY']) {
    if (!opts.env || !(k in opts.env)) delete env[k];
  }
  if (!opts.env || !('NODE_NCCL_STORE_TOKEN' in opts.env)) delete env.NODE_NCCL_STORE_TOKEN;
  const t0 = Date.now();
  const child = spawn(process.execPath, [bin, 'run', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    opts.onStdout?.(stdout, (s) => child.kill(s));
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((res) => child.on('close', (code) => res({ code, stdout, stderr, ms: Date.now() - t0 })));
}

/** Lines of one rank, without the prefix. */
function linesOf(text: string, rank: number): string[] {
  const p = `[rank${rank}]: `;
  return text.split('\n').filter((l) => l.startsWith(p)).map((l) => l.slice(p.length));
}

for (const n of [2, 3]) {
  test(`run: ${n} ranks get torchrun's variables, a free port, one token, prefixed output`, async () => {
    const r = await launch(['--nproc-per-node', String(n), '--timeout-ms', '1234', fixture, 'env']);
    assert.equal(r.code, 0, r.stderr);
    const envs = Array.from({ length: n }, (_, rank) => JSON.parse(linesOf(r.stdout, rank)[0]!) as Record<string, string | null>);
    const ports = new Set(envs.map((e) => e.MASTER_PORT));
    const tokens = new Set(envs.map((e) => e.NODE_NCCL_STORE_TOKEN));
    assert.equal(ports.size, 1);
    assert.equal(tokens.size, 1);
    const port = Number([...ports][0]);
    assert.ok(Number.isInteger(port) && port > 0 && port < 65536);
    assert.match(String([...tokens][0]), /^[0-9a-f]{48}$/);
    envs.forEach((e, rank) => {
      assert.equal(e.RANK, String(rank));
      assert.equal(e.WORLD_SIZE, String(n));
      assert.equal(e.LOCAL_RANK, String(rank));
      assert.equal(e.LOCAL_WORLD_SIZE, String(n));
      assert.equal(e.GROUP_RANK, '0');
      assert.equal(e.MASTER_ADDR, '127.0.0.1');
      assert.equal(e.NODE_NCCL_TIMEOUT_MS, '1234');
      assert.equal(e.NODE_NCCL_BACKEND, null, 'a number of processes leaves the backend to initProcessGroup');
      assert.equal(e.NODE_NCCL_CPU_THREADS, String(threadsPerRank(n)), 'intra-op threads: cores / ranks on the node');
      assert.equal(e.NODE_NCCL_TTY, null, 'the launcher writes to a pipe here, not a terminal');
      // A partial last line is flushed with its prefix; stderr stays on stderr.
      assert.ok(linesOf(r.stdout, rank).includes(`tail-without-newline ${rank}`));
      assert.deepEqual(linesOf(r.stderr, rank), [`to stderr from ${rank}`]);
    });
    // Every line of output carries a prefix.
    for (const l of r.stdout.split('\n').filter(Boolean)) assert.match(l, /^\[rank\d\]: /);
  });
}

test('run: multi-node numbering, and a token set by the user is kept', async () => {
  const r = await launch(
    ['--nnodes=2', '--node_rank', '1', '--master-addr', '127.0.0.1', '--master-port', '29999', '--nproc-per-node', '2', fixture, 'env'],
    { env: { NODE_NCCL_STORE_TOKEN: 'shared-secret' } },
  );
  assert.equal(r.code, 0, r.stderr);
  for (const rank of [2, 3]) {
    const e = JSON.parse(linesOf(r.stdout, rank)[0]!) as Record<string, string>;
    assert.equal(e.RANK, String(rank));
    assert.equal(e.LOCAL_RANK, String(rank - 2));
    assert.equal(e.WORLD_SIZE, '4');
    assert.equal(e.GROUP_RANK, '1');
    assert.equal(e.MASTER_PORT, '29999');
    assert.equal(e.NODE_NCCL_STORE_TOKEN, 'shared-secret');
  }
  assert.deepEqual(linesOf(r.stdout, 0), []);
});

test('run: two launchers as two nodes of 2 ranks each train one cpu group over TCP (--nnodes 2)', async () => {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const env = { NODE_NCCL_STORE_TOKEN: 'two-node-secret', NODE_NCCL_CPU_TRANSPORT: 'tcp' };
  const node = (nodeRank: number) =>
    launch(['--nnodes', '2', '--node-rank', String(nodeRank), '--master-addr', '127.0.0.1', '--master-port', String(port), '--nproc-per-node', '2', fixture, 'allreduce'], { env });
  const [a, b] = await Promise.all([node(0), node(1)]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  for (const [r, ranks] of [[a, [0, 1]], [b, [2, 3]]] as const) {
    for (const rank of ranks) {
      assert.deepEqual(JSON.parse(linesOf(r.stdout, rank)[0]!), { rank, worldSize: 4, sum: 10, transport: 'tcp' });
    }
  }
});

test('run: the ranks meet through the store at the chosen port with the generated token', async () => {
  const r = await launch(['--nproc-per-node', '3', fixture, 'rendezvous']);
  assert.equal(r.code, 0, r.stderr);
  for (let rank = 0; rank < 3; rank++) {
    const got = JSON.parse(linesOf(r.stdout, rank)[0]!) as { rank: number; source: string; seen: string[] };
    assert.deepEqual(got, { rank, source: 'env', seen: ['from 0', 'from 1', 'from 2'] });
  }
});

test('run: a failing rank stops the others; its exit code and a summary come back', async () => {
  const r = await launch(['--nproc-per-node', '3', fixture, 'fail', '1', '7']);
  assert.equal(r.code, 7, r.stderr);
  assert.ok(r.ms < 30_000, 'the other ranks were stopped, not waited for');
  for (const rank of [0, 2]) {
    assert.ok(linesOf(r.stdout, rank).includes(`rank ${rank} stopping on SIGTERM`), r.stdout);
    assert.ok(!linesOf(r.stdout, rank).includes(`rank ${rank} was never stopped`));
  }
  assert.match(r.stderr, /node-nccl run: rank 1 \(local rank 1, pid \d+\) failed: exit code 7/);
  assert.match(r.stderr, /other ranks: rank 0 stopped \(SIGTERM\), exit code 0; rank 2 stopped \(SIGTERM\), exit code 0/);
  const summary = r.stderr.slice(r.stderr.indexOf('node-nccl run: rank 1'));
  assert.match(summary, /last 20 line\(s\) of rank 1's stderr:\n {4}\[rank1\]: failure detail 10\n/);
  assert.match(summary, /\[rank1\]: failure detail 29\n$/);
  assert.doesNotMatch(summary, /failure detail 9\n/);
});

test('run: a rank killed by a signal gives 128+n and says which signal', async () => {
  const r = await launch(['--nproc-per-node', '2', fixture, 'killself', '0']);
  assert.equal(r.code, 137, r.stderr);
  assert.match(r.stderr, /rank 0 \(local rank 0, pid \d+\) failed: killed by SIGKILL \(exit code 137\)/);
  assert.ok(linesOf(r.stdout, 1).includes('rank 1 stopping on SIGTERM'));
});

test('run: ranks that ignore SIGTERM are killed after the grace period', async () => {
  const r = await launch(['--nproc-per-node', '2', '--grace-ms', '300', fixture, 'stubborn', '1', '5']);
  assert.equal(r.code, 5, r.stderr);
  assert.ok(linesOf(r.stdout, 0).includes('rank 0 ignores SIGTERM'));
  assert.match(r.stderr, /other ranks: rank 0 stopped \(SIGKILL\), killed by SIGKILL/);
  assert.ok(r.ms < 30_000);
});

test('run: SIGTERM to the launcher reaches every rank; it exits with 143', async () => {
  let sent = false;
  const r = await launch(['--nproc-per-node', '3', fixture, 'wait'], {
    onStdout: (all, kill) => {
      if (!sent && [0, 1, 2].every((k) => linesOf(all, k).includes(`rank ${k} ready`))) {
        sent = true;
        kill('SIGTERM');
      }
    },
  });
  assert.ok(sent);
  assert.equal(r.code, 143, r.stderr);
  for (const rank of [0, 1, 2]) assert.ok(linesOf(r.stdout, rank).includes(`rank ${rank} got SIGTERM`), r.stdout);
  assert.match(r.stderr, /received SIGTERM; forwarding it to every rank/);
});

test('run: a rank whose child process keeps its output open does not hold the launcher', async () => {
  const r = await launch(['--nproc-per-node', '2', fixture, 'orphan']);
  const pids = [0, 1].map((rank) => Number(/^grandchild (\d+)$/.exec(linesOf(r.stdout, rank)[0] ?? '')?.[1]));
  for (const pid of pids) {
    try {
      if (pid > 0) process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  assert.equal(r.code, 0, r.stderr);
  assert.ok(pids.every((p) => p > 0), r.stdout);
  assert.ok(r.ms < 20_000, `took ${r.ms} ms`);
});

test('run: usage errors are clear and exit 2; scripts it will not run exit 1', async () => {
  const cases: Array<[string[], number, RegExp]> = [
    [[], 2, /no script given/],
    [['--nproc-per-node', 'many', 'x.js'], 2, /--nproc-per-node "many" is not valid: expected an integer >= 1/],
    [['--bogus', 'x.js'], 2, /unknown option --bogus/],
    [['--nnodes', '2', '--node-rank', '2', '--master-addr', 'h', 'x.js'], 2, /--node-rank 2 is out of range for --nnodes 2/],
    [['--nnodes', '2', 'x.js'], 2, /--master-addr is required with --nnodes > 1/],
    [['--nnodes', '1:4', 'x.js'], 2, /elastic ranges/],
    [['--master-port', '0', 'x.js'], 2, /expected an integer in 1\.\.65535/],
    [['--nproc-per-node', '2', 'train.ts'], 1, /train\.ts is TypeScript.*compile it first/],
    [['--nproc-per-node', '2', 'does-not-exist.js'], 1, /script not found: does-not-exist\.js/],
    [['--nproc-per-node', '2', 'README.md'], 1, /expected a \.js, \.mjs or \.cjs script/],
    [['--nnodes', '2', '--master-addr', '127.0.0.1', fixture, 'env'], 1, /set NODE_NCCL_STORE_TOKEN to the same secret on every node/],
  ];
  const results = await Promise.all(cases.map(([args]) => launch(args)));
  cases.forEach(([args, code, re], i) => {
    assert.equal(results[i]!.code, code, `${args.join(' ')}: ${results[i]!.stderr}`);
    assert.match(results[i]!.stderr, re);
  });
  const missing = await launch(['--nproc-per-node', '2', '--no-node', './definitely-not-an-executable']);
  assert.equal(missing.code, 127, missing.stderr);
  assert.match(missing.stderr, /rank \d \(local rank \d, pid -\) failed: could not start: spawn \.\/definitely-not-an-executable ENOENT/);
  const help = await launch(['--help']);
  assert.equal(help.code, 0);
  for (const word of ['--nproc-per-node', '--master-port', 'LOCAL_WORLD_SIZE', 'NODE_NCCL_STORE_TOKEN', 'NODE_NCCL_BACKEND', '128+n']) {
    assert.ok(help.stdout.includes(word), word);
  }
});

test('parseRunArgs keeps the script arguments as given', () => {
  const o = parseRunArgs(['--nproc-per-node', '2', 'train.js', '--lr', '0.1', '--nproc-per-node', '9'])!;
  assert.equal(o.script, 'train.js');
  assert.deepEqual(o.scriptArgs, ['--lr', '0.1', '--nproc-per-node', '9']);
  assert.equal(o.nprocSpec, '2');
  assert.equal(parseRunArgs(['--', '--weird-name.js'])!.script, '--weird-name.js');
  assert.equal(parseRunArgs(['-h']), undefined);
  assert.deepEqual(scriptCommand({ script: './tool', scriptArgs: ['a'], noNode: true }), { file: './tool', args: ['a'] });
});

test('resolveNproc: auto/gpu/cpu and the backend hint', async () => {
  const none = async () => ({ count: 0, reason: 'no CUDA driver' });
  const four = async () => ({ count: 4, reason: '' });
  assert.deepEqual(await resolveNproc('auto', none), { nproc: 2, backend: 'cpu' });
  assert.deepEqual(await resolveNproc('auto', four), { nproc: 4, backend: 'nccl' });
  assert.deepEqual(await resolveNproc('gpu', four), { nproc: 4, backend: 'nccl' });
  await assert.rejects(resolveNproc('gpu', none), (e: unknown) => e instanceof NodeNcclError && e.code === 'ERR_LAUNCH' && /no GPU found \(no CUDA driver\)/.test(e.message));
  assert.deepEqual(await resolveNproc('3', none), { nproc: 3, backend: undefined });
  const cpu = await resolveNproc('cpu', none);
  assert.ok(cpu.nproc >= 1 && cpu.backend === 'cpu');
  // The real probe answers (0 here, with a reason, when there is no GPU or no lib/cuda).
  const real = await resolveNproc('auto');
  assert.ok(real.nproc >= 1);
});

test('LinePrefixer: split lines, split UTF-8 characters, long lines and the final flush', () => {
  const out: Buffer[] = [];
  const lines: string[] = [];
  const p = new LinePrefixer('[rank3]: ', (b) => (out.push(b), true), (l) => lines.push(l), 16);
  const text = Buffer.from('héllo\nwor');
  p.push(text.subarray(0, 2)); // splits the two bytes of 'é'
  p.push(text.subarray(2));
  p.push(Buffer.from('ld\r\n\n'));
  p.push(Buffer.from('x'.repeat(40)));
  p.push(Buffer.from('end'));
  p.flush();
  p.flush();
  assert.equal(
    Buffer.concat(out).toString(),
    '[rank3]: héllo\n[rank3]: world\r\n[rank3]: \n[rank3]: xxxxxxxxxxxxxxxx\n[rank3]: xxxxxxxxxxxxxxxx\n[rank3]: xxxxxxxxend\n',
  );
  assert.deepEqual(lines, ['héllo', 'world', '', 'x'.repeat(16), 'x'.repeat(16), 'xxxxxxxxend']);
});

test('threadsPerRank: the cores divided among the ranks of a node, at least one', () => {
  assert.equal(threadsPerRank(1, 16), 16);
  assert.equal(threadsPerRank(2, 16), 8);
  assert.equal(threadsPerRank(3, 16), 5);
  assert.equal(threadsPerRank(4, 2), 1);
  assert.equal(threadsPerRank(0, 8), 8);
});

test('run: NODE_NCCL_CPU_THREADS set by the user is kept for every rank', async () => {
  const r = await launch(['--nproc-per-node', '2', fixture, 'env'], { env: { NODE_NCCL_CPU_THREADS: '7' } });
  assert.equal(r.code, 0, r.stderr);
  for (const rank of [0, 1]) assert.equal((JSON.parse(linesOf(r.stdout, rank)[0]!) as Record<string, string>).NODE_NCCL_CPU_THREADS, '7');
});

/** What a terminal shows after `bytes`: \r returns to column 0, ESC[2K clears the line, \n starts a new one. */
function screen(bytes: string): string[] {
  const lines: string[] = [''];
  let col = 0;
  for (let i = 0; i < bytes.length; i++) {
    const ch = bytes[i]!;
    if (bytes.startsWith('\x1b[2K', i)) {
      lines[lines.length - 1] = '';
      i += 3;
    } else if (ch === '\r') col = 0;
    else if (ch === '\n') {
      lines.push('');
      col = 0;
    } else {
      const l = lines[lines.length - 1]!;
      lines[lines.length - 1] = l.slice(0, col) + ch + l.slice(col + 1);
      col++;
    }
  }
  return lines;
}

test('TerminalMux: a live line redrawn in place, other ranks\' lines printed above it, committed on newline', () => {
  let out = '';
  const mux = new TerminalMux((b) => ((out += b.toString()), true), () => 40);
  const w = (b: Buffer): boolean => ((out += b.toString()), true);
  const r0 = new LinePrefixer('[rank0]: ', w, undefined, undefined, { mux, live: true });
  const r1 = new LinePrefixer('[rank1]: ', w, undefined, undefined, { mux, live: true });
  const r1err = new LinePrefixer('[rank1]: ', w, undefined, undefined, { mux, live: false });
  r0.push(Buffer.from('\r\x1b[2Kstep 1'));
  assert.deepEqual(screen(out), ['[rank0]: step 1'], 'a partial line is shown at once');
  r0.push(Buffer.from('\r\x1b[2Kstep 2'));
  r1.push(Buffer.from('hello\n'));
  r1err.push(Buffer.from('warning\n'));
  assert.deepEqual(screen(out), ['[rank1]: hello', '[rank1]: warning', '[rank0]: step 2'], 'other lines go above the live line');
  r0.push(Buffer.from('\r\x1b[2Kstep 3 with a line far longer than forty columns of terminal'));
  assert.ok(screen(out).at(-1)!.length <= 39, 'the live line is cut to the width, so it never wraps');
  r0.push(Buffer.from('\r\x1b[2Kstep 3\n'));
  r1.push(Buffer.from('bye\n'));
  assert.deepEqual(screen(out), ['[rank1]: hello', '[rank1]: warning', '[rank0]: step 3', '[rank1]: bye', '']);
  assert.equal(displayedText(Buffer.from('a\rbc\r')).toString(), 'bc');
});

const hasScript = spawnSync('sh', ['-c', 'command -v script'], { encoding: 'utf8' }).stdout.trim() !== '';
test('run in a terminal: the ranks are told (NODE_NCCL_TTY, COLUMNS) and rank 0\'s \\r line is drawn before it ends', { skip: !hasScript && 'util-linux script (a pseudo-terminal) is not installed' }, async () => {
  // script(1) gives the launcher a pseudo-terminal as stdout and stderr, as a user's shell would.
  const cmd = [process.execPath, bin, 'run', '--nproc-per-node', '2', fixture].map((a) => `'${a}'`).join(' ');
  const run = (mode: string): string => {
    const r = spawnSync('script', ['-qfec', `stty cols 100; ${cmd} ${mode}`, '/dev/null'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    return r.stdout.replace(/\r\n/g, '\n');
  };
  const env = run('env');
  const e0 = JSON.parse(/\[rank0\]: (\{.*\})/.exec(env)![1]!) as Record<string, string>;
  assert.equal(e0.NODE_NCCL_TTY, '1');
  assert.equal(e0.COLUMNS, String(100 - '[rank0]: '.length));
  const out = run('progress');
  // status 1 and 2 were on the screen while the rank was still running: drawn live, not held
  assert.match(out, /\x1b\[2K\[rank0\]: status 1/);
  assert.match(out, /\x1b\[2K\[rank0\]: status 2/);
  const shown = screen(out).filter(Boolean);
  assert.ok(shown.includes('[rank0]: status 3/3'), shown.join('\n'));
  for (const i of [1, 2, 3]) assert.ok(shown.includes(`[rank1]: plain ${i}`), shown.join('\n'));
  assert.ok(!shown.some((l) => /status [12]/.test(l)), 'only the last state of the bar stays on screen');
});
