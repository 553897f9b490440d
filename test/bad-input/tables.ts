/**
 * Every bad-input table. Add your module's table here (test/bad-input/<module>.ts); the coverage
 * test in test/bad-input.test.ts fails while an addon export has no row in any table.
 */
import { cudaTable } from './cuda.js';
import { coreTable, loaderTable } from './core.js';
import type { Table } from './harness.js';
import { kernelsTable } from './kernels.js';
import { distTable } from './dist.js';
import { ncclTable } from './nccl.js';

export const tables: Table[] = [coreTable, loaderTable, cudaTable, kernelsTable, distTable, ncclTable];
