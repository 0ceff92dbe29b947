/**
 * The daemon: dials the host, proves the secret, then runs tasks one at a time until told
 * to exit or until a limit (idletime, walltime, maxtasks) ends it cleanly.
 */
import { Worker } from 'node:worker_threads';
import { daemonHandshake } from './handshake.js';
import { ResultTooLargeError } from '../errors.js';
import type { DaemonOptions } from '../wire/daemon-args.js';
import { toErrorRecord } from '../wire/error-record.js';
import { DaemonExit } from '../wire/exit-codes.js';
import { frame, FrameFlag, FrameType, HANDSHAKE_LIMITS, jsonSegment, readJsonSegment, segmentBytes, type Frame } from '../wire/frame.js';
import type { ByeMessage } from '../wire/messages.js';
import { encodePayload } from '../wire/payload.js';
import { loadInstrumentation, loadSerializers, taskRunner, type Instrumentation, type TaskRunner } from './plugins.js';
import { batchResultSegments, batchWholeSegments, decodeTaskParams, readTaskStream, readTraceContext, taskFunctionSegment } from '../wire/task-frame.js';
import { firstStream, RandomStream, StreamSequence, type StreamState } from '../wire/random-stream.js';
import { active, channels, publish } from '../events.js';
import { TaskGlobals } from './globals.js';
import { keepShapeOf } from '../util/keep-shape.js';
import { tagTaskOutput } from './task-output.js';
import type { Serializer } from '../serializer.js';
import { compileSegment, loadModuleFunction } from './compiler.js';
import type { ModuleFunction, TaskContext } from '../task.js';
import type { Channel, Transport } from '../transport.js';
import type { WatchdogData } from './watchdog.js';
import { DEFAULT_DAEMON_SPIN_US, NextTaskPoll } from './next-task-poll.js';

/** Everything a daemon process needs to run. */
export interface DaemonConfig extends Omit<DaemonOptions, 'watchdog'> {
  readonly url: string;
  readonly secret: string;
  readonly transport: Transport;
  /** Extra options for the transport's dial (TLS CA, NATS credentials, ...). */
  readonly dialOptions?: Record<string, unknown>;
  /** Matches this process with the launch that started it. */
  readonly launchId?: string;
  /** Where diagnostics go. */
  readonly log?: (line: string) => void;
  /** Run a watchdog thread (see watchdog.ts) with these settings. */
  readonly watchdog?: Omit<WatchdogData, 'url' | 'secret' | 'daemonId' | 'autoexit' | 'taskState'>;
  /**
   * Handle the errors no task awaits, which a task can leave behind (a timer that throws or
   * rejects after the task returned), for this process or thread while the daemon runs: an
   * unhandled rejection is logged and the daemon goes on; an uncaught exception is logged, fails
   * the running task with an `UncaughtExceptionError` naming it, and the daemon leaves (exit code
   * {@link UNCAUGHT_EXCEPTION_EXIT}). Default true: a process or thread that runs a daemon runs
   * nothing else. Set false to keep the process's own handling.
   */
  readonly handleStrayErrors?: boolean;
}

/**
 * The exit code of a daemon that left after an uncaught exception (EX_SOFTWARE, as an internal
 * error of `mirai-daemon`): the process may be in an unknown state, so a fresh one should serve.
 */
export const UNCAUGHT_EXCEPTION_EXIT = 70;

/**
 * What the task that ran when an exception went uncaught in the daemon fails with (on the host,
 * a TaskError of this name, the exception as its cause). The exception may not be the task's
 * own: a timer an earlier task left can throw while this one runs.
 */
export class UncaughtExceptionError extends Error {}
Object.defineProperty(UncaughtExceptionError.prototype, 'name', { value: 'UncaughtExceptionError', configurable: true, writable: true });

/** Marks the process as a daemon, for `onDaemon()` in any copy of the package. */
export const DAEMON_MARK = Symbol.for('mirai-ts.daemon');

type AnyFunction = (...args: unknown[]) => unknown;

/** The running task, and its context. The AbortSignal is made only if the task asks for it. */
class RunningTask implements TaskContext {
  private controller: AbortController | undefined;
  private reason: unknown;
  private aborted = false;
  constructor(
    readonly taskId: number,
    readonly daemonId: number,
    /** The task's own stream (a seeded profile), or the daemon's. */
    private stream: RandomStream,
  ) {}

  /** Switches to the stream of the next item of a chunk (a seeded profile). */
  useStream(stream: RandomStream): void {
    this.stream = stream;
  }

  random(): number {
    return this.stream.random();
  }

  randomInt(min: number, max: number): number {
    return this.stream.randomInt(min, max);
  }

