/**
 * A one-line progress bar for training loops: epoch, step, loss, samples/s and the time left. On a
 * terminal it redraws one line in place; otherwise (a pipe, CI logs) it prints plain lines, at most
 * one every `plainEverySteps` steps plus the last step of each epoch. Under `node-nccl run` a rank's
 * stdout is a pipe, but the launcher sets NODE_NCCL_TTY=1 (and COLUMNS) when its own output is a
 * terminal and redraws the line there, so the bar animates under the launcher too.
 */
export interface ProgressOptions {
  /** Steps per epoch. */
  total: number;
  epochs: number;
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Force TTY-style (true) or plain lines (false); default: the stream's isTTY, or NODE_NCCL_TTY=1. */
  tty?: boolean;
  /** In plain mode, print every this many steps (default: about 4 lines per epoch). */
  plainEverySteps?: number;
  /** The clock, in ms (default performance.now; tests pass their own). */
  now?: () => number;
}

export interface ProgressState {
  epoch: number;
  step: number;
  loss: number;
  samplesPerSec: number;
}

/** 75 → "1:15", 3725 → "1:02:05". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h > 0 ? String(m).padStart(2, '0') : String(m);
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(r).padStart(2, '0')}`;
}

export function formatProgress(s: ProgressState, total: number, epochs: number, width: number, etaSeconds?: number): string {
  const frac = total > 0 ? Math.min(1, s.step / total) : 1;
  const filled = Math.round(frac * width);
  const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
  const pad = String(total).length;
  return (
    `epoch ${s.epoch + 1}/${epochs} [${bar}] step ${String(s.step).padStart(pad)}/${total} ` +
    `loss ${s.loss.toFixed(4)} ${Math.round(s.samplesPerSec).toLocaleString('en-US')} samples/s` +
    (etaSeconds !== undefined && Number.isFinite(etaSeconds) ? ` eta ${formatDuration(etaSeconds)}` : '')
  );
}

export class ProgressBar {
  private readonly stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  private readonly tty: boolean;
  private readonly every: number;
  private readonly now: () => number;
  private open = false;
  /** When the first update came, and how many steps (over all epochs) were done then. */
  private start: { t: number; done: number } | null = null;

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stdout;
    this.tty = opts.tty ?? (Boolean(this.stream.isTTY) || process.env.NODE_NCCL_TTY === '1');
    this.every = opts.plainEverySteps ?? Math.max(1, Math.ceil(opts.total / 4));
    this.now = opts.now ?? (() => performance.now());
  }

  /** Seconds left at the average pace since the first update (undefined before there is a pace). */
  private eta(s: ProgressState): number | undefined {
    const done = s.epoch * this.opts.total + s.step;
    const t = this.now();
    if (!this.start) {
      this.start = { t, done };
      return undefined;
    }
    const steps = done - this.start.done;
    if (steps <= 0) return undefined;
    const left = this.opts.epochs * this.opts.total - done;
    return ((t - this.start.t) / steps) * left / 1000;
  }

  update(s: ProgressState): void {
    const last = s.step >= this.opts.total;
    const eta = this.eta(s);
    if (this.tty) {
      const columns = this.stream.columns ?? (Number(process.env.COLUMNS) || 80);
      const width = Math.max(10, Math.min(30, columns - 80));
      this.stream.write(`\r\x1b[2K${formatProgress(s, this.opts.total, this.opts.epochs, width, eta)}`);
      this.open = true;
      if (last) this.done();
    } else if (last || s.step % this.every === 0) {
      this.stream.write(formatProgress(s, this.opts.total, this.opts.epochs, 20, eta) + '\n');
    }
  }

  /** Ends the in-place line (TTY mode) so the next output starts on a fresh line. */
  done(): void {
    if (this.open) this.stream.write('\n');
    this.open = false;
  }

  /** Prints a message on its own line without breaking the bar. */
  log(msg: string): void {
    this.done();
    this.stream.write(msg + '\n');
  }
}
