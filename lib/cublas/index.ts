/** The `cublas` namespace: cuBLAS, loaded at run time (see README "Finding NCCL and cuBLAS"). */
import { native } from '../native/index.js';
import type { LibraryInfo } from '../../typings/native.js';

/** True when cuBLAS was found and loaded. */
export function isAvailable(): boolean {
  return native.loader.info('cublas').loaded;
}

/** What the loader found: path and version, or why not with every place tried. */
export function libraryInfo(): LibraryInfo {
  return native.loader.info('cublas');
}

/** [major, minor, patch] of the loaded cuBLAS. Throws ERR_LIB_NOT_FOUND when it is not found. */
export function version(): [number, number, number] {
  const v = native.loader.load('cublas').version ?? 0;
  return [Math.floor(v / 10000), Math.floor((v % 10000) / 100), v % 100];
}

export const cublas = { isAvailable, libraryInfo, version };
