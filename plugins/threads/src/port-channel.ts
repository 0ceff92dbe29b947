/**
 * A Channel over a MessagePort: one frame per message, in order (see posted-frame.ts).
 *
 * The fast path (a daemon's end, `wait`): waking a worker's event loop for each message costs
 * about 20 µs, so a daemon thread with nothing in flight (every Task or Everywhere frame it
 * received answered by a Result) does not go back to its event loop to wait for the next task:
 * it polls, then blocks in `Atomics.wait` on a counter it shares with the host's end, which
 * adds to it and notifies after each message it posts, and pulls the message synchronously
 * (`receiveMessageOnPort`). The waiting is bounded: the poll lasts at most `spinUs` after a
 * result (and backs off when it finds nothing), one wait lasts at most WAIT_SLICE_MS, the
 * thread's event loop gets a turn between waits (its timers, I/O), and after WAIT_IDLE_MS
 * without a frame the thread waits in its event loop only. `Atomics.wait` sleeps (no CPU);
 * `worker.terminate()` interrupts it. Both paths read the same port queue, so frames stay in
 * order.
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { Channel } from '@mirai-ts/core';
import { FrameType, type Frame, type FrameLimits } from '@mirai-ts/core/plugin';
import { postedFrame, receivedFrame } from './posted-frame.js';

export { TRANSFER_MIN_BYTES } from './posted-frame.js';

/** The longest one `Atomics.wait` blocks the thread's event loop. */
export const WAIT_SLICE_MS = 10;
/**
 * How long a waiting end polls for the next task right after a result, by default (µs; see
 * spin): none. Polling shortens a round trip by a few µs but takes CPU a busy host needs (2
 * threads on 2 CPUs ran 15% fewer tasks/s with 50 µs).
 */
export const DEFAULT_SPIN_US = 0;
/** How long after its last frame a waiting end keeps waiting in `Atomics.wait`. */
export const WAIT_IDLE_MS = 500;
/** The first message of a waiting end: this tag, then the counter its peer notifies. */
const WAKE_TAG = 'mirai-ts.wake';
/** The shared words: frames posted to the waiting end, and whether it sleeps in `Atomics.wait`. */
const COUNT = 0;
const SLEEPING = 1;
const RESOLVED = Promise.resolve();

export class PortChannel implements Channel {
  onFrame: (frame: Frame) => void = () => {};
  onClose: (reason: Error | undefined) => void = () => {};
  closed = false;
  /** Frames this end took while waiting in `Atomics.wait`, not from its event loop (diagnostics). */
  waitedFrames = 0;
  private limits: FrameLimits | undefined;
  private reported = false;
  /** The words of a waiting peer: this end adds to its count after each post, and wakes it if it sleeps. */
  private notify: Int32Array | undefined;
  /** This end's words, when it waits (see COUNT, SLEEPING). */
  private readonly wake: Int32Array | undefined;
  /** Task and Everywhere frames received, Result frames sent: nothing is in flight when equal. */
  private tasksIn = 0;
  private resultsOut = 0;
  private waitScheduled = false;
  /** A Result was just sent (see spin). */
  private answered = false;
  private spinSkip = 0;
  private spinBackoff = 0;
  private lastFrameAt = 0;
  /** When the event loop last had a turn (see scheduleWait). */
  private turnAt = 0;
  private readonly waitLoop = (): void => this.waitForFrames();
  private readonly deferWait = (): void => void RESOLVED.then(this.waitLoop);
  private readonly turnLoop = (): void => {
    this.turnAt = performance.now();
    this.waitForFrames();
  };

  /** How long to poll after a result, in ms (see spin). */
  private readonly spinMs: number;

  /**
   * @param wait - given, this end is a daemon thread's: it waits for frames as the file comment
   *   says, polling `spinUs` µs after each result first (0: never). The peer must be a
   *   PortChannel too (it notifies); never on the main thread.
   */
  constructor(
    private readonly port: MessagePort,
    readonly peer: string,
    private readonly transfer: boolean,
    wait?: { readonly spinUs: number },
  ) {
    port.on('message', (message: unknown) => this.receive(message));
    port.on('close', () => this.ended(undefined));
    this.spinMs = (wait?.spinUs ?? 0) / 1000;
    if (wait !== undefined) {
      this.wake = new Int32Array(new SharedArrayBuffer(8));
      port.postMessage([WAKE_TAG, this.wake]);
    }
  }

  send(f: Frame): void {
    if (this.closed) return;
    const { message, moved } = postedFrame(f, this.transfer);
    this.port.postMessage(message, moved);
    const notify = this.notify;
    if (notify !== undefined) {
      Atomics.add(notify, COUNT, 1);
      // Only a sleeping peer needs the futex call (a syscall); one that polls or runs sees the count.
      if (Atomics.load(notify, SLEEPING) !== 0) Atomics.notify(notify, COUNT, 1);
    }
    if (this.wake !== undefined && f.type === FrameType.Result && ++this.resultsOut === this.tasksIn) {
      this.answered = true;
      this.scheduleWait();
    }
  }

