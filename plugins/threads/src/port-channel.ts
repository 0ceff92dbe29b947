/**
 * A Channel over a MessagePort and two shared-memory rings, one frame at a time, in order.
 *
 * Small frames (segments of at most RING_MAX_FRAME_BYTES) go through the peer's ring
 * (ring.ts): a copy into shared memory instead of `postMessage`'s structured clone and
 * message event. Larger frames, and a small one that does not fit in the ring's free space,
 * go by `postMessage` (large buffers moved with `transfer`; see posted-frame.ts). Every frame
 * carries a sequence number, so the reader delivers them in the order they were sent: a
 * writer publishes a ring record before it posts the next frame, so when the record due is
 * not the ring's next, it is already on the port (`receiveMessageOnPort` takes it at once).
 *
 * Waking the reader: each end posts its inbound ring to the peer first; a writer wakes the
 * reader only as its ring's STATE word asks: nothing while it reads, a bare message on the
 * port (a doorbell) while it is in its event loop, `Atomics.notify` while it waits.
 *
 * The fast path (a daemon's end, `wait`): waking a worker's event loop for each message costs
 * about 20 µs, so a daemon thread with nothing in flight (every Task or Everywhere frame it
 * received answered by a Result) does not go back to its event loop to wait for the next task:
 * it polls, then blocks in `Atomics.wait` on its ring's COUNT word, which the host bumps and
 * notifies, and reads the ring (or the port, `receiveMessageOnPort`) synchronously. The
 * waiting is bounded: the poll lasts at most `spinUs` after a result (and backs off when it
 * finds nothing), the thread's event loop gets a turn every WAIT_SLICE_MS while it has work of
 * its own (a timer, an immediate, I/O: `process.getActiveResourcesInfo()` beyond message ports)
 * and every WAIT_IDLE_MS while it has none, and after WAIT_IDLE_MS without a frame the thread
 * waits in its event loop only. `Atomics.wait` sleeps (no CPU); `worker.terminate()` interrupts
 * it. Turns with nothing to run are not free: each wakes a sleeping thread (a pool of 4 idle
 * threads used 3.4-3.8% of a CPU when they turned every 10 ms, 1.3-1.6% now; docs/performance.md).
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { FrameType, PollPolicy, ProtocolError, segmentBytes, withinResultLimit, type Channel, type Frame, type FrameLimits } from '@mirai-ts/core/daemon';
import { holdsMovedArray, movedArrayMessage, movedArrayResult } from './moved-array.js';
import { isUint32, postedFrame, receivedFrame } from './posted-frame.js';
import { ACTIVE, COUNT, LOOP, Ring, RING_MAX_FRAME_BYTES, STATE, WAIT } from './ring.js';

export { TRANSFER_MIN_BYTES } from './posted-frame.js';
export { RING_BYTES, RING_MAX_FRAME_BYTES } from './ring.js';

/** The longest one `Atomics.wait` blocks the thread's event loop while it has work of its own (see turnGap). */
export const WAIT_SLICE_MS = 10;
/**
 * How long a waiting end polls for the next task right after a result, by default (µs; see
 * spin). Waking a sleeping thread costs more than a round trip's own work (on a virtual
 * machine whose idle CPUs halt, about 30 µs per wake across CPUs): polling this long lets a
 * caller that answers each result with its next task skip that wake, and a poll that finds
 * nothing makes the next ones rarer, so a thread whose tasks come slowly soon stops polling.
 */
export const DEFAULT_SPIN_US = 50;
/**
 * How long after its last frame a waiting end keeps waiting in `Atomics.wait`, and the longest
 * its event loop goes without a turn while it has no work of its own.
 */
export const WAIT_IDLE_MS = 500;
/** The first message of each end: this tag, then the SharedArrayBuffer of its inbound ring. */
const RING_TAG = 'mirai-ts.ring';
/** A message that only wakes the reader's event loop to read its ring. */
const DOORBELL = 0;
const RESOLVED = Promise.resolve();

