/** GPU machine: NCCL and cuBLAS found (pip wheels or system) and their versions reported. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cublas, cuda, nccl } from '../../lib/index.js';

const skip = cuda.deviceCount() === 0 ? `no GPU: ${cuda.noGpuReason()}` : false;

test('NCCL and cuBLAS: path and version', { skip }, (t) => {
  for (const [name, lib] of [['NCCL', nccl], ['cuBLAS', cublas]] as const) {
    const info = lib.libraryInfo();
    if (!info.loaded) {
      t.diagnostic(`${name} not found: ${info.error}`);
      continue;
    }
    const v = lib.version();
    t.diagnostic(`${name} ${v.join('.')} at ${info.path}`);
    assert.equal(info.versionString, v.join('.'));
    assert.ok(v[0] >= 2);
  }
});
