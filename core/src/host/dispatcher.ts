/**
 * The dispatcher: the queue of a profile's tasks and the daemons that run them. It admits
 * connections (see admission.ts), queues tasks with backpressure, hands them out as the
 * scheduling strategy says (scheduling.ts), and settles each task from its daemon's answer
 * (results.ts) or from its daemon's loss. Event driven: nothing polls, an idle profile uses
 * no CPU.
 */
import { ConnectionResetError, CrashLimitError, QueueFullError, ResultTooLargeError, type MiraiError } from '../errors.js';
import type { Channel, Listener } from '../transport.js';
import { DEFAULT_LIMITS, FrameFlag, MAX_CONTROL_BYTES, FrameType, frameTypeName, readJsonSegment, segmentBytes, type Frame, type FrameLimits, type OversizedResult } from '../wire/frame.js';
import type { ByeMessage, HelloMessage, SerializerRef } from '../wire/messages.js';
import type { StreamState } from '../wire/random-stream.js';
import { admit, RefusalLog, type Admitted } from './admission.js';
import { DaemonConnection, type DaemonStatus, type Ending } from './daemon-connection.js';
import { HostTask, TASK_OVERHEAD_BYTES, type TaskCanceller, type TaskOutcome, type TaskTiming } from './host-task.js';
import type { ProfileSettings } from './profile-options.js';
import { readResult, type ResultOutcome } from './results.js';
import { QueueRoom } from './queue-room.js';
import { DirectScheduler, FifoScheduler, type Scheduler, type SchedulingState } from './scheduling.js';
import { TaskQueue } from './task-queue.js';
import { active, channels, publish, settledUnqueued } from '../events.js';

/** Counters, as mirai's `info()`. */
export interface DispatcherCounters {
  /** Daemons connected now. */
  readonly connections: number;
  /** Daemons that ever completed the handshake. */
  readonly cumulative: number;
  /** Tasks queued at the host. */
  readonly awaiting: number;
  /** Tasks sent to a daemon and not yet answered. */
  readonly executing: number;
  /** Tasks answered, cancelled or reset. */
  readonly completed: number;
  /** Connections refused: wrong secret, bad protocol, garbage, silence. */
  readonly rejected: number;
  /** Bytes of queued task frames now, and the most there ever were. */
  readonly queuedBytes: number;
  readonly peakQueuedBytes: number;
}

/**
 * What happened to a daemon, for the pool that owns the dispatcher:
 * `connect`; `disconnect` (it left, or the profile closed); `lost` (gone without saying so,
 * not ended by the host); `ended` (the host ended it, stuck in a cancelled task, as `how` says).
 */
export type DaemonEvent =
  | { readonly type: 'connect' | 'disconnect' | 'lost'; readonly conn: DaemonConnection }
  | { readonly type: 'ended'; readonly conn: DaemonConnection; readonly how: Ending };

/** What the dispatcher needs from its pool. */
export interface DispatcherHooks {
  readonly secret: string;
  readonly serializerRefs: readonly SerializerRef[];
  /** The next daemon's random stream, sent in its Init. */
  daemonStream?(): StreamState;
  /** Called whenever the number of unsettled tasks goes between zero and non-zero. */
  onBusyChange(busy: boolean): void;
  onDaemon(event: DaemonEvent): void;
  /** Tasks were queued (submitted, or put back after a crash): for autoscaling. */
  onDemand?(): void;
  /** A daemon has nothing to do (it joined, or answered, and the queue is empty): for autoscaling. */
  onIdle?(conn: DaemonConnection): void;
}

/** An `everywhere()` call, replayed on every daemon that connects later. */
interface SetupEntry {
  readonly frame: Frame;
  /** Makes the outcome for one copy. */
  readonly makeOutcome: () => TaskOutcome;
}

/** The timings of a task queued before anyone listened. */
const NO_TIMING: TaskTiming = { queuedAt: NaN, assignedAt: NaN, bytesReceived: 0 };

