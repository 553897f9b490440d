/** Streams and events: TypeScript handles over the native ones (dispose() / `using`). */
import { ArgumentError } from '../errors.js';
import { native } from '../native/index.js';
import type { NativeEvent, NativeStream } from '../../typings/native.js';
import { type DeviceLike, deviceIndex } from './device.js';
import { checkOptions, optionKeys } from '../options.js';

const wrappers = new WeakMap<NativeStream, Stream>();

export interface StreamOptions {
  /** The device the stream belongs to. Default: the current device. */
  device?: DeviceLike;
  /**
   * Priority: lower numbers run first, as in CUDA and PyTorch (0 is the default; see
   * Stream.priorityRange). Out-of-range values are clamped. Default 0.
   */
  priority?: number;
}

const STREAM_OPTIONS = optionKeys<StreamOptions>({ device: true, priority: true });

/** A CUDA stream (non-blocking, with a priority), like torch.cuda.Stream. */
export class Stream {
  readonly native: NativeStream;

  constructor(options: StreamOptions = {}, nativeStream?: NativeStream) {
    if (nativeStream) {
      this.native = nativeStream;
    } else {
      options = checkOptions(options, STREAM_OPTIONS, 'Stream');
      this.native = new native.cuda.Stream(deviceIndex(options.device), options.priority ?? 0);
    }
    wrappers.set(this.native, this);
  }

  /** The TypeScript handle of a native stream (the same object each time). */
  static fromNative(n: NativeStream): Stream {
    return wrappers.get(n) ?? new Stream({}, n);
  }

  /** { least, greatest } priorities of the device (greatest is the numerically lowest). */
  static priorityRange(device?: DeviceLike): { least: number; greatest: number } {
    return native.cuda.Stream.priorityRange(deviceIndex(device));
  }

  get device(): number {
    return this.native.device;
  }
  get priority(): number {
    return this.native.priority;
  }
  get disposed(): boolean {
    return this.native.disposed;
  }
  /** True for a device's default stream. */
  get isDefault(): boolean {
    return this.native.isDefault;
  }

  /** True when all work queued so far has finished. */
  query(): boolean {
    return this.native.query();
  }
  /** Resolves when the work queued so far is done; the event loop keeps running meanwhile. */
  synchronize(): Promise<void> {
    return this.native.synchronize();
  }
  /** Blocks until the work queued so far is done. */
  synchronizeSync(): void {
    this.native.synchronizeSync();
  }
  /** Work queued on this stream from now on waits for the event. */
  waitEvent(event: Event): void {
    this.native.waitEvent(eventNative(event, 'Stream.waitEvent'));
  }
  /** Work queued on this stream from now on waits for what `other` has queued so far. */
  waitStream(other: Stream): void {
    if (!(other instanceof Stream)) throw new ArgumentError('Stream.waitStream: other must be a Stream');
    this.native.waitStream(other.native);
  }
  /** Records an event (a new one unless given) on this stream and returns it. */
  recordEvent(event?: Event): Event {
    const e = event ?? new Event({ device: this.device });
    e.record(this);
    return e;
  }
  /** Destroys the stream (work already queued still runs). The default stream is never destroyed. */
  dispose(): void {
    this.native.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

export interface EventOptions {
  /** The device. Default: the current device. */
  device?: DeviceLike;
  /** Record timestamps so elapsedTime() works. Default false (cheaper), as in PyTorch. */
  enableTiming?: boolean;
  /** synchronizeSync() sleeps instead of spinning. Default false. */
  blocking?: boolean;
}

const EVENT_OPTIONS = optionKeys<EventOptions>({ device: true, enableTiming: true, blocking: true });

function eventNative(e: unknown, fn: string): NativeEvent {
  if (!(e instanceof Event)) throw new ArgumentError(`${fn}: event must be a cuda.Event`);
  return e.native;
}

/** A CUDA event, like torch.cuda.Event. */
export class Event {
  readonly native: NativeEvent;

  constructor(options: EventOptions = {}) {
    options = checkOptions(options, EVENT_OPTIONS, 'Event');
    this.native = new native.cuda.Event(deviceIndex(options.device), options.enableTiming ?? false, options.blocking ?? false);
  }

  get device(): number {
    return this.native.device;
  }
  get disposed(): boolean {
    return this.native.disposed;
  }
  /** Captures the work queued on the stream so far (default: the current stream). */
  record(stream?: Stream): void {
    if (stream !== undefined && !(stream instanceof Stream)) throw new ArgumentError('Event.record: stream must be a cuda.Stream');
    this.native.record(stream?.native);
  }
  /** True when the recorded work has finished. */
  query(): boolean {
    return this.native.query();
  }
  /** Resolves when the recorded work has finished, without blocking the event loop. */
  synchronize(): Promise<void> {
    return this.native.synchronize();
  }
  synchronizeSync(): void {
    this.native.synchronizeSync();
  }
  /** Milliseconds from this event to `end`; both recorded, both created with enableTiming. */
  elapsedTime(end: Event): number {
    return this.native.elapsedTime(eventNative(end, 'Event.elapsedTime'));
  }
  /** Makes `stream` (default: the current one) wait for this event. */
  wait(stream?: Stream): void {
    (stream ?? currentStream(this.device)).waitEvent(this);
  }
  dispose(): void {
    this.native.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** The stream work on the device (default: the current one) is queued on. */
export function currentStream(device?: DeviceLike): Stream {
  return Stream.fromNative(native.cuda.currentStream(deviceIndex(device)));
}

/** The device's default stream. */
export function defaultStream(device?: DeviceLike): Stream {
  const d = deviceIndex(device) ?? native.cuda.currentDevice();
  return Stream.fromNative(new native.cuda.Stream(d, 0, true));
}

/** Makes `stream` the current stream of its device, like torch.cuda.set_stream. */
export function setCurrentStream(stream: Stream): void {
  if (!(stream instanceof Stream)) throw new ArgumentError('setCurrentStream: stream must be a cuda.Stream');
  native.cuda.setCurrentStream(stream.native);
}

/**
 * Runs fn with `stream` current on its device and restores the previous stream afterwards (also
 * when fn throws or its Promise rejects), like `with torch.cuda.stream(s):`.
 */
export function withStream<T>(stream: Stream, fn: () => T): T {
  if (!(stream instanceof Stream)) throw new ArgumentError('withStream: stream must be a cuda.Stream');
  if (typeof fn !== 'function') throw new ArgumentError('withStream: fn must be a function');
  const prev = currentStream(stream.device);
  setCurrentStream(stream);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    restore(prev);
    throw e;
  }
  if (result instanceof Promise) {
    return result.finally(() => restore(prev)) as T;
  }
  restore(prev);
  return result;
}

function restore(prev: Stream): void {
  if (!prev.disposed) setCurrentStream(prev);
}