  randomNormal(mean?: number, sd?: number): number {
    return this.stream.randomNormal(mean, sd);
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  /** True once the host cancelled the task. */
  get cancelled(): boolean {
    return this.aborted;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
  }
}

// Kept so a full GC between two tasks, with no task running, leaves RunningTask's shapes to
// the next (keep-shape.ts): it is made for every task and dropped at its end.
keepShapeOf(new RunningTask(0, 0, new RandomStream([0, 0, 0, 1])));

const GRACE_MS = 200;
/** After an uncaught exception: how long the daemon waits for the host's Exit before it exits anyway. */
const EXIT_WAIT_MS = 2_000;

/** Put back after each task whose seeded stream stood in for it. */
const nativeRandom = Math.random;

class DaemonRun {
  private channel!: Channel;
  private daemonId = 0;
  private serializers: Serializer[] = [];
  /** The profile's `maxResultBytes` (Init); Infinity without one. */
  private maxResultBytes = Infinity;
  /** The daemon's stream, for tasks without one of their own (the host sends it in Init; set by the handshake). */
  private stream!: RandomStream;
  private instrumentation: Instrumentation[] | undefined;
  /** True while a seeded task's stream stands in for Math.random. */
  private randomReplaced = false;
  /** This process's mark (see DAEMON_MARK), set by the handshake. */
  private mark: { daemonId: number; inMap?: boolean } = daemonMark();
  /** Calls tasks through instrumentation `run` hooks; undefined without any. */
  private runTask: TaskRunner | undefined;
  /** Sets the task id `output: 'host'` tags printed lines with. */
  private readonly setOutputTask: ((id: number | undefined) => void) | undefined;
  /** Task and Everywhere frames not started yet, in order. */
  private readonly queue: Frame[] = [];
  /** Frames that arrived between Init and the end of the handshake. */
  private readonly early: Frame[] = [];
  private running: RunningTask | undefined;
  /**
   * The connection's session: bumped when the connection is lost (and when the daemon leaves
   * after an uncaught exception). What a task of an earlier session produces is never sent: a
   * task left running when its host went may end while the daemon serves the next host, whose
   * task ids start at 1 again.
   */
  private session = 0;
  /** The session of the task between runNext() and its finish() (at most one at a time). */
  private runningSession = 0;
  /** True from the end of a handshake until that connection is lost. */
  private connected = false;
  /** Set once an uncaught exception ended this daemon (it is leaving). */
  private failed = false;
  private tasksDone = 0;
  /** After a result, keeps the event loop turning for the next task (see next-task-poll.ts). */
  private readonly nextTaskPoll: NextTaskPoll;
  private readonly startedAt = Date.now();
  private idleTimer: NodeJS.Timeout | undefined;
  private wallTimer: NodeJS.Timeout | undefined;
  /**
   * Set once the daemon is leaving (its Final result, or Bye, is sent or on its way): the exit
   * code to use. From then on it starts no task: the host takes back what it sent and did not
   * get an answer for, and gives it to other daemons (protocol.md, "Leaving (Final and Bye)").
   */
  private leaving: number | undefined;
  /** Results still being encoded (an async serializer): a Bye waits until they have left. */
  private unsent = 0;
  /** A Bye waiting for those results: the host takes Bye to mean every task started was answered. */
  private heldBye: ByeMessage | undefined;
  /** The globals kept between tasks (`cleanup`), and the removal of those a task left. */
  private readonly globals = new TaskGlobals();
  /** A task ended since the globals were last cleaned (see globalsToClean). */
  private globalsDirty = false;
  /** A microtask that cleans the globals is pending (see globalsToClean). */
  private cleanScheduled = false;
  private watchdog: Worker | undefined;
  /** Shared with the watchdog: [busy (0/1)]. */
  private taskState: Int32Array | undefined;
  private readonly log: (line: string) => void;

  constructor(
    private readonly config: DaemonConfig,
    private readonly exit: (code: number) => void,
  ) {
    this.log = config.log ?? ((line) => process.stderr.write(`[mirai-daemon ${process.pid}] ${line}\n`));
    this.setOutputTask = config.output === 'host' ? tagTaskOutput() : undefined;
    this.nextTaskPoll = new NextTaskPoll(config.spin ?? DEFAULT_DAEMON_SPIN_US);
  }

  /** Lets instrumentation flush (exporters) before the process exits; at most `ms`. */
  async shutdown(ms: number): Promise<void> {
    const all = (this.instrumentation ?? []).map((i) => i.shutdown?.().catch(() => {}));
    if (all.length === 0) return;
    await Promise.race([Promise.all(all), new Promise((resolve) => setTimeout(resolve, ms).unref())]);
  }