export class PortChannel implements Channel {
  onFrame: (frame: Frame) => void = () => {};
  onClose: (reason: Error | undefined) => void = () => {};
  closed = false;
  /** Both ends are in this process, joined by the thread transport: the handshake skips its proofs (see acceptDial). */
  readonly inProcess = true;
  /** Frames this end took while waiting in `Atomics.wait`, not from its event loop (diagnostics). */
  waitedFrames = 0;
  /** Of those, frames that came while it polled after a result, before it slept (diagnostics). */
  polledFrames = 0;
  /** Turns this end gave its event loop while waiting for frames (diagnostics). */
  loopTurns = 0;
  /** Frames this end sent through the peer's ring, and by `postMessage` (diagnostics). */
  ringFrames = 0;
  portFrames = 0;
  private limits: FrameLimits | undefined;
  private reported = false;
  /** The ring the peer writes to, read here. */
  private readonly inbound = new Ring();
  /** The peer's inbound ring, once it arrived (until then every frame goes by the port). */
  private outbound: Ring | undefined;
  /** Sequence numbers: of the next frame sent, and of the next frame to deliver. */
  private sent = 0;
  private expected = 0;
  /** Frames taken from the port, in order, not yet due (ring records come before them). */
  private readonly posted: { seq: number; frame: Frame }[] = [];
  private draining = false;
  /** Error Results this end made for frames it could not send, to hand on before the next frame (see unsendable). */
  private readonly answers: Frame[] = [];
  private readonly answerLoop = (): void => {
    if (!this.draining) this.deliverAnswers();
  };
  /** Whether this end waits (a daemon thread's). */
  private readonly waits: boolean;
  /** Task and Everywhere frames received, Result frames sent: nothing is in flight when equal. */
  private tasksIn = 0;
  private resultsOut = 0;
  /** The host's end: Task and Everywhere frames sent, and Results received (see send). */
  private tasksOut = 0;
  private resultsIn = 0;
  private waitScheduled = false;
  /** A Result was just sent (see spin). */
  private answered = false;
  /** When and how long to poll after a result (see spin). */
  private readonly pollPolicy: PollPolicy;
  private lastFrameAt = 0;
  /** When the event loop last had a turn (see scheduleWait). */
  private turnAt = 0;
  /** Whether the event loop had work of its own when last asked, and when that was (see loopBusy). */
  private loopWork = true;
  private workCheckedAt = -Infinity;
  private readonly waitLoop = (): void => this.waitForFrames();
  private readonly deferWait = (): void => void RESOLVED.then(this.waitLoop);
  private readonly turnLoop = (): void => {
    this.turnAt = performance.now();
    this.loopTurns++;
    this.waitForFrames();
  };

  /**
   * @param wait - given, this end is a daemon thread's: it waits for frames as the file comment
   *   says, polling up to `spinUs` µs after each result first (0: never). The peer must be a
   *   PortChannel too; never on the main thread.
   */
  constructor(
    private readonly port: MessagePort,
    readonly peer: string,
    private readonly transfer: boolean,
    wait?: { readonly spinUs: number },
  ) {
    port.on('message', (message: unknown) => this.receive(message));
    port.on('close', () => this.ended(undefined));
    this.pollPolicy = new PollPolicy(wait?.spinUs ?? 0);
    this.waits = wait !== undefined;
    Atomics.store(this.inbound.words, STATE, LOOP);
    port.postMessage([RING_TAG, this.inbound.buffer]);
  }

  /** Whether the peer's ring arrived: until then every frame goes by `postMessage` (diagnostics). */
  get ringReady(): boolean {
    return this.outbound !== undefined;
  }

  send(f: Frame): void {
    if (this.closed) return;
    // The sequence number is taken only once the frame is written or posted: a frame that
    // cannot be sent leaves no gap the reader would wait for.
    const seq = this.sent;
    const out = this.outbound;
    try {
      if (out !== undefined && segmentBytes(f.segments) <= RING_MAX_FRAME_BYTES && out.write(f, seq)) {
        this.sent = (seq + 1) >>> 0;
        this.ringFrames++;
        this.wakeReader(out, false);
      } else {
        // The host's end moves a task's arrays only to a daemon with no task in flight: one
        // queued behind another (prefetch) goes back to the queue if the daemon leaves before
        // starting it, and must still hold its arrays then.
        const behind = !this.waits && this.tasksOut !== this.resultsIn && (f.type === FrameType.Task || f.type === FrameType.Everywhere);
        const { message, moved } = postedFrame(f, this.transfer && !behind);
        this.port.postMessage([seq, message], moved);
        this.sent = (seq + 1) >>> 0;
        this.portFrames++;
        if (out !== undefined) this.wakeReader(out, true);
      }
    } catch (err) {
      // Both ways copy a segment's bytes before anything is published or posted: a detached one
      // (no bytes, so always copied) throws there, and nothing of the frame reached the peer.
      if (!holdsMovedArray(f)) throw err;
      this.unsendable(f);
      return;
    }
    if (!this.waits && (f.type === FrameType.Task || f.type === FrameType.Everywhere)) this.tasksOut++;
    if (this.waits && f.type === FrameType.Result && ++this.resultsOut === this.tasksIn) {
      this.answered = true;
      this.scheduleWait();
    }
  }

