/**
 * What an RPC runs (layer: lib/distributed/rpc). JavaScript cannot ship a function by value, so a
 * callee is named: a name registered on the callee with `rpc.register(name, fn)`, or a module
 * and one of its exports (`{ module: import.meta.url, export: 'fn' }`), imported on the callee the
 * first time it is called. Names starting with `rpc.` are RPC's own (RRef method calls).
 */
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createError } from '../../errors.js';

/** Any function a worker lets others call: gets the call's arguments, may return a Promise. */
export type RpcFunction = (...args: never[]) => unknown;

/** A function in a module, imported on the callee: `module` is an absolute path or a file: URL. */
export interface ModuleFunction {
  module: string;
  /** The export's name (default 'default'). */
  export?: string;
}

/** What a call names: a registered name, a registered function (its name is looked up), or a module export. */
export type RpcTarget = string | RpcFunction | ModuleFunction;

const registry = new Map<string, RpcFunction>();
const names = new Map<RpcFunction, string>();
const builtins = new Map<string, RpcFunction>();

const NAME_RE = /^[^\s]{1,256}$/;

/**
 * Registers `fn` under `name` on this worker, so others can call it (`rpc.rpcSync(to, name, args)`).
 * Register before `initRpc` returns on every worker, so no call can arrive first. A name taken
 * by another function is ERR_INVALID_ARG (unregister it first).
 */
export function register(name: string, fn: RpcFunction): void {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw createError('ERR_INVALID_ARG', `rpc.register: name must be a non-empty string of at most 256 characters without spaces, got ${JSON.stringify(name)}`);
  }
  if (name.startsWith('rpc.')) throw createError('ERR_INVALID_ARG', `rpc.register: names starting with 'rpc.' are reserved for RPC itself, got '${name}'`);
  if (typeof fn !== 'function') throw createError('ERR_INVALID_ARG', `rpc.register('${name}', fn): fn must be a function, got ${typeof fn}`);
  const old = registry.get(name);
  if (old !== undefined && old !== fn) {
    throw createError('ERR_INVALID_ARG', `rpc.register: '${name}' is already registered to another function (rpc.unregister('${name}') first)`);
  }
  registry.set(name, fn);
  if (!names.has(fn)) names.set(fn, name);
}

/** Removes a registered name; whether it was registered. */
export function unregister(name: string): boolean {
  const fn = registry.get(name);
  if (fn === undefined) return false;
  registry.delete(name);
  if (names.get(fn) === name) {
    names.delete(fn);
    for (const [n, f] of registry) if (f === fn) names.set(fn, n);
  }
  return true;
}

/** The names registered on this worker. */
export function registeredNames(): string[] {
  return [...registry.keys()].sort();
}

/** RPC's own functions (RRef method calls). */
export function registerBuiltin(name: string, fn: RpcFunction): void {
  builtins.set(name, fn);
}

/** The wire form of a target: a name, or [module, export]. Throws ERR_INVALID_ARG for anything else. */
export function targetSpec(who: string, target: unknown): string | [string, string] {
  if (typeof target === 'string') {
    if (!NAME_RE.test(target)) throw createError('ERR_INVALID_ARG', `${who}: the function name must be a non-empty string without spaces, got ${JSON.stringify(target)}`);
    return target;
  }
  if (typeof target === 'function') {
    const n = names.get(target as RpcFunction);
    if (n === undefined) {
      throw createError(
        'ERR_INVALID_ARG',
        `${who}: the function ${target.name ? `'${target.name}' ` : ''}is not registered on this worker, so it has no name the callee knows: ` +
          `register it on every worker (rpc.register('name', fn)) and pass it or its name, or pass { module: import.meta.url, export: '${target.name || 'fn'}' }`,
      );
    }
    return n;
  }
  if (target !== null && typeof target === 'object' && typeof (target as ModuleFunction).module === 'string') {
    const m = (target as ModuleFunction).module;
    const e = (target as ModuleFunction).export ?? 'default';
    if (typeof e !== 'string' || e === '') throw createError('ERR_INVALID_ARG', `${who}: export must be a non-empty string, got ${JSON.stringify(e)}`);
    if (!m.startsWith('file:') && !isAbsolute(m)) {
      throw createError('ERR_INVALID_ARG', `${who}: module must be an absolute path or a file: URL (such as import.meta.url), got ${JSON.stringify(m)}`);
    }
    return [m, e];
  }
  throw createError(
    'ERR_INVALID_ARG',
    `${who}: the function must be a registered name, a registered function or { module, export }, got ${target === null ? 'null' : typeof target}`,
  );
}

/** A short name of a wire target, for messages. */
export function targetName(spec: unknown): string {
  if (typeof spec === 'string') return `'${spec}'`;
  if (Array.isArray(spec)) return `'${String(spec[1])}' of ${String(spec[0])}`;
  return '(unknown function)';
}

const moduleCache = new Map<string, Promise<Record<string, unknown>>>();

/** The function a wire target names on this worker; ERR_INVALID_ARG naming what is registered when there is none. */
export async function resolveTarget(spec: unknown, worker: string): Promise<RpcFunction> {
  if (typeof spec === 'string') {
    const fn = registry.get(spec) ?? builtins.get(spec);
    if (fn !== undefined) return fn;
    const known = registeredNames();
    throw createError(
      'ERR_INVALID_ARG',
      `rpc: no function '${spec}' is registered on worker '${worker}' (registered: ${known.length ? known.map((n) => `'${n}'`).join(', ') : 'none'}); ` +
        `call rpc.register('${spec}', fn) on that worker before initRpc`,
    );
  }
  if (Array.isArray(spec) && spec.length === 2 && typeof spec[0] === 'string' && typeof spec[1] === 'string') {
    const [m, e] = spec as [string, string];
    const url = m.startsWith('file:') ? m : pathToFileURL(m).href;
    let p = moduleCache.get(url);
    if (p === undefined) {
      p = import(url) as Promise<Record<string, unknown>>;
      moduleCache.set(url, p);
      p.catch(() => moduleCache.delete(url));
    }
    let mod: Record<string, unknown>;
    try {
      mod = await p;
    } catch (err) {
      throw createError('ERR_INVALID_ARG', `rpc: worker '${worker}' cannot import ${m}: ${(err as Error).message}`);
    }
    const fn = mod[e];
    if (typeof fn !== 'function') {
      throw createError('ERR_INVALID_ARG', `rpc: ${m} on worker '${worker}' has no exported function '${e}' (${e in mod ? `it is ${typeof fn}` : 'no such export'})`);
    }
    return fn as RpcFunction;
  }
  throw createError('ERR_INVALID_ARG', `rpc: a malformed function reference arrived on worker '${worker}'`);
}
