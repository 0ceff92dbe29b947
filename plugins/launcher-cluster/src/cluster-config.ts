/**
 * The cluster launcher: submits daemons as one array job per `arrayMax` daemons, tracks the
 * job ids, and cancels the jobs when the profile resets. `clusterConfig()` takes raw
 * directive and shell lines, as mirai's `cluster_config()`; the typed builders in
 * builders.ts produce the same launcher.
 */
import { randomUUID } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { ConfigError, LaunchError, type LaunchHandle, type Launcher, type LaunchSpec, type RemoteDaemonProgram } from '@mirai-ts/core';
import { checkRemoteUrl } from '@mirai-ts/core/plugin';
import { checkKeys, flag, interval, lines, oneLine, timeout, wholeNumber } from './check.js';
import { renderScript, type ScriptParts, type ScriptSpec } from './job-script.js';
import { SCHEDULERS, schedulerOfDirective, type ListedJob, type Scheduler, type SchedulerName, type Submitted } from './schedulers.js';
import { JobWatch } from './job-watch.js';
import { defaultSecretDir, SecretFiles } from './secret-file.js';
import { runCommand, type ListRuns } from './submit.js';

/** Options every cluster launcher takes. */
export interface CommonClusterOptions extends RemoteDaemonProgram {
  /** Job name (default `mirai-<profile>`). */
  readonly jobName?: string;
  /** Largest array per submission (default the scheduler's usual limit; at most 4 000 000); more daemons are split over several submissions. */
  readonly arrayMax?: number;
  /** Daemons per job (default 1, at most 1024), for sites that allocate whole nodes; `n` rounds up to whole jobs. */
  readonly processesPerJob?: number;
  /**
   * Directory for the secret file (mode 0600, directory 0700), which must be on a file system
   * the compute nodes share. Default `~/.mirai-ts/secrets`.
   */
  readonly secretDir?: string;
  /**
   * How long a submit, cancel or list command may take, in ms (default 60 000; at most
   * 2^31 - 1, the longest a Node timer holds). One that runs longer is killed with what it
   * started; a job id it printed before is cancelled.
   */
  readonly submitTimeout?: number;
  /**
   * Fail the launch when jobs have not connected within the profile's `launchTimeout`
   * (default false: they may be waiting in the queue, so the host logs a warning and keeps
   * waiting for them). The jobs of a failed launch that have not connected are cancelled.
   */
  readonly failOnLaunchTimeout?: boolean;
  /**
   * How often, in ms, the launcher asks the scheduler about jobs whose daemons have not
   * connected yet (default 30 000; 0: never). A job that is no longer listed (it failed, ran
   * out of time or was cancelled where it ran) is reported lost to the host, which fails the
   * launch when all of it was lost, or else launches a replacement after a backoff, so tasks
   * never wait for a daemon that will not come. Only unconnected jobs are asked about: one list
   * command per submission and interval while any is waiting.
   */
  readonly watchInterval?: number;
}

/** Options of {@link clusterConfig}. */
export interface ClusterConfigOptions extends CommonClusterOptions {
  /** `'sbatch'`, `'qsub'` or `'bsub'` (or a path to one). */
  readonly command: string;
  /**
   * Directive and shell lines, as one multi-line string or an array: `#SBATCH --mem=4G`,
   * `module load nodejs`. Indentation is stripped; no shebang needed (a first `#!` line is used as the shebang).
   */
  readonly options?: string | readonly string[];
  /** With `qsub`: `'sge'` or `'pbs'` (default: from the directives' prefix). */
  readonly scheduler?: 'sge' | 'pbs';
}

/** A launcher for a batch scheduler. */
export interface ClusterLauncher extends Launcher {
  readonly kind: SchedulerName;
  /** Launches may wait in a queue: a launch timeout is a warning, not a failure (unless `failOnLaunchTimeout`). */
  readonly queued: boolean;
  /** Largest array per submission. */
  readonly arrayMax: number;
  readonly processesPerJob: number;
  /** The programs that submit and cancel. */
  readonly submitCommand: string;
  readonly cancelCommand: string;
  /** The script of one submission of `jobs` array elements (`jobs` ≤ arrayMax). */
  script(spec: ScriptSpec, jobs: number): string;
  /** Where this launcher writes a profile's secret. */
  secretFile(profile: string): string;
  /**
   * The array elements this launcher submitted that are still queued or running, with the
   * scheduler's state codes (`PENDING`/`RUNNING`, `qw`/`r`, `Q`/`R`, `PEND`/`RUN`): what is
   * still waiting in the queue after a launch timeout. Elements the scheduler shows as
   * finished (`DONE`, `EXIT`, `F`, `X`, `COMPLETING`) are left out, and cancelled submissions
   * are not asked about.
   */
  jobs(): Promise<ListedJob[]>;
}

