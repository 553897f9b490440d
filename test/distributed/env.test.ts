import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NodeNcclError } from '../../lib/errors.js';
import { expandSlurmTasksPerNode, firstSlurmHost, resolveInitConfig, type InitConfig, type InitOptions } from '../../lib/distributed/env.js';

type Env = Record<string, string>;

const cases: Array<{ name: string; opts?: InitOptions; env: Env; want: Partial<InitConfig> }> = [
  {
    name: 'torchrun / node-nccl run',
    env: { RANK: '3', WORLD_SIZE: '8', LOCAL_RANK: '1', LOCAL_WORLD_SIZE: '2', MASTER_ADDR: '10.0.0.1', MASTER_PORT: '1234', NODE_NCCL_STORE_TOKEN: 'tok' },
    want: { rank: 3, worldSize: 8, localRank: 1, localWorldSize: 2, masterAddr: '10.0.0.1', masterPort: 1234, token: 'tok', timeoutMs: 600_000, source: 'env' },
  },
  {
    name: 'torchrun variables without the local ones: one node, localhost, port 29500',
    env: { RANK: '1', WORLD_SIZE: '2' },
    want: { rank: 1, worldSize: 2, localRank: 1, localWorldSize: 2, masterAddr: '127.0.0.1', masterPort: 29500, token: '', source: 'env' },
  },
  {
    name: 'timeout from NODE_NCCL_TIMEOUT_MS; opts.timeoutMs wins over it',
    env: { RANK: '0', WORLD_SIZE: '1', NODE_NCCL_TIMEOUT_MS: '5000' },
    want: { timeoutMs: 5000 },
  },
  {
    name: 'explicit timeout',
    opts: { timeoutMs: 1234 },
    env: { RANK: '0', WORLD_SIZE: '1', NODE_NCCL_TIMEOUT_MS: '5000' },
    want: { timeoutMs: 1234 },
  },
  {
    name: 'Slurm: SLURM_NTASKS_PER_NODE and the first host of the step nodelist',
    env: {
      SLURM_PROCID: '5', SLURM_NTASKS: '8', SLURM_LOCALID: '1', SLURM_NTASKS_PER_NODE: '4',
      SLURM_STEP_NODELIST: 'gpu[07-08]', SLURM_JOB_NODELIST: 'gpu[01-08]', SLURM_LAUNCH_NODE_IPADDR: '10.1.1.1', SLURM_JOB_ID: '123456',
    },
    want: { rank: 5, worldSize: 8, localRank: 1, localWorldSize: 4, masterAddr: 'gpu07', masterPort: 23456, source: 'slurm' },
  },
  {
    name: 'Slurm: SLURM_TASKS_PER_NODE with repeats, indexed by SLURM_NODEID',
    env: { SLURM_PROCID: '6', SLURM_NTASKS: '7', SLURM_LOCALID: '0', SLURM_TASKS_PER_NODE: '3(x2),1', SLURM_NODEID: '2', SLURM_NODELIST: 'a1,b2,c3' },
    want: { rank: 6, worldSize: 7, localRank: 0, localWorldSize: 1, masterAddr: 'a1', masterPort: 29500, source: 'slurm' },
  },
  {
    name: 'Slurm: SLURM_LAUNCH_NODE_IPADDR when there is no nodelist; MASTER_ADDR/PORT override',
    env: { SLURM_PROCID: '0', SLURM_NTASKS: '2', SLURM_LAUNCH_NODE_IPADDR: '10.9.9.9', SLURM_NTASKS_PER_NODE: '1' },
    want: { masterAddr: '10.9.9.9', localRank: 0, localWorldSize: 1 },
  },
  {
    name: 'Slurm with MASTER_ADDR and MASTER_PORT set',
    env: { SLURM_PROCID: '0', SLURM_NTASKS: '2', SLURM_NODELIST: 'n[1-2]', SLURM_JOB_ID: '77', MASTER_ADDR: 'head', MASTER_PORT: '4000' },
    want: { masterAddr: 'head', masterPort: 4000 },
  },
  {
    name: 'Open MPI on one node: localhost by default',
    env: { OMPI_COMM_WORLD_RANK: '2', OMPI_COMM_WORLD_SIZE: '4', OMPI_COMM_WORLD_LOCAL_RANK: '2', OMPI_COMM_WORLD_LOCAL_SIZE: '4' },
    want: { rank: 2, worldSize: 4, localRank: 2, localWorldSize: 4, masterAddr: '127.0.0.1', masterPort: 29500, source: 'openmpi' },
  },
  {
    name: 'Open MPI across nodes with MASTER_ADDR',
    env: { OMPI_COMM_WORLD_RANK: '3', OMPI_COMM_WORLD_SIZE: '4', OMPI_COMM_WORLD_LOCAL_RANK: '1', OMPI_COMM_WORLD_LOCAL_SIZE: '2', MASTER_ADDR: 'node0', MASTER_PORT: '6000' },
    want: { rank: 3, localRank: 1, localWorldSize: 2, masterAddr: 'node0', masterPort: 6000, source: 'openmpi' },
  },
  {
    name: 'torchrun variables take precedence over Slurm and Open MPI ones',
    env: { RANK: '1', WORLD_SIZE: '2', SLURM_PROCID: '0', SLURM_NTASKS: '1', OMPI_COMM_WORLD_RANK: '0', OMPI_COMM_WORLD_SIZE: '1' },
    want: { rank: 1, worldSize: 2, source: 'env' },
  },
  {
    name: 'tcp:// gives the address; rank and world size from the URL',
    opts: { initMethod: 'tcp://10.2.3.4:5555?rank=1&world_size=3' },
    env: { MASTER_ADDR: 'ignored', MASTER_PORT: '1' },
    want: { rank: 1, worldSize: 3, localRank: 1, localWorldSize: 3, masterAddr: '10.2.3.4', masterPort: 5555, source: 'tcp' },
  },
  {
    name: 'tcp:// with explicit rank and world size, IPv6 host',
    opts: { initMethod: 'tcp://[::1]:7000', rank: 0, worldSize: 2 },
    env: {},
    want: { rank: 0, worldSize: 2, masterAddr: '::1', masterPort: 7000, source: 'tcp' },
  },
  {
    name: 'tcp:// with rank and world size from the environment',
    opts: { initMethod: 'tcp://host.example:7000' },
    env: { RANK: '1', WORLD_SIZE: '2' },
    want: { rank: 1, worldSize: 2, masterAddr: 'host.example', source: 'tcp' },
  },
  {
    name: 'explicit rank and world size override the environment',
    opts: { rank: 0, worldSize: 1 },
    env: { RANK: '5', WORLD_SIZE: '9', LOCAL_RANK: '1', LOCAL_WORLD_SIZE: '3' },
    want: { rank: 0, worldSize: 1, localRank: 0, localWorldSize: 1, masterAddr: '127.0.0.1', source: 'explicit' },
  },
  {
    name: 'explicit, with no environment at all',
    opts: { rank: 1, worldSize: 4, initMethod: 'env://' },
    env: {},
    want: { rank: 1, worldSize: 4, localRank: 1, localWorldSize: 4, masterAddr: '127.0.0.1', masterPort: 29500, source: 'explicit' },
  },
];