  /**
   * Connects and proves the secret; resolves true once the daemon serves the connection, false
   * when it was lost before (handled as any loss: exit, or dial again, as `autoexit` says).
   */
  async start(): Promise<boolean> {
    let channel: Channel;
    try {
      channel = await this.config.transport.dial(this.config.url, { ...this.config.dialOptions, limits: HANDSHAKE_LIMITS });
    } catch (err) {
      throw Object.assign(new Error(`cannot connect to ${this.config.url}: ${(err as Error).message}`), {
        exitCode: DaemonExit.ConnectFailed,
      });
    }
    this.channel = channel;
    const lost: ConnectionLoss = { closed: false, reason: undefined };
    await this.handshake(channel, lost);
    if (this.failed) {
      // An uncaught exception ended the daemon meanwhile: it is leaving.
      channel.onClose = () => {};
      channel.close();
      return false;
    }
    if (lost.closed || channel.closed) {
      // The host went while the plugins loaded: the frames it sent go with it.
      this.early.length = 0;
      this.onDisconnect(lost.reason);
      return false;
    }
    if (this.config.cleanup !== false) this.globals.take();
    // Frames of an earlier connection never reach this session (a closed channel delivers none;
    // this makes sure of it).
    channel.onFrame = (f) => {
      if (this.channel === channel) this.onFrame(f);
    };
    channel.onClose = (reason) => this.onDisconnect(reason);
    this.connected = true;
    this.startWatchdog();
    this.armIdle();
    if (this.wallTimer === undefined) this.armWall();
    const early = this.early.splice(0);
    for (const f of early) this.onFrame(f);
    return true;
  }

  /** (Re)starts the watchdog thread for the current daemon id. */
  private startWatchdog(): void {
    const settings = this.config.watchdog;
    if (settings === undefined) return;
    void this.watchdog?.terminate();
    this.taskState ??= new Int32Array(new SharedArrayBuffer(4));
    const data: WatchdogData = {
      ...settings,
      url: this.config.url,
      secret: this.config.secret,
      daemonId: this.daemonId,
      autoexit: this.config.autoexit ?? true,
      taskState: this.taskState,
    };
    this.watchdog = new Worker(new URL('./watchdog.js', import.meta.url), { workerData: data, stdout: false, stderr: false });
    this.watchdog.unref();
    this.watchdog.on('error', (err) => this.log(`watchdog failed: ${err.message}`));
  }

  private async handshake(channel: Channel, lost: ConnectionLoss): Promise<void> {
    // Frames kept by an attempt that failed after its Init are not this connection's.
    this.early.length = 0;
    const { init, held } = await daemonHandshake(channel, this.config.secret, this.config.launchId ? { launchId: this.config.launchId } : {});
    // The host may go while the plugins load: noted now, handled by start() once they are loaded.
    channel.onClose = (reason) => {
      lost.closed = true;
      lost.reason = reason;
    };
    this.daemonId = init.daemonId;
    // A host that sends none (a dispatcher without a pool's streams) leaves the daemon its own.
    this.stream = new RandomStream(Array.isArray(init.stream) && init.stream.length === 4 ? init.stream : firstStream());
    this.maxResultBytes = typeof init.maxResultBytes === 'number' && init.maxResultBytes >= 1 ? init.maxResultBytes : Infinity;
    // Frames that arrive until start() is done are kept, in order, and replayed by it.
    channel.onFrame = (f) => this.early.push(f);
    this.early.push(...held);
    // Marked before plugins load: a module guarded by `if (!onDaemon())` must see it.
    this.mark = { daemonId: this.daemonId, inMap: false };
    (globalThis as Record<symbol, unknown>)[DAEMON_MARK] = this.mark;
    this.serializers = await loadSerializers(init.serializers);
    // Once per process: a reconnecting daemon keeps what it loaded.
    this.instrumentation ??= await loadInstrumentation(init.instrumentation ?? [], this.log);
    this.runTask = taskRunner(this.instrumentation);
  }

  private onFrame(f: Frame): void {
    switch (f.type) {
      case FrameType.Task:
      case FrameType.Everywhere:
        // Sent before the host heard of our Final or Bye: it takes the task back, unanswered.
        if (this.leaving !== undefined) return;
        this.clearIdle();
        this.nextTaskPoll.taskArrived();
        this.queue.push(f);
        if (this.running === undefined) this.runNext();
        return;
      case FrameType.Cancel:
        this.cancel(f.id);
        return;
      case FrameType.Exit:
        this.exit(this.leaving ?? DaemonExit.ConnectionEnded);
        return;
      default:
        this.log(`ignoring unexpected frame type ${f.type} from the host`);
    }
  }

  private cancel(id: number): void {
    // (A task left running by an earlier connection may have the same id: not this one.)
    if (this.running?.taskId === id && this.runningSession === this.session) {
      this.running.abort(new Error('cancelled by the host'));
      return;
    }
    const index = this.queue.findIndex((t) => t.id === id);
    if (index < 0) return;
    // A task waiting here (prefetched, or sent in direct mode) is dropped, and answered so
    // the host knows it holds nothing more for this daemon (it ignores the answer itself).
    this.queue.splice(index, 1);
    this.sendResult(id, new Error('cancelled before it started'), FrameFlag.Error);
  }

