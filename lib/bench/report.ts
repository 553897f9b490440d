/**
 * `node-nccl bench report a.json [b.json ...] --html report.html`: one self-contained HTML page (no
 * external assets, no scripts) with SVG plots — bus bandwidth and time against size, log axes, one
 * line per input file — and every input's table.
 */
import type { BenchResult, CollectiveResult, CollectiveRow } from './schema.js';

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export interface Series {
  label: string;
  color: string;
  points: { x: number; y: number }[];
}

export interface PlotSpec {
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  xFormat: (v: number) => string;
  yFormat: (v: number) => string;
}

/** Decade ticks (1, 10, 100, ... or 1, 4, 16 ... for bytes) covering [lo, hi]. */
export function logTicks(lo: number, hi: number, base: number): number[] {
  const ticks: number[] = [];
  const start = Math.floor(Math.log(lo) / Math.log(base) + 1e-9);
  const end = Math.ceil(Math.log(hi) / Math.log(base) - 1e-9);
  let step = 1;
  while ((end - start) / step > 10) step++;
  // Up to and including the first tick at or above hi, so no point lies outside the frame.
  for (let e = start; ; e += step) {
    ticks.push(base ** e);
    if (e >= end) break;
  }
  return ticks;
}

export function formatBytes(b: number): string {
  if (b >= 1024 ** 3) return `${+(b / 1024 ** 3).toPrecision(3)}G`;
  if (b >= 1024 ** 2) return `${+(b / 1024 ** 2).toPrecision(3)}M`;
  if (b >= 1024) return `${+(b / 1024).toPrecision(3)}K`;
  return `${+b.toPrecision(3)}`;
}

export function formatNumber(v: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 1000 || Math.abs(v) < 0.01) return v.toExponential(0).replace('e+', 'e');
  return `${+v.toPrecision(3)}`;
}