  close(reason?: Error): void {
    if (this.closed) return;
    this.port.close();
    this.wakePeer();
    this.ended(reason);
  }

  setLimits(limits: FrameLimits): void {
    this.limits = limits;
  }

  ref(): void {
    this.port.ref();
  }

  unref(): void {
    this.port.unref();
  }

  private receive(message: unknown): void {
    if (this.closed) return;
    if (Array.isArray(message) && message[0] === WAKE_TAG) {
      const counter: unknown = message[1];
      if (this.notify !== undefined || !(counter instanceof Int32Array) || !(counter.buffer instanceof SharedArrayBuffer) || counter.length !== 2) {
        this.close(new Error('thread channel: a bad wake-up counter from the peer'));
      } else this.notify = counter;
      return;
    }
    const f = receivedFrame(message, this.limits);
    if (typeof f === 'string') {
      this.close(new Error(`thread channel: ${f} from ${this.peer}`));
      return;
    }
    if (this.wake !== undefined) {
      this.lastFrameAt = performance.now();
      if (f.type === FrameType.Task || f.type === FrameType.Everywhere) this.tasksIn++;
    }
    this.onFrame(f);
  }

  /**
   * Waits once the daemon has done what follows its send (cleanup, arming its idle timer): in
   * a microtask, or after a turn of the event loop if it had none for WAIT_SLICE_MS.
   */
  private scheduleWait(): void {
    if (this.waitScheduled) return;
    this.waitScheduled = true;
    // Two microtasks deep: the daemon defers its own work after a result (cleaning the globals
    // a task left) to a microtask queued after our send, and that must not wait behind us.
    // A resolved promise's then, not queueMicrotask: that makes an AsyncResource per call.
    if (performance.now() - this.turnAt < WAIT_SLICE_MS) void RESOLVED.then(this.deferWait);
    else setImmediate(this.turnLoop);
  }

  /**
   * Waits for a frame in `Atomics.wait` while nothing is in flight (see the file comment) and
   * handles it; the Result it leads to waits again. Returns to the event loop when something
   * is in flight (an async task), when woken without a frame (the peer closed), after
   * WAIT_SLICE_MS, and for good once idle for WAIT_IDLE_MS.
   */
  private waitForFrames(): void {
    this.waitScheduled = false;
    const wake = this.wake!;
    let woken = false;
    for (;;) {
      if (this.closed || this.resultsOut !== this.tasksIn) return;
      // Read before draining: a post after the drain changes it, so the wait returns at once.
      const seen = Atomics.load(wake, COUNT);
      const next = receiveMessageOnPort(this.port);
      if (next !== undefined) {
        this.waitedFrames++;
        this.receive(next.message);
        return;
      }
      const now = performance.now();
      if (now - this.lastFrameAt >= WAIT_IDLE_MS) return;
      const left = WAIT_SLICE_MS - (now - this.turnAt);
      if (woken || left <= 0) break;
      if (this.answered) {
        this.answered = false;
        if (this.spin(seen, now)) continue;
      }
      // Marked before the wait reads the count: a peer that adds after reading 0 here has added
      // before the wait, which then returns at once (sequentially consistent atomics).
      Atomics.store(wake, SLEEPING, 1);
      woken = Atomics.wait(wake, COUNT, seen, left) !== 'timed-out';
      Atomics.store(wake, SLEEPING, 0);
    }
    this.waitScheduled = true;
    setImmediate(this.turnLoop);
  }

  /**
   * Right after a result, polls the counter for up to `spinUs` before sleeping: the next task
   * of a caller awaiting results one by one usually comes within that, and a sleeping thread
   * takes long to wake (most of all on another CPU of a virtual machine). A spin that sees
   * nothing makes the next ones skip spinning for a while (1, 2, 4 ... 256 waits), so a thread
   * whose peer shares its CPU, or whose tasks come slowly, soon stops spinning.
   */
  private spin(seen: number, now: number): boolean {
    if (this.spinMs <= 0) return false;
    if (this.spinSkip > 0) {
      this.spinSkip--;
      return false;
    }
    const wake = this.wake!;
    const end = now + this.spinMs;
    while (Atomics.load(wake, COUNT) === seen && performance.now() < end);
    if (Atomics.load(wake, COUNT) !== seen) {
      this.spinBackoff = 0;
      return true;
    }
    this.spinBackoff = Math.min(this.spinBackoff * 2 || 1, 256);
    this.spinSkip = this.spinBackoff;
    return false;
  }

  /** Wakes a peer waiting on our counter, so it sees the close in its event loop. */
  private wakePeer(): void {
    if (this.notify === undefined) return;
    Atomics.add(this.notify, COUNT, 1);
    Atomics.notify(this.notify, COUNT, 1);
  }

  private ended(reason: Error | undefined): void {
    if (this.reported) return;
    this.closed = true;
    this.reported = true;
    this.onClose(reason);
  }
}