export class Dispatcher implements TaskCanceller {
  private readonly queue = new TaskQueue<HostTask>();
  private readonly links = new Set<DaemonConnection>();
  /**
   * Keeps the process alive while tasks are outstanding (ref'd then, unref'd otherwise);
   * connections never do. One handle, not every connection: ref'ing 10 000 of them each time
   * a sequential caller's task went out made its round trip 1.1 ms.
   */
  private readonly keepAlive = setInterval(() => {}, 1 << 30).unref();
  private readonly scheduler: Scheduler;
  private readonly refusals: RefusalLog;
  private nextDaemonId = 1;
  private cumulative = 0;
  private completed = 0;
  private rejected = 0;
  private executing = 0;
  /** Unsettled tasks (queued or running). */
  private outstanding = 0;
  /**
   * A daemon that answers is given more work once it holds at most this many tasks: at once
   * with one in flight, at half depth with `prefetch: k`. Refilling half a window at a time
   * sends tasks in runs, one write each way, instead of a write per task.
   */
  private readonly refillAt: number;
  private closed = false;
  /** Why the profile closed: the message of the ConnectionResetError its tasks settle with. */
  private closedReason = '';
  /** Daemons in state 'ready' (connected, taking tasks), kept as they change: read per answer. */
  private ready = 0;
  /** Daemons wanted (`scale(n)`); Infinity: no target. See {@link Dispatcher.setTarget}. */
  private target = Infinity;
  /**
   * The last small task fulfilled with a small value, kept alive (with its mirai) on purpose.
   * V8 holds the shapes ("maps") of objects weakly: at a full GC with no task alive, the
   * shapes of tasks and mirai die, and every function optimized for them is thrown away
   * (`--trace-deopt`: "weak objects"; 37 deopts after a GC, 11 with one task kept), so the
   * next ~20 000 tasks ran 20-30% slower. Only a small one: arguments or a result the caller
   * has let go of are never kept. (HostTask's own shapes are kept whatever the tasks' sizes, by
   * a task that never runs: host-task.ts.)
   */
  private lastFulfilled: HostTask | undefined;
  private readonly waiters = new Set<{ n: number; resolve: () => void }>();
  private readonly setupLog: SetupEntry[] = [];
  /** `everywhere()` calls waiting for more daemons (`min`): released on close. */
  /** everywhere() calls waiting for `min` daemons: their finish, and their min. */
  private readonly setupWaiters = new Map<() => void, number>();
  private queuedBytes = 0;
  private peakQueuedBytes = 0;
  private readonly queueRoom: QueueRoom;
  private readonly state: SchedulingState;
  /** A daemon's frame limits once admitted, with the profile's `maxResultBytes`. */
  private readonly sessionLimits: FrameLimits;

  constructor(
    private readonly listener: Listener,
    private readonly settings: ProfileSettings,
    private readonly hooks: DispatcherHooks,
  ) {
    this.scheduler = settings.dispatcher ? new FifoScheduler(settings.prefetch) : new DirectScheduler();
    this.refillAt = settings.prefetch >> 1;
    this.refusals = new RefusalLog(settings.name, settings.log);
    // A daemon past the handshake sends results, and Bye: nothing else may be large.
    this.sessionLimits = Number.isFinite(settings.maxResultBytes)
      ? { ...DEFAULT_LIMITS, maxResultBytes: settings.maxResultBytes, maxControlBytes: MAX_CONTROL_BYTES }
      : { ...DEFAULT_LIMITS, maxControlBytes: MAX_CONTROL_BYTES };
    this.queueRoom = new QueueRoom(settings.maxQueued, settings.maxQueuedBytes, () => ({ tasks: this.queue.size, bytes: this.queuedBytes }));
    this.state = {
      connections: this.links,
      queued: () => this.queue.size > 0,
      next: () => this.dequeued(this.queue.shift()!),
      assign: (conn, task) => {
        this.executing++;
        conn.sendTask(task);
        if (task.timing !== undefined) task.timing.assignedAt = performance.now();
        if (active(channels.taskAssigned)) {
          publish(channels.taskAssigned, { profile: this.settings.name, taskId: task.id, daemonId: conn.id, queueDepth: this.queue.size });
        }
      },
    };
    listener.onChannel = (channel) => this.accept(channel);
    listener.onDropped = (peer, why) => {
      this.rejected++;
      this.refusals.refused(peer, why);
    };
  }

  get connections(): number {
    let n = 0;
    for (const link of this.links) if (link.state === 'ready') n++;
    return n;
  }

  counters(): DispatcherCounters {
    return {
      connections: this.connections,
      cumulative: this.cumulative,
      awaiting: this.queue.size,
      executing: this.executing,
      completed: this.completed,
      rejected: this.rejected,
      queuedBytes: this.queuedBytes,
      peakQueuedBytes: this.peakQueuedBytes,
    };
  }

