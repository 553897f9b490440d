/**
 * `node-nccl bench report a.json [b.json ...] --html report.html`: reads and validates every input
 * against the schema, then writes one self-contained HTML page.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ArgumentError } from '../errors.js';
import { type FlagSpec, helpText, parseFlags } from './argparse.js';
import { type ReportInput, renderHtml, renderMarkdown } from './report.js';
import { validateResult } from './schema.js';

const FLAGS: readonly FlagSpec[] = [
  { key: 'html', long: ['html'], meta: 'file', help: 'write the HTML report here' },
  { key: 'markdown', long: ['markdown', 'md'], meta: 'file', help: 'write the tables and ratios as Markdown (for BENCHMARKS.md)' },
  { key: 'title', long: ['title'], meta: 'text', help: 'page title (default "node-nccl benchmark report")' },
  { key: 'help', short: 'h', long: ['help'], boolean: true, help: 'this help' },
];

export function readInputs(files: readonly string[]): ReportInput[] {
  return files.map((file) => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ArgumentError(`bench report: cannot read ${file}: ${(e as Error).message}`);
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new ArgumentError(`bench report: ${file} is not JSON: ${(e as Error).message}`);
    }
    return { file, result: validateResult(value, file) };
  });
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, FLAGS, 'bench report');
  if (values.get('help')) {
    process.stdout.write(helpText('usage: node-nccl bench report a.json [b.json ...] --html report.html', FLAGS));
    return 0;
  }
  if (!positionals.length) throw new ArgumentError('bench report: no input files (expected one or more results written with --json)');
  const html = values.get('html');
  const md = values.get('markdown');
  if (!html && !md) throw new ArgumentError('bench report: --html <file> is required (or --markdown <file>)');
  const inputs = readInputs(positionals);
  const n = `${inputs.length} input${inputs.length === 1 ? '' : 's'}`;
  if (html) {
    const out = resolve(html);
    writeFileSync(out, renderHtml(inputs, values.get('title')));
    process.stdout.write(`wrote ${out} (${n})\n`);
  }
  if (md) {
    const out = resolve(md);
    writeFileSync(out, renderMarkdown(inputs));
    process.stdout.write(`wrote ${out} (${n})\n`);
  }
  return 0;
}