  private runNext(): void {
    const task = this.queue.shift();
    if (task === undefined) {
      this.armIdle();
      return;
    }
    const everywhere = task.type === FrameType.Everywhere;
    if (this.globalsDirty) this.cleanGlobals();
    this.runningSession = this.session;
    let running: RunningTask;
    let own: StreamState | undefined;
    try {
      own = everywhere ? undefined : readTaskStream(task);
      running = new RunningTask(task.id, this.daemonId, own === undefined ? this.stream : new RandomStream(own));
      // With a seed, code that calls Math.random() becomes reproducible unchanged.
      if (own !== undefined) {
        Math.random = () => running.random();
        this.randomReplaced = true;
      }
      const inMap = (task.flags & FrameFlag.InMap) !== 0;
      // Written only when it changes: a store on every task costs the hot path.
      if (inMap !== this.mark.inMap) this.mark.inMap = inMap;
    } catch (err) {
      this.finish(task, err, true);
      return;
    }
    this.running = running;
    this.setOutputTask?.(task.id);
    if (active(channels.daemonTaskStart)) {
      const trace = readTraceContext(task);
      publish(channels.daemonTaskStart, {
        taskId: task.id,
        daemonId: this.daemonId,
        everywhere,
        traceparent: trace?.traceparent,
        tracestate: trace?.tracestate,
      });
    }
    if (this.taskState) Atomics.store(this.taskState, 0, 1); // busy
    let outcome: unknown;
    try {
      outcome = this.runTask === undefined ? this.invoke(task, running, own) : this.runTask(task.id, () => this.invoke(task, running, own));
    } catch (err) {
      this.finish(task, err, true);
      return;
    }
    if (outcome instanceof Promise || (typeof outcome === 'object' && outcome !== null && typeof (outcome as PromiseLike<unknown>).then === 'function')) {
      (outcome as PromiseLike<unknown>).then(
        (value) => this.finish(task, value, false),
        (err: unknown) => this.finish(task, err, true),
      );
    } else {
      this.finish(task, outcome, false);
    }
  }

  /** Decodes the task and calls it; returns its value or a promise of it. */
  private invoke(f: Frame, ctx: RunningTask, own: StreamState | undefined): unknown {
    const params = machineryStep(decodeTaskParams, f, this.serializers, undefined);
    const head = taskFunctionSegment(f);
    if ((f.flags & FrameFlag.ModuleRef) !== 0) {
      const ref = readJsonSegment<ModuleFunction>(head);
      return Promise.all([loadModuleFunction(ref), params]).then(([fn, p]) => callTask(f, fn, p, ctx, own));
    }
    if (head === undefined) throw new Error('task frame without a function');
    const fn = compileSegment(head);
    return params instanceof Promise ? params.then((p) => callTask(f, fn, p, ctx, own)) : callTask(f, fn, params, ctx, own);
  }

  private finish(task: Frame, value: unknown, isError: boolean): void {
    const everywhere = task.type === FrameType.Everywhere;
    this.running = undefined;
    // Put back only if replaced: assigning Math.random on every task makes V8 drop its
    // optimisations of Math.random wherever it is called.
    if (this.randomReplaced) {
      Math.random = nativeRandom;
      this.randomReplaced = false;
    }
    if (this.mark.inMap === true) this.mark.inMap = false;
    this.setOutputTask?.(undefined);
    if (active(channels.daemonTaskEnd)) publish(channels.daemonTaskEnd, { taskId: task.id, daemonId: this.daemonId, ok: !isError, error: isError ? value : undefined });
    if (this.taskState) Atomics.store(this.taskState, 0, 0);
    if (this.runningSession !== this.session) {
      this.finishStale();
      return;
    }
    if (!everywhere) this.tasksDone++;
    let flags = isError ? FrameFlag.Error : 0;
    if (this.leaving === undefined && !everywhere) {
      const max = this.config.maxtasks;
      if (max !== undefined && this.tasksDone >= max) this.leaving = DaemonExit.MaxTasks;
      else if (this.wallTimePassed()) this.leaving = DaemonExit.WallTime;
    }
    if (this.leaving !== undefined) flags |= FrameFlag.Final;
    this.sendResult(task.id, value, flags);
    if (this.config.cleanup !== false) {
      if (everywhere) this.globals.take();
      else this.globalsToClean();
    }
    this.next(true);
  }

  /**
   * A task of an earlier session ended (its host went while it ran): its result goes nowhere,
   * and it does not count toward `maxtasks`. The daemon goes on with the tasks of this session.
   */
  private finishStale(): void {
    if (this.config.cleanup !== false) this.globalsToClean();
    this.next(false);
  }

  /** After a task: the next one held, else wait for one (polling first after a result sent). */
  private next(afterResult: boolean): void {
    if (this.leaving !== undefined) {
      // The tasks held here never start: the host takes them back (Final, Bye). Wait for Exit.
      this.queue.length = 0;
      return;
    }
    if (this.queue.length > 0) this.runNext();
    else {
      this.armIdle();
      if (afterResult) this.nextTaskPoll.afterResult();
    }
  }

