/**
 * Prefixes every line of a child's output stream (layer: lib/cli, used by the launcher).
 * Works on bytes, so a multi-byte character split across chunks stays intact; a partial line is
 * held until its newline (or until `flush()` at exit, or until it grows past `maxLineBytes`, when it
 * is written as a line of its own so a process that never prints a newline cannot exhaust memory).
 *
 * With a TerminalMux (the launcher's own stdout is a terminal), a partial line is shown at once as
 * the terminal's "live" line and redrawn in place as the rank rewrites it with `\r` (a progress
 * bar); lines of other ranks are printed above it. A newline commits what the terminal would show.
 */
const NL = 0x0a;
const CR = 0x0d;
const CLEAR_LINE = Buffer.from('\r\x1b[2K');

/** What a terminal shows of a line written with carriage returns: the text after the last `\r`, without line-clearing escapes. */
export function displayedText(line: Buffer): Buffer {
  const cr = line.lastIndexOf(CR);
  let text = cr < 0 ? line : line.subarray(cr + 1);
  if (text.length === 0 && cr > 0) {
    // "...\r" at the very end (a CRLF line or a bar that ends with \r): the text before it
    const prev = line.subarray(0, cr);
    const p = prev.lastIndexOf(CR);
    text = p < 0 ? prev : prev.subarray(p + 1);
  }
  if (text.includes(0x1b)) text = Buffer.from(text.toString('utf8').replace(/\x1b\[[0-2]?K/g, ''), 'utf8');
  return text;
}

/**
 * One terminal shared by every rank's stdout and stderr: at most one live line (the latest partial
 * line of any rank), cleared before other output and drawn again after it.
 */
export class TerminalMux {
  private live: { owner: object; text: Buffer } | null = null;

  /** `columns`: the live line is cut to this width so that it never wraps (a wrapped line cannot be redrawn). */
  constructor(private readonly out: (b: Buffer) => boolean, private readonly columns: () => number = () => 80) {}

  /**
   * Complete lines from `owner`, written with `write` (its stdout or stderr, the same terminal):
   * the live line is cleared first and drawn again after them, unless it is `owner`'s own, which
   * these lines commit.
   */
  lines(owner: object, b: Buffer, write: (b: Buffer) => boolean): boolean {
    if (!this.live) return write(b);
    const redraw = this.live.owner === owner ? null : this.live.text;
    if (!redraw) this.live = null;
    this.out(CLEAR_LINE);
    const ok = write(b);
    if (redraw) this.out(redraw);
    return ok;
  }

  /** Shows `text` (prefix included) as the live line, or removes `owner`'s live line (null). */
  setLive(owner: object, text: Buffer | null): boolean {
    if (text === null) {
      if (this.live?.owner !== owner) return true;
      this.live = null;
      return this.out(CLEAR_LINE);
    }
    const width = Math.max(10, this.columns() - 1);
    const s = text.toString('utf8');
    const cut = s.length > width ? Buffer.from(s.slice(0, width), 'utf8') : text;
    this.live = { owner, text: cut };
    return this.out(Buffer.concat([CLEAR_LINE, cut]));
  }

  /** Ends a live line with a newline (at exit), so the shell prompt starts on a fresh line. */
  close(): void {
    if (this.live) this.out(Buffer.of(NL));
    this.live = null;
  }
}

export class LinePrefixer {
  private pending: Buffer = Buffer.alloc(0);
  private readonly prefix: Buffer;

  /**
   * @param prefix   text put before each line, e.g. "[rank1]: "
   * @param write    where prefixed lines go; returns false when the destination wants us to wait
   * @param onLine   called with each complete line (without prefix and newline), e.g. to keep a tail
   * @param terminal when the destinations are a terminal: the mux they share, and whether this
   *                 stream's partial lines are drawn live (the ranks' stdout) or only kept apart
   *                 from the live line (their stderr)
   */
  constructor(
    prefix: string,
    private readonly write: (b: Buffer) => boolean,
    private readonly onLine?: (line: string) => void,
    private readonly maxLineBytes = 64 * 1024,
    private readonly terminal?: { mux: TerminalMux; live: boolean },
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
    let ok = parts.length ? this.out(Buffer.concat(parts)) : true;
    if (this.terminal?.live && this.pending.length) ok = this.terminal.mux.setLive(this, Buffer.concat([this.prefix, displayedText(this.pending)])) && ok;
    return ok;
  }

  /** Writes a held partial line, with a newline, if there is one. */
  flush(): void {
    if (this.pending.length === 0) return;
    const parts: Buffer[] = [];
    this.emit(parts, this.pending);
    this.pending = Buffer.alloc(0);
    this.out(Buffer.concat(parts));
  }

  private out(b: Buffer): boolean {
    return this.terminal ? this.terminal.mux.lines(this, b, this.write) : this.write(b);
  }

  private emit(parts: Buffer[], line: Buffer): void {
    const shown = this.terminal ? displayedText(line) : line;
    parts.push(this.prefix, shown, Buffer.of(NL));
    if (this.onLine) {
      const text = line.toString('utf8');
      this.onLine(text.endsWith('\r') ? text.slice(0, -1) : text);
    }
  }
}