/** Keys every builder accepts. */
export const COMMON_KEYS = ['jobName', 'arrayMax', 'processesPerJob', 'secretDir', 'submitTimeout', 'failOnLaunchTimeout', 'watchInterval', 'node', 'script', 'cwd'] as const;

/**
 * A cluster launcher from raw directive and shell lines, as mirai's `cluster_config()`:
 *
 * ```ts
 * await daemons(100, {
 *   url: hostUrl({ tls: true }).ib0,
 *   remote: clusterConfig({ command: 'sbatch', options: `
 *     #SBATCH --partition=short
 *     #SBATCH --mem=4G
 *     module load nodejs` }),
 * });
 * ```
 */
export function clusterConfig(options: ClusterConfigOptions): ClusterLauncher {
  const who = 'clusterConfig';
  if (options === null || typeof options !== 'object') throw new ConfigError(`${who}: expected an options object with a command`);
  checkKeys(who, options, ['command', 'options', 'scheduler', ...COMMON_KEYS]);
  const command = oneLine(who, 'command', options.command);
  const program = command === undefined ? undefined : basename(command);
  if (program !== 'sbatch' && program !== 'qsub' && program !== 'bsub') {
    throw new ConfigError(`${who}: 'command' must be 'sbatch', 'qsub' or 'bsub' (or a path to one), got ${JSON.stringify(options.command)}`);
  }
  const raw = optionLines(who, options.options);
  const scheduler = pickScheduler(who, program, options.scheduler, raw);
  const { shebang, directives, prologue } = splitOptions(who, scheduler, raw);
  return clusterLauncher(who, scheduler, options, { shebang, directives, prologue, command: command! });
}