  private sendResult(id: number, value: unknown, flags: number): void {
    if ((flags & FrameFlag.Error) !== 0) {
      this.sendError(id, value, flags);
      return;
    }
    if (value instanceof ChunkOutcomes) {
      const sending = this.sendChunk(id, value, flags);
      if (sending !== undefined) {
        this.unsent++;
        const session = this.session;
        const sent = (): void => {
          if (session === this.session) this.resultSent();
        };
        void sending.then(sent, sent);
      }
      return;
    }
    // No closures on this path: it runs for every task.
    let encoded: Uint8Array[] | Promise<Uint8Array[]>;
    try {
      encoded = machineryStep(encodePayload, value, this.serializers, 'result');
    } catch (err) {
      this.sendError(id, err, flags);
      return;
    }
    if (encoded instanceof Promise) {
      this.unsent++;
      // Encoded asynchronously: sent only if the connection it was for is still there.
      const session = this.session;
      encoded.then(
        (segments) => {
          if (session !== this.session) return;
          this.sendSegments(id, segments, flags);
          this.resultSent();
        },
        (err: unknown) => {
          if (session !== this.session) return;
          this.sendError(id, err, flags);
          this.resultSent();
        },
      );
    } else {
      this.sendSegments(id, encoded, flags);
    }
  }

  private sendSegments(id: number, segments: Uint8Array[], flags: number): void {
    if (this.maxResultBytes !== Infinity) {
      const bytes = segmentBytes(segments);
      if (bytes > this.maxResultBytes) {
        // The host would read past it: send why instead (for a chunk, as the chunk's one error).
        const err = new ResultTooLargeError(`the result of task ${id} is ${bytes} bytes, over the profile's maxResultBytes (${this.maxResultBytes}); it was not sent`, bytes, this.maxResultBytes);
        machineryErrors.add(err);
        segments = encodeError(err);
        flags = (flags & ~FrameFlag.Batch) | FrameFlag.Error;
      }
    }
    this.channel.send(frame(FrameType.Result, id, segments, flags));
  }

  private sendError(id: number, err: unknown, flags: number): void {
    this.sendSegments(id, encodeError(err), flags | FrameFlag.Error);
  }

  /**
   * A chunk's Result: every value in one payload when they all encode, else one per item. A
   * promise when an async serializer encodes: resolved once the Result has been sent.
   */
  private sendChunk(id: number, value: ChunkOutcomes, flags: number): Promise<void> | undefined {
    // Encoded asynchronously, it is sent only if the connection it was for is still there.
    const session = this.session;
    const send = (segments: Uint8Array[]): void => {
      if (session === this.session) this.sendSegments(id, segments, flags | FrameFlag.Batch);
    };
    const perItem = (): Promise<void> | undefined => {
      const items = value.encode(this.serializers);
      if (items instanceof Promise) return items.then((done) => send(batchResultSegments(done)));
      send(batchResultSegments(items));
      return undefined;
    };
    const sendWhole = (whole: Uint8Array[] | undefined): Promise<void> | undefined => {
      if (whole === undefined) return perItem();
      send(batchWholeSegments(whole));
      return undefined;
    };
    const whole = value.encodeWhole(this.serializers);
    return whole instanceof Promise ? whole.then(sendWhole) : sendWhole(whole);
  }

  /** A result encoded asynchronously has been sent: a Bye held for it may go now. */
  private readonly resultSent = (): void => {
    this.unsent--;
    if (this.unsent > 0 || this.heldBye === undefined) return;
    const bye = this.heldBye;
    this.heldBye = undefined;
    this.channel.send(frame(FrameType.Bye, 0, [jsonSegment(bye)]));
  };

  private onDisconnect(reason: Error | undefined): void {
    const autoexit = this.config.autoexit ?? true;
    this.connected = false;
    // Nothing produced for this connection from now on is sent on another.
    this.session++;
    this.unsent = 0;
    if (this.leaving !== undefined) {
      this.exit(this.leaving);
      return;
    }
    if (reason) this.log(`connection to the host lost: ${reason.message}`);
    // The tasks held for the lost host never start: their results could go nowhere.
    this.queue.length = 0;
    if (autoexit === true) {
      setTimeout(() => this.exit(DaemonExit.ConnectionEnded), GRACE_MS).unref();
    } else if (autoexit === 'finish') {
      const wait = (): void => {
        if (this.running === undefined) this.exit(DaemonExit.ConnectionEnded);
        else setTimeout(wait, 20);
      };
      wait();
    } else {
      this.reconnect();
    }
  }

