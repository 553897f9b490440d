/** Bad input for the addon's top level (errors, buildInfo) and native.loader. */
import { createNativeError } from '../../lib/errors.js';
import { native } from '../../lib/native/index.js';
import { type Table, countRows } from './harness.js';

type F = (...a: unknown[]) => unknown;

export const coreTable: Table = {
  module: 'core',
  rows: () => [
    { export: 'setErrorFactory', what: 'not a function', call: () => native.setErrorFactory(42 as unknown as () => Error), code: 'ERR_INVALID_ARG' },
    { export: 'setErrorFactory', what: 'null', call: () => native.setErrorFactory(null as unknown as () => Error), code: 'ERR_INVALID_ARG' },
    { export: 'setErrorFactory', what: 'no arguments', call: () => (native.setErrorFactory as F)(), code: 'ERR_INVALID_ARG' },
    { export: 'setErrorFactory', what: 'two arguments', call: () => (native.setErrorFactory as F)(createNativeError, 1), code: 'ERR_INVALID_ARG' },
    ...countRows('buildInfo', native.buildInfo as F, [], 0, 0),
  ],
};

export const loaderTable: Table = {
  module: 'loader',
  rows: () => {
    const rows = [];
    for (const name of ['info', 'load'] as const) {
      const g = native.loader[name] as F;
      const exp = `loader.${name}`;
      for (const [label, v] of [['an unknown library', 'cudnn'], ['a number', 1], ['null', null], ['upper case', 'NCCL'],
        ['an object', { name: 'nccl' }], ['empty', ''], ['with a NUL byte', 'nccl\0']] as const) {
        rows.push({ export: exp, what: `name is ${label}`, call: () => g(v), code: 'ERR_INVALID_ARG' as const });
      }
      rows.push(...countRows(exp, g, ['nccl'], 1, 1));
    }
    return rows;
  },
};