/** Builds the launcher from checked script parts; shared by clusterConfig() and the typed builders. */
export function clusterLauncher(
  who: string,
  scheduler: Scheduler,
  options: CommonClusterOptions,
  lines: { shebang?: string; directives: readonly string[]; prologue: readonly string[]; command?: string | undefined },
): ClusterLauncher {
  const arrayMax = wholeNumber(who, 'arrayMax', options.arrayMax, 1, ARRAY_MAX) ?? scheduler.arrayMax;
  const processesPerJob = wholeNumber(who, 'processesPerJob', options.processesPerJob, 1, PROCESSES_PER_JOB_MAX) ?? 1;
  const submitTimeout = timeout(who, 'submitTimeout', options.submitTimeout) ?? 60_000;
  const failOnLaunchTimeout = flag(who, 'failOnLaunchTimeout', options.failOnLaunchTimeout) ?? false;
  const watchInterval = interval(who, 'watchInterval', options.watchInterval) ?? 30_000;
  const jobName = oneLine(who, 'jobName', options.jobName);
  if (jobName !== undefined && !/^[A-Za-z][\w.-]*$/.test(jobName)) {
    throw new ConfigError(`${who}: 'jobName' must start with a letter and hold only letters, digits, '_', '.', '-', got '${jobName}'`);
  }
  if (jobName !== undefined && jobName.length > scheduler.nameMax) {
    throw new ConfigError(`${who}: 'jobName' may have at most ${scheduler.nameMax} characters for ${scheduler.name}, got '${jobName}'`);
  }
  const program: RemoteDaemonProgram = {
    // The host's own Node by default: on a cluster the compute nodes share its file system.
    node: oneLine(who, 'node', options.node) ?? process.execPath,
    ...(options.script !== undefined ? { script: oneLine(who, 'script', options.script)! } : {}),
    ...(options.cwd !== undefined ? { cwd: oneLine(who, 'cwd', options.cwd)! } : {}),
  };
  const secretDir = oneLine(who, 'secretDir', options.secretDir) ?? defaultSecretDir();
  const secrets = new SecretFiles(secretDir, randomUUID().slice(0, 8));
  const submitCommand = lines.command ?? scheduler.submit;
  // A submit program given by path brings its cancel program from the same directory.
  const sibling = (program: string): string => (submitCommand.includes('/') ? join(dirname(submitCommand), program) : program);
  const cancelCommand = sibling(scheduler.cancel);
  const listCommand = sibling(scheduler.list.command);
  const parts: ScriptParts = {
    scheduler,
    shebang: lines.shebang ?? '#!/bin/sh',
    directives: lines.directives,
    prologue: lines.prologue,
    jobName,
    processesPerJob,
    program,
  };
  /** Live submissions per profile: its secret file goes when the last is cancelled. */
  const live = new Map<string, Set<Submitted>>();
  /** Launches under way per profile: their jobs will read the secret file too. */
  const inFlight = new Map<string, number>();

  const script = (spec: ScriptSpec, jobs: number): string => {
    if (!Number.isInteger(jobs) || jobs < 1 || jobs > arrayMax) {
      throw new ConfigError(`${who}: one submission holds 1 to arrayMax (${arrayMax}) jobs, got ${jobs}`);
    }
    return renderScript(parts, spec, jobs, secrets.path(spec.profile));
  };

  const submit = async (text: string): Promise<Submitted> => {
    const r = await runCommand(submitCommand, scheduler.submitArgs, text, submitTimeout);
    if (r.failure !== undefined || r.code !== 0) {
      const said = (r.stderr.trim() || r.stdout.trim()).slice(-2000);
      // A submission reported failed (a timeout, most often) may have queued its job anyway:
      // when it printed the id, withdraw that job rather than leave it queued with no one to cancel it.
      const orphan = scheduler.parse(r.stdout);
      const withdrawn = orphan === undefined ? '' : `; it had printed job ${orphan.cancelId}, ${await withdraw(orphan)}`;
      throw new LaunchError(`${who}: ${submitCommand} rejected the job${r.failure ? ` (${r.failure})` : ` (exit ${r.code})`}${said ? `: ${said}` : ''}${withdrawn}`);
    }
    const submitted = scheduler.parse(r.stdout);
    if (submitted === undefined) throw new LaunchError(`${who}: cannot read a job id in ${submitCommand}'s output: ${JSON.stringify(r.stdout.slice(0, 500))}`);
    return submitted;
  };

  /** Cancels a submission whose launch failed; says how that went, for the launch's error. */
  const withdraw = async (submitted: Submitted): Promise<string> => {
    const r = await runCommand(cancelCommand, [submitted.cancelId], '', submitTimeout);
    return r.failure === undefined && r.code === 0 ? 'which was cancelled' : `which ${cancelCommand} could not cancel: ${(r.failure ?? (r.stderr.trim() || `exit ${r.code}`)).slice(-500)}`;
  };

  /**
   * Forgets a submission; the profile's secret file goes once no submission of it is live and
   * no launch of it is under way (a concurrent launch's jobs will read the file when they start).
   */
  const release = (profile: string, submitted: Submitted | undefined): void => {
    const set = live.get(profile);
    if (submitted !== undefined) set?.delete(submitted);
    if (set !== undefined && set.size > 0) return;
    live.delete(profile);
    if ((inFlight.get(profile) ?? 0) === 0) secrets.remove(profile);
  };

  /**
   * The elements of one submission the scheduler still lists; undefined when the list command
   * failed (timed out, or the scheduler could not answer). A job the scheduler no longer
   * knows is an error to some list commands: it simply has no elements left.
   */
  const listing = async ({ cancelId }: Submitted, runs: ListRuns = new Map()): Promise<ListedJob[] | undefined> => {
    const args = scheduler.list.args(cancelId);
    // Grid Engine's listing names no job: one run serves every submission of the pass.
    const key = args.join('\0');
    let run = runs.get(key);
    if (run === undefined) runs.set(key, (run = runCommand(listCommand, args, '', submitTimeout)));
    const r = await run;
    if (r.failure === undefined && r.code === 0) return scheduler.list.parse(r.stdout, cancelId);
    return r.failure === undefined && UNKNOWN_JOB.test(r.stderr) ? [] : undefined;
  };
  const listed = async (submitted: Submitted, runs?: ListRuns): Promise<ListedJob[]> => (await listing(submitted, runs)) ?? [];
  /** Jobs whose daemons have not all connected, asked about every `watchInterval`. */
  const watch = new JobWatch(
    scheduler.name,
    listCommand,
    watchInterval,
    listing,
    (job) => scheduler.list.stuck?.(job),
    (submitted, index) => void cancelElement(submitted, index),
  );

  /**
   * Cancels a submission once, however many handles ask. A job already gone is not an error;
   * one the cancel command could not withdraw is reported on stderr (the profile has reset
   * by then, so there is no one to throw to), as remoteConfig() reports failed commands.
   */
  const canceller = (profile: string, submitted: Submitted): (() => Promise<void>) => {
    let done: Promise<void> | undefined;
    const cancel = async (): Promise<void> => {
      watch.forget(submitted); // what we cancel is not lost
      const r = await runCommand(cancelCommand, [submitted.cancelId], '', submitTimeout);
      release(profile, submitted);
      if (r.failure === undefined && r.code === 0) return;
      const left = r.failure === undefined ? await listed(submitted) : [];
      if (r.failure !== undefined || left.length > 0) {
        const said = (r.failure ?? (r.stderr.trim() || `exit ${r.code}`)).slice(-500);
        process.stderr.write(`[mirai-ts] ${who}: could not cancel job ${submitted.cancelId} with ${cancelCommand}: ${said}\n`);
      }
    };
    return () => (done ??= cancel());
  };

  /**
   * The handles' `kill`: the pool kills every handle of a failed launch that has not connected
   * (a launch timeout with `failOnLaunchTimeout`), and it does so in one synchronous loop, so
   * kills are gathered for a microtask. A submission killed whole goes with one cancel command
   * (as at reset); otherwise each element whose every daemon was killed is cancelled alone, and
   * elements with a connected daemon are left running.
   */
  const killer = (submitted: Submitted, size: number, cancelAll: () => Promise<void>): ((index: number) => void) => {
    const kills = new Map<number, number>(); // element → handles killed
    let doomed = 0; // elements with all their handles killed
    let pending: number[] = [];
    const flush = (): void => {
      const elements = pending;
      pending = [];
      if (doomed === size) {
        void cancelAll();
        return;
      }
      for (const index of elements) void cancelElement(submitted, index);
    };
    return (index) => {
      const n = (kills.get(index) ?? 0) + 1;
      kills.set(index, n);
      if (n !== processesPerJob) return; // a kill repeated, or the element still has live daemons
      doomed++;
      if (pending.push(index) === 1) queueMicrotask(flush);
    };
  };

  /** Cancels one element; like canceller(), reports a cancel that failed while the element is still listed. */
  const cancelElement = async (submitted: Submitted, index: number): Promise<void> => {
    watch.forget(submitted, index);
    const r = await runCommand(cancelCommand, submitted.cancelElement(index), '', submitTimeout);
    if (r.failure === undefined && r.code === 0) return;
    const element = submitted.element(index);
    const left = r.failure === undefined ? (await listed(submitted)).filter((j) => j.job === element) : [];
    if (r.failure !== undefined || left.length > 0) {
      const said = (r.failure ?? (r.stderr.trim() || `exit ${r.code}`)).slice(-500);
      process.stderr.write(`[mirai-ts] ${who}: could not cancel job ${element} with ${cancelCommand}: ${said}\n`);
    }
  };

  return {
    kind: scheduler.name,
    queued: !failOnLaunchTimeout,
    arrayMax,
    processesPerJob,
    submitCommand,
    cancelCommand,
    script,
    secretFile: (profile) => secrets.path(profile),
    async jobs(): Promise<ListedJob[]> {
      const runs: ListRuns = new Map();
      const lists = await Promise.all([...live.values()].flatMap((set) => [...set]).map((submitted) => listed(submitted, runs)));
      return lists.flat();
    },
    async launch(spec: LaunchSpec, n: number): Promise<LaunchHandle[]> {
      checkRemoteUrl(spec, who);
      const { profile } = spec;
      const jobs = Math.ceil(n / processesPerJob);
      inFlight.set(profile, (inFlight.get(profile) ?? 0) + 1);
      const handles: LaunchHandle[] = [];
      const cancels: Array<() => Promise<void>> = [];
      try {
        secrets.write(profile, spec.secret);
        for (const size of chunks(jobs, arrayMax)) {
          const submitted = await submit(script(spec, size));
          const set = live.get(profile) ?? new Set<Submitted>();
          live.set(profile, set);
          set.add(submitted);
          const cancel = canceller(profile, submitted);
          const kill = killer(submitted, size, cancel);
          cancels.push(cancel);
          // A submission whose every daemon left by design or was lost before connecting is
          // over: the host will not cancel it, so it is let go here (its secret file may go).
          let open = size * processesPerJob;
          const over = (daemons: number): void => {
            open -= daemons;
            if (open === 0) release(profile, submitted);
          };
          for (let i = 1; i <= size; i++) {
            const element = submitted.element(i);
            const watched = watch.add(submitted, i, element, processesPerJob, over);
            for (let k = 1; k <= processesPerJob; k++) {
              let left = false;
              handles.push({
                id: processesPerJob === 1 ? element : `${element}_${k}`,
                cancel,
                kill: () => kill(i),
                left: () => {
                  if (left) return;
                  left = true;
                  over(1);
                },
                ...watched.handle(),
              });
            }
          }
        }
      } catch (err) {
        // Withdraw what was submitted before the failure: a failed launch leaves nothing queued.
        await Promise.all(cancels.map((c) => c()));
        throw err;
      } finally {
        inFlight.set(profile, inFlight.get(profile)! - 1);
        if (inFlight.get(profile) === 0) inFlight.delete(profile);
        // The file goes if this launch was the profile's last use of it (it failed, or its jobs were cancelled meanwhile).
        release(profile, undefined);
      }
      return handles;
    },
    commands(spec: LaunchSpec, n: number): string[] {
      // The submitted scripts: they hold the secret file's path, never the secret.
      return chunks(Math.ceil(n / processesPerJob), arrayMax).map((size) => script(spec, size));
    },
  };
}

