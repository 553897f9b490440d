/**
 * Every code block of README.md, run as written, so a snippet cannot rot:
 *   ```ts    compiled by tsc (strict, NodeNext, as a user's project would: the package resolved by its
 *            name) and then run with node;
 *   ```js    run with node as an ES module;
 *   ```sh    run with bash -e, `npx node-nccl` being this checkout's CLI.
 * A block whose first line is `// <file> — run with: npx node-nccl run --nproc-per-node N <file>` is
 * written under that name and run that way (for a .ts block, its compiled .js). The blocks run in
 * README order in one folder, so a later block may use what an earlier one wrote (a script, a file).
 * Blocks without a language (diagrams) are prose. Any other language is an error here.
 *
 * Opting out, for a block that cannot run on this machine: an HTML comment on the line before it,
 *   <!-- snippet: compile-only — needs a GPU -->   (ts: type-checked, not run)
 *   <!-- snippet: skip — needs two hosts -->       (not run at all)
 * with a reason. Each opt-out is printed with its reason at the end of this file's output, and the
 * number of them is capped below: new blocks are expected to run.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
/** Opt-outs allowed at most; raise it only with a reason as good as "needs a GPU". */
const MAX_OPT_OUTS = 8;
const BLOCK_TIMEOUT_MS = 180_000;

type Kind = 'ts' | 'js' | 'sh';
interface Block {
  /** README line of the opening fence (1-based). */
  line: number;
  kind: Kind;
  code: string;
  optOut: { mode: 'skip' | 'compile-only'; reason: string } | null;
  /** The file the block is written to, and how it is run (null: node <file>). */
  file: string;
  launch: string | null;
}

const KINDS: Record<string, Kind> = { ts: 'ts', typescript: 'ts', js: 'js', mjs: 'js', javascript: 'js', sh: 'sh', bash: 'sh', shell: 'sh' };

function parse(text: string): { blocks: Block[]; problems: string[] } {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  const problems: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(\S*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    const lang = open[2]!.toLowerCase();
    let j = i + 1;
    while (j < lines.length && !/^\s*```\s*$/.test(lines[j]!)) j++;
    const body = lines.slice(i + 1, j).map((l) => l.slice(Math.min(indent, l.length - l.trimStart().length)));
    const at = i + 1;
    i = j;
    if (lang === '' || lang === 'text' || lang === 'txt') continue; // a diagram or output: prose
    const kind = KINDS[lang];
    let prev = at - 2;
    while (prev >= 0 && lines[prev]!.trim() === '') prev--;
    const d = prev >= 0 ? /^<!--\s*snippet:\s*(skip|compile-only)\s*[—:-]+\s*(.*?)\s*-->$/.exec(lines[prev]!.trim()) : null;
    const optOut = d ? { mode: d[1] as 'skip' | 'compile-only', reason: d[2]! } : null;
    if (!kind) {
      if (!optOut || optOut.mode !== 'skip') problems.push(`README.md:${at}: a \`\`\`${lang} block: this test runs ts, js and sh blocks; mark it <!-- snippet: skip — <why> -->`);
      continue;
    }
    if (optOut && optOut.reason.length < 8) problems.push(`README.md:${at}: an opt-out needs a reason ("needs a GPU", "needs two hosts"), got "${optOut.reason}"`);
    if (optOut?.mode === 'compile-only' && kind !== 'ts') problems.push(`README.md:${at}: compile-only applies to ts blocks; use skip`);
    const named = /^\/\/\s*([\w.-]+\.(?:ts|mts|js|mjs))\b.*?run with:\s*`?(npx node-nccl run [^`]*?)`?\s*$/.exec(body[0] ?? '');
    const ext = kind === 'ts' ? 'ts' : kind === 'js' ? 'mjs' : 'sh';
    if (named && (kind === 'ts') !== /\.m?ts$/.test(named[1]!)) problems.push(`README.md:${at}: a ${kind} block named ${named[1]}: name it .${kind === 'ts' ? 'ts' : 'mjs'} (or change the block's language)`);
    blocks.push({
      line: at, kind, code: body.join('\n') + '\n', optOut,
      file: named ? named[1]! : `readme-L${at}.${ext}`,
      launch: named ? named[2]! : null,
    });
  }
  return { blocks, problems };
}

const { blocks, problems } = parse(readme);
let work = '';
let shimBin = '';
const compileErrors = new Map<number, string[]>();

function env(extra: Record<string, string> = {}): Record<string, string> {
  const e: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || /^(RANK|WORLD_SIZE|LOCAL_RANK|LOCAL_WORLD_SIZE|GROUP_RANK|MASTER_ADDR|MASTER_PORT|NODE_NCCL_STORE_TOKEN|NODE_NCCL_BACKEND)$/.test(k)) continue;
    e[k] = v;
  }
  return { ...e, PATH: `${shimBin}:${process.env.PATH ?? ''}`, NODE_NCCL_TIMEOUT_MS: '60000', ...extra };
}