  /**
   * Dials again (`autoexit: false`). The tasks held for the lost host are dropped; the running
   * one is aborted, and whatever it returns is dropped too (it belongs to the lost session), but
   * the next host's tasks wait for it to end: one task at a time.
   */
  private reconnect(): void {
    this.running?.abort(new Error('connection to the host lost'));
    this.queue.length = 0;
    this.clearIdle();
    let delay = 100;
    const attempt = (): void => {
      if (this.failed) return;
      this.start().then(
        (served) => {
          if (served) this.log('reconnected');
        },
        () => {
          delay = Math.min(delay * 2, 5_000);
          setTimeout(attempt, delay);
        },
      );
    };
    setTimeout(attempt, delay);
  }

  private armIdle(): void {
    const idle = this.config.idletime;
    // Not while dialling again: a Bye would go to a host in the middle of its handshake.
    if (idle === undefined || !Number.isFinite(idle) || this.leaving !== undefined || !this.connected) return;
    this.clearIdle();
    this.idleTimer = setTimeout(() => this.leave(DaemonExit.IdleTime, 'idletime'), idle);
  }

  private clearIdle(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private armWall(): void {
    const wall = this.config.walltime;
    if (wall === undefined || !Number.isFinite(wall)) return;
    const fire = (): void => {
      if (this.leaving !== undefined) return;
      // Busy, or dialling again (`autoexit: false`): its Bye waits for a connection to say it on.
      if (this.running !== undefined || !this.connected) {
        // Soft limit: the running task finishes and its result is marked final.
        this.wallTimer = setTimeout(fire, 20);
        return;
      }
      this.leave(DaemonExit.WallTime, 'walltime');
    };
    this.wallTimer = setTimeout(fire, Math.max(0, this.startedAt + wall - Date.now()));
  }

  private wallTimePassed(): boolean {
    const wall = this.config.walltime;
    return wall !== undefined && Date.now() - this.startedAt >= wall;
  }

  /**
   * Tells the host we are leaving (nothing runs now). From here on no task starts: the host
   * takes back the tasks it sent that we did not answer, so Bye goes only once the result of
   * every task we ran has been sent (an async serializer may still be encoding one). The host
   * answers Exit.
   */
  private leave(code: number, reason: ByeMessage['reason']): void {
    if (this.leaving !== undefined || this.running !== undefined) return;
    this.leaving = code;
    const bye: ByeMessage = { reason };
    if (this.unsent > 0) this.heldBye = bye;
    else this.channel.send(frame(FrameType.Bye, 0, [jsonSegment(bye)]));
  }

  /**
   * The globals a task left are removed once its result has left (a microtask runs after the
   * read that brought the task, and the write of its result, are done), or before the next
   * task if that comes first: listing the globals takes microseconds, not on the round trip.
   */
  private globalsToClean(): void {
    if (this.globalsDirty) return;
    this.globalsDirty = true;
    // One pending microtask at most: prefetched tasks run back to back, each cleaning before
    // the next, and the microtask only cleans up after the last.
    if (this.cleanScheduled) return;
    this.cleanScheduled = true;
    // A then on a settled promise, not queueMicrotask: Node wraps each of those in an async resource.
    void SETTLED.then(this.cleanLater);
  }

  private readonly cleanLater = (): void => {
    this.cleanScheduled = false;
    if (this.globalsDirty) this.cleanGlobals();
  };

  private cleanGlobals(): void {
    this.globalsDirty = false;
    this.globals.clean();
  }

  // -------------------------------------------------------------------------
  // Errors no task awaits (config.handleStrayErrors)

  /** Installs the process's (or thread's) handlers for errors no task awaits; returns their removal. */
  guard(): () => void {
    if (this.config.handleStrayErrors === false) return () => {};
    process.on('unhandledRejection', this.onUnhandledRejection);
    process.on('uncaughtException', this.onUncaughtException);
    return () => {
      process.off('unhandledRejection', this.onUnhandledRejection);
      process.off('uncaughtException', this.onUncaughtException);
    };
  }

  /** The task running for this session, if any (not one left by an earlier connection). */
  private current(): RunningTask | undefined {
    return this.running !== undefined && this.runningSession === this.session ? this.running : undefined;
  }

  /**
   * A rejection nobody handles (a promise a task left behind, rejecting later): reported, and
   * the daemon goes on. The running task is not failed: it may not be its rejection.
   */
  private readonly onUnhandledRejection = (reason: unknown): void => {
    const running = this.current();
    const during = running === undefined ? '' : ` while task ${running.taskId} ran (it goes on: the promise may be an earlier task's)`;
    this.log(`unhandled promise rejection${during}; the daemon goes on: ${describeError(reason)}`);
  };

  /**
   * An exception nothing caught (thrown by a timer or callback a task left): the process may be
   * in an unknown state (Node advises against going on), so the daemon reports it, fails the
   * running task with an UncaughtExceptionError naming it (it may not be that task's, but its
   * outcome is unknown too), and leaves with Bye `uncaught`: the host takes back the tasks it
   * sent and this daemon did not start, replaces it as a lost daemon, and answers Exit; the
   * daemon exits with UNCAUGHT_EXCEPTION_EXIT.
   */
  private readonly onUncaughtException = (err: unknown): void => {
    const running = this.current();
    const during = running === undefined ? '' : ` while task ${running.taskId} ran`;
    this.log(`uncaught exception${during}: ${describeError(err)}`);
    if (this.failed) return;
    this.failed = true;
    this.log(`the daemon leaves (exit code ${UNCAUGHT_EXCEPTION_EXIT}): after an uncaught exception its process may be in an unknown state`);
    if (running !== undefined && this.connected) {
      const failure = new UncaughtExceptionError(
        `an uncaught exception ended daemon ${this.daemonId} while it ran task ${running.taskId} (${firstLine(err)}); it may come from code an earlier task left running`,
        { cause: err },
      );
      this.sendError(running.taskId, failure, 0);
    }
    running?.abort(err);
    this.leaving = UNCAUGHT_EXCEPTION_EXIT;
    this.queue.length = 0; // never started: the host takes them back at Bye
    this.clearIdle();
    if (this.connected) {
      // After the error Result: the host takes back every task it sent that this daemon did not
      // start, answers Exit, and replaces it as a lost daemon (protocol.md, "Leaving").
      const bye: ByeMessage = { reason: 'uncaught' };
      this.channel.send(frame(FrameType.Bye, 0, [jsonSegment(bye)]));
    }
    // Exit comes at once from a host that speaks Bye 'uncaught'; leave anyway if it does not.
    setTimeout(() => this.exit(UNCAUGHT_EXCEPTION_EXIT), EXIT_WAIT_MS);
  };
}

/** Whether the connection a handshake is for was lost before the daemon served it. */
interface ConnectionLoss {
  closed: boolean;
  reason: Error | undefined;
}

/** An error as a log line: its stack (name, message, frames), or the value. */
function describeError(err: unknown): string {
  return describe(err, true);
}

/** An error's `Name: message`, for another error's message. */
function firstLine(err: unknown): string {
  return describe(err, false);
}

/** `err` in words; its getters may throw (a task's own error class). */
function describe(err: unknown, withStack: boolean): string {
  try {
    if (err instanceof Error) return (withStack ? err.stack : undefined) ?? `${err.name}: ${err.message}`;
    return `a non-Error value: ${String(err)}`;
  } catch {
    return 'a value that cannot be printed';
  }
}

const SETTLED = Promise.resolve();

/** The daemon's mark on globalThis (see DAEMON_MARK): its id, and whether the running task is a map element. */
function daemonMark(): { daemonId: number; inMap?: boolean } {
  const g = globalThis as Record<symbol, { daemonId: number; inMap?: boolean } | undefined>;
  return (g[DAEMON_MARK] ??= { daemonId: 0 });
}

/** Errors of the daemon's own work (decoding arguments, encoding results), not the task's. */
const machineryErrors = new WeakSet<object>();

/** Marks what the daemon's own work threw as machinery (not the task's fault), and throws it on. */
function markMachineryError(err: unknown): never {
  if (typeof err === 'object' && err !== null) machineryErrors.add(err);
  throw err;
}

/**
 * Runs a step of the daemon's own work, `step(a, b, c)`, marking what it throws or rejects with
 * as machinery. Arguments, not a closure: it runs twice for every task.
 */
function machineryStep<A, B, C, T>(step: (a: A, b: B, c: C) => T, a: A, b: B, c: C): T {
  const mark = markMachineryError;
  let out: T;
  try {
    out = step(a, b, c);
  } catch (err) {
    return mark(err);
  }
  return (out instanceof Promise ? out.catch(mark) : out) as T;
}

/** An error as a Result payload: its record, or a bare one if the record cannot be encoded. */
function encodeError(err: unknown): Uint8Array[] {
  return errorResultPayload(err, typeof err === 'object' && err !== null && machineryErrors.has(err));
}

/**
 * The payload of an error Result for `err`, as a daemon sends one: its error record (docs/
 * protocol.md), `machinery` when the daemon's own work failed rather than the task (the host
 * then rebuilds a SerializationError and the like as that class). For a channel that must
 * answer a task itself (a thread channel that cannot send its frame).
 */
export function errorResultPayload(err: unknown, machinery = false): Uint8Array[] {
  const record = toErrorRecord(err, (v) => canEncode(v));
  if (machinery) record.machinery = true;
  try {
    return encodePayload(record, [], 'error') as Uint8Array[];
  } catch {
    return encodePayload({ name: record.name, message: record.message, stack: record.stack, classes: [], props: {} }, [], 'error') as Uint8Array[];
  }
}

/** Each item's outcome in a chunk (flag Batch): one item's error never fails its siblings. */
class ChunkOutcomes {
  readonly values: unknown[];
  readonly failed: boolean[];
  constructor(n: number) {
    this.values = new Array<unknown>(n);
    this.failed = new Array<boolean>(n).fill(false);
  }

