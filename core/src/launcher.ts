/**
 * Launchers start daemon processes that dial back to the host. They only start processes;
 * the connection is the one liveness signal. Core ships the local launcher; plugins add
 * SSH and HPC schedulers.
 */
import type { DaemonOptions } from './wire/daemon-args.js';
import type { Json, PluginRef } from './transport.js';

/** What a launched daemon needs to know. */
export interface LaunchSpec {
  /** The URL daemons dial. */
  readonly url: string;
  /** The profile's secret: hand it over by environment or file, never in argv or logs. */
  readonly secret: string;
  /** Daemon options, as command-line flags by `daemonOptionArgs()`. */
  readonly options: DaemonOptions;
  /** A plugin transport the daemon must import (NATS, ...). */
  readonly transport?: PluginRef;
  /** Options for the transport's dial (a CA certificate, credentials). */
  readonly dialOptions?: { readonly [key: string]: Json };
  /** The profile name, for labels (job names, log tags). */
  readonly profile: string;
  /**
   * Start exactly `n` daemons: set on the profile's own launches (`repair`'s replacements,
   * autoscaling), which count what they ask for. Without it a launcher over several machines
   * may read n = 1 as mirai does, "one on each" (`sshConfig`'s remotes, `remoteConfig`'s
   * argument sets): what a user's `daemons(1, { remote })` asks for.
   */
  readonly exact?: boolean;
}

/** A started daemon process, as far as its launcher can see it. */
export interface LaunchHandle {
  /** Unique per launch; local daemons report it back in their Hello. */
  readonly id: string;
  readonly pid?: number;
  /** Resolves when the process ends (local processes only). */
  readonly exited?: Promise<{ code: number | null; signal: string | null }>;
  /**
   * Output the process wrote to stderr so far (processes the launcher watches): for launch
   * errors, when it exits before connecting or has not connected at the launch timeout.
   */
  stderrTail?(): string;
  /**
   * Ends this daemon's process at once: called for a handle whose daemon has not connected
   * when its launch fails (a launch timeout), and for a stuck local daemon. A batch scheduler's
   * handle withdraws its job element here.
   */
  kill?(): void;
  /**
   * For a launch whose process the host cannot watch (a batch job): resolves, with a sentence
   * saying what the launcher knows, once the launch is known to have ended while its daemon
   * had not connected (the job failed, or was killed, before the daemon dialled in). The host
   * counts it as a failed launch: the launch call fails when every daemon of it was lost;
   * otherwise the daemon is replaced (`repair`, autoscaling) after a backoff. Left pending
   * while the launch is alive; the launcher may stop watching once {@link connected} is called.
   * Ignored once the handle was `kill()`ed or `cancel()`led (its launch failed, or the profile reset).
   */
  readonly lost?: Promise<string>;
  /** Called once, when this launch's daemon has connected (a launcher stops watching for {@link lost}). */
  connected?(): void;
  /**
   * Called once, for a handle without `exited`, when its daemon has left by design (retired,
   * or by a limit): the launch is over, the host forgets it and will not `cancel()` it at reset
   * (a batch launcher can let go of a submission whose every daemon has left).
   */
  left?(): void;
  /**
   * Withdraws the launch from a batch scheduler (a queued or running job): called for every
   * handle when the profile resets, after its daemons were told to exit. Handles of one
   * submission may share it; it must tolerate a job that already ended.
   */
  cancel?(): Promise<void>;
}

export interface Launcher {
  /** `'local'`, `'ssh'`, `'slurm'`, ... */
  readonly kind: string;
  /**
   * Launches may wait in a scheduler's queue: when they have not connected within the
   * launch timeout, the profile logs a warning and keeps waiting instead of failing.
   */
  readonly queued?: boolean;
  /** Starts `n` daemons. */
  launch(spec: LaunchSpec, n: number): Promise<LaunchHandle[]>;
  /** The shell commands that would start one daemon each, for running by hand. */
  commands?(spec: LaunchSpec, n: number): string[];
  /**
   * Optional: throws a ConfigError naming a daemon option this launcher cannot honour (thread
   * daemons have no command line for most `nodeOptions`). Asked by `daemons()` before it
   * resets a running profile, and before each launch with other options.
   */
  checkOptions?(options: DaemonOptions): void;
}
