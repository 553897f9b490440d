import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCollectiveBenchmark } from '../../lib/bench/driver.js';
import { collectEnvironment } from '../../lib/bench/env.js';
import { parseCollectiveArgs } from '../../lib/bench/options.js';
import { renderHtml, logTicks, ratioRows, renderMarkdown, svgPlot } from '../../lib/bench/report.js';
import { readInputs } from '../../lib/bench/report-cli.js';
import { SCHEMA_ID, validateResult, type CollectiveResult } from '../../lib/bench/schema.js';
import { ArgumentError } from '../../lib/errors.js';
import { LocalWorld } from './local-world.js';
import { countColor, decodePng } from './png.js';

async function result(n: number, label: string): Promise<CollectiveResult> {
  const world = new LocalWorld(n);
  const argv = ['-b', '8', '-e', '64K', '-f', '4', '-n', '2', '-w', '1'];
  const o = parseCollectiveArgs('all-reduce', argv);
  const outs = await Promise.all(world.comms.map((c) => runCollectiveBenchmark(c, o, { emit: () => {} })));
  return {
    schema: SCHEMA_ID,
    kind: 'collective',
    tool: 'node-nccl',
    label,
    benchmark: 'all-reduce',
    createdAt: new Date().toISOString(),
    command: { argv: ['bench', 'all-reduce', ...argv], line: `npx node-nccl bench all-reduce ${argv.join(' ')}` },
    environment: await collectEnvironment({ useGpu: false }),
    ...outs[0]!,
  };
}

test('results validate against the schema; every kind of mistake is named', async () => {
  const r = await result(2, 'a');
  assert.equal(validateResult(JSON.parse(JSON.stringify(r))).kind, 'collective');
  assert.equal(r.environment.node, process.version);
  assert.equal(typeof r.environment.packages['node-nccl'], 'string');
  assert.ok(r.environment.host.cpus >= 1 && r.environment.host.memoryBytes > 0);
  const bad = (mutate: (x: Record<string, any>) => void, re: RegExp) => {
    const x = JSON.parse(JSON.stringify(r)) as Record<string, any>;
    mutate(x);
    assert.throws(() => validateResult(x, 'x.json'), (e: unknown) => e instanceof ArgumentError && re.test(e.message), re.source);
  };
  bad((x) => (x.schema = 'other/2'), /schema is "other\/2"/);
  bad((x) => (x.kind = 'histogram'), /kind is "histogram"/);
  bad((x) => delete x.environment.nccl, /\$\.environment\.nccl: missing/);
  bad((x) => (x.rows[0].outOfPlace.busBw = 'fast'), /\$\.rows\[0\]\.outOfPlace\.busBw: expected a finite number/);
  bad((x) => (x.rows[1].inPlace.wrong = 1.5), /\$\.rows\[1\]\.inPlace\.wrong: expected an integer/);
  bad((x) => (x.createdAt = 'yesterday'), /not an ISO 8601 time/);
  bad((x) => (x.config.blocking = 0), /\$\.config\.blocking: expected a boolean/);
  bad((x) => (x.rows[0].size = -1 / 0), /expected an integer/);
  assert.throws(() => validateResult([1, 2]), /expected a JSON object/);
});