for (const c of cases) {
  test(`resolveInitConfig: ${c.name}`, () => {
    const got = resolveInitConfig(c.opts ?? {}, c.env);
    for (const [k, v] of Object.entries(c.want)) assert.equal(got[k as keyof InitConfig], v, `${k}`);
  });
}

const bad: Array<{ name: string; opts?: InitOptions; env: Env; re: RegExp }> = [
  { name: 'nothing set', env: {}, re: /no rank: set RANK and WORLD_SIZE/ },
  { name: 'RANK without WORLD_SIZE', env: { RANK: '0' }, re: /WORLD_SIZE is not set \(RANK is 0\): expected an integer >= 1/ },
  { name: 'WORLD_SIZE without RANK', env: { WORLD_SIZE: '2' }, re: /RANK is not set/ },
  { name: 'non-numeric RANK', env: { RANK: 'one', WORLD_SIZE: '2' }, re: /RANK="one" is not valid: expected an integer >= 0/ },
  { name: 'negative RANK', env: { RANK: '-1', WORLD_SIZE: '2' }, re: /RANK="-1" is not valid/ },
  { name: 'zero WORLD_SIZE', env: { RANK: '0', WORLD_SIZE: '0' }, re: /WORLD_SIZE="0" is not valid: expected an integer >= 1/ },
  { name: 'RANK >= WORLD_SIZE', env: { RANK: '2', WORLD_SIZE: '2' }, re: /RANK=2 is out of range for WORLD_SIZE=2/ },
  { name: 'Slurm rank out of range', env: { SLURM_PROCID: '4', SLURM_NTASKS: '4' }, re: /SLURM_PROCID=4 is out of range for SLURM_NTASKS=4/ },
  { name: 'Open MPI without the size', env: { OMPI_COMM_WORLD_RANK: '0' }, re: /OMPI_COMM_WORLD_SIZE is not set/ },
  { name: 'explicit rank out of range', opts: { rank: 3, worldSize: 2 }, env: {}, re: /rank=3 is out of range for worldSize=2/ },
  { name: 'explicit fractional rank', opts: { rank: 0.5, worldSize: 2 }, env: {}, re: /rank must be an integer >= 0/ },
  { name: 'bad MASTER_PORT', env: { RANK: '0', WORLD_SIZE: '1', MASTER_PORT: '70000' }, re: /MASTER_PORT="70000" is not a valid port: expected an integer in 1\.\.65535/ },
  { name: 'non-numeric MASTER_PORT', env: { RANK: '0', WORLD_SIZE: '1', MASTER_PORT: 'http' }, re: /MASTER_PORT="http" is not a valid port/ },
  { name: 'several nodes without MASTER_ADDR', env: { RANK: '0', WORLD_SIZE: '4', LOCAL_WORLD_SIZE: '2' }, re: /MASTER_ADDR is not set and the job spans several nodes/ },
  { name: 'LOCAL_RANK out of range', env: { RANK: '0', WORLD_SIZE: '4', LOCAL_RANK: '2', LOCAL_WORLD_SIZE: '2', MASTER_ADDR: 'h' }, re: /local rank 2 is out of range/ },
  { name: 'unknown scheme', opts: { initMethod: 'file:///tmp/rdzv' }, env: { RANK: '0', WORLD_SIZE: '1' }, re: /scheme 'file:\/\/' is not supported: expected 'env:\/\/' or 'tcp:\/\/host:port'/ },
  { name: 'not a URL', opts: { initMethod: 'localhost:29500' }, env: { RANK: '0', WORLD_SIZE: '1' }, re: /expected 'env:\/\/' or 'tcp:\/\/host:port'/ },
  { name: 'tcp:// without a port', opts: { initMethod: 'tcp://host' }, env: { RANK: '0', WORLD_SIZE: '1' }, re: /has no port/ },
  { name: 'tcp:// with port 0', opts: { initMethod: 'tcp://host:0' }, env: { RANK: '0', WORLD_SIZE: '1' }, re: /initMethod port="0" is not a valid port/ },
  { name: 'tcp:// with an unknown parameter', opts: { initMethod: 'tcp://h:1?foo=1' }, env: { RANK: '0', WORLD_SIZE: '1' }, re: /parameter 'foo' is not supported/ },
  { name: 'bad NODE_NCCL_TIMEOUT_MS', env: { RANK: '0', WORLD_SIZE: '1', NODE_NCCL_TIMEOUT_MS: '10s' }, re: /NODE_NCCL_TIMEOUT_MS="10s" is not valid/ },
  { name: 'bad timeoutMs', opts: { timeoutMs: -5 }, env: { RANK: '0', WORLD_SIZE: '1' }, re: /timeoutMs must be a positive number/ },
  { name: 'bad SLURM_TASKS_PER_NODE', env: { SLURM_PROCID: '0', SLURM_NTASKS: '1', SLURM_TASKS_PER_NODE: '2(y3)' }, re: /SLURM_TASKS_PER_NODE="2\(y3\)" is not valid/ },
];

