/**
 * `node-nccl bench <benchmark> [options]`: nccl-tests style collective benchmarks, gemm, ops, ddp,
 * and `report` (JSON results → HTML page with plots). Arguments are parsed here and handed to
 * lib/bench; this module only routes and turns errors into messages and exit codes.
 */
import { NodeNcclError } from '../errors.js';
import { COLLECTIVE_NAMES, isCollectiveName } from '../bench/collectives.js';
import type { Command } from './main.js';

/** Errors in what the user asked for exit with 2 (as usage errors do); failures at run time with 1. */
const USAGE_CODES = new Set(['ERR_INVALID_ARG', 'ERR_INDEX_OUT_OF_RANGE', 'ERR_DTYPE', 'ERR_UNSUPPORTED', 'ERR_NO_GPU']);

const SUBCOMMANDS = [...COLLECTIVE_NAMES, 'gemm', 'ops', 'conv', 'ddp', 'report'];

export function benchUsage(): string {
  return [
    'usage: node-nccl bench <benchmark> [options]',
    '',
    'benchmarks:',
    `  ${COLLECTIVE_NAMES.join(', ')}`,
    '      nccl-tests compatible (-b -e -f -i -n -w -c -d -o -r -z -a -G, --backend, --np, --json)',
    '  gemm      matrix multiply TFLOP/s (shapes, dtypes, --tf32 on|off)',
    '  ops       element-wise, softmax and layerNorm bandwidth; host overhead per launch',
    '  conv      conv2d / maxPool2d forward and training step, against PyTorch in the same run',
    '  ddp       DistributedDataParallel step time and samples/s at the world sizes given',
    '  report    a.json [b.json ...] --html report.html: one HTML page with plots and tables',
    '',
    'Run `node-nccl bench <benchmark> --help` for its options.',
  ].join('\n');
}

async function dispatch(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(benchUsage() + '\n');
    return name === undefined ? 2 : 0;
  }
  if (isCollectiveName(name)) return (await import('../bench/run-collective.js')).main(name, rest);
  switch (name) {
    case 'gemm':
      return (await import('../bench/gemm.js')).main(rest);
    case 'ops':
      return (await import('../bench/ops.js')).main(rest);
    case 'conv':
      return (await import('../bench/conv.js')).main(rest);
    case 'ddp':
      return (await import('../bench/ddp.js')).main(rest);
    case 'report':
      return (await import('../bench/report-cli.js')).main(rest);
    default:
      process.stderr.write(`node-nccl bench: unknown benchmark '${name}' (expected one of ${SUBCOMMANDS.join(', ')})\n\n${benchUsage()}\n`);
      return 2;
  }
}

const command: Command = {
  summary: 'nccl-tests style benchmarks (collectives, gemm, ops, ddp) with JSON and HTML reports',
  async main(argv) {
    try {
      return await dispatch(argv);
    } catch (e) {
      if (e instanceof NodeNcclError) {
        process.stderr.write(`node-nccl bench: ${e.message} [${e.code}]\n`);
        return USAGE_CODES.has(e.code) ? 2 : 1;
      }
      throw e;
    }
  },
};

export default command;