before(() => {
  work = mkdtempSync(join(tmpdir(), 'nn-readme-'));
  // A user's project: `node-nccl` resolved by name (this checkout), ES modules.
  mkdirSync(join(work, 'node_modules'));
  symlinkSync(root, join(work, 'node_modules', 'node-nccl'));
  writeFileSync(join(work, 'package.json'), JSON.stringify({ name: 'readme-snippets', private: true, type: 'module' }));
  shimBin = join(work, '.bin');
  mkdirSync(shimBin);
  writeFileSync(join(shimBin, 'npx'), `#!/bin/sh
# npx node-nccl ... is this checkout's CLI; nothing else is fetched.
if [ "$1" = node-nccl ]; then shift; exec "${process.execPath}" "${join(root, 'bin', 'node-nccl.js')}" "$@"; fi
echo "README snippet test: only 'npx node-nccl' is available here, not npx $1" >&2; exit 127
`);
  chmodSync(join(shimBin, 'npx'), 0o755);
  const ts = blocks.filter((b) => b.kind === 'ts' && b.optOut?.mode !== 'skip');
  for (const b of ts) writeFileSync(join(work, b.file), b.code);
  writeFileSync(join(work, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', lib: ['es2022', 'esnext.disposable'],
      moduleDetection: 'force', skipLibCheck: false, types: ['node'], typeRoots: [join(root, 'node_modules', '@types')],
      noEmitOnError: false, noUnusedLocals: false,
    },
    files: ts.map((b) => b.file),
  }, null, 2));
  if (ts.length === 0) return;
  const r = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', work], { cwd: work, encoding: 'utf8', timeout: BLOCK_TIMEOUT_MS });
  for (const l of r.stdout.split('\n')) {
    const m = /^([\w.-]+)\((\d+),(\d+)\): (error .*)$/.exec(l);
    if (!m) continue;
    const b = ts.find((x) => x.file === m[1]);
    if (!b) continue;
    const msgs = compileErrors.get(b.line) ?? [];
    msgs.push(`README.md:${b.line + Number(m[2])}:${m[3]}: ${m[4]}`);
    compileErrors.set(b.line, msgs);
  }
  if (r.status !== 0 && compileErrors.size === 0) throw new Error(`tsc failed:\n${r.stdout}\n${r.stderr}`);
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test('README.md: every code block is a kind this test runs, and opt-outs are rare and explained', (t) => {
  assert.deepEqual(problems, []);
  const out = blocks.filter((b) => b.optOut);
  for (const b of out) t.diagnostic(`README.md:${b.line} (${b.kind}) ${b.optOut!.mode}: ${b.optOut!.reason}`);
  assert.ok(blocks.length >= 10, `found ${blocks.length} blocks: is the parser reading README.md?`);
  assert.ok(out.length <= MAX_OPT_OUTS, `${out.length} blocks opt out (at most ${MAX_OPT_OUTS}): make new blocks runnable:\n` +
    out.map((b) => `  README.md:${b.line}: ${b.optOut!.reason}`).join('\n'));
});

for (const b of blocks) {
  const label = `README.md:${b.line} (${b.kind}${b.launch ? `, ${b.launch}` : ''})${b.optOut ? ` [${b.optOut.mode}: ${b.optOut.reason}]` : ''}`;
  test(label, { skip: b.optOut?.mode === 'skip' ? b.optOut.reason : false, timeout: BLOCK_TIMEOUT_MS + 10_000 }, () => {
    if (b.kind === 'ts') {
      const errs = compileErrors.get(b.line);
      assert.ok(!errs, `does not compile (strict):\n${errs?.join('\n')}`);
      if (b.optOut?.mode === 'compile-only') return;
    }
    let cmd: string[];
    if (b.kind === 'sh') {
      writeFileSync(join(work, b.file), b.code);
      cmd = ['bash', '-euo', 'pipefail', b.file];
    } else {
      const file = b.kind === 'ts' ? b.file.replace(/\.m?ts$/, (e) => (e === '.mts' ? '.mjs' : '.js')) : b.file;
      if (b.kind === 'js') writeFileSync(join(work, file), b.code);
      cmd = b.launch ? ['bash', '-c', b.launch.replace(/\S+\.(?:m?ts|m?js)(\s|$)/, `${file}$1`)] : [process.execPath, file];
    }
    const r = spawnSync(cmd[0]!, cmd.slice(1), { cwd: work, env: env(), encoding: 'utf8', timeout: BLOCK_TIMEOUT_MS });
    assert.equal(r.status, 0, `${cmd.join(' ')} exited with ${r.status ?? r.signal}:\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${r.stderr.slice(-3000)}`);
  });
}
