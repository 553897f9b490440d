/**
 * Loads a sibling layer of node-nccl that may not be part of this build (a module relative to
 * lib/bench). Resolves to null when the module does not exist; any other failure propagates.
 */
export async function optionalModule<T>(specifier: string): Promise<T | null> {
  const url = new URL(specifier, import.meta.url).href;
  try {
    return (await import(url)) as T;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes(url.replace('file://', ''))) return null;
    throw e;
  }
}
