/**
 * Table-driven bad-input tests for the addon's exports. Each module has a table (a list of rows);
 * each row calls one export wrongly and names the error code it must throw (or reject with). The
 * process must survive every row: the tables run in-process, so a crash fails the whole file.
 *
 * Add a module: write test/bad-input/<module>.ts exporting a Table, and list it in
 * test/bad-input/tables.ts. test/bad-input.test.ts runs every table and fails when an export of
 * the addon (functions, classes, their methods, getters and static methods, recursively) has no
 * row in any table.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ErrorCode, NodeNcclError } from '../../lib/errors.js';
import { native } from '../../lib/native/index.js';

/** What a row needs to be meaningful: skipped (saying why) where it is missing. */
export type Need = 'gpu' | 'nccl' | 'no-gpu';

export interface Row {
  /**
   * The export it exercises, as a path in the addon: 'cuda.memcpy' (function), 'cuda.Stream'
   * (constructor), 'cuda.Stream#query' (method or getter), 'cuda.Stream.priorityRange' (static).
   */
  export: string;
  /** What is wrong with the call (the test's name). */
  what: string;
  /** Makes the call. A returned Promise must reject. */
  call: () => unknown;
  /** The code(s) the error may carry. */
  /**
   * 'TypeError': the engine's TypeError (a class called without new). 'ReceiverError': the error
   * node-addon-api's own receiver check throws for a member called on a foreign object (a TypeError
   * "Illegal invocation" or an Error "Invalid argument"; untyped but safe). Classes whose members
   * are installed with cpp/wrap.h throw ERR_INVALID_ARG there instead.
   */
  code: ErrorCode | readonly ErrorCode[] | 'TypeError' | 'ReceiverError';
  needs?: Need;
}

export interface Table {
  module: string;
  /** Built when the tests run (rows may refer to exports that only exist in some builds). */
  rows: () => Row[];
}

/** The codes of "no usable device" (CPU-only build, no driver, no GPU). */
export const NO_DEVICE: readonly ErrorCode[] = ['ERR_NO_CUDA_BUILD', 'ERR_NO_DRIVER', 'ERR_NO_GPU'];

export const hasGpu = (): boolean => native.cuda.deviceCount() > 0;
export const hasNccl = (): boolean => native.loader.info('nccl').loaded;

export function skipReason(need: Need | undefined): string | false {
  if (need === 'gpu' && !hasGpu()) return `no GPU: ${native.cuda.noGpuReason()}`;
  if (need === 'no-gpu' && hasGpu()) return 'a GPU is present';
  if (need === 'nccl' && !hasNccl()) return 'NCCL not found';
  return false;
}

/** Values that are not integers of any kind, with a label: for integer arguments. */
export const NOT_INTEGERS: ReadonlyArray<readonly [string, unknown]> = [
  ['a string', '8'],
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['fractional', 1.5],
  ['null', null],
  ['an object', {}],
  ['an array', [8]],
  ['a boolean', true],
  ['a symbol', Symbol('x')],
];

/** Integers out of every sane range: negative and huge. */
export const BAD_SIZES: ReadonlyArray<readonly [string, unknown]> = [
  ['negative', -1],
  ['huge (2^64)', 2 ** 64],
  ['huge bigint', 2n ** 70n],
  ['-0.5', -0.5],
];

/** Rows calling `make(v)` for every non-integer and out-of-range value v. */
export function integerRows(exp: string, arg: string, make: (v: unknown) => unknown,
  opts: { sizes?: boolean; optional?: boolean; code?: ErrorCode } = {}): Row[] {
  // An optional argument may be null (= left out), so null is not wrong there.
  const values = [...NOT_INTEGERS, ...(opts.sizes === false ? [] : BAD_SIZES)].filter(([l]) => !(opts.optional && l === 'null'));
  return values.map(([label, v]) => ({ export: exp, what: `${arg} is ${label}`, call: () => make(v), code: opts.code ?? 'ERR_INVALID_ARG' }));
}

/** Rows calling `make(v)` with values that are not memory (buffers / handles). */
export function memoryRows(exp: string, arg: string, make: (v: unknown) => unknown): Row[] {
  const values: Array<[string, unknown]> = [
    ['a number', 8], ['a string', 'abc'], ['null', null], ['undefined', undefined], ['a plain object', { byteLength: 8 }],
    ['an array', [1, 2, 3]], ['a function', () => 0], ['a SharedArrayBuffer', new SharedArrayBuffer(8)],
  ];
  return values.map(([label, v]) => ({ export: exp, what: `${arg} is ${label}`, call: () => make(v), code: 'ERR_INVALID_ARG' }));
}

