/**
 * The cpu backend over TCP between two "hosts" (network namespaces joined by a veth link; issue
 * 17's link-cut experiments as bounded tests): 5% random packet loss, a link cut that heals
 * before the timeout, a link cut for good and a one-way drop. Every result the ranks get is
 * checked element by element (fixtures/netns-worker.ts): a fault is either survived with exact
 * values or becomes a coded error on both ranks within the group's timeout, never a wrong value
 * or a hang. Skipped, with the reason, where namespaces cannot be made (not root, no ip or nft).
 */
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NetHosts, netnsUnavailable } from '../helpers/netns.js';

const worker = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'netns-worker.js');
const skip = netnsUnavailable();
const made: NetHosts[] = [];
after(() => made.forEach((h) => h.destroy()));

interface Outcome {
  ok: boolean;
  code?: string | null;
  message?: string;
  iters: number;
  atMs: number;
}

/** Runs 2 ranks on the two hosts; `fault` is called once both printed READY. */
async function run(opts: { iters: number; timeoutMs: number; limitMs: number; fault: (h: NetHosts) => Promise<void> | void }): Promise<{ results: Outcome[]; faultAt: number; ends: number[] }> {
  const h = new NetHosts();
  made.push(h);
  const port = 20000 + Math.floor(Math.random() * 20000);
  const outs = ['', ''];
  let faultAt = 0;
  let ready = 0;
  let fired: Promise<void> | null = null;
  const ends: number[] = [0, 0];
  const procs = ([0, 1] as const).map((i) =>
    h.spawnNode(i, [worker], {
      RANK: String(i),
      WORLD_SIZE: '2',
      LOCAL_RANK: '0',
      LOCAL_WORLD_SIZE: '1',
      MASTER_ADDR: h.addr[0],
      MASTER_PORT: String(port),
      NODE_NCCL_CPU_TRANSPORT: 'tcp',
      NODE_NCCL_STORE_TOKEN: 'netns-test',
      TEST_NET_ITERS: String(opts.iters),
      TEST_DIST_TIMEOUT_MS: String(opts.timeoutMs),
    }),
  );
  const errs = ['', ''];
  const done = procs.map(
    (p, i) =>
      new Promise<void>((resolve) => {
        p.stdout!.on('data', (d: Buffer) => {
          outs[i] += d.toString();
          if (d.toString().includes('READY') && ++ready === 2) {
            faultAt = Date.now();
            fired = Promise.resolve(opts.fault(h));
          }
        });
        p.stderr!.on('data', (d: Buffer) => (errs[i] += d.toString()));
        const timer = setTimeout(() => p.kill('SIGKILL'), opts.limitMs);
        p.on('close', () => {
          clearTimeout(timer);
          ends[i] = Date.now();
          resolve();
        });
      }),
  );
  await Promise.all(done);
  await fired;
  const results = outs.map((o, i) => {
    const line = o.split('\n').find((l) => l.startsWith('RESULT '));
    assert.ok(line, `rank ${i} printed no RESULT:\n${o}\n${errs[i]}`);
    return JSON.parse(line.slice(7)) as Outcome;
  });
  return { results, faultAt, ends };
}

test('5% packet loss both ways: every all-reduce completes with exact values', { skip: skip ?? false }, async () => {
  const { results } = await run({ iters: 120, timeoutMs: 20_000, limitMs: 90_000, fault: (h) => h.drop(1, 'both', 20) });
  for (const [i, r] of results.entries()) {
    assert.ok(r.ok, `rank ${i}: ${r.code}: ${r.message}`);
    assert.equal(r.iters, 120);
  }
});

test('a link cut that heals after 1.5 s (within the timeout): the ops resume and complete exactly', { skip: skip ?? false }, async () => {
  const { results } = await run({
    iters: 200,
    timeoutMs: 15_000,
    limitMs: 90_000,
    fault: async (h) => {
      h.drop(1, 'both');
      await new Promise((r) => setTimeout(r, 1500));
      h.heal(1);
    },
  });
  for (const [i, r] of results.entries()) assert.ok(r.ok, `rank ${i}: ${r.code}: ${r.message}`);
});

for (const [what, dir] of [['a link cut for good', 'both'], ['a one-way drop (host b to a)', 'out']] as const) {
  test(`${what}: both ranks fail with a coded error within the timeout, no wrong value`, { skip: skip ?? false }, async () => {
    const TIMEOUT = 3000;
    const { results, faultAt, ends } = await run({ iters: 100_000, timeoutMs: TIMEOUT, limitMs: 60_000, fault: (h) => h.drop(1, dir) });
    for (const [i, r] of results.entries()) {
      assert.ok(!r.ok, `rank ${i} finished despite the fault`);
      assert.ok(r.code === 'ERR_DIST_TIMEOUT' || r.code === 'ERR_DIST_PEER_FAILURE' || r.code === 'ERR_DIST_ABORTED', `rank ${i}: ${r.code}: ${r.message}`);
      assert.ok(ends[i]! - faultAt < TIMEOUT + 4000, `rank ${i} failed ${ends[i]! - faultAt} ms after the fault`);
    }
  });
}
