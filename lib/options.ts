/**
 * Options objects: the one check every public function that takes `{ ... }` options runs.
 * An unknown key is an ERR_INVALID_ARG that names it and the nearest valid key, so
 * `new DataLoader(ds, { batch_size: 16 })` fails at once instead of running with batch size 1.
 *
 *   const LOADER_OPTIONS = optionKeys<DataLoaderOptions>({ batchSize: true, shuffle: true, ... });
 *   opts = checkOptions(opts, LOADER_OPTIONS, 'DataLoader');
 *
 * `optionKeys` is typed so that the list cannot drift from the interface: a key missing from the
 * list, or one the interface does not have, is a compile error.
 */
import { createError } from './errors.js';

/** The valid keys of an options type, in the order given. */
export interface OptionKeys {
  readonly keys: readonly string[];
  readonly set: ReadonlySet<string>;
}

/** Lists every key of T (exhaustive and exact: checked by the compiler). */
export function optionKeys<T extends object>(keys: { [K in keyof Required<T>]: true }): OptionKeys {
  const list = Object.keys(keys);
  return { keys: list, set: new Set(list) };
}

/** Keys known only at run time (an optimizer's defaults plus `params`). */
export function optionKeyList(keys: readonly string[]): OptionKeys {
  const list = [...new Set(keys)];
  return { keys: list, set: new Set(list) };
}

/** Joins several lists (an interface that extends another, a function that forwards a part). */
export function mergeOptionKeys(...lists: OptionKeys[]): OptionKeys {
  const list = [...new Set(lists.flatMap((l) => l.keys))];
  return { keys: list, set: new Set(list) };
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return `a ${(v as object).constructor?.name ?? 'null-prototype object'}`;
  return typeof v === 'string' ? JSON.stringify(v) : `${typeof v} ${String(v)}`;
}

const normalize = (k: string): string => k.toLowerCase().replace(/[_\-\s]/g, '');

/** Optimal string alignment distance (Levenshtein with adjacent transpositions). */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The valid key nearest to `key`, or undefined when none is close: the same letters ignoring case,
 * `_` and `-` (`batch_size` → `batchSize`, `bucketCapMB` → `bucketCapMb`), else one that starts the
 * other (`meta` → `metadata`), else an abbreviation:
 * `learningRate` → `lr` (the initials of its words), else the smallest edit distance within about a
 * third of the key's length (`lrr` → `lr`, `dtyp` → `dtype`).
 */
export function nearestKey(key: string, valid: readonly string[]): string | undefined {
  const nk = normalize(key);
  const same = valid.find((v) => normalize(v) === nk);
  if (same) return same;
  // one is the start of the other: meta → metadata, keepdims → keepdim
  const prefixed = valid.filter((v) => nk.length >= 3 && (normalize(v).startsWith(nk) || nk.startsWith(normalize(v))));
  if (prefixed.length === 1) return prefixed[0];
  // an abbreviation of the key's words: learningRate / learning_rate → lr
  const words = key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').split(/[\s_\-]+/).filter(Boolean);
  if (words.length > 1) {
    const initials = words.map((w) => w[0]!.toLowerCase()).join('');
    const abbrev = valid.find((v) => normalize(v) === initials);
    if (abbrev) return abbrev;
  }
  let best: string | undefined;
  let bestD = Infinity;
  for (const v of valid) {
    const dist = distance(nk, normalize(v));
    if (dist < bestD) {
      best = v;
      bestD = dist;
    }
  }
  const limit = Math.max(1, Math.floor(Math.max(nk.length, 3) / 3));
  return bestD <= limit ? best : undefined;
}

/**
 * Validates an options argument: undefined and null mean `{}`; anything but a plain object, or an
 * object with a key not in `valid`, is ERR_INVALID_ARG naming the function, the key and the
 * nearest valid key. Keys whose value is undefined count like any other (a typo is a typo).
 * Returns the object itself (typed), or `{}`.
 */
export function checkOptions<T extends object>(opts: T | null | undefined, valid: OptionKeys, fn: string): T {
  if (opts === undefined || opts === null) return {} as T;
  if (typeof opts !== 'object' || Array.isArray(opts)) {
    throw createError('ERR_INVALID_ARG', `${fn}: options must be an object, got ${describeValue(opts)}`);
  }
  for (const key of Object.keys(opts)) {
    if (valid.set.has(key)) continue;
    const near = nearestKey(key, valid.keys);
    const hint = near ? `; did you mean '${near}'?` : '';
    const list = valid.keys.length ? `valid options: ${valid.keys.join(', ')}` : 'it takes no options';
    throw createError('ERR_INVALID_ARG', `${fn}: unknown option '${key}'${hint} (${list})`, { option: key, ...(near ? { suggestion: near } : {}) });
  }
  return opts;
}