/**
 * Calling a native class without `new`: the engine's TypeError, as for every JS class
 * (`class A {}; A()`), thrown by node-addon-api before our code runs.
 */
export function noNewRow(exp: string, cls: unknown): Row {
  return { export: exp, what: 'called without new', call: () => (cls as (...a: unknown[]) => unknown)(8), code: 'TypeError' };
}

/** Rows calling fn with too few and too many arguments. */
export function countRows(exp: string, fn: (...a: unknown[]) => unknown, good: unknown[], min: number, max: number, code: ErrorCode = 'ERR_INVALID_ARG'): Row[] {
  const rows: Row[] = [];
  if (min > 0) rows.push({ export: exp, what: `${min - 1} argument(s) (needs ${min})`, call: () => fn(...good.slice(0, min - 1)), code });
  const many = [...good];
  while (many.length <= max) many.push(0);
  rows.push({ export: exp, what: `${many.length} arguments (takes at most ${max})`, call: () => fn(...many), code });
  return rows;
}

/** For a native class: every prototype method and getter called on foreign receivers. */
export function receiverRows(exp: string, cls: { prototype: object }, code: Row['code'] = 'ERR_INVALID_ARG'): Row[] {
  const rows: Row[] = [];
  const proto = cls.prototype;
  for (const key of Object.getOwnPropertyNames(proto)) {
    if (key === 'constructor') continue;
    const d = Object.getOwnPropertyDescriptor(proto, key)!;
    const f = (d.get ?? d.value) as (...a: unknown[]) => unknown;
    if (typeof f !== 'function') continue;
    for (const [label, recv] of [['a plain object', {}], ['undefined', undefined], ['a number', 1], ['the prototype itself', proto]] as const) {
      rows.push({ export: `${exp}#${key}`, what: `called on ${label}`, call: () => f.call(recv), code });
    }
  }
  return rows;
}

function matches(e: unknown, codes: readonly ErrorCode[]): true {
  assert.ok(e instanceof NodeNcclError, `expected a NodeNcclError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  assert.ok(codes.includes(e.code), `expected ${codes.join(' | ')}, got ${e.code}: ${e.message}`);
  assert.ok(e.message.length > 10, 'the message says what was wrong');
  return true;
}

function matchesTypeError(e: unknown): true {
  assert.ok(e instanceof TypeError, `expected a TypeError, got ${String(e)}`);
  return true;
}

function matchesReceiverError(e: unknown): true {
  assert.ok(e instanceof Error, `expected an Error, got ${String(e)}`);
  assert.ok(e instanceof NodeNcclError || /Illegal invocation|Invalid argument/.test(e.message), `unexpected: ${String(e)}`);
  return true;
}

/** Registers one node:test test per row. */
export function runTable(table: Table): void {
  for (const row of table.rows()) {
    const code = row.code;
    const codes: readonly ErrorCode[] = code === 'TypeError' || code === 'ReceiverError' ? [] : typeof code === 'string' ? [code] : code;
    const check = (e: unknown): true =>
      code === 'TypeError' ? matchesTypeError(e) : code === 'ReceiverError' ? matchesReceiverError(e) : matches(e, codes);
    test(`${table.module}: ${row.export}: ${row.what}`, { skip: skipReason(row.needs) }, async () => {
      let result: unknown;
      try {
        result = row.call();
      } catch (e) {
        check(e);
        return;
      }
      if (result instanceof Promise) {
        await assert.rejects(result, check);
        return;
      }
      assert.fail(`did not throw (returned ${typeof result})`);
    });
  }
}

/** Every export path of the addon: functions, classes, prototype members, statics (recursively). */
export function exportPaths(obj: object = native, prefix = ''): string[] {
  const out: string[] = [];
  for (const key of Object.keys(obj)) {
    const v = (obj as Record<string, unknown>)[key];
    const path = prefix ? `${prefix}.${key}` : key;
    if (typeof v === 'function') {
      out.push(path);
      const proto = (v as { prototype?: object }).prototype;
      if (proto && Object.getOwnPropertyNames(proto).length > 1) {
        for (const m of Object.getOwnPropertyNames(proto)) if (m !== 'constructor') out.push(`${path}#${m}`);
      }
      for (const s of Object.getOwnPropertyNames(v)) {
        if (['length', 'name', 'prototype', 'arguments', 'caller'].includes(s)) continue;
        if (typeof (v as unknown as Record<string, unknown>)[s] === 'function') out.push(`${path}.${s}`);
      }
    } else if (v !== null && typeof v === 'object') {
      out.push(...exportPaths(v, path));
    }
  }
  return out;
}
