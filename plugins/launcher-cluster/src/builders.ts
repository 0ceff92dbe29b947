/**
 * Typed builders for the common job fields, one per scheduler, as dask-jobqueue's
 * SLURMCluster, SGECluster, PBSCluster and LSFCluster. Each turns its fields into directive
 * lines and returns the same launcher as {@link clusterConfig}.
 */
import { ConfigError } from '@mirai-ts/core';
import { checkKeys, directiveValue, hms, lines, MAX_PER_NODE, memoryMiB, NAME_CHARS, oneLine, PATH_CHARS, walltimeSeconds, wholeNumber } from './check.js';
import { clusterLauncher, COMMON_KEYS, type ClusterLauncher, type CommonClusterOptions } from './cluster-config.js';
import { SCHEDULERS, type Scheduler, type SchedulerName } from './schedulers.js';

/** Fields every builder takes, besides {@link CommonClusterOptions}. */
export interface JobFields extends CommonClusterOptions {
  /** Account (or project) to charge: letters, digits and `_ . @ * , + -` (directive lines have no quoting). */
  readonly account?: string;
  /** Run time limit per job: `'HH:MM:SS'`, or seconds. */
  readonly walltime?: string | number;
  /** CPUs per job. */
  readonly cpus?: number;
  /** Memory per job: `'4G'`, `'512M'`, or a number of MiB. */
  readonly memory?: string | number;
  /** GPUs per job. */
  readonly gpus?: number;
  /**
   * Directory for the jobs' output and error files (default: none kept, /dev/null): letters,
   * digits and `_ . / @ % , + = : -`, since directive lines have no quoting.
   */
  readonly logDirectory?: string;
  /**
   * Further directives, with or without the prefix: `['--qos=high']` is `#SBATCH --qos=high`.
   * Written as given (the escape hatch for what the typed fields do not take).
   */
  readonly directives?: readonly string[];
  /** Shell lines run before the daemons start: `['module load nodejs/20']`. */
  readonly prologue?: readonly string[];
  /** The submit program, when not on PATH as usual (its cancel program is taken from the same directory). */
  readonly command?: string;
}

/** Options of {@link slurm}. */
export interface SlurmOptions extends JobFields {
  /** Partition (`--partition`), or a comma-separated list: letters, digits and `_ . @ * , + -`. */
  readonly partition?: string;
}
/** Options of {@link sge}. */
export interface SgeOptions extends JobFields {
  /** Queue (`-q`): letters, digits and `_ . @ * , + -`. */
  readonly queue?: string;
  /** Parallel environment for `cpus` (`-pe <name> <cpus>`; site-specific, default `'smp'`; the same characters as `queue`). */
  readonly parallelEnvironment?: string;
}
/** Options of {@link pbs}. */
export interface PbsOptions extends JobFields {
  /** Queue (`-q`), or `queue@server`: letters, digits and `_ . @ * , + -`. */
  readonly queue?: string;
}
/** Options of {@link lsf}. */
export interface LsfOptions extends JobFields {
  /** Queue (`-q`): letters, digits and `_ . @ * , + -`. */
  readonly queue?: string;
}

const FIELD_KEYS = [...COMMON_KEYS, 'account', 'walltime', 'cpus', 'memory', 'gpus', 'logDirectory', 'directives', 'prologue', 'command'] as const;

/** Checked field values. */
interface Fields {
  readonly queue: string | undefined;
  readonly account: string | undefined;
  readonly seconds: number | undefined;
  readonly cpus: number | undefined;
  readonly mib: number | undefined;
  readonly gpus: number | undefined;
  readonly logs: string | undefined;
}

function build(
  who: string,
  scheduler: Scheduler,
  options: JobFields & { readonly queue?: string; readonly partition?: string },
  extraKeys: readonly string[],
  directivesOf: (f: Fields) => string[],
): ClusterLauncher {
  const queueKey = scheduler.name === 'slurm' ? 'partition' : 'queue';
  checkKeys(who, options, [...FIELD_KEYS, ...extraKeys], { [scheduler.name === 'slurm' ? 'queue' : 'partition']: queueKey });
  const fields: Fields = {
    queue: directiveValue(who, queueKey, options[queueKey], NAME_CHARS),
    account: directiveValue(who, 'account', options.account, NAME_CHARS),
    seconds: walltimeSeconds(who, options.walltime),
    cpus: wholeNumber(who, 'cpus', options.cpus, 1, MAX_PER_NODE),
    mib: memoryMiB(who, options.memory),
    gpus: wholeNumber(who, 'gpus', options.gpus, 1, MAX_PER_NODE),
    logs: directiveValue(who, 'logDirectory', options.logDirectory, PATH_CHARS)?.replace(/\/+$/, '') || undefined,
  };
  const command = oneLine(who, 'command', options.command);
  const extra = (lines(who, 'directives', options.directives) ?? []).map((d) => (d.startsWith(`${scheduler.prefix} `) ? d : `${scheduler.prefix} ${d}`));
  for (const d of extra) {
    if (scheduler.arrayOption.test(d)) throw new ConfigError(`${who}: directive '${d}' sets the job array, which the launcher does (use arrayMax to cap its size)`);
  }
  return clusterLauncher(who, scheduler, options, {
    directives: [...directivesOf(fields), ...extra],
    prologue: lines(who, 'prologue', options.prologue) ?? [],
    command,
  });
}

