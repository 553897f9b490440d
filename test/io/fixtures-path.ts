import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** test/fixtures (the sources), from dist/test/io where the compiled tests run. */
export const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'fixtures');