/**
 * What list commands say of a job id they no longer know (Slurm "Invalid job id specified",
 * PBS "Unknown Job Id" or, with job history, "Job has finished", LSF "Job <1> is not found"):
 * the job has ended, not the command.
 */
const UNKNOWN_JOB = /invalid job id|unknown job|is not found|does not exist|has finished/i;

/** The largest `arrayMax`: Slurm's MaxArraySize goes up to 4 000 001, the highest of the four schedulers. */
const ARRAY_MAX = 4_000_000;
/** The most daemons per job: more than any node has cores; each is a process with its own heap. */
const PROCESSES_PER_JOB_MAX = 1024;

/** `total` split into sizes of at most `max`. */
function chunks(total: number, max: number): number[] {
  const sizes: number[] = [];
  for (let left = total; left > 0; left -= max) sizes.push(Math.min(left, max));
  return sizes;
}

function optionLines(who: string, options: ClusterConfigOptions['options']): string[] {
  if (options === undefined) return [];
  const text = typeof options === 'string' ? options : Array.isArray(options) ? (lines(who, 'options', options) ?? []).join('\n') : undefined;
  if (text === undefined) throw new ConfigError(`${who}: 'options' must be a string of lines or an array of lines, got ${JSON.stringify(options)}`);
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

function pickScheduler(who: string, program: 'sbatch' | 'qsub' | 'bsub', asked: unknown, raw: readonly string[]): Scheduler {
  if (program === 'sbatch' || program === 'bsub') {
    if (asked !== undefined) throw new ConfigError(`${who}: 'scheduler' is only for qsub (SGE or PBS); ${program} is ${program === 'sbatch' ? 'Slurm' : 'LSF'}`);
    return program === 'sbatch' ? SCHEDULERS.slurm : SCHEDULERS.lsf;
  }
  if (asked !== undefined) {
    if (asked !== 'sge' && asked !== 'pbs') throw new ConfigError(`${who}: 'scheduler' must be 'sge' or 'pbs', got ${JSON.stringify(asked)}`);
    return SCHEDULERS[asked];
  }
  const found = new Set(raw.map((line) => schedulerOfDirective(line)?.name).filter((n) => n === 'sge' || n === 'pbs'));
  if (found.size === 1) return SCHEDULERS[[...found][0] as 'sge' | 'pbs'];
  throw new ConfigError(`${who}: qsub is both Grid Engine's and PBS's; say which with scheduler: 'sge' or 'pbs' (or use '#$' or '#PBS' directives)`);
}

/** Sorts option lines into a shebang, directives and shell lines, rejecting lines the scheduler would ignore or the launcher sets. */
function splitOptions(who: string, scheduler: Scheduler, raw: readonly string[]): { shebang?: string; directives: string[]; prologue: string[] } {
  const directives: string[] = [];
  const prologue: string[] = [];
  let shebang: string | undefined;
  let command: string | undefined;
  raw.forEach((line, i) => {
    if (i === 0 && line.startsWith('#!')) {
      shebang = line;
      return;
    }
    const owner = schedulerOfDirective(line);
    if (owner === undefined) {
      if (!line.startsWith('#')) command ??= line;
      prologue.push(line);
      return;
    }
    if (owner !== scheduler) throw new ConfigError(`${who}: '${line}' is a ${owner.name} directive, but this launcher submits to ${scheduler.name}`);
    // Schedulers stop reading directives at the first command.
    if (command !== undefined) throw new ConfigError(`${who}: directive '${line}' comes after the command '${command}', where ${scheduler.name} ignores it; put directives first`);
    if (scheduler.arrayOption.test(line)) throw new ConfigError(`${who}: '${line}' sets the job array, which the launcher does (use arrayMax to cap its size)`);
    directives.push(line);
  });
  return { ...(shebang !== undefined ? { shebang } : {}), directives, prologue };
}
