/**
 * nccl-tests' text output, column for column: the header, one line per size, and the closing
 * "Out of bounds values" and "Avg bus bandwidth" lines.
 */
import type { CollectiveResult, CollectiveRow, TimingCell } from './schema.js';

const pad = (s: string | number, n: number): string => String(s).padStart(n);

/** nccl-tests' time string: %7.0f from 10 ms, %7.1f from 100 us, %7.2f below. */
export function formatTime(us: number): string {
  if (us >= 10000) return us.toFixed(0).padStart(7);
  if (us >= 100) return us.toFixed(1).padStart(7);
  return us.toFixed(2).padStart(7);
}

export function headerLines(r: Pick<CollectiveResult, 'config' | 'devices'>): string[] {
  const c = r.config;
  const step = c.stepFactor > 1 ? `${c.stepFactor}(factor)` : `${c.stepBytes}(bytes)`;
  const lines = [
    // nGpus: GPUs per rank, as nccl-tests counts them (0 on the cpu backend, which uses none)
    `# nThread 1 nGpus ${c.backend === 'nccl' ? 1 : 0} minBytes ${c.minBytes} maxBytes ${c.maxBytes} step: ${step} warmup iters: ${c.warmupIters} ` +
      `iters: ${c.iters} agg iters: 1 validation: ${c.check} graph: ${c.graphLaunches}`,
  ];
  if (c.blocking) lines.push('# Blocking Enabled: wait for completion and barrier after each collective ');
  lines.push('#');
  lines.push(`# Using ${c.backend === 'nccl' ? 'devices' : 'ranks'} (backend ${c.backend}, world size ${c.worldSize})`);
  for (const d of r.devices) lines.push(`#  ${d}`);
  lines.push('#');
  lines.push(`# ${pad('', 10)}  ${pad('', 12)}  ${pad('', 8)}  ${pad('', 6)}  ${pad('', 6)}           out-of-place                       in-place          `);
  lines.push(
    `# ${pad('size', 10)}  ${pad('count', 12)}  ${pad('type', 8)}  ${pad('redop', 6)}  ${pad('root', 6)}  ` +
      `${pad('time', 7)}  ${pad('algbw', 6)}  ${pad('busbw', 6)} ${pad('#wrong', 6)}  ${pad('time', 7)}  ${pad('algbw', 6)}  ${pad('busbw', 6)} ${pad('#wrong', 6)}`,
  );
  lines.push(
    `# ${pad('(B)', 10)}  ${pad('(elements)', 12)}  ${pad('', 8)}  ${pad('', 6)}  ${pad('', 6)}  ` +
      `${pad('(us)', 7)}  ${pad('(GB/s)', 6)}  ${pad('(GB/s)', 6)}  ${pad('', 5)}  ${pad('(us)', 7)}  ${pad('(GB/s)', 6)}  ${pad('(GB/s)', 6)}  ${pad('', 5)}`,
  );
  return lines;
}

function cell(t: TimingCell): string {
  const wrong = t.wrong === null ? 'N/A' : String(t.wrong);
  return `  ${formatTime(t.timeUs)}  ${t.algBw.toFixed(2).padStart(6)}  ${t.busBw.toFixed(2).padStart(6)}  ${wrong.padStart(5)}`;
}

export function rowLine(row: CollectiveRow): string {
  return (
    `${pad(row.size, 12)}  ${pad(row.count, 12)}  ${pad(row.type, 8)}  ${pad(row.redop, 6)}  ${pad(row.root, 6)}` +
    cell(row.outOfPlace) +
    cell(row.inPlace)
  );
}

/** %g as C prints it (6 significant digits, trailing zeros dropped). */
export function formatG(x: number): string {
  if (x === 0) return '0';
  if (!Number.isFinite(x)) return String(x);
  const exp = Math.floor(Math.log10(Math.abs(x)));
  if (exp < -4 || exp >= 6) {
    const [m, e] = x.toExponential(5).split('e');
    const mant = m!.includes('.') ? m!.replace(/\.?0+$/, '') : m!;
    const en = Number(e);
    return `${mant}e${en < 0 ? '-' : '+'}${String(Math.abs(en)).padStart(2, '0')}`;
  }
  const s = x.toFixed(Math.max(0, 5 - exp));
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

export function footerLines(r: Pick<CollectiveResult, 'summary'>): string[] {
  const { outOfBounds, avgBusBw } = r.summary;
  return [
    `# Out of bounds values : ${outOfBounds} ${outOfBounds ? 'FAILED' : 'OK'}`,
    `# Avg bus bandwidth    : ${formatG(avgBusBw)} `,
    '#',
  ];
}