  /**
   * When every item succeeded, the values as one array payload (one encoding for the chunk);
   * undefined when an item failed or a value cannot be encoded: then each item is encoded on
   * its own, so the error names that item and fails only it.
   */
  encodeWhole(serializers: readonly Serializer[]): Uint8Array[] | Promise<Uint8Array[] | undefined> | undefined {
    if (this.failed.includes(true)) return undefined;
    try {
      const encoded = encodePayload(this.values, serializers, 'result');
      return encoded instanceof Promise ? encoded.catch(() => undefined) : encoded;
    } catch {
      return undefined;
    }
  }

  /** Each item's Result payload; a value that cannot be encoded becomes that item's error. */
  encode(serializers: readonly Serializer[]): EncodedItem[] | Promise<EncodedItem[]> {
    const items = this.values.map((value, i): EncodedItem | Promise<EncodedItem> => {
      if (this.failed[i]) return { segments: encodeError(value), error: true };
      const asError = (err: unknown): EncodedItem => ({ segments: encodeError(err), error: true });
      try {
        const encoded = machineryStep(encodePayload, value, serializers, `result[${i}]`);
        return encoded instanceof Promise ? encoded.then((segments) => ({ segments, error: false }), asError) : { segments: encoded, error: false };
      } catch (err) {
        return asError(err);
      }
    });
    return items.some((e) => e instanceof Promise) ? Promise.all(items) : (items as EncodedItem[]);
  }
}

interface EncodedItem {
  readonly segments: readonly Uint8Array[];
  readonly error: boolean;
}

/** Calls a task's function with its parameters and context, or runs it over a chunk's items (flag Batch). */
function callTask(f: Frame, fn: AnyFunction, params: unknown[], ctx: RunningTask, own: StreamState | undefined): unknown {
  if ((f.flags & FrameFlag.Batch) !== 0) return runChunk(fn, params as [unknown[], unknown], ctx, own);
  // One parameter (args) is every task of mirai(): a plain call, not a spread.
  return params.length === 1 ? fn(params[0], ctx) : fn(...params, ctx);
}

/**
 * Runs `fn(item, args, ctx)` for each item of a chunk, one after another (an async item is
 * awaited before the next starts, as separate tasks would be). Once the host cancels the chunk,
 * the items not yet started fail with the cancellation. With a seeded stream (`first`), item i
 * draws from it jumped i times: the numbers the same item gets as a task of its own.
 */
function runChunk(fn: AnyFunction, [items, args]: [unknown[], unknown], ctx: RunningTask, first: StreamState | undefined): ChunkOutcomes | Promise<ChunkOutcomes> {
  if (!Array.isArray(items)) throw new TypeError('a chunk frame must carry an array of items');
  const out = new ChunkOutcomes(items.length);
  const streams = first === undefined ? undefined : new StreamSequence(first);
  let i = 0;
  const step = (): ChunkOutcomes | Promise<ChunkOutcomes> => {
    for (; i < items.length; i++) {
      if (streams !== undefined) ctx.useStream(new RandomStream(streams.next()));
      if (ctx.cancelled) {
        out.values[i] = new Error('cancelled by the host');
        out.failed[i] = true;
        continue;
      }
      let value: unknown;
      try {
        value = fn(items[i], args, ctx);
      } catch (err) {
        out.values[i] = err;
        out.failed[i] = true;
        continue;
      }
      if (typeof value === 'object' && value !== null && typeof (value as PromiseLike<unknown>).then === 'function') {
        const at = i++;
        return Promise.resolve(value).then(
          (v) => {
            out.values[at] = v;
            return step();
          },
          (err: unknown) => {
            out.values[at] = err;
            out.failed[at] = true;
            return step();
          },
        );
      }
      out.values[i] = value;
    }
    return out;
  };
  return step();
}

function canEncode(value: unknown): boolean {
  try {
    encodePayload(value, [], 'value');
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs a daemon in this process until it ends; resolves with its exit code
 * (see {@link DaemonExit}). The process should exit with that code.
 */
export function runDaemon(config: DaemonConfig): Promise<number> {
  return new Promise((resolve, reject) => {
    let done = false;
    const run = new DaemonRun(config, (code) => {
      if (done) return;
      done = true;
      void run.shutdown(2_000).then(() => {
        unguard();
        resolve(code);
      });
    });
    // Installed for the whole run, until it has ended (instrumentation flushed).
    const unguard = run.guard();
    run.start().catch((err: Error & { exitCode?: number }) => {
      if (done) return;
      done = true;
      unguard();
      if (err.exitCode !== undefined) {
        (config.log ?? ((l: string) => process.stderr.write(`[mirai-daemon ${process.pid}] ${l}\n`)))(err.message);
        resolve(err.exitCode);
      } else reject(err);
    });
  });
}
