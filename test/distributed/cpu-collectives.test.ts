/**
 * The cpu backend with real processes at world sizes 2, 3 and 4: every collective, dtype and op
 * against reference values each rank computes locally (test/helpers/dist-ref.ts), sizes 0, 1,
 * primes and several MiB, in place and out of place, non-contiguous views, groups, p2p. The same
 * suite runs over TCP in cpu-tcp.test.ts.
 */
import { collectiveSuite } from '../helpers/cpu-suites.js';

collectiveSuite('', {});
