/** The `nccl` namespace: NCCL, loaded at run time (see README "Finding NCCL and cuBLAS"). */
import { native } from '../native/index.js';
import type { LibraryInfo } from '../../typings/native.js';

export type { LibraryInfo };

/** True when NCCL was found and loaded. */
export function isAvailable(): boolean {
  return native.loader.info('nccl').loaded;
}

/** What the loader found: path and version, or why not with every place tried. */
export function libraryInfo(): LibraryInfo {
  return native.loader.info('nccl');
}

/**
 * [major, minor, patch] of the loaded NCCL, like torch.cuda.nccl.version(). Throws
 * ERR_LIB_NOT_FOUND (listing every place tried) when NCCL is not found.
 */
export function version(): [number, number, number] {
  const info = native.loader.load('nccl');
  const v = info.version ?? 0;
  return v >= 10000 ? [Math.floor(v / 10000), Math.floor((v % 10000) / 100), v % 100] : [Math.floor(v / 1000), Math.floor((v % 1000) / 100), v % 100];
}

export const nccl = { isAvailable, libraryInfo, version };
