/**
 * Faults with real processes on the cpu backend: a rank killed (SIGKILL) in the middle of
 * collectives, a rank that stalls, mismatched calls across ranks (sizes, dtypes, collectives)
 * with and without NODE_NCCL_DEBUG=detail. Every surviving rank gets a typed error naming the
 * collective and the missing rank within the group's (few-seconds) timeout, and exits. The same
 * suite runs over TCP in cpu-tcp.test.ts.
 */
import { faultSuite } from '../helpers/cpu-suites.js';

faultSuite('', {});
