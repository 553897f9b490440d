/** Bad input for native.nccl (low-level NCCL). Without NCCL every entry is ERR_LIB_NOT_FOUND. */
import { native } from '../../lib/native/index.js';
import { type Row, type Table, countRows, hasNccl, integerRows, receiverRows } from './harness.js';

type F = (...a: unknown[]) => unknown;

export const ncclTable: Table = {
  module: 'nccl',
  rows: () => {
    const n = (native as unknown as { nccl: Record<string, F> & { Communicator: { prototype: object } } }).nccl;
    const id = new Uint8Array(128);
    const missing = hasNccl() ? [] : [
      { export: 'nccl.getUniqueId', what: 'NCCL not found', call: () => n.getUniqueId!(), code: 'ERR_LIB_NOT_FOUND' },
      { export: 'nccl.initRank', what: 'NCCL not found', call: () => n.initRank!(1, id, 0, 0), code: 'ERR_LIB_NOT_FOUND' },
      { export: 'nccl.initAll', what: 'NCCL not found', call: () => n.initAll!([0]), code: 'ERR_LIB_NOT_FOUND' },
      { export: 'nccl.groupStart', what: 'NCCL not found', call: () => n.groupStart!(), code: 'ERR_LIB_NOT_FOUND' },
      { export: 'nccl.groupEnd', what: 'NCCL not found', call: () => n.groupEnd!(), code: ['ERR_LIB_NOT_FOUND', 'ERR_INVALID_ARG'] },
    ] as Row[];
    return [
      ...missing,
      ...countRows('nccl.getUniqueId', n.getUniqueId!, [], 0, 0),
      ...countRows('nccl.groupStart', n.groupStart!, [], 0, 0),
      ...countRows('nccl.groupEnd', n.groupEnd!, [], 0, 0),
      ...integerRows('nccl.initRank', 'nranks', (v) => n.initRank!(v, id, 0, 0)),
      ...integerRows('nccl.initRank', 'rank', (v) => n.initRank!(2, id, v, 0)),
      ...integerRows('nccl.initRank', 'device', (v) => n.initRank!(1, id, 0, v)),
      { export: 'nccl.initRank', what: 'rank >= nranks', call: () => n.initRank!(2, id, 2, 0), code: 'ERR_INVALID_ARG' },
      { export: 'nccl.initRank', what: 'id of 127 bytes', call: () => n.initRank!(1, new Uint8Array(127), 0, 0), code: 'ERR_INVALID_ARG' },
      { export: 'nccl.initRank', what: 'id not a Uint8Array', call: () => n.initRank!(1, 'id', 0, 0), code: 'ERR_INVALID_ARG' },
      ...countRows('nccl.initRank', n.initRank!, [1, id, 0, 0], 4, 5),
      { export: 'nccl.initAll', what: 'not an array', call: () => n.initAll!(0), code: 'ERR_INVALID_ARG' },
      { export: 'nccl.initAll', what: 'negative device', call: () => n.initAll!([-1]), code: 'ERR_INVALID_ARG' },
      { export: 'nccl.initAll', what: 'fractional device', call: () => n.initAll!([0.5]), code: 'ERR_INVALID_ARG' },
      ...countRows('nccl.initAll', n.initAll!, [[0]], 1, 1),
      { export: 'nccl.Communicator', what: 'constructed with new', call: () => new (n.Communicator as unknown as new (...a: unknown[]) => unknown)(1, 2), code: 'ERR_INVALID_ARG' },
      { export: 'nccl.Communicator', what: 'called without new', call: () => (n.Communicator as unknown as F)(), code: 'TypeError' },
      ...receiverRows('nccl.Communicator', n.Communicator),
    ];
  },
};
