#!/usr/bin/env node
// The node-nccl command line: run (launcher), bench (nccl-tests style benchmarks), doctor.
import { main } from '../dist/lib/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`node-nccl: ${err && err.stack ? err.stack : err}\n`);
    process.exitCode = 1;
  },
);