for (const c of bad) {
  test(`resolveInitConfig refuses: ${c.name}`, () => {
    assert.throws(
      () => resolveInitConfig(c.opts ?? {}, c.env),
      (e: unknown) => e instanceof NodeNcclError && e.code === 'ERR_INVALID_ARG' && c.re.test(e.message),
    );
  });
}

test('Slurm hostlists and task counts', () => {
  assert.equal(firstSlurmHost('gpu[03-05,9],cpu1'), 'gpu03');
  assert.equal(firstSlurmHost('r[1-2]-n[01-04]'), 'r1-n01');
  assert.equal(firstSlurmHost('single'), 'single');
  assert.equal(firstSlurmHost('a,b'), 'a');
  assert.equal(firstSlurmHost(''), undefined);
  assert.equal(firstSlurmHost('broken[1-'), undefined);
  assert.deepEqual(expandSlurmTasksPerNode('2(x3),1'), [2, 2, 2, 1]);
  assert.deepEqual(expandSlurmTasksPerNode('4'), [4]);
});

test('resolveInitConfig reads process.env by default', () => {
  const saved = { ...process.env };
  try {
    for (const k of ['RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'LOCAL_WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT']) delete process.env[k];
    process.env.RANK = '0';
    process.env.WORLD_SIZE = '1';
    assert.equal(resolveInitConfig().source, 'env');
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
});
