/**
 * Bad input for native.dist (the CPU collective backend's communicator). Collective-level cases
 * (sizes, dtypes, mismatches across ranks, faults) are in test/distributed/.
 */
import { native } from '../../lib/native/index.js';
import type { NativeCpuComm } from '../../typings/native.js';
import { type Row, type Table, integerRows, noNewRow, receiverRows } from './harness.js';

type Ctor = new (...a: unknown[]) => NativeCpuComm;
let serial = 0;
const uniqueName = (): string => `/nn-badinput-${process.pid}-${serial++}`;

export const distTable: Table = {
  module: 'dist',
  rows: () => {
    const C = native.dist.CpuComm as unknown as Ctor;
    const exp = 'dist.CpuComm';
    const opts = (o: Record<string, unknown>): Record<string, unknown> => ({ name: uniqueName(), rank: 0, size: 2, ...o });
    /** A live size-1 communicator, destroyed after the bad call. */
    const withComm = (fn: (c: NativeCpuComm) => unknown) => (): unknown => {
      const c = new C({ name: uniqueName(), rank: 0, size: 1 });
      try {
        return fn(c);
      } finally {
        c.destroy();
      }
    };
    const destroyed = (): NativeCpuComm => {
      const c = new C({ name: uniqueName(), rank: 0, size: 1 });
      c.destroy();
      return c;
    };
    /** A live tcp communicator of 2 ranks (never connected), destroyed after the bad call. */
    const withTcp = (fn: (c: NativeCpuComm) => unknown) => (): unknown => {
      const c = new C({ transport: 'tcp', listenHost: '127.0.0.1', rank: 0, size: 2, timeoutMs: 1000 });
      try {
        return fn(c);
      } finally {
        c.destroy();
      }
    };
    const connectTcp = (arg: unknown) => withTcp((c) => (c.connect as (...a: unknown[]) => unknown)(arg));
    const secret = new Uint8Array(16);
    const tcp = (o: Record<string, unknown>): Record<string, unknown> => ({ transport: 'tcp', listenHost: '127.0.0.1', rank: 0, size: 2, ...o });
    const rows: Row[] = [
      noNewRow(exp, C),
      { export: exp, what: "transport 'udp'", call: () => new C(opts({ transport: 'udp' })), code: 'ERR_INVALID_ARG' },
      { export: exp, what: 'transport not a string', call: () => new C(opts({ transport: 1 })), code: 'ERR_INVALID_ARG' },
      { export: exp, what: 'tcp without listenHost', call: () => new C(tcp({ listenHost: undefined })), code: 'ERR_INVALID_ARG' },
      { export: exp, what: 'tcp listenHost not an IP address', call: () => new C(tcp({ listenHost: 'no such host' })), code: 'ERR_INVALID_ARG' },
      { export: exp, what: 'tcp listenHost not local', call: () => new C(tcp({ listenHost: '192.0.2.1' })), code: 'ERR_OS' },
      { export: exp, what: 'tcp rank >= size', call: () => new C(tcp({ rank: 2 })), code: 'ERR_INVALID_ARG' },
      { export: `${exp}#connect`, what: 'tcp without peers', call: withTcp((c) => c.connect()), code: 'ERR_INVALID_ARG' },
      { export: `${exp}#connect`, what: 'tcp peers not an array', call: connectTcp({ peers: '127.0.0.1:1', secret }), code: 'ERR_INVALID_ARG' },
      { export: `${exp}#connect`, what: 'tcp peers of the wrong length', call: connectTcp({ peers: ['127.0.0.1:1'], secret }), code: 'ERR_INVALID_ARG' },
      { export: `${exp}#connect`, what: 'tcp peers with a number', call: connectTcp({ peers: ['127.0.0.1:1', 2], secret }), code: 'ERR_INVALID_ARG' },
      { export: `${exp}#connect`, what: 'tcp peer without a port', call: connectTcp({ peers: ['127.0.0.1:1', '127.0.0.1'], secret }), code: 'ERR_INVALID_ARG' },
      { export: `${exp}#connect`, what: 'tcp peer port out of range', call: connectTcp({ peers: ['127.0.0.1:1', '127.0.0.1:70000'], secret }), code: 'ERR_INVALID_ARG' },
      { export: `${exp}#connect`, what: 'tcp peer a host name', call: connectTcp({ peers: ['127.0.0.1:1', 'localhost:80'], secret }), code: 'ERR_INVALID_ARG' },
      { export: `${exp}#connect`, what: 'tcp peer IPv6 without brackets', call: connectTcp({ peers: ['127.0.0.1:1', '::1:80'], secret }), code: 'ERR_INVALID_ARG' },
      { export: `${exp}#connect`, what: 'tcp without a secret', call: connectTcp({ peers: ['127.0.0.1:1', '127.0.0.1:2'] }), code: 'ERR_INVALID_ARG' },
      { export: `${exp}#connect`, what: 'tcp secret a string', call: connectTcp({ peers: ['127.0.0.1:1', '127.0.0.1:2'], secret: 'x' }), code: 'ERR_INVALID_ARG' },
      { export: `${exp}#connect`, what: 'tcp secret empty', call: connectTcp({ peers: ['127.0.0.1:1', '127.0.0.1:2'], secret: new Uint8Array(0) }), code: 'ERR_INVALID_ARG' },
      { export: `${exp}#connect`, what: 'tcp secret too long', call: connectTcp({ peers: ['127.0.0.1:1', '127.0.0.1:2'], secret: new Uint8Array(65) }), code: 'ERR_INVALID_ARG' },
      { export: exp, what: 'no arguments', call: () => new C(), code: 'ERR_INVALID_ARG' },
      { export: exp, what: 'options not an object', call: () => new C('x'), code: 'ERR_INVALID_ARG' },
      { export: exp, what: 'two arguments', call: () => new C(opts({}), 1), code: 'ERR_INVALID_ARG' },
      { export: exp, what: 'name not a string', call: () => new C(opts({ name: 5 })), code: 'ERR_INVALID_ARG' },
      { export: exp, what: 'rank >= size', call: () => new C(opts({ rank: 2 })), code: 'ERR_INVALID_ARG' },
      ...integerRows(exp, 'rank', (v) => new C(opts({ rank: v }))).filter((r) => !/null/.test(r.what)),
      ...integerRows(exp, 'size', (v) => new C(opts({ size: v }))).filter((r) => !/null/.test(r.what)),
      { export: exp, what: 'size 0', call: () => new C(opts({ size: 0 })), code: 'ERR_INVALID_ARG' },
      { export: exp, what: 'timeoutMs NaN', call: () => new C(opts({ timeoutMs: NaN })), code: 'ERR_INVALID_ARG' },
      { export: exp, what: 'timeoutMs negative', call: () => new C(opts({ timeoutMs: -1 })), code: 'ERR_INVALID_ARG' },
      { export: exp, what: 'slotBytes huge', call: () => new C(opts({ slotBytes: 2 ** 60 })), code: 'ERR_INVALID_ARG' },
      ...receiverRows(exp, C, 'ReceiverError'),
      { export: `${exp}#connect`, what: 'an extra argument', call: withComm((c) => (c.connect as (...a: unknown[]) => unknown)(1)), code: 'ERR_INVALID_ARG' },
      { export: `${exp}#connect`, what: 'after destroy', call: () => destroyed().connect(), code: 'ERR_DIST_ABORTED' },
      { export: `${exp}#submit`, what: 'no arguments', call: withComm((c) => (c.submit as (...a: unknown[]) => unknown)()), code: 'ERR_INVALID_ARG' },
      { export: `${exp}#submit`, what: 'an unknown kind', call: withComm((c) => c.submit({ kind: 'nope' as 'barrier' })), code: 'ERR_INVALID_ARG' },
      { export: `${exp}#submit`, what: 'a string instead of a description', call: withComm((c) => c.submit('barrier' as never)), code: 'ERR_INVALID_ARG' },
      { export: `${exp}#submit`, what: 'after destroy', call: () => destroyed().submit({ kind: 'barrier' }), code: 'ERR_DIST_ABORTED' },
      { export: `${exp}#abort`, what: 'reason not a string', call: withComm((c) => c.abort(5 as unknown as string)), code: 'ERR_INVALID_ARG' },
      { export: `${exp}#destroy`, what: 'an extra argument', call: withComm((c) => (c.destroy as (...a: unknown[]) => unknown)(1)), code: 'ERR_INVALID_ARG' },
    ];
    return rows;
  },
};