/** Refuses a builder's argument that is not an options object (before any option is read). */
function checkObject(who: string, options: unknown): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ConfigError(`${who}: expected an options object, got ${options === null ? 'null' : Array.isArray(options) ? 'an array' : JSON.stringify(options) ?? String(options)}`);
  }
}

/** `--flag=value` lines for the fields that are set. */
const set = (prefix: string, pairs: Array<[string, string | number | undefined]>): string[] =>
  pairs.filter(([, v]) => v !== undefined).map(([flag, v]) => `${prefix} ${flag}${v}`);

/**
 * A Slurm launcher: one `sbatch --array=1-n` per `arrayMax` daemons.
 *
 * ```ts
 * await daemons(100, { url: hostUrl({ tls: true }).ib0, remote: slurm({ partition: 'short', memory: '4G', walltime: '02:00:00' }) });
 * ```
 */
export function slurm(options: SlurmOptions = {}): ClusterLauncher {
  checkObject('slurm', options);
  return build('slurm', SCHEDULERS.slurm, options, ['partition'], (f) => [
    ...set('#SBATCH', [
      ['--partition=', f.queue],
      ['--account=', f.account],
      ['--time=', f.seconds === undefined ? undefined : hms(f.seconds)],
      ['--cpus-per-task=', f.cpus],
      ['--mem=', f.mib === undefined ? undefined : `${f.mib}M`],
      ['--gres=gpu:', f.gpus],
    ]),
    // %A: the array's job id, %a: the element.
    `#SBATCH --output=${f.logs === undefined ? '/dev/null' : `${f.logs}/%x-%A_%a.out`}`,
    `#SBATCH --error=${f.logs === undefined ? '/dev/null' : `${f.logs}/%x-%A_%a.err`}`,
  ]);
}

/** A Son of Grid Engine / Univa / Altair Grid Engine launcher: one `qsub` with `-t 1-n`. */
export function sge(options: SgeOptions = {}): ClusterLauncher {
  checkObject('sge', options);
  const pe = directiveValue('sge', 'parallelEnvironment', options.parallelEnvironment, NAME_CHARS) ?? 'smp';
  return build('sge', SCHEDULERS.sge, options, ['queue', 'parallelEnvironment'], (f) => [
    ...set('#$', [
      ['-q ', f.queue],
      ['-P ', f.account],
      ['-l h_rt=', f.seconds === undefined ? undefined : hms(f.seconds)],
      ['-pe ', f.cpus === undefined ? undefined : `${pe} ${f.cpus}`],
      ['-l h_vmem=', f.mib === undefined ? undefined : `${f.mib}M`],
      ['-l gpu=', f.gpus],
    ]),
    // A directory: Grid Engine names the files <job name>.o<job id>.<task id>.
    `#$ -o ${f.logs ?? '/dev/null'}`,
    `#$ -e ${f.logs ?? '/dev/null'}`,
  ]);
}

/** A PBS Pro / OpenPBS launcher: one `qsub` with `-J 1-n` (one daemon: a plain job, as PBS refuses `-J 1-1`). */
export function pbs(options: PbsOptions = {}): ClusterLauncher {
  checkObject('pbs', options);
  return build('pbs', SCHEDULERS.pbs, options, ['queue'], (f) => {
    const select = [
      f.cpus === undefined ? undefined : `ncpus=${f.cpus}`,
      f.mib === undefined ? undefined : `mem=${f.mib}mb`,
      f.gpus === undefined ? undefined : `ngpus=${f.gpus}`,
    ].filter((s) => s !== undefined);
    return [
      ...set('#PBS', [
        ['-q ', f.queue],
        ['-A ', f.account],
        ['-l walltime=', f.seconds === undefined ? undefined : hms(f.seconds)],
        ['-l select=1:', select.length > 0 ? select.join(':') : undefined],
      ]),
      `#PBS -o ${f.logs === undefined ? '/dev/null' : `${f.logs}/`}`,
      `#PBS -e ${f.logs === undefined ? '/dev/null' : `${f.logs}/`}`,
    ];
  });
}

/** An IBM Spectrum LSF launcher: one `bsub` with `-J "name[1-n]"`. */
export function lsf(options: LsfOptions = {}): ClusterLauncher {
  checkObject('lsf', options);
  return build('lsf', SCHEDULERS.lsf, options, ['queue'], (f) => [
    ...set('#BSUB', [
      ['-q ', f.queue],
      ['-P ', f.account],
      // LSF's -W is [hours:]minutes: round up.
      ['-W ', f.seconds === undefined ? undefined : `${Math.floor(Math.ceil(f.seconds / 60) / 60)}:${String(Math.ceil(f.seconds / 60) % 60).padStart(2, '0')}`],
      ['-n ', f.cpus],
      // With a unit: a bare number is read in the site's LSF_UNIT_FOR_LIMITS (KB by default).
      ['-M ', f.mib === undefined ? undefined : `${f.mib}MB`],
      ['-R ', f.mib === undefined ? undefined : `"rusage[mem=${f.mib}MB]"`],
      ['-gpu ', f.gpus === undefined ? undefined : `"num=${f.gpus}"`],
    ]),
    // %J: job id, %I: array index.
    `#BSUB -o ${f.logs === undefined ? '/dev/null' : `${f.logs}/%J_%I.out`}`,
    `#BSUB -e ${f.logs === undefined ? '/dev/null' : `${f.logs}/%J_%I.err`}`,
  ]);
}

/** The builder for a scheduler name. */
export const builders: Readonly<Record<SchedulerName, (options?: JobFields) => ClusterLauncher>> = { slurm, sge, pbs, lsf };
