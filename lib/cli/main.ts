/**
 * `node-nccl <command>`: each command lives in its own module, loaded only when it is used, so
 * `doctor` never pays for the benchmark code and `run` never loads the addon.
 */
export interface Command {
  summary: string;
  /** Runs the command with its own arguments; resolves to the process exit code. */
  main(argv: string[]): Promise<number>;
}

const commands: Record<string, () => Promise<Command>> = {
  // Each entry: name → lazy import of lib/cli/<name>.ts, whose default export is a Command.
  run: async () => (await import('./run.js')).default,
  bench: async () => (await import('./bench.js')).default,
  doctor: async () => (await import('./doctor.js')).default,
};

export function usage(): string {
  const lines = Object.keys(commands)
    .sort()
    .map((name) => `  ${name}`);
  return [
    'usage: node-nccl <command> [options]',
    '',
    'commands:',
    ...lines,
    '',
    'Run `node-nccl <command> --help` for the options of a command.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    const { createRequire } = await import('node:module');
    const pkg = createRequire(import.meta.url)('../../../package.json') as { version: string };
    process.stdout.write(pkg.version + '\n');
    return 0;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`node-nccl: unknown command '${name}'\n\n${usage()}\n`);
    return 2;
  }
  const cmd = await load();
  return cmd.main(rest);
}

/** Registers a command (used by lib/cli modules' tests and by the table above). */
export function registerCommand(name: string, load: () => Promise<Command>): void {
  commands[name] = load;
}
