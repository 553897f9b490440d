/**
 * Bad input for native.kernels: the generic rows every kernel must pass (wrong counts, wrong
 * types throughout, freed device memory). The per-argument cases of each kernel (dtype codes,
 * views past the end, overflowing shapes, ...) are in test/kernels/bad-input.test.ts.
 */
import { native } from '../../lib/native/index.js';
import type { Row, Table } from './harness.js';

type F = (...a: unknown[]) => unknown;

export const kernelsTable: Table = {
  module: 'kernels',
  rows: () => {
    const rows: Row[] = [];
    const k = native.kernels as unknown as Record<string, F>;
    for (const name of Object.keys(k)) {
      const fn = k[name]!;
      const exp = `kernels.${name}`;
      const cases: Array<[string, unknown[]]> = [
        ['no arguments', []],
        ['every argument a string', Array(20).fill('x')],
        ['every argument null', Array(20).fill(null)],
        ['every argument an empty object', Array(20).fill({})],
        ['every argument NaN', Array(20).fill(NaN)],
        ['every argument negative', Array(20).fill(-1)],
        ['40 zero arguments', Array(40).fill(0)],
      ];
      for (const [what, args] of cases) rows.push({ export: exp, what, call: () => fn(...args), code: 'ERR_INVALID_ARG' });
      rows.push({
        export: exp,
        what: 'every memory argument a disposed DeviceBuffer',
        call: () => {
          const b = new native.cuda.DeviceBuffer(64);
          b.dispose();
          const view = { mem: b, offset: 0, strides: [1] };
          return fn('add', 0, [1], view, view, view, view, view, view, view);
        },
        code: ['ERR_DISPOSED', 'ERR_INVALID_ARG'],
        needs: 'gpu',
      });
    }
    return rows;
  },
};
