/**
 * Prefixes every line of a child's output stream (layer: lib/cli, used by the launcher).
 * Works on bytes, so a multi-byte character split across chunks stays intact; a partial line is
 * held until its newline (or until `flush()` at exit, or until it grows past `maxLineBytes`, when it
 * is written as a line of its own so a process that never prints a newline cannot exhaust memory).
 */
const NL = 0x0a;

export class LinePrefixer {
  private pending: Buffer = Buffer.alloc(0);
  private readonly prefix: Buffer;

  /**
   * @param prefix   text put before each line, e.g. "[rank1]: "
   * @param write    where prefixed lines go; returns false when the destination wants us to wait
   * @param onLine   called with each complete line (without prefix and newline), e.g. to keep a tail
   */
  constructor(
    prefix: string,
    private readonly write: (b: Buffer) => boolean,
    private readonly onLine?: (line: string) => void,
    private readonly maxLineBytes = 64 * 1024,
  ) {
    this.prefix = Buffer.from(prefix, 'utf8');
  }

  /** Adds output; returns what `write` returned for the last write (true when nothing was written). */
  push(chunk: Buffer): boolean {
    const data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const parts: Buffer[] = [];
    let start = 0;
    for (;;) {
      const nl = data.indexOf(NL, start);
      if (nl < 0) break;
      this.emit(parts, data.subarray(start, nl));
      start = nl + 1;
    }
    let rest = data.subarray(start);
    while (rest.length > this.maxLineBytes) {
      this.emit(parts, rest.subarray(0, this.maxLineBytes));
      rest = rest.subarray(this.maxLineBytes);
    }
    this.pending = Buffer.from(rest);
    return parts.length ? this.write(Buffer.concat(parts)) : true;
  }

  /** Writes a held partial line, with a newline, if there is one. */
  flush(): void {
    if (this.pending.length === 0) return;
    const parts: Buffer[] = [];
    this.emit(parts, this.pending);
    this.pending = Buffer.alloc(0);
    this.write(Buffer.concat(parts));
  }

  private emit(parts: Buffer[], line: Buffer): void {
    parts.push(this.prefix, line, Buffer.of(NL));
    if (this.onLine) {
      const text = line.toString('utf8');
      this.onLine(text.endsWith('\r') ? text.slice(0, -1) : text);
    }
  }
}