test('the Open MPI baseline writes the same schema (when mpicc is here)', { skip: spawnSync('mpicc', ['--version']).status === 0 ? false : 'no mpicc (apt-get install openmpi-bin libopenmpi-dev)' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-mpi-'));
  try {
    const out = join(dir, 'mpi.json');
    // the binary is built in the temporary folder: a test run leaves nothing in the source tree
    const r = spawnSync('bash', ['bench/compare/run-mpi.sh', '-b', '8', '-e', '4K', '-f', '8', '-n', '2', '-w', '1', '--json', out],
      { encoding: 'utf8', timeout: 120_000, env: { ...process.env, MPI_BUILD_DIR: join(dir, 'build') } });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /# Out of bounds values : 0 OK/);
    const [inp] = readInputs([out]);
    assert.equal(inp!.result.tool, 'openmpi');
    assert.equal((inp!.result as CollectiveResult).rows.length, 4);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('log ticks cover the data range', () => {
  assert.deepEqual(logTicks(8, 1024, 4), [4, 16, 64, 256, 1024]);
  assert.deepEqual(logTicks(0.5, 20, 10), [0.1, 1, 10, 100]);
  // Wide ranges step by several decades and still end at or above the largest value.
  const t = logTicks(8, 16 * 1024 ** 2, 4);
  assert.ok(t.length <= 12 && t[0]! <= 8 && t.at(-1)! >= 16 * 1024 ** 2, JSON.stringify(t));
});

test('the HTML report is self-contained: two SVG plots with one line per input, and the tables', async () => {
  const a = await result(2, 'node-nccl np=2');
  const b = await result(3, 'node-nccl np=3');
  const html = renderHtml([{ file: 'a.json', result: a }, { file: 'b.json', result: b }]);
  assert.doesNotMatch(html, /<script|<link|src=|url\(/i);
  const svgs = html.match(/<svg[\s\S]*?<\/svg>/g) ?? [];
  assert.equal(svgs.length, 2);
  for (const svg of svgs) {
    assert.equal((svg.match(/<path class="line"/g) ?? []).length, 2);
    assert.match(svg, /message size \(bytes\)/);
    assert.ok((svg.match(/class="xtick"/g) ?? []).length >= 3);
    assert.ok((svg.match(/class="ytick"/g) ?? []).length >= 2);
    assert.match(svg, /node-nccl np=2 · all-reduce/);
    assert.match(svg, /node-nccl np=3 · all-reduce/);
  }
  for (const svg of svgs) {
    // Every data point lies inside the plot frame (the second rect).
    const frame = [...svg.matchAll(/<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" fill="none"/g)][0]!;
    const [fx, fy, fw, fh] = frame.slice(1).map(Number) as [number, number, number, number];
    const pts = [...svg.matchAll(/<circle cx="([\d.-]+)" cy="([\d.-]+)"/g)].map((m) => [Number(m[1]), Number(m[2])] as const);
    assert.ok(pts.length > 0);
    for (const [x, y] of pts) assert.ok(x >= fx - 0.1 && x <= fx + fw + 0.1 && y >= fy - 0.1 && y <= fy + fh + 0.1, `point ${x},${y} outside the frame`);
  }
  assert.match(svgs[0]!, /busbw \(GB\/s\)/);
  assert.match(svgs[1]!, /time \(us\)/);
  assert.equal((html.match(/<table>/g) ?? []).length, 2);
  assert.equal((html.match(/<tr><td>/g) ?? []).length, a.rows.length + b.rows.length);
});

function findChromium(): string | null {
  for (const c of [process.env.CHROMIUM, 'chromium', 'chromium-browser', 'google-chrome'].filter(Boolean) as string[]) {
    if (spawnSync('sh', ['-c', `command -v ${c}`]).status === 0) return c;
  }
  return null;
}
const chromium = findChromium();

test('the report renders in headless Chromium (screenshot and DOM)', { skip: chromium ? false : 'Chromium is not installed (apt-get install chromium); .ci/run installs it' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-report-'));
  try {
    const files = [join(dir, 'a.json'), join(dir, 'b.json')];
    writeFileSync(files[0]!, JSON.stringify(await result(2, 'node-nccl np=2')));
    writeFileSync(files[1]!, JSON.stringify(await result(4, 'node-nccl np=4')));
    const htmlPath = join(dir, 'report.html');
    const cli = spawnSync(process.execPath, ['bin/node-nccl.js', 'bench', 'report', ...files, '--html', htmlPath], { encoding: 'utf8' });
    assert.equal(cli.status, 0, cli.stderr);
    const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', `--user-data-dir=${join(dir, 'profile')}`];
    const png = join(dir, 'shot.png');
    const shot = spawnSync(chromium!, [...flags, `--screenshot=${png}`, '--window-size=1280,1600', `file://${htmlPath}`], { encoding: 'utf8', timeout: 90_000 });
    assert.ok(existsSync(png), `no screenshot: ${shot.stderr}`);
    assert.ok(statSync(png).size > 10_000, 'screenshot is suspiciously small');
    const img = decodePng(readFileSync(png));
    assert.deepEqual([img.width, img.height], [1280, 1600]);
    // Both series colours are on screen (lines, markers, legend swatches).
    assert.ok(countColor(img, [0x1f, 0x77, 0xb4]) > 200, 'first series (blue) not drawn');
    assert.ok(countColor(img, [0xd6, 0x27, 0x28]) > 200, 'second series (red) not drawn');
    const dom = spawnSync(chromium!, [...flags, '--dump-dom', `file://${htmlPath}`], { encoding: 'utf8', timeout: 90_000 });
    const svgs = dom.stdout.match(/<svg[\s\S]*?<\/svg>/g) ?? [];
    assert.equal(svgs.length, 2, dom.stderr);
    for (const svg of svgs) assert.equal((svg.match(/<path /g) ?? []).length, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bench report refuses bad inputs clearly', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-bad-'));
  try {
    const f = join(dir, 'x.json');
    writeFileSync(f, '{"schema":"node-nccl-bench/1","kind":"collective"}');
    const run = (args: string[]) => spawnSync(process.execPath, ['bin/node-nccl.js', 'bench', 'report', ...args], { encoding: 'utf8' });
    let r = run([f, '--html', join(dir, 'r.html')]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /does not match schema node-nccl-bench\/1/);
    r = run([join(dir, 'missing.json'), '--html', join(dir, 'r.html')]);
    assert.match(r.stderr, /cannot read/);
    r = run([f]);
    assert.match(r.stderr, /--html <file> is required/);
    r = run(['--html', 'x.html']);
    assert.match(r.stderr, /no input files/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const torchPython = ['python3', '/usr/bin/python3'].find((py) => spawnSync(py, ['-c', 'import torch.distributed'], { encoding: 'utf8' }).status === 0);

test('the PyTorch harness writes the same schema (gloo on the CPU, when torch is installed)', { skip: torchPython ? false : 'no python3 with torch here (the harness is for the GPU machine)' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-torch-'));
  try {
    const json = join(dir, 't.json');
    const r = spawnSync(process.execPath, ['bin/node-nccl.js', 'run', '--no-node', '--nproc-per-node', '2', torchPython!, 'bench/compare/torch_bench.py', 'coll', 'all-reduce', '-b', '8', '-e', '4K', '-f', '8', '-n', '2', '-w', '1', '--backend', 'gloo', '--json', json], { encoding: 'utf8', timeout: 180_000 });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /Out of bounds values : 0 OK/);
    const [inp] = readInputs([json]);
    assert.equal(inp!.result.tool, 'torch');
    assert.deepEqual((inp!.result as CollectiveResult).rows.map((x) => x.size), [8, 64, 512, 4096]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('markdown report: tables and ratios of the first input to each reference', async () => {
  const a = await result(2, 'ours');
  const b = JSON.parse(JSON.stringify(a)) as CollectiveResult;
  b.label = 'ref';
  for (const r of b.rows) {
    r.outOfPlace.timeUs *= 2;
    r.outOfPlace.busBw /= 2;
  }
  const inputs = [{ file: 'a.json', result: a }, { file: 'b.json', result: b }];
  const ratios = ratioRows(inputs);
  assert.equal(ratios.length, a.rows.length);
  for (const q of ratios) {
    assert.ok(Math.abs(q.timeRatio - 0.5) < 1e-12);
    assert.ok(Number.isNaN(q.busBwRatio) || Math.abs(q.busBwRatio - 2) < 1e-9);
  }
  const md = renderMarkdown(inputs);
  assert.match(md, /#### ours · all-reduce/);
  assert.match(md, /#### Ratios: ours · all-reduce against each reference/);
  assert.equal((md.match(/^\| ref · all-reduce \| \d+ \| 0\.50 \|/gm) ?? []).length, a.rows.length);
});

test('plots keep every point inside the frame over wide ranges', () => {
  const pts = [8, 64, 4096, 1 << 20, 16 * 1024 ** 2].map((x, i) => ({ x, y: 10 ** (i - 3) }));
  const svg = svgPlot({ id: 'p', title: 't', xLabel: 'x', yLabel: 'y', series: [{ label: 's', color: '#000', points: pts }], xFormat: String, yFormat: String });
  const frame = /<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" fill="none"/.exec(svg)!;
  const [fx, fy, fw, fh] = frame.slice(1).map(Number) as [number, number, number, number];
  const circles = [...svg.matchAll(/<circle cx="([\d.-]+)" cy="([\d.-]+)"/g)].map((m) => [Number(m[1]), Number(m[2])] as const);
  assert.equal(circles.length, 5);
  for (const [x, y] of circles) assert.ok(x >= fx - 0.1 && x <= fx + fw + 0.1 && y >= fy - 0.1 && y <= fy + fh + 0.1, `${x},${y}`);
});
