/**
 * One connected daemon, as the host sees it. The only place that builds the control frames
 * the host sends a daemon (Task, Cancel, Exit) and the Replace it sends a daemon's watchdog.
 */
import type { LaunchHandle } from '../launcher.js';
import type { Channel } from '../transport.js';
import { frame, FrameType } from '../wire/frame.js';
import type { HelloMessage } from '../wire/messages.js';
import type { HostTask } from './host-task.js';
import { InflightTasks } from './inflight-tasks.js';

/** A per-daemon row of `status()`. */
export interface DaemonStatus {
  /** Daemon id within the profile (never reused). */
  readonly id: number;
  readonly pid: number | undefined;
  readonly hostname: string | undefined;
  /** When it completed the handshake (ms since the epoch). */
  readonly connectedAt: number;
  readonly assigned: number;
  readonly completed: number;
  readonly state: 'idle' | 'busy' | 'leaving';
  /** Ids of the tasks it is running (one with a dispatcher). */
  readonly tasks: number[];
  /** Whether it runs a watchdog that can replace it when a cancelled task is stuck. */
  readonly watchdog: boolean;
  /** The kind of launcher that started it (`'local'`, `'ssh'`, …), when this host launched it. */
  readonly launcher: string | undefined;
  /** The id of the launch behind it (a job id on a cluster), when the daemon reported one. */
  readonly launchId: string | undefined;
}

/** How a daemon stuck in a cancelled task was ended. */
export type Ending = 'watchdog' | 'killed' | 'disconnected';

export class DaemonConnection {
  /** 0 until the handshake succeeds. */
  id = 0;
  state: 'handshake' | 'ready' | 'leaving' | 'gone' = 'handshake';
  pid: number | undefined;
  hostname: string | undefined;
  launchId: string | undefined;
  connectedAt = 0;
  assigned = 0;
  completed = 0;
  /** When it last became free with nothing queued (ms since the epoch), for scale-down. */
  idleSince = 0;
  /** Tasks sent and not yet answered, in the order they were sent (up to `prefetch`). */
  readonly inflight = new InflightTasks();
  /** `everywhere()` copies this daemon still has to run, before any other task. */
  readonly setup: HostTask[] = [];
  /**
   * Set when the daemon is lost: the most times any task it was running had been sent (0: it
   * was running nothing). A task on its first run that takes its daemon down is a poison task;
   * one that does it again, or a daemon that dies idle, is a crash loop.
   */
  lostRunning = 0;
  /** Set when the host ended this daemon on purpose (stuck in a cancelled task). */
  retired = false;
  /** Set when the daemon left because of an error of its own (Bye `uncaught`): it is replaced when it goes, as a lost one. */
  failedLeaving = false;
  /** The daemon's watchdog connection, when it runs one: it can replace a stuck daemon. */
  watchdog: Channel | undefined;
  /** Position in the FIFO scheduler's queue of daemons with room; -1 when not in it. */
  queuePosition = -1;
  /** Set once Exit was sent. */
  private exitSent = false;
  /** The launch that started this daemon, when this host started it. */
  launch: { readonly handle: LaunchHandle; readonly kind: string } | undefined;

  constructor(readonly channel: Channel) {}

  /** Takes the identity a daemon claimed in its Hello, once it proved the secret. */
  admit(id: number, hello: HelloMessage): void {
    this.id = id;
    this.pid = typeof hello.pid === 'number' ? hello.pid : undefined;
    this.hostname = typeof hello.hostname === 'string' ? hello.hostname : undefined;
    this.launchId = typeof hello.launchId === 'string' ? hello.launchId : undefined;
    this.state = 'ready';
    this.connectedAt = Date.now();
  }

  /** Connected, not leaving, and running nothing. */
  get free(): boolean {
    return this.state === 'ready' && this.inflight.size === 0;
  }

  sendTask(task: HostTask): void {
    task.runs++;
    task.daemon = this;
    this.inflight.add(task);
    this.assigned++;
    this.channel.send(task);
  }

  sendCancel(taskId: number): void {
    this.channel.send(frame(FrameType.Cancel, taskId, []));
  }

  /**
   * Tells the daemon to exit; from then on its disconnection is the normal end. Once: a daemon
   * retired by the host may say Bye at the same time, and both ends call for an Exit.
   */
  sendExit(): void {
    if (this.exitSent) return;
    this.exitSent = true;
    this.channel.peerLeaving?.();
    this.channel.send(frame(FrameType.Exit, 0, []));
  }

  /**
   * Ends a daemon stuck in a cancelled task: its watchdog starts a fresh daemon where it runs
   * and ends it; else a process this host launched is killed; else (a daemon started
   * elsewhere, no watchdog) it is only disconnected, so it gets no more work.
   */
  end(): Ending {
    this.retired = true;
    if (this.watchdog !== undefined) {
      this.watchdog.send(frame(FrameType.Replace, 0, []));
      return 'watchdog';
    }
    const kill = this.launch?.handle.kill;
    if (kill === undefined) {
      this.channel.close(new Error('did not stop a cancelled task'));
      return 'disconnected';
    }
    kill();
    // Over a message transport (NATS) a killed peer is noticed only after a heartbeat timeout.
    this.channel.close();
    return 'killed';
  }

  row(): DaemonStatus {
    return {
      id: this.id,
      pid: this.pid,
      hostname: this.hostname,
      connectedAt: this.connectedAt,
      assigned: this.assigned,
      completed: this.completed,
      state: this.state === 'leaving' ? 'leaving' : this.inflight.size > 0 ? 'busy' : 'idle',
      tasks: this.inflight.ids(),
      watchdog: this.watchdog !== undefined,
      launcher: this.launch?.kind,
      launchId: this.launchId,
    };
  }
}
