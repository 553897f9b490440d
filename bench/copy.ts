/**
 * Pinned host <-> device copy bandwidth (default 256 MiB, plus smaller sizes), comparable with
 * bench/compare/torch_copy.py. Two figures per direction:
 *   - "dma": copies queued back to back on one stream, timed with CUDA events (what torch's
 *     benchmark measures: `dst.copy_(pinned, non_blocking=True)` between events);
 *   - "api": wall-clock of the synchronous public call (copyHostToDevice / copyDeviceToHost),
 *     each returning when its bytes are there.
 *
 *   node dist/bench/copy.js [--sizes 1,16,256] (MiB) [--iters 20] [--json]
 * Without a GPU it prints why and exits 0.
 */
import { cuda, native } from '../lib/index.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}

async function main(): Promise<number> {
  const json = process.argv.includes('--json');
  if (cuda.deviceCount() === 0) {
    const msg = `no GPU (${cuda.noGpuReason()}): the copy bandwidth benchmark needs one; nothing measured`;
    console.log(json ? JSON.stringify({ impl: 'node-nccl', skipped: msg }) : `# ${msg}`);
    return 0;
  }
  const sizes = arg('sizes', '1,16,256').split(',').map((x) => Number(x) * (1 << 20));
  const iters = Number(arg('iters', '20'));
  const stream = new cuda.Stream();
  const rows: Array<Record<string, number | string>> = [];
  for (const n of sizes) {
    const host = new Uint8Array(cuda.pinnedBuffer(n));
    host.fill(1);
    const dev = new cuda.DeviceBuffer(n, { stream });
    const start = new cuda.Event({ enableTiming: true });
    const end = new cuda.Event({ enableTiming: true });
    for (const dir of ['h2d', 'd2h'] as const) {
      const enqueue = (): void => {
        if (dir === 'h2d') native.cuda.memcpyEnqueue(dev.native, 0, host, 0, n, stream.native);
        else native.cuda.memcpyEnqueue(host, 0, dev.native, 0, n, stream.native);
      };
      for (let i = 0; i < 3; i++) enqueue();
      await stream.synchronize();
      start.record(stream);
      for (let i = 0; i < iters; i++) enqueue();
      end.record(stream);
      await end.synchronize();
      const dma = (n * iters) / (start.elapsedTime(end) / 1e3);
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < iters; i++) {
        if (dir === 'h2d') cuda.copyHostToDevice(dev, 0, host, { stream });
        else cuda.copyDeviceToHost(host, dev, 0, { stream });
      }
      const api = (n * iters) / (Number(process.hrtime.bigint() - t0) / 1e9);
      rows.push({ dir, bytes: n, dma_GBps: dma / 1e9, api_GBps: api / 1e9 });
    }
    dev.dispose();
    start.dispose();
    end.dispose();
  }
  stream.dispose();
  const out = { impl: 'node-nccl', device: cuda.getDeviceName(0), iters, rows };
  if (!json) {
    console.log(`# pinned copy bandwidth on ${out.device} (${iters} copies each)`);
    console.log('dir   MiB     dma GB/s   api GB/s');
    for (const r of rows) {
      console.log(`${String(r['dir']).padEnd(5)} ${String(Number(r['bytes']) / (1 << 20)).padStart(4)}   ` +
        `${Number(r['dma_GBps']).toFixed(2).padStart(8)}   ${Number(r['api_GBps']).toFixed(2).padStart(8)}`);
    }
  }
  console.log(JSON.stringify(out));
  return 0;
}

main().then((c) => (process.exitCode = c));
