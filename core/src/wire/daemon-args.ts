/** Options of a daemon process (mirai's daemon() arguments), baked into launch commands. */
export interface DaemonOptions {
  /**
   * What to do when the connection to the host drops:
   * `true` (default) exit after a 200 ms grace, even mid-task;
   * `'finish'` finish the current task, then exit;
   * `false` stay alive and dial the same URL again until a host answers.
   */
  readonly autoexit?: boolean | 'finish';
  /** Remove globals a task created, after each task (default true). `everywhere()` set-up survives. */
  readonly cleanup?: boolean;
  /**
   * Forward the daemon's stdout and stderr to the host, each line tagged with the daemon
   * (default false). `'host'`: also tag every line a task prints with `[task <id>]`, so the
   * lines of one failing task can be found.
   */
  readonly output?: boolean | 'host';
  /** Exit (code 1) after this many ms without a task. */
  readonly idletime?: number;
  /** Exit (code 2) once this many ms have passed since start, after the current task. */
  readonly walltime?: number;
  /** Exit (code 3) after this many tasks. */
  readonly maxtasks?: number;
  /**
   * Run a watchdog thread that can replace this daemon when a cancelled task is stuck in
   * synchronous code (about 10 MB more memory). Default: on, except for daemons started by
   * the local launcher, which the host can end directly.
   */
  readonly watchdog?: boolean;
  /**
   * Node flags for the daemon process, before its script: `['--max-old-space-size=512']` for a
   * memory cap. Flags only (`--name` or `--name=value`), checked by `daemons()`.
   */
  readonly nodeOptions?: readonly string[];
  /**
   * The most µs the daemon keeps its event loop polling for its next task after sending a
   * result, instead of sleeping (default 200; 0: never; at most 1000). A task that follows its
   * result at once is then read without waking a sleeping process, which costs more than the
   * round trip's own work (most of all across CPUs of a virtual machine). Within this, a poll
   * lasts 50 µs, or as long as the host has lately taken to answer where sleeping costs the
   * daemon more than that; a daemon whose polls find nothing polls less and less often (see
   * docs/performance.md). A profile with `prefetch` above 1 defaults to 0. Thread daemons poll
   * their ring by the same rule, up to this (unless `threadDaemons({ spin })` says otherwise).
   */
  readonly spin?: number;
}

/** Command-line flags for `mirai-daemon` that carry `options`. */
export function daemonOptionArgs(options: DaemonOptions): string[] {
  const args: string[] = [];
  if (options.autoexit !== undefined && options.autoexit !== true) args.push(`--autoexit=${options.autoexit}`);
  if (options.cleanup === false) args.push('--cleanup=false');
  if (options.output === true || options.output === 'host') args.push('--output');
  if (options.output === 'host') args.push('--task-tags');
  if (options.watchdog !== undefined) args.push(`--watchdog=${options.watchdog}`);
  if (options.spin !== undefined) args.push(`--spin=${options.spin}`);
  for (const key of ['idletime', 'walltime', 'maxtasks'] as const) {
    const value = options[key];
    if (value !== undefined && Number.isFinite(value)) args.push(`--${key}=${value}`);
  }
  return args;
}

/** `mirai-daemon` flag: read the secret from standard input (one line), as the local launcher sends it. */
export const SECRET_STDIN_FLAG = '--secret-stdin';

/**
 * `mirai-daemon` flag: exit as soon as standard input ends. A launcher that keeps the daemon's
 * stdin open for as long as it wants the daemon (an ssh session) gives it, so that the daemon
 * ends with the session: ssh without a terminal sends no hang-up signal when it dies.
 */
export const EXIT_ON_STDIN_EOF_FLAG = '--exit-on-stdin-eof';