/** One log-log line plot as an SVG string. Non-positive values cannot sit on a log axis: dropped. */
export function svgPlot(p: PlotSpec): string {
  const W = 560;
  const m = { l: 70, r: 20, t: 34, b: 62 + 16 * p.series.length };
  const H = 304 + m.b;
  const series = p.series.map((s) => ({ ...s, points: s.points.filter((q) => q.x > 0 && q.y > 0) }));
  const all = series.flatMap((s) => s.points);
  const xs = all.map((q) => q.x);
  const ys = all.map((q) => q.y);
  const xlo = xs.length ? Math.min(...xs) : 1;
  const xhi = xs.length ? Math.max(...xs) : 10;
  let ylo = ys.length ? Math.min(...ys) : 1;
  let yhi = ys.length ? Math.max(...ys) : 10;
  if (ylo === yhi) {
    ylo /= 2;
    yhi *= 2;
  }
  const xt = logTicks(xlo, Math.max(xhi, xlo * 2), 2 ** 2);
  const yt = logTicks(ylo, yhi, 10);
  const x0 = Math.log(xt[0]!);
  const x1 = Math.log(xt[xt.length - 1]!);
  const y0 = Math.log(yt[0]!);
  const y1 = Math.log(yt[yt.length - 1]!);
  const px = (x: number): number => m.l + ((Math.log(x) - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const py = (y: number): number => H - m.b - ((Math.log(y) - y0) / (y1 - y0 || 1)) * (H - m.t - m.b);
  const f = (v: number): string => v.toFixed(1);
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" id="${p.id}" class="plot" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(p.title)}">`,
    `<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${escapeHtml(p.title)}</text>`,
  );
  const grid: string[] = [];
  for (const t of xt) {
    grid.push(
      `<line class="grid" x1="${f(px(t))}" y1="${m.t}" x2="${f(px(t))}" y2="${H - m.b}" stroke="#ddd"/>`,
      `<text class="xtick" x="${f(px(t))}" y="${H - m.b + 16}" text-anchor="middle" font-size="11">${escapeHtml(p.xFormat(t))}</text>`,
    );
  }
  for (const t of yt) {
    grid.push(
      `<line class="grid" x1="${m.l}" y1="${f(py(t))}" x2="${W - m.r}" y2="${f(py(t))}" stroke="#ddd"/>`,
      `<text class="ytick" x="${m.l - 6}" y="${f(py(t) + 4)}" text-anchor="end" font-size="11">${escapeHtml(p.yFormat(t))}</text>`,
    );
  }
  parts.push(`<g class="axes">${grid.join('')}`);
  parts.push(
    `<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#333"/>`,
    `<text class="xlabel" x="${(m.l + W - m.r) / 2}" y="${H - m.b + 36}" text-anchor="middle" font-size="13">${escapeHtml(p.xLabel)}</text>`,
    `<text class="ylabel" transform="translate(16 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle" font-size="13">${escapeHtml(p.yLabel)}</text>`,
    `</g>`,
  );
  for (const s of series) {
    const d = s.points
      .slice()
      .sort((a, b) => a.x - b.x)
      .map((q, i) => `${i ? 'L' : 'M'}${f(px(q.x))},${f(py(q.y))}`)
      .join(' ');
    parts.push(
      `<g class="series" data-label="${escapeHtml(s.label)}">`,
      `<path class="line" d="${d || 'M0,0'}" fill="none" stroke="${s.color}" stroke-width="2"/>`,
      ...s.points.map((q) => `<circle cx="${f(px(q.x))}" cy="${f(py(q.y))}" r="2.5" fill="${s.color}"/>`),
      `</g>`,
    );
  }
  // Legend, under the x axis label: never over the data.
  parts.push(`<g class="legend">`);
  series.forEach((s, i) => {
    const y = H - m.b + 58 + i * 16;
    parts.push(
      `<line x1="${m.l + 10}" y1="${y - 4}" x2="${m.l + 30}" y2="${y - 4}" stroke="${s.color}" stroke-width="3"/>`,
      `<text x="${m.l + 36}" y="${y}" font-size="12">${escapeHtml(s.label)}</text>`,
    );
  });
  parts.push(`</g></svg>`);
  return parts.join('\n');
}

function collectiveTable(r: CollectiveResult): string {
  const head =
    '<tr><th rowspan="2">size (B)</th><th rowspan="2">count</th><th rowspan="2">type</th><th rowspan="2">redop</th><th rowspan="2">root</th>' +
    '<th colspan="4">out-of-place</th><th colspan="4">in-place</th></tr>' +
    '<tr>' +
    '<th>time (us)</th><th>algbw (GB/s)</th><th>busbw (GB/s)</th><th>#wrong</th>'.repeat(2) +
    '</tr>';
  const cell = (c: CollectiveRow['inPlace']): string =>
    `<td>${c.timeUs.toFixed(2)}</td><td>${c.algBw.toFixed(2)}</td><td>${c.busBw.toFixed(2)}</td><td>${c.wrong ?? 'N/A'}</td>`;
  const body = r.rows
    .map((w) => `<tr><td>${w.size}</td><td>${w.count}</td><td>${escapeHtml(w.type)}</td><td>${escapeHtml(w.redop)}</td><td>${w.root}</td>${cell(w.outOfPlace)}${cell(w.inPlace)}</tr>`)
    .join('\n');
  return `<table>${head}\n${body}</table><p class="summary">Out of bounds values: ${r.summary.outOfBounds} ${r.summary.outOfBounds ? 'FAILED' : 'OK'} &middot; Avg bus bandwidth: ${r.summary.avgBusBw.toPrecision(4)} GB/s</p>`;
}

function genericTable(rows: readonly object[]): string {
  if (!rows.length) return '<p>(no rows)</p>';
  const keys = Object.keys(rows[0]!);
  const fmt = (v: unknown): string => (typeof v === 'number' && !Number.isInteger(v) ? v.toPrecision(4) : String(v));
  return `<table><tr>${keys.map((k) => `<th>${escapeHtml(k)}</th>`).join('')}</tr>\n${rows
    .map((r) => `<tr>${keys.map((k) => `<td>${escapeHtml(fmt((r as Record<string, unknown>)[k]))}</td>`).join('')}</tr>`)
    .join('\n')}</table>`;
}

function envBlock(r: BenchResult): string {
  const e = r.environment;
  const items: [string, string | null][] = [
    ['device', e.device],
    ['driver', e.driver],
    ['CUDA', e.cuda],
    ['NCCL', e.nccl],
    ['cuBLAS', e.cublas],
    ['Node.js', e.node],
    ['packages', Object.entries(e.packages).map(([k, v]) => `${k} ${v}`).join(', ')],
    ['host', `${e.host.hostname}, ${e.host.platform} ${e.host.arch}, ${e.host.cpus} CPUs (${e.host.cpuModel}), ${(e.host.memoryBytes / 1024 ** 3).toFixed(1)} GiB`],
    ['created', r.createdAt],
  ];
  return `<dl>${items.map(([k, v]) => `<dt>${k}</dt><dd>${escapeHtml(v ?? 'n/a')}</dd>`).join('')}</dl><pre class="cmd">${escapeHtml(r.command.line)}</pre>`;
}

export interface ReportInput {
  file: string;
  result: BenchResult;
}

/** Labels each input; when two inputs share a label the file name tells them apart. */
export function seriesLabels(inputs: readonly ReportInput[]): string[] {
  const labels = inputs.map((i) => `${i.result.label} · ${i.result.benchmark}`);
  return labels.map((l, i) => (labels.indexOf(l) !== labels.lastIndexOf(l) ? `${l} (${inputs[i]!.file})` : l));
}

export function renderHtml(inputs: readonly ReportInput[], title = 'node-nccl benchmark report'): string {
  const labels = seriesLabels(inputs);
  const colls = inputs.map((inp, i) => ({ inp, i })).filter((x) => x.inp.result.kind === 'collective');
  const plots: string[] = [];
  if (colls.length) {
    const ser = (pick: (r: CollectiveRow) => number): Series[] =>
      colls.map(({ inp, i }) => ({
        label: labels[i]!,
        color: PALETTE[i % PALETTE.length]!,
        points: (inp.result as CollectiveResult).rows.map((r) => ({ x: r.size, y: pick(r) })),
      }));
    plots.push(
      svgPlot({
        id: 'plot-busbw',
        title: 'Bus bandwidth (out-of-place)',
        xLabel: 'message size (bytes)',
        yLabel: 'busbw (GB/s)',
        series: ser((r) => r.outOfPlace.busBw),
        xFormat: formatBytes,
        yFormat: formatNumber,
      }),
      svgPlot({
        id: 'plot-latency',
        title: 'Time per operation (out-of-place)',
        xLabel: 'message size (bytes)',
        yLabel: 'time (us)',
        series: ser((r) => r.outOfPlace.timeUs),
        xFormat: formatBytes,
        yFormat: formatNumber,
      }),
    );
  }
  const sections = inputs.map((inp, i) => {
    const r = inp.result;
    const table =
      r.kind === 'collective'
        ? collectiveTable(r)
        : genericTable(r.kind === 'ops' ? [...r.rows, ...Object.entries(r.launchOverheadUs).map(([device, us]) => ({ op: 'launch overhead', device, timeUs: us }))] : r.rows);
    return `<section class="input"><h2><span class="swatch" style="background:${PALETTE[i % PALETTE.length]}"></span>${escapeHtml(labels[i]!)}</h2><p class="file">${escapeHtml(inp.file)}</p>${envBlock(r)}${table}</section>`;
  });
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:22px;margin:0 0 12px}h2{font-size:17px;margin:18px 0 4px}
.plots{display:flex;flex-wrap:wrap;gap:16px;margin-bottom:12px}
.plot{border:1px solid #ccc;background:#fff}
table{border-collapse:collapse;font-size:12px;margin:8px 0;background:#fff}
th,td{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#eee}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;font-size:12px;margin:4px 0}dt{font-weight:bold}dd{margin:0}
pre.cmd{font-size:12px;background:#f0f0f0;padding:4px 8px;overflow-x:auto}
.file{font-size:12px;color:#666;margin:0}.swatch{display:inline-block;width:12px;height:12px;margin-right:6px;border-radius:2px}
.summary{font-size:13px}
</style></head>
<body>
<h1>${escapeHtml(title)}</h1>
<p>${inputs.length} input${inputs.length === 1 ? '' : 's'}; plots use log scales on both axes.</p>
${plots.length ? `<div class="plots">\n${plots.join('\n')}\n</div>` : '<p>No collective results to plot.</p>'}
${sections.join('\n')}
</body></html>
`;
}

// ---------------------------------------------------------------------------------------------
// Markdown (for BENCHMARKS.md): the tables as nccl-tests prints them, and ratios between inputs.
// ---------------------------------------------------------------------------------------------

function mdEnv(r: BenchResult): string {
  const e = r.environment;
  const pk = Object.entries(e.packages).map(([k, v]) => `${k} ${v}`).join(', ');
  return [
    `- device: ${e.device ?? 'n/a'}; driver ${e.driver ?? 'n/a'}, CUDA ${e.cuda ?? 'n/a'}, NCCL ${e.nccl ?? 'n/a'}, cuBLAS ${e.cublas ?? 'n/a'}`,
    `- host: ${e.host.hostname}, ${e.host.platform} ${e.host.arch}, ${e.host.cpus} CPUs (${e.host.cpuModel}), ${(e.host.memoryBytes / 1024 ** 3).toFixed(1)} GiB; Node.js ${e.node ?? 'n/a'}; ${pk}`,
    `- measured: ${r.createdAt}`,
    '',
    '```sh',
    r.command.line,
    '```',
  ].join('\n');
}

function mdCollective(r: CollectiveResult): string {
  const t = (c: CollectiveRow['inPlace']): string => `${c.timeUs.toFixed(2)} | ${c.algBw.toFixed(3)} | ${c.busBw.toFixed(3)} | ${c.wrong ?? 'N/A'}`;
  return [
    '| size (B) | count | type | redop | root | time (us) | algbw (GB/s) | busbw (GB/s) | #wrong | in-place time (us) | algbw | busbw | #wrong |',
    '|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...r.rows.map((w) => `| ${w.size} | ${w.count} | ${w.type} | ${w.redop} | ${w.root} | ${t(w.outOfPlace)} | ${t(w.inPlace)} |`),
    '',
    `Out of bounds values: ${r.summary.outOfBounds} ${r.summary.outOfBounds ? 'FAILED' : 'OK'}; Avg bus bandwidth: ${r.summary.avgBusBw.toPrecision(4)} GB/s`,
  ].join('\n');
}

function mdRows(rows: readonly object[]): string {
  if (!rows.length) return '(no rows)';
  const keys = Object.keys(rows[0]!);
  const fmt = (v: unknown): string => (typeof v === 'number' && !Number.isInteger(v) ? v.toPrecision(4) : String(v));
  return [`| ${keys.join(' | ')} |`, `|${keys.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${keys.map((k) => fmt((r as Record<string, unknown>)[k])).join(' | ')} |`)].join('\n');
}

/**
 * Ratios of the first collective input (the subject) to every later input of the same benchmark
 * (the references), size by size where both measured, out of place: time ratio (subject /
 * reference; < 1 is faster) and busbw ratio (subject / reference; > 1 is faster).
 */
export function ratioRows(inputs: readonly ReportInput[]): { label: string; reference: string; size: number; timeRatio: number; busBwRatio: number }[] {
  const labels = seriesLabels(inputs);
  const colls = inputs.map((inp, i) => ({ r: inp.result, label: labels[i]! })).filter((x) => x.r.kind === 'collective') as { r: CollectiveResult; label: string }[];
  const out: { label: string; reference: string; size: number; timeRatio: number; busBwRatio: number }[] = [];
  const subject = colls[0];
  if (!subject) return out;
  for (const ref of colls.slice(1)) {
    if (ref.r.benchmark !== subject.r.benchmark) continue;
    for (const row of subject.r.rows) {
      const rr = ref.r.rows.find((q) => q.size === row.size && q.type === row.type);
      if (!rr) continue;
      out.push({
        label: subject.label,
        reference: ref.label,
        size: row.size,
        timeRatio: rr.outOfPlace.timeUs > 0 ? row.outOfPlace.timeUs / rr.outOfPlace.timeUs : Number.NaN,
        busBwRatio: rr.outOfPlace.busBw > 0 ? row.outOfPlace.busBw / rr.outOfPlace.busBw : Number.NaN,
      });
    }
  }
  return out;
}

export function renderMarkdown(inputs: readonly ReportInput[]): string {
  const labels = seriesLabels(inputs);
  const parts: string[] = [];
  inputs.forEach((inp, i) => {
    const r = inp.result;
    parts.push(`#### ${labels[i]}`, '', mdEnv(r), '');
    if (r.kind === 'collective') parts.push(mdCollective(r));
    else if (r.kind === 'ops') parts.push(mdRows(r.rows), '', `Host overhead per launch: ${Object.entries(r.launchOverheadUs).map(([d, us]) => `${d} ${us.toFixed(2)} us`).join(', ')}`);
    else parts.push(mdRows(r.rows));
    parts.push('');
  });
  const ratios = ratioRows(inputs);
  if (ratios.length) {
    parts.push(
      `#### Ratios: ${ratios[0]!.label} against each reference (out of place; time ratio < 1 and busbw ratio > 1: faster than the reference)`,
      '',
      '| reference | size (B) | time ratio | busbw ratio |',
      '|---|---:|---:|---:|',
      ...ratios.map((q) => `| ${q.reference} | ${q.size} | ${q.timeRatio.toFixed(2)} | ${Number.isNaN(q.busBwRatio) ? 'n/a' : q.busBwRatio.toFixed(2)} |`),
      '',
    );
  }
  return parts.join('\n');
}
