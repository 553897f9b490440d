import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArgumentError, NodeNcclError, OutOfMemoryError, createError, native } from '../lib/index.js';

test('createError maps codes to classes and keeps native details', () => {
  const e = createError('ERR_CUDA_OOM', 'out of memory', { nativeCode: 2, nativeName: 'cudaErrorMemoryAllocation' });
  assert.ok(e instanceof OutOfMemoryError);
  assert.ok(e instanceof NodeNcclError);
  assert.equal(e.code, 'ERR_CUDA_OOM');
  assert.equal(e.nativeCode, 2);
  assert.equal(e.nativeName, 'cudaErrorMemoryAllocation');
  assert.equal(e.name, 'OutOfMemoryError');
});

test('the addon throws instances of the JS error classes', () => {
  assert.throws(
    () => native.setErrorFactory(42 as unknown as () => Error),
    (e: unknown) => e instanceof ArgumentError && e.code === 'ERR_INVALID_ARG',
  );
});

test('buildInfo says how the addon was built', () => {
  const info = native.buildInfo();
  assert.equal(typeof info.cuda, 'boolean');
  assert.ok(Array.isArray(info.cudaArchs));
  if (info.cuda) assert.ok(info.cudaArchs.every((a) => /^sm_\d+a?$/.test(a)));
  else assert.equal(info.cudaArchs.length, 0);
});
