/**
 * Two "hosts" on this machine for network-fault tests: a pair of Linux network namespaces joined
 * by a veth link, each end with its own address, and nft rules to drop traffic (netem is not
 * available in every kernel; nft drop rules are, including random loss with `numgen`). Needs root,
 * `ip` (iproute2) and `nft` (nftables); `netnsUnavailable()` says why not when they are missing.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

function run(cmd: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}`.trim() };
}

function must(cmd: string, args: string[]): void {
  const r = run(cmd, args);
  if (!r.ok) throw new Error(`${cmd} ${args.join(' ')}: ${r.out}`);
}

/** null when two namespaces can be made here, else the reason (for a test's skip message). */
export function netnsUnavailable(): string | null {
  if (process.platform !== 'linux') return 'network namespaces are Linux only';
  if (process.getuid?.() !== 0) return 'needs root (ip netns add)';
  for (const tool of ['ip', 'nft']) {
    if (!run('sh', ['-c', `command -v ${tool}`]).ok) return `${tool} is not installed (apt-get install ${tool === 'ip' ? 'iproute2' : 'nftables'})`;
  }
  const probe = `nnp${process.pid % 100000}`;
  const r = run('ip', ['netns', 'add', probe]);
  if (!r.ok) return `ip netns add failed here: ${r.out}`;
  const n = run('ip', ['netns', 'exec', probe, 'nft', 'add', 'table', 'inet', 'probe']);
  run('ip', ['netns', 'del', probe]);
  if (!n.ok) return `nft does not work in a network namespace here: ${n.out}`;
  return null;
}

let serial = 0;

export class NetHosts {
  readonly ns: [string, string];
  readonly addr: [string, string];
  private readonly veth: [string, string];

  /** Creates the two namespaces and the link between them (10.211.x.y/30, unique per process and call). */
  constructor() {
    const id = `${process.pid % 100000}${serial}`;
    const k = serial++;
    this.ns = [`nn17-${id}-a`, `nn17-${id}-b`];
    this.veth = [`nva${id}`.slice(0, 15), `nvb${id}`.slice(0, 15)];
    const net = `10.211.${process.pid % 250}.${(k % 60) * 4}`;
    const base = net.split('.').map(Number);
    this.addr = [`${base[0]}.${base[1]}.${base[2]}.${base[3]! + 1}`, `${base[0]}.${base[1]}.${base[2]}.${base[3]! + 2}`];
    try {
      for (const n of this.ns) must('ip', ['netns', 'add', n]);
      must('ip', ['link', 'add', this.veth[0], 'type', 'veth', 'peer', 'name', this.veth[1]]);
      for (let i = 0; i < 2; i++) {
        must('ip', ['link', 'set', this.veth[i]!, 'netns', this.ns[i]!]);
        must('ip', ['netns', 'exec', this.ns[i]!, 'ip', 'addr', 'add', `${this.addr[i]}/30`, 'dev', this.veth[i]!]);
        must('ip', ['netns', 'exec', this.ns[i]!, 'ip', 'link', 'set', this.veth[i]!, 'up']);
        must('ip', ['netns', 'exec', this.ns[i]!, 'ip', 'link', 'set', 'lo', 'up']);
        must('ip', ['netns', 'exec', this.ns[i]!, 'nft', 'add', 'table', 'inet', 'fault']);
        must('ip', ['netns', 'exec', this.ns[i]!, 'nft', 'add chain inet fault in { type filter hook input priority 0; policy accept; }']);
        must('ip', ['netns', 'exec', this.ns[i]!, 'nft', 'add chain inet fault out { type filter hook output priority 0; policy accept; }']);
      }
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  /**
   * Drops packets on host `i` (0 or 1) that come in (`in`), go out (`out`) or both, on the veth
   * only (not loopback): all of them, or one in `oneIn` at random (20: 5% loss).
   */
  drop(i: 0 | 1, dir: 'in' | 'out' | 'both', oneIn?: number): void {
    const rule = (chain: string): void => {
      const dev = chain === 'in' ? 'iifname' : 'oifname';
      must('ip', ['netns', 'exec', this.ns[i], 'nft', `add rule inet fault ${chain} ${dev} "${this.veth[i]}" ${oneIn ? `numgen random mod ${oneIn} == 0 ` : ''}drop`]);
    };
    if (dir !== 'out') rule('in');
    if (dir !== 'in') rule('out');
  }

  /** Removes every drop rule of host i. */
  heal(i: 0 | 1): void {
    must('ip', ['netns', 'exec', this.ns[i], 'nft', 'flush chain inet fault in']);
    must('ip', ['netns', 'exec', this.ns[i], 'nft', 'flush chain inet fault out']);
  }

  /** Starts `node args...` inside host i's namespace. */
  spawnNode(i: 0 | 1, args: string[], env: Record<string, string>): ChildProcess {
    return spawn('ip', ['netns', 'exec', this.ns[i], process.execPath, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  }

  destroy(): void {
    for (const n of this.ns) run('ip', ['netns', 'del', n]); // deleting a namespace deletes its veth end (and the pair)
  }
}
