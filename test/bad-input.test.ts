/**
 * Runs every bad-input table (test/bad-input/tables.ts) and checks that every export of the addon
 * (functions, classes with their methods/getters/statics, recursively) has at least one row.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exportPaths, runTable } from './bad-input/harness.js';
import { tables } from './bad-input/tables.js';

for (const t of tables) runTable(t);

test('every addon export has a bad-input row', () => {
  const covered = new Set<string>();
  for (const t of tables) for (const r of t.rows()) covered.add(r.export);
  const missing = exportPaths().filter((p) => !covered.has(p));
  assert.deepEqual(missing, [], `exports without a bad-input row (add rows to a table in test/bad-input/): ${missing.join(', ')}`);
  // Rows must name real exports (a renamed export leaves stale rows behind).
  const all = new Set(exportPaths());
  const stale = [...covered].filter((p) => !all.has(p));
  assert.deepEqual(stale, [], `rows for exports that do not exist: ${stale.join(', ')}`);
});
