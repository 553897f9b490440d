/**
 * The one place that loads the addon (node-gyp-build: build/Release, then prebuilds/) and hands it
 * the error factory. Everything above imports `native` from here, typed by typings/native.d.ts.
 */
import { createRequire } from 'node:module';
import { NodeNcclError, createNativeError } from '../errors.js';
import { addonFixHint, packageRoot } from './hint.js';
import type { NativeAddon } from '../../typings/native.js';

const require = createRequire(import.meta.url);
export { packageRoot };

function load(): NativeAddon {
  const gypBuild = require('node-gyp-build') as (dir: string) => unknown;
  let addon: NativeAddon;
  try {
    addon = gypBuild(packageRoot) as NativeAddon;
  } catch (e) {
    throw new NodeNcclError(
      'ERR_ADDON_NOT_FOUND',
      `node-nccl: the native addon could not be loaded from ${packageRoot} (build/Release or prebuilds/): ` +
        `${(e as Error).message.split('\n')[0]}. ${addonFixHint()}`,
    );
  }
  addon.setErrorFactory(createNativeError);
  return addon;
}

export const native: NativeAddon = load();
