/**
 * A one-line progress bar for training loops: epoch, step, loss and samples/s. On a TTY it redraws
 * one line in place; otherwise (a pipe, the launcher's rank-prefixed output, CI logs) it prints
 * plain lines, at most one every `plainEverySteps` steps plus the last step of each epoch.
 */
export interface ProgressOptions {
  /** Steps per epoch. */
  total: number;
  epochs: number;
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Force TTY-style (true) or plain lines (false); default: the stream's isTTY. */
  tty?: boolean;
  /** In plain mode, print every this many steps (default: about 4 lines per epoch). */
  plainEverySteps?: number;
}

export interface ProgressState {
  epoch: number;
  step: number;
  loss: number;
  samplesPerSec: number;
}

export function formatProgress(s: ProgressState, total: number, epochs: number, width: number): string {
  const frac = total > 0 ? Math.min(1, s.step / total) : 1;
  const filled = Math.round(frac * width);
  const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
  const pad = String(total).length;
  return (
    `epoch ${s.epoch + 1}/${epochs} [${bar}] step ${String(s.step).padStart(pad)}/${total} ` +
    `loss ${s.loss.toFixed(4)} ${Math.round(s.samplesPerSec).toLocaleString('en-US')} samples/s`
  );
}

export class ProgressBar {
  private readonly stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  private readonly tty: boolean;
  private readonly every: number;
  private open = false;
  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stdout;
    this.tty = opts.tty ?? Boolean(this.stream.isTTY);
    this.every = opts.plainEverySteps ?? Math.max(1, Math.ceil(opts.total / 4));
  }

  update(s: ProgressState): void {
    const last = s.step >= this.opts.total;
    if (this.tty) {
      const width = Math.max(10, Math.min(30, (this.stream.columns ?? 80) - 70));
      this.stream.write(`\r\x1b[2K${formatProgress(s, this.opts.total, this.opts.epochs, width)}`);
      this.open = true;
      if (last) this.done();
    } else if (last || s.step % this.every === 0) {
      this.stream.write(formatProgress(s, this.opts.total, this.opts.epochs, 20) + '\n');
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