  /**
   * A frame holding an array already moved away (moved-array.ts) fails its own task only.
   * Copying the array on the earlier send instead is no way out: the channel cannot know then
   * that a frame sent later (a queued task, a retry, everywhere()'s copy for another daemon)
   * holds the same buffer. So:
   * - a Task or Everywhere frame (the host's end) is not sent: this end answers it with an
   *   error Result for its id, as if from the daemon, which never hears of the task. The
   *   answer comes in a microtask, or before the next frame from the peer if that comes first
   *   (a frame delivered in the same read): never inside send(), where the host is assigning
   *   tasks, and never after a later answer of the daemon, so a Final answer cannot hand the
   *   task back to the queue to be answered again, as unknown (see the dispatcher's answered()).
   * - a Result (a daemon's end) is replaced by an error Result for the same task.
   * - any other frame holds no task's arrays: such a frame closes the channel (a lost daemon),
   *   in a microtask, not inside send().
   */
  private unsendable(f: Frame): void {
    const message = movedArrayMessage(f, this.transfer);
    if (f.type === FrameType.Task || f.type === FrameType.Everywhere) {
      this.answers.push(movedArrayResult(f, message));
      if (this.answers.length === 1) queueMicrotask(this.answerLoop);
    } else if (f.type === FrameType.Result) {
      this.send(movedArrayResult(f, message));
    } else {
      const reason = new ProtocolError(`thread channel: a frame of type ${f.type} to ${this.peer} holds a detached array`);
      queueMicrotask(() => this.close(reason));
    }
  }

