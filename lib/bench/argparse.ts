/**
 * A small getopt_long-like parser shared by the bench subcommands: `-b 8`, `-b8`, `--minbytes 8`,
 * `--minbytes=8`. Every flag takes a value except the booleans named in the spec. Unknown flags and
 * missing values are ArgumentErrors that name the flag and list what is accepted.
 */
import { ArgumentError } from '../errors.js';

export interface FlagSpec {
  /** Canonical key in the result. */
  key: string;
  /** Short form without the dash ('b'), if any. */
  short?: string;
  /** Long forms without the dashes ('minbytes', 'min-bytes'). */
  long: string[];
  /** Takes no value (`--help`). */
  boolean?: boolean;
  /** One line of help. */
  help: string;
  /** Shown as the value placeholder in help. */
  meta?: string;
}

export interface ParsedFlags {
  values: Map<string, string>;
  positionals: string[];
}

export function parseFlags(argv: readonly string[], specs: readonly FlagSpec[], command: string): ParsedFlags {
  const values = new Map<string, string>();
  const positionals: string[] = [];
  const byShort = new Map<string, FlagSpec>();
  const byLong = new Map<string, FlagSpec>();
  for (const s of specs) {
    if (s.short) byShort.set(s.short, s);
    for (const l of s.long) byLong.set(l, s);
  }
  const unknown = (flag: string): never => {
    throw new ArgumentError(`${command}: unknown option '${flag}'. Run \`node-nccl ${command} --help\` for the options.`);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    let spec: FlagSpec | undefined;
    let inline: string | undefined;
    let shown = a;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      if (eq >= 0) inline = a.slice(eq + 1);
      shown = `--${name}`;
      spec = byLong.get(name);
      if (!spec) unknown(shown);
    } else if (a.startsWith('-') && a.length > 1 && !/^-\d/.test(a)) {
      const name = a[1]!;
      shown = `-${name}`;
      spec = byShort.get(name);
      if (!spec) unknown(shown);
      if (a.length > 2) inline = a.slice(2);
    } else {
      positionals.push(a);
      continue;
    }
    const s = spec!;
    if (s.boolean) {
      if (inline !== undefined) {
        throw new ArgumentError(`${command}: option '${shown}' takes no value (got '${inline}')`);
      }
      values.set(s.key, 'true');
      continue;
    }
    let v = inline;
    if (v === undefined) {
      if (i + 1 >= argv.length) throw new ArgumentError(`${command}: option '${shown}' needs a value (${s.meta ?? 'value'})`);
      v = argv[++i]!;
    }
    values.set(s.key, v);
  }
  return { values, positionals };
}

export function helpText(usage: string, specs: readonly FlagSpec[]): string {
  const rows = specs.map((s) => {
    const names = [s.short ? `-${s.short}` : '', ...s.long.slice(0, 1).map((l) => `--${l}`)].filter(Boolean).join(', ');
    const left = `  ${names}${s.boolean ? '' : ` <${s.meta ?? 'value'}>`}`;
    return `${left.padEnd(34)} ${s.help}`;
  });
  return `${usage}\n\noptions:\n${rows.join('\n')}\n`;
}

/** An integer in [min, max], written in decimal (or 0x hex, as strtol with base 0 accepts). */
export function parseInteger(flag: string, value: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = value.trim();
  const n = /^[+-]?\d+$/.test(v) ? Number(v) : /^0x[0-9a-f]+$/i.test(v) ? Number.parseInt(v, 16) : NaN;
  if (!Number.isSafeInteger(n)) throw new ArgumentError(`${flag} ${value}: expected an integer`);
  if (n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new ArgumentError(`${flag} ${value}: out of range (expected an integer ${range})`, 'ERR_INDEX_OUT_OF_RANGE');
  }
  return n;
}

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** Largest size accepted anywhere (64 TiB): beyond it a size is a typo, not a benchmark. */
export const MAX_SIZE_BYTES = 2 ** 46;

/**
 * A byte size as nccl-tests' parsesize reads it: a number with an optional K, M, G (powers of
 * 1024; T too), case-insensitive, optionally followed by B or iB ("1.5M", "64k", "1GiB").
 */
export function parseSize(flag: string, value: string): number {
  const m = /^\s*(\d+(?:\.\d*)?|\.\d+)(?:e(\d+))?\s*([kmgt]?)(?:i?b)?\s*$/i.exec(value);
  if (!m) {
    throw new ArgumentError(`${flag} ${value}: invalid size (expected bytes, optionally with a K, M or G suffix, e.g. 8, 64K, 1M, 2G)`);
  }
  const base = Number(m[1]) * (m[2] ? 10 ** Number(m[2]) : 1);
  const bytes = Math.floor(base * UNITS[m[3]!.toLowerCase()]!);
  if (!Number.isFinite(bytes) || bytes > MAX_SIZE_BYTES) {
    throw new ArgumentError(`${flag} ${value}: size out of range (at most ${MAX_SIZE_BYTES} bytes = 64T)`, 'ERR_INDEX_OUT_OF_RANGE');
  }
  return bytes;
}

/** Formats bytes the way users write them: 8, 64K, 1M, 1.5G. */
export function formatSize(bytes: number): string {
  for (const [u, f] of [['G', 1024 ** 3], ['M', 1024 ** 2], ['K', 1024]] as const) {
    if (bytes >= f && bytes % (f / 1024) === 0) {
      const v = bytes / f;
      return `${Number.isInteger(v) ? v : Number(v.toFixed(2))}${u}`;
    }
  }
  return String(bytes);
}