  daemonRows(): DaemonStatus[] {
    const rows: DaemonStatus[] = [];
    for (const link of this.links) if (link.state === 'ready' || link.state === 'leaving') rows.push(link.row());
    return rows;
  }

  /**
   * Resolves once `n` daemons in all have completed the handshake (`cumulative`, so daemons
   * lost meanwhile do not hide the ones that joined); stops waiting (and never resolves) once
   * `until` settles, so a launch that timed out leaves no waiter behind.
   */
  waitForJoins(n: number, until: Promise<unknown>): Promise<void> {
    if (this.cumulative >= n) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = { n, resolve };
      this.waiters.add(waiter);
      const drop = (): void => void this.waiters.delete(waiter);
      until.then(drop, drop);
    });
  }

  /**
   * Queues a task; it runs on the next free daemon. Throws a QueueFullError, queueing
   * nothing, when the queue is at the profile's limit.
   */
  submit(task: HostTask): void {
    if (this.closed) {
      // Built after the reset (an async serializer finished late): nothing would ever run it.
      this.refuseClosed(task);
      return;
    }
    const { maxQueued, maxQueuedBytes } = this.settings;
    const bytes = task.bytes;
    if (!this.queueRoom.admit(bytes)) {
      throw new QueueFullError(
        `profile '${this.settings.name}': the queue is full (${this.queue.size} tasks, ${this.queuedBytes} bytes; ` +
          `limits ${maxQueued} tasks, ${maxQueuedBytes} bytes). Wait with queueRoom() and submit again.`,
      );
    }
    this.trackOutstanding(+1);
    this.queue.push(task);
    this.queuedBytes += bytes;
    if (this.queuedBytes > this.peakQueuedBytes) this.peakQueuedBytes = this.queuedBytes;
    if (channels.taskSettled.hasSubscribers) task.timing = { queuedAt: performance.now(), assignedAt: NaN, bytesReceived: 0 };
    if (active(channels.taskQueued)) {
      publish(channels.taskQueued, { profile: this.settings.name, taskId: task.id, bytes: bytes - TASK_OVERHEAD_BYTES, queueDepth: this.queue.size });
    }
    this.drain();
    this.hooks.onDemand?.();
  }

  /** Connected daemons that take tasks (not leaving). */
  *readyDaemons(): Iterable<DaemonConnection> {
    for (const link of this.links) if (link.state === 'ready') yield link;
  }

  /**
   * Tells a free daemon to exit (scale-down). It is marked leaving first, so no task is
   * assigned to it meanwhile; its disconnection is then a normal end, not a loss. False if it
   * is not free (it got a task, set-up, or left).
   */
  retire(conn: DaemonConnection): boolean {
    if (!conn.free || conn.setup.length > 0) return false;
    this.markLeaving(conn);
    conn.sendExit();
    return true;
  }

  /**
   * Sets the number of daemons the profile wants (`scale(n)`; Infinity for none, the default).
   * While more daemons are connected, one that answers a task leaves (as {@link retire} does)
   * instead of taking the next: a backlog does not keep a scaled-down profile at its old size.
   * It finishes the tasks it holds (with `prefetch`) first. Idle daemons above the target are
   * the autoscaler's to retire.
   */
  setTarget(target: number): void {
    this.target = target;
  }

  /**
   * Settles the task first in the queue with `error`: a daemon launched for the queue failed to
   * start, so the task that would have run on it next fails, not one already running. False
   * when no task waits (each found a daemon: the failure costs none).
   */
  failFirstQueued(error: MiraiError): boolean {
    const task = this.queue.shift();
    if (task === undefined) return false;
    this.dequeued(task);
    this.completed++;
    this.fail(task, error);
    return true;
  }

  /** Resolves once there is room for one more task, reserved for the caller's next submission. */
  room(): Promise<void> {
    return this.queueRoom.wait();
  }

  /**
   * Settles a task with `error` at once and stops it: a queued task is dropped, a running
   * one is told to stop. Returns false if it had already settled.
   */
  cancel(task: HostTask, error: MiraiError): boolean {
    if (task.settled) return false;
    const conn = task.daemon;
    if (active(channels.taskCancelled)) publish(channels.taskCancelled, { profile: this.settings.name, taskId: task.id, running: conn !== undefined, error });
    if (conn === undefined) {
      if (this.queue.remove(task)) this.dequeued(task);
      this.completed++;
    } else {
      conn.sendCancel(task.id);
      // A task stuck in synchronous code cannot hear the Cancel: if its daemon has not
      // answered within the grace, it is ended (and replaced, see the pool). A prefetched
      // task waiting behind another (daemons run their tasks in order) is not stuck: the
      // daemon answers its Cancel once free, so the grace starts when it is first in line.
      const check = (): void => {
        if (!conn.inflight.has(task.id) || conn.state === 'gone') return;
        if (conn.inflight.first() !== task) {
          setTimeout(check, this.settings.cancelGrace).unref();
          return;
        }
        this.settings.log('info', `profile '${this.settings.name}': daemon ${conn.id} did not stop cancelled task ${task.id} within ${this.settings.cancelGrace} ms; replacing it`);
        this.hooks.onDaemon({ type: 'ended', conn, how: conn.end() });
      };
      setTimeout(check, this.settings.cancelGrace).unref();
    }
    this.fail(task, error);
    return true;
  }

  /** Settles every queued task with `error`; returns how many. */
  failQueued(error: MiraiError): number {
    const tasks = this.queue.drainAll();
    for (const task of tasks) {
      this.dequeued(task);
      this.completed++;
      this.fail(task, error);
    }
    return tasks.length;
  }

  /**
   * Runs a task once on every daemon, before any later task there, and on every daemon that
   * connects later. Resolves with the outcomes for the daemons connected now, or, when fewer
   * than `min` are, once `min` daemons have been given a copy (or the profile closes: then
   * with the copies there are).
   */
  everywhere<T extends TaskOutcome>(taskFrame: Frame, makeOutcome: () => T, min = 0): Promise<T[]> {
    // Built after the reset (an async serializer finished late): no daemon will ever run it.
    if (this.closed) return Promise.reject(new ConnectionResetError(this.closedReason));
    return new Promise((resolve) => {
      const copies: T[] = [];
      let initial = true;
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        this.setupWaiters.delete(finish);
        resolve(copies);
      };
      const entry: SetupEntry = {
        frame: taskFrame,
        makeOutcome: () => {
          const outcome = makeOutcome();
          if (!done) {
            copies.push(outcome);
            if (!initial && copies.length >= min) finish();
          }
          return outcome;
        },
      };
      this.setupLog.push(entry);
      for (const link of this.links) if (link.state === 'ready') this.addSetup(link, entry, entry.makeOutcome());
      initial = false;
      this.drain();
      if (copies.length >= min || this.closed) finish();
      else {
        this.setupWaiters.set(finish, min);
        // Daemons an autoscaled profile must start for it (setupDemand).
        this.hooks.onDemand?.();
      }
    });
  }

  /** The most daemons an everywhere() call is waiting for (its `min`), or 0. */
  setupDemand(): number {
    let most = 0;
    for (const min of this.setupWaiters.values()) most = Math.max(most, min);
    return most;
  }

  /**
   * Settles every task with a connection reset, closes every connection and stops listening.
   * Daemons for which `sayExit` is true are told to exit first; the others just see the
   * connection drop (and exit or re-dial, as their `autoexit` says).
   */
  async close(reason: string, sayExit: (conn: DaemonConnection) => boolean = () => true): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closedReason = reason;
    clearInterval(this.keepAlive);
    // Its value is not kept past the profile's end.
    if (this.lastFulfilled !== undefined) this.lastFulfilled = undefined;
    const error = new ConnectionResetError(reason);
    // Before the queue drains (which would wake them: room).
    this.queueRoom.release(error);
    for (const task of this.queue.drainAll()) {
      this.dequeued(task);
      this.completed++;
      this.fail(task, error);
    }
    for (const link of this.links) {
      for (const task of link.inflight.values()) this.fail(task, error);
      for (const task of link.setup.splice(0)) this.fail(task, error);
      if (sayExit(link)) link.sendExit();
      link.channel.close();
    }
    for (const waiter of this.waiters) waiter.resolve();
    this.waiters.clear();
    for (const finish of [...this.setupWaiters.keys()]) finish();
    await this.listener.close();
  }

  // -------------------------------------------------------------------------
  // Connections

  private accept(channel: Channel): void {
    if (this.closed) {
      channel.close();
      return;
    }
    const conn = new DaemonConnection(channel);
    this.links.add(conn);
    admit(channel, this.hooks.secret, this.settings.handshakeTimeout, {
      admitted: (hello, admitted) => {
        if (hello.watch !== undefined) this.attachWatchdog(conn, hello, admitted);
        else this.connected(conn, hello, admitted);
      },
      refused: (why, counted) => {
        conn.state = 'gone';
        this.links.delete(conn);
        if (!counted) return;
        this.rejected++;
        this.refusals.refused(channel.peer, why);
      },
    });
  }

  private connected(conn: DaemonConnection, hello: HelloMessage, admitted: Admitted): void {
    conn.admit(this.nextDaemonId++, hello);
    this.ready++;
    admitted.accept(conn.id, this.hooks.serializerRefs, { stream: this.hooks.daemonStream?.(), instrumentation: this.settings.instrumentation, maxResultBytes: this.settings.maxResultBytes });
    conn.channel.setLimits(this.sessionLimits);
    conn.channel.onFrame = (f) => this.receive(conn, f);
    conn.channel.onClose = (reason) => this.disconnected(conn, reason);
    this.cumulative++;
    conn.channel.unref(); // the keep-alive timer holds the process while tasks are out
    this.hooks.onDaemon({ type: 'connect', conn });
    this.daemonEvent(channels.daemonConnected, conn);
    for (const entry of this.setupLog) this.addSetup(conn, entry, entry.makeOutcome());
    this.scheduler.release(conn);
    this.drain();
    this.notifyWaiters();
    this.idled(conn);
  }

  /**
   * A daemon's watchdog proved the secret: it is not a daemon (it takes no tasks) but the way
   * to replace that daemon if a cancelled task leaves it stuck.
   */
  private attachWatchdog(control: DaemonConnection, hello: HelloMessage, admitted: Admitted): void {
    this.links.delete(control);
    control.state = 'gone';
    const channel = control.channel;
    let target: DaemonConnection | undefined;
    for (const l of this.links) if (l.id === hello.watch && (l.state === 'ready' || l.state === 'leaving')) target = l;
    if (target === undefined) {
      this.rejected++;
      this.refusals.refused(channel.peer, `a watchdog for daemon ${String(hello.watch)}, which is not connected`);
      channel.close();
      return;
    }
    admitted.accept(target.id, []);
    channel.unref(); // never keeps the host alive
    target.watchdog?.close();
    target.watchdog = channel;
    const watched = target;
    channel.onFrame = () => channel.close(new Error('a watchdog sends nothing'));
    channel.onClose = () => {
      if (watched.watchdog === channel) watched.watchdog = undefined;
    };
  }

  private receive(conn: DaemonConnection, f: Frame): void {
    switch (f.type) {
      case FrameType.Result:
        this.result(conn, f);
        return;
      case FrameType.OversizedResult:
        // Made by the channel's decoder in place of a result over maxResultBytes; a peer that
        // sends the type itself (a decoder refuses it, a channel of whole frames may not) is cut off.
        if (typeof (f as Partial<OversizedResult>).bytes === 'number') this.oversized(conn, f as OversizedResult);
        else this.unexpected(conn, f);
        return;
      case FrameType.Bye:
        // The daemon sends Bye once every task it started has been answered: it never starts
        // any task still in flight to it.
        conn.failedLeaving = byeReason(f) === 'uncaught';
        this.departing(conn, conn.inflight.takeAll());
        return;
      default:
        this.unexpected(conn, f);
    }
  }

  private unexpected(conn: DaemonConnection, f: Frame): void {
    this.settings.log('warn', `profile '${this.settings.name}': daemon ${conn.id} sent an unexpected ${frameTypeName(f.type)} frame; disconnecting it`);
    conn.channel.close();
  }

  private result(conn: DaemonConnection, f: Frame): void {
    const task = this.answered(conn, f);
    if (task === undefined || task.settled) return;
    this.completed++;
    const outcome = readResult(f, this.settings.serializers);
    if (outcome instanceof Promise) void outcome.then((o) => this.settle(task, o));
    else this.settle(task, outcome);
  }

  /** A result over `maxResultBytes`: the channel read past it, and its task fails. */
  private oversized(conn: DaemonConnection, f: OversizedResult): void {
    const task = this.answered(conn, f);
    if (task === undefined || task.settled) return;
    this.completed++;
    const limit = this.settings.maxResultBytes;
    this.fail(task, new ResultTooLargeError(`the result of task ${task.id} is ${f.bytes} bytes, over the profile's maxResultBytes (${limit}); it was not read`, f.bytes, limit));
  }

  /**
   * The daemon answered task `f.id`: it leaves the daemon's tasks in flight, and the daemon gets
   * its next task (or its Exit) before the answer is decoded. Undefined for a task the daemon was
   * not running, which disconnects it.
   */
  private answered(conn: DaemonConnection, f: Frame): HostTask | undefined {
    // A Final answer: the daemon starts nothing after it, so the tasks sent to it after this one
    // never ran (it drops them). Taken first, while the answered task still marks where they start.
    const unrun = (f.flags & FrameFlag.Final) !== 0 ? conn.inflight.takeSentAfter(f.id) : undefined;
    const task = conn.inflight.take(f.id);
    if (task === undefined) {
      this.settings.log('warn', `profile '${this.settings.name}': daemon ${conn.id} answered unknown task ${f.id}; disconnecting it`);
      conn.channel.close();
      return undefined;
    }
    conn.completed++;
    this.executing--;
    if (task.timing !== undefined) task.timing.bytesReceived = f.type === FrameType.OversizedResult ? (f as OversizedResult).bytes : segmentBytes(f.segments);
    // Give the daemon its next task first, then decode this result: the daemon works while
    // the host settles.
    if (unrun !== undefined) {
      this.departing(conn, unrun);
    } else if (conn.state === 'leaving') {
      if (conn.inflight.size === 0) conn.sendExit();
    } else if (this.ready > this.target) {
      // Scaled down under a backlog: this daemon leaves rather than take the next task.
      this.markLeaving(conn);
      if (conn.inflight.size === 0) conn.sendExit();
    } else if (conn.inflight.size <= this.refillAt) {
      this.scheduler.release(conn);
      this.drain();
      // What it was given leaves now, not after the rest of this read (a run of results).
      conn.channel.flush?.();
      this.idled(conn);
    }
    return task;
  }

  /**
   * A daemon said it is leaving (a Final result, or Bye): it is given nothing more, and `unrun`,
   * the tasks sent to it that it will never start (it drops them, unanswered), go back at the
   * head of the queue in the order they were sent, for other daemons. They never ran, so this
   * is no retry: their `retry` and crash budgets stay as they were. An `everywhere()` copy among
   * them fails with a connection reset, as when its daemon disconnects first (each daemon that
   * joins later gets its own). Exit follows once every task it started has been answered.
   */
  private departing(conn: DaemonConnection, unrun: readonly HostTask[]): void {
    this.markLeaving(conn);
    this.daemonEvent(channels.daemonLeaving, conn);
    let requeued = 0;
    for (let i = unrun.length - 1; i >= 0; i--) {
      const task = unrun[i]!;
      this.executing--;
      task.runs--; // sent, never started: a crash under it later is its first run's
      if (task.settled) continue; // cancelled meanwhile: settled then
      if (task.type === FrameType.Everywhere) {
        this.completed++;
        this.fail(task, new ConnectionResetError(`daemon ${conn.id} left before it ran everywhere() task ${task.id}`));
        continue;
      }
      task.daemon = undefined;
      this.queue.unshift(task);
      this.queuedBytes += task.bytes;
      requeued++;
    }
    if (this.queuedBytes > this.peakQueuedBytes) this.peakQueuedBytes = this.queuedBytes;
    if (conn.inflight.size === 0) conn.sendExit();
    if (requeued === 0) return;
    this.settings.log('info', `profile '${this.settings.name}': daemon ${conn.id} is leaving; ${requeued} task(s) it had not started go back to the queue`);
    this.drain();
    this.hooks.onDemand?.();
  }

  /** A ready daemon stops taking tasks (it, or the host, ended it); it is told Exit apart. */
  private markLeaving(conn: DaemonConnection): void {
    if (conn.state !== 'ready') return;
    conn.state = 'leaving';
    this.ready--;
  }

  /** Fails a task submitted to a closed profile, as the reset failed the tasks queued then. */
  private refuseClosed(task: HostTask): void {
    task.settled = true;
    this.completed++;
    const error = new ConnectionResetError(this.closedReason);
    task.outcome._reject(error);
    settledUnqueued(this.settings.name, task.id, error);
  }

  private disconnected(conn: DaemonConnection, reason: Error | undefined): void {
    const was = conn.state;
    conn.state = 'gone';
    if (was === 'ready') this.ready--;
    this.links.delete(conn);
    // Now, not when a drain reaches it: with daemons coming and going, those would pile up.
    this.scheduler.remove(conn);
    conn.watchdog?.close();
    if (reason && !this.closed && !conn.retired) {
      this.settings.log('warn', `profile '${this.settings.name}': daemon ${conn.id} disconnected: ${reason.message}`);
    }
    const again: HostTask[] = [];
    const running = [...conn.inflight.values()];
    // A daemon the host ended itself (one stuck in a cancelled task) ran its tasks one at a
    // time: those sent after the first (prefetch) never started. They go back to the queue as
    // a leaving daemon's do (departing()): no retry is spent, and nothing fails for a task
    // that never ran.
    const unstarted = conn.retired && !this.closed ? running.splice(1) : [];
    for (const task of running) conn.lostRunning = Math.max(conn.lostRunning, task.runs);
    for (const task of running) {
      this.executing--;
      if (task.settled) continue;
      if (task.crashes !== undefined && this.crashed(task, task.crashes, conn)) continue;
      if (task.retriesLeft > 0) {
        // The caller asked for it (`retry`): run it again, before anything queued after it.
        task.retriesLeft--;
        task.daemon = undefined;
        task.outcome._retried?.();
        if (active(channels.taskRetried)) {
          publish(channels.taskRetried, { profile: this.settings.name, taskId: task.id, daemonId: conn.id, retriesLeft: task.retriesLeft });
        }
        again.push(task);
        this.queuedBytes += task.bytes;
        this.settings.log('info', `profile '${this.settings.name}': task ${task.id} lost with daemon ${conn.id}; running it again (${task.retriesLeft} retries left)`);
        continue;
      }
      this.completed++;
      const pid = conn.pid === undefined ? '' : ` (pid ${conn.pid})`;
      this.fail(task, new ConnectionResetError(`daemon ${conn.id}${pid} disconnected while running task ${task.id}`));
    }
    for (const task of unstarted) {
      this.executing--;
      task.runs--; // sent, never started: a crash under it later is its first run's
      if (task.settled) continue;
      if (task.type === FrameType.Everywhere) {
        this.completed++;
        this.fail(task, new ConnectionResetError(`daemon ${conn.id} was ended before it ran everywhere() task ${task.id}`));
        continue;
      }
      task.daemon = undefined;
      again.push(task);
      this.queuedBytes += task.bytes;
    }
    if (unstarted.length > 0) {
      this.settings.log('info', `profile '${this.settings.name}': daemon ${conn.id} was ended; ${unstarted.length} task(s) it had not started go back to the queue`);
    }
    conn.inflight.clear();
    // Prefetched tasks go back at the head of the queue in the order they were sent.
    for (let i = again.length - 1; i >= 0; i--) this.queue.unshift(again[i]!);
    for (const task of conn.setup.splice(0)) {
      this.completed++;
      this.fail(task, new ConnectionResetError(`daemon ${conn.id} disconnected before it ran everywhere() task ${task.id}`));
    }
    // Lost: gone without saying so (Bye, a final result) and not ended by the host.
    // A daemon that left after an error of its own (Bye 'uncaught') is replaced as a lost one.
    const lost = (was === 'ready' || (was === 'leaving' && conn.failedLeaving)) && !conn.retired && !this.closed;
    // Retired daemons too (the pool forgets the launch of one that left): never 'lost'.
    this.hooks.onDaemon({ type: lost ? 'lost' : 'disconnect', conn });
    if (was !== 'handshake') this.daemonEvent(lost ? channels.daemonLost : channels.daemonDisconnected, conn);
    this.drain();
    if (again.length > 0) this.hooks.onDemand?.();
  }

  /**
   * Counts a crash against a task's budget (`crashesMax`). Once spent, the task goes to its
   * `escalate` profile or fails with the crash history; true when it was settled or handed over
   * here, false when it may run again (retry rules apply).
   */
  private crashed(task: HostTask, budget: NonNullable<HostTask['crashes']>, conn: DaemonConnection): boolean {
    budget.history.push({ profile: this.settings.name, daemon: conn.id, pid: conn.pid, at: Date.now() });
    budget.left--;
    if (budget.left > 0 && task.retriesLeft > 0) return false;
    this.completed++;
    if (budget.escalate?.(budget.history)) {
      // Handed over: the other profile settles the outcome; this one is done with the task.
      this.settings.log('info', `profile '${this.settings.name}': task ${task.id} crashed ${budget.history.length} daemon(s); escalated`);
      task.settled = true;
      this.trackOutstanding(-1);
      return true;
    }
    this.fail(task, new CrashLimitError(task.id, budget.history));
    return true;
  }

  // -------------------------------------------------------------------------
  // Queue and settling

  private addSetup(conn: DaemonConnection, entry: SetupEntry, outcome: TaskOutcome): void {
    const task = new HostTask({ ...entry.frame, id: outcome.id }, outcome, 0, this);
    this.trackOutstanding(+1);
    conn.setup.push(task);
    this.scheduler.setupAdded(conn, this.state);
  }

  /** Takes a task off the queue, keeping the byte count and waking producers waiting for room. */
  private dequeued(task: HostTask): HostTask {
    this.queuedBytes -= task.bytes;
    this.queueRoom.shrank();
    return task;
  }

  /** Assigns queued tasks to free daemons while both exist. */
  private drain(): void {
    if (!this.closed) this.scheduler.drain(this.state);
  }

  private settle(task: HostTask, outcome: ResultOutcome): void {
    if (outcome.ok) this.fulfil(task, outcome.value);
    else this.fail(task, outcome.error);
  }

  private fulfil(task: HostTask, value: unknown): void {
    if (task.settled) return;
    task.settled = true;
    if (task.bytes <= EXEMPLAR_MAX_BYTES && isSmallPrimitive(value)) this.lastFulfilled = task;
    task.outcome._fulfil(value);
    this.trackOutstanding(-1);
    if (active(channels.taskSettled)) this.settledEvent(task, undefined);
  }

  private fail(task: HostTask, error: MiraiError): void {
    if (task.settled) return;
    task.settled = true;
    task.outcome._reject(error);
    this.trackOutstanding(-1);
    if (active(channels.taskSettled)) this.settledEvent(task, error);
  }

  private settledEvent(task: HostTask, error: MiraiError | undefined): void {
    const now = performance.now();
    const { queuedAt, assignedAt, bytesReceived } = task.timing ?? NO_TIMING;
    publish(channels.taskSettled, {
      profile: this.settings.name,
      taskId: task.id,
      daemonId: task.daemon?.id,
      outcome: error === undefined ? 'ok' : error.kind,
      error,
      queuedMs: assignedAt - queuedAt,
      runMs: now - assignedAt,
      totalMs: now - queuedAt,
      bytesSent: task.bytes - TASK_OVERHEAD_BYTES,
      bytesReceived,
    });
  }

  private daemonEvent(ch: (typeof channels)[keyof typeof channels], conn: DaemonConnection): void {
    if (!active(ch)) return;
    publish(ch, {
      profile: this.settings.name,
      url: this.listener.url,
      daemonId: conn.id,
      pid: conn.pid,
      hostname: conn.hostname,
      peer: conn.channel.peer,
      connectedAt: conn.connectedAt,
      completed: conn.completed,
    });
  }

  /** A daemon is free and nothing is queued for it: note since when, and say so. */
  private idled(conn: DaemonConnection): void {
    if (!conn.free || this.hooks.onIdle === undefined) return;
    conn.idleSince = Date.now();
    this.hooks.onIdle(conn);
  }

  private trackOutstanding(delta: number): void {
    const before = this.outstanding;
    this.outstanding += delta;
    if (before === 0 && this.outstanding > 0) this.setRef(true);
    else if (before > 0 && this.outstanding === 0) this.setRef(false);
  }

  /** The process is kept alive only while tasks are outstanding. */
  private setRef(busy: boolean): void {
    if (busy) this.keepAlive.ref();
    else this.keepAlive.unref();
    this.hooks.onBusyChange(busy);
  }

  private notifyWaiters(): void {
    const n = this.cumulative;
    for (const waiter of this.waiters) {
      if (n >= waiter.n) {
        this.waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }
}

/** Tasks up to this size (frame and overhead) may be kept as the dispatcher's exemplar. */
const EXEMPLAR_MAX_BYTES = 4096;

/** A value that costs nothing to keep: a number, a boolean, null, undefined or a short string. */
function isSmallPrimitive(value: unknown): boolean {
  const type = typeof value;
  if (type === 'string') return (value as string).length <= 64;
  return type === 'number' || type === 'boolean' || type === 'undefined' || value === null;
}

/** A Bye's reason; undefined when unreadable (a Bye is honoured whatever it says). */
function byeReason(f: Frame): ByeMessage['reason'] | undefined {
  try {
    return readJsonSegment<ByeMessage>(f.segments[0]).reason;
  } catch {
    return undefined;
  }
}