  /** Hands on the answers this end made for frames it did not send (see unsendable), unless closed meanwhile. */
  private deliverAnswers(): number {
    let delivered = 0;
    while (this.answers.length > 0 && !this.closed) {
      delivered++;
      this.onFrame(this.answers.shift()!);
    }
    return delivered;
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

  /**
   * Wakes the peer for what was just written, as its STATE asks. A posted frame wakes an event
   * loop by itself; a doorbell is posted only by the writer that moves STATE from LOOP to
   * ACTIVE, so a reader busy in its event loop gets one, however many frames follow.
   */
  private wakeReader(out: Ring, posted: boolean): void {
    const words = out.words;
    const state = Atomics.load(words, STATE);
    if (state === WAIT) {
      Atomics.add(words, COUNT, 1);
      Atomics.notify(words, COUNT, 1);
    } else if (state === LOOP && !posted && Atomics.compareExchange(words, STATE, LOOP, ACTIVE) === LOOP) {
      this.port.postMessage(DOORBELL);
    }
  }

  /** A message from the event loop: read it, then whatever is due. */
  private receive(message: unknown): void {
    if (this.closed) return;
    Atomics.store(this.inbound.words, STATE, ACTIVE);
    this.take(message);
    this.drain(Infinity);
    if (!this.waitScheduled) this.rest();
  }

  /** Takes one port message: a doorbell, the peer's ring, or a frame (kept until due). True for a frame. */
  private take(message: unknown): boolean {
    if (message === DOORBELL) return false;
    if (Array.isArray(message) && message[0] === RING_TAG) {
      const ring = this.outbound === undefined ? Ring.from(message[1]) : 'a second ring';
      if (typeof ring === 'string') this.fail(ring);
      else this.outbound = ring;
      return false;
    }
    if (!Array.isArray(message) || message.length !== 2 || !isUint32(message[0])) {
      this.fail('a message that is not a frame');
      return false;
    }
    const f = receivedFrame(message[1], this.limits);
    if (typeof f === 'string') {
      this.fail(f);
      return false;
    }
    this.posted.push({ seq: message[0], frame: f });
    return true;
  }

  /** Takes port messages until a frame; false when there is none. */
  private takeFromPort(): boolean {
    for (;;) {
      const next = receiveMessageOnPort(this.port);
      if (next === undefined || this.closed) return false;
      if (this.take(next.message)) return true;
    }
  }

  /**
   * Delivers up to `max` frames that are due, from the ring and from the port, in sequence;
   * the number delivered. A record or message that breaks the order fails the channel.
   */
  private drain(max: number): number {
    if (this.draining) return 0;
    this.draining = true;
    let delivered = 0;
    try {
      while (delivered < max && !this.closed) {
        if (this.answers.length > 0) {
          delivered += this.deliverAnswers();
          continue;
        }
        const due = this.posted[0];
        if (due !== undefined && due.seq === this.expected) {
          this.posted.shift();
          this.deliver(due.frame);
          delivered++;
          continue;
        }
        const seq = this.inbound.next();
        if (typeof seq === 'string') {
          this.fail(seq);
          break;
        }
        if (seq === this.expected) {
          const f = this.inbound.read(this.limits);
          if (typeof f === 'string') {
            this.fail(f);
            break;
          }
          this.deliver(f);
          delivered++;
          continue;
        }
        // The frame due was posted before whatever came after it: it is on the port, or lost.
        if (due !== undefined) {
          if (seq !== undefined) this.fail(`frames out of order: expecting ${this.expected}, the ring holds ${seq} and the port ${due.seq}`);
          else this.fail(`frame ${due.seq} from the port while ${this.expected} is missing`);
          break;
        }
        if (seq === undefined) break;
        if (!this.takeFromPort()) {
          if (!this.closed) this.fail(`ring record ${seq} while frame ${this.expected} is missing`);
          break;
        }
      }
    } finally {
      this.draining = false;
    }
    return delivered;
  }

  private deliver(f: Frame): void {
    this.expected = (this.expected + 1) >>> 0;
    if (!this.waits && f.type === FrameType.Result) this.resultsIn++;
    if (this.waits) {
      this.lastFrameAt = performance.now();
      if (f.type === FrameType.Task || f.type === FrameType.Everywhere) {
        this.tasksIn++;
        this.pollPolicy.taskArrived(this.lastFrameAt);
        // A task may leave a timer or I/O behind: its loop has work until asked again.
        this.loopWork = true;
      }
    }
    // A result over maxResultBytes arrived whole (moved, not copied): it is still not decoded.
    this.onFrame(withinResultLimit(f, this.limits));
  }

  /** Goes back to the event loop: marks the ring so writers ring the doorbell, reading what came meanwhile. */
  private rest(): void {
    const words = this.inbound.words;
    for (;;) {
      Atomics.store(words, STATE, LOOP);
      // Marked before looking: a record published after this look finds LOOP and rings.
      if (this.closed || this.inbound.next() === undefined) return;
      Atomics.store(words, STATE, ACTIVE);
      this.drain(Infinity);
      if (this.waitScheduled) return;
    }
  }

  /** Whether a frame may be due: one from the port, a ring record (or a corrupt ring, which drain reports). */
  private pending(): boolean {
    if (this.posted.length > 0 && this.posted[0]!.seq === this.expected) return true;
    return this.inbound.next() !== undefined || this.takeFromPort();
  }

  /**
   * Waits once the daemon has done what follows its send (cleanup, arming its idle timer): in
   * a microtask, or after a turn of the event loop if one is due (see turnGap).
   */
  private scheduleWait(): void {
    if (this.waitScheduled) return;
    this.waitScheduled = true;
    // Two microtasks deep: the daemon defers its own work after a result (cleaning the globals
    // a task left) to a microtask queued after our send, and that must not wait behind us.
    // A resolved promise's then, not queueMicrotask: that makes an AsyncResource per call.
    const now = performance.now();
    if (now - this.turnAt < this.turnGap(now)) void RESOLVED.then(this.deferWait);
    else setImmediate(this.turnLoop);
  }

  /**
   * How long after its last turn the event loop gets the next: WAIT_SLICE_MS while it has work
   * of its own, WAIT_IDLE_MS while it has none (asked only once WAIT_SLICE_MS is past: the
   * question costs a list of the thread's resources).
   */
  private turnGap(now: number): number {
    return now - this.turnAt < WAIT_SLICE_MS || this.loopBusy(now) ? WAIT_SLICE_MS : WAIT_IDLE_MS;
  }

  /**
   * {@link loopHasWork}, asked at most once per WAIT_SLICE_MS: the list costs microseconds, and
   * a result comes every few of them. Between two asks, a task taken counts as work (it may have
   * left a timer behind), so such a timer waits WAIT_SLICE_MS at most, as before any ask.
   */
  private loopBusy(now: number): boolean {
    if (now - this.workCheckedAt >= WAIT_SLICE_MS) {
      this.workCheckedAt = now;
      this.loopWork = loopHasWork();
    }
    return this.loopWork;
  }

  /**
   * Waits for a frame in `Atomics.wait` while nothing is in flight (see the file comment) and
   * handles it; the Result it leads to waits again. Returns to the event loop when something
   * is in flight (an async task), when woken without a frame (the peer closed), when its event
   * loop is due a turn (turnGap), and for good once idle for WAIT_IDLE_MS.
   */
  private waitForFrames(): void {
    this.waitScheduled = false;
    const words = this.inbound.words;
    let woken = false;
    let polled = false;
    for (;;) {
      if (this.closed) return;
      if (this.resultsOut !== this.tasksIn) return this.rest();
      // Read before looking: a writer that publishes after the look bumps it, so the wait returns at once.
      const seen = Atomics.load(words, COUNT);
      // Marked before looking, for the same reason: a writer that finds WAIT bumps COUNT.
      Atomics.store(words, STATE, WAIT);
      if (this.pending()) {
        Atomics.store(words, STATE, ACTIVE);
        if (this.drain(1) > 0) {
          this.waitedFrames++;
          if (polled) this.polledFrames++;
        }
        if (!this.waitScheduled) this.rest();
        return;
      }
      const now = performance.now();
      if (now - this.lastFrameAt >= WAIT_IDLE_MS) return this.rest();
      // Nothing can give the loop work while this thread waits: the gap holds for the whole wait.
      const left = this.turnGap(now) - (now - this.turnAt);
      if (woken || left <= 0) break;
      if (this.answered) {
        this.answered = false;
        if (this.spin(seen, now)) {
          polled = true;
          continue;
        }
      }
      woken = Atomics.wait(words, COUNT, seen, left) !== 'timed-out';
    }
    // A turn of the event loop, then waiting again: no writer needs to wake us meanwhile.
    Atomics.store(words, STATE, ACTIVE);
    this.waitScheduled = true;
    setImmediate(this.turnLoop);
  }

  /**
   * Right after a result, polls the counter before sleeping: the next task of a caller
   * awaiting results one by one usually comes soon, and a sleeping thread takes long to wake
   * (most of all on another CPU of a virtual machine). How long, and when not to, as a process
   * daemon's polls (core's PollPolicy).
   */
  private spin(seen: number, now: number): boolean {
    const end = this.pollPolicy.pollAfterResult(now);
    if (Number.isNaN(end)) return false;
    const words = this.inbound.words;
    while (Atomics.load(words, COUNT) === seen && performance.now() < end);
    if (Atomics.load(words, COUNT) !== seen) return true; // the frame's delivery tells the policy
    this.pollPolicy.pollEnded();
    return false;
  }

  /** Wakes a peer waiting on its ring, so it sees the close in its event loop. */
  private wakePeer(): void {
    if (this.outbound === undefined) return;
    Atomics.add(this.outbound.words, COUNT, 1);
    Atomics.notify(this.outbound.words, COUNT, 1);
  }

  /** Fails the channel for what the peer sent. */
  private fail(why: string): void {
    this.close(new ProtocolError(`thread channel: ${why} from ${this.peer}`));
  }

  private ended(reason: Error | undefined): void {
    if (this.reported) return;
    this.closed = true;
    this.reported = true;
    this.answers.length = 0; // their tasks settle with the connection's loss
    this.onClose(reason);
  }
}

/**
 * Whether this thread's event loop has work of its own: a resource that keeps it alive other
 * than a message port (every waiting end has one; a worker's parent port is not listed): a
 * timer, an immediate, a socket, a file request. An unref'd timer is not listed: it may wait up
 * to WAIT_IDLE_MS longer.
 */
function loopHasWork(): boolean {
  for (const resource of process.getActiveResourcesInfo()) if (resource !== 'MessagePort') return true;
  return false;
}
