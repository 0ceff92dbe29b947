/**
 * What differs between batch schedulers, in one table: directive prefix, array directive,
 * the variables that name an array element at run time, submission output, cancellation.
 * Facts from the schedulers' documentation (Slurm, Son of Grid Engine, PBS Pro/OpenPBS, LSF).
 */

/** The schedulers this plugin can submit to. */
export type SchedulerName = 'slurm' | 'sge' | 'pbs' | 'lsf';

/** One submitted array job, as parsed from the submission command's output. */
export interface Submitted {
  /** What the cancel command takes (`12345`, `12345[].server`). */
  readonly cancelId: string;
  /** The launch id of array element `index` (1-based): the value its job script computes. */
  element(index: number): string;
  /** The cancel command's arguments that withdraw element `index` alone (`12345_3`, `123 -t 3`). */
  cancelElement(index: number): string[];
}

/** One array element as the scheduler lists it. */
export interface ListedJob {
  /** The element's launch id (`12345_3`, `123.3`, `12345[3]`). */
  readonly job: string;
  /** The scheduler's own state code (`PENDING`, `qw`, `Q`, `PEND`, ...). */
  readonly state: string;
  /** Why a pending job waits, where the listing says (Slurm's reason: `Priority`, `Resources`, ...). */
  readonly reason?: string;
}

export interface Scheduler {
  readonly name: SchedulerName;
  /** Default submission and cancel programs. */
  readonly submit: string;
  readonly cancel: string;
  /** Directive prefix: `#SBATCH`, `#$`, `#PBS`, `#BSUB`. */
  readonly prefix: string;
  /** Arguments before the script (which goes on standard input). */
  readonly submitArgs: readonly string[];
  /** The scheduler's usual cap on array size (MaxArraySize 1001 → 1000, MAX_JOB_ARRAY_SIZE 1000, ...). */
  readonly arrayMax: number;
  /** Job name length limit (PBS: 15 characters on some sites). */
  readonly nameMax: number;
  /**
   * The directive that makes the job an array of `n` elements; undefined when one element is
   * submitted as a plain job (PBS, whose `-J` needs a range of two or more).
   */
  arrayDirective(n: number, jobName: string): string | undefined;
  /** Matches a user's directive that would set the array (the launcher sets it). */
  readonly arrayOption: RegExp;
  /** The directive naming the job, or undefined when the array directive carries the name (LSF). */
  nameDirective(jobName: string): string | undefined;
  /** Matches a user's directive that names the job (then the launcher adds none). */
  readonly nameOption: RegExp;
  /**
   * The directive choosing the job's shell, for schedulers that ignore the shebang (Grid
   * Engine's default queue shell is csh), and the pattern of a user's own.
   */
  readonly shell?: { directive(interpreter: string): string; option: RegExp };
  /** Shell text (inside double quotes) for this array element's launch id, at run time. */
  readonly elementId: string;
  /** Parses the submission's standard output; undefined if it is not understood. */
  parse(stdout: string): Submitted | undefined;
  /**
   * How to list a submission's elements ("list own jobs" in each scheduler's manual); `parse`
   * keeps the elements still queued or running, not those the scheduler shows as finished.
   */
  readonly list: {
    readonly command: string;
    args(cancelId: string): string[];
    parse(stdout: string, cancelId: string): ListedJob[];
    /**
     * Why a listed job will not leave the queue without someone's help (Grid Engine's error
     * states, `Eqw`; a Slurm job requeued held after its node failed to start it), as words
     * that follow its id ("is in error state Eqw"); undefined for a job that may still start.
     * Such a job would wait in the queue forever.
     */
    stuck?(job: ListedJob): string | undefined;
  };
}

/** Lines of `stdout` split into whitespace-separated words, empty lines dropped. */
const rows = (stdout: string): string[][] =>
  stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((w) => w[0] !== '');

/** Slurm states of jobs that are no longer queued or running. */
const SLURM_ENDED = new Set(['COMPLETING', 'COMPLETED', 'CANCELLED', 'FAILED', 'TIMEOUT', 'NODE_FAIL', 'PREEMPTED', 'BOOT_FAIL', 'DEADLINE', 'OUT_OF_MEMORY', 'SPECIAL_EXIT', 'REVOKED']);
/**
 * Reasons of pending Slurm jobs that no scheduling pass will start (squeue(1) "JOB REASON
 * CODES"): the node failed to start the job and Slurm requeued it held (a prolog that failed,
 * a broken mount; the node is drained), or the request can never be met here. A hold someone
 * placed (`JobHeldUser`, `JobHeldAdmin`) is not among them: it ends when they release the job.
 */
const SLURM_STUCK_REASONS = new Set([
  'launch failed requeued held',
  'JobLaunchFailure',
  'DependencyNeverSatisfied',
  'BadConstraints',
  'InvalidAccount',
  'InvalidQOS',
  'PartitionTimeLimit',
]);

const byIndex = (id: string, format: (id: string, i: number) => string) => (i: number) => format(id, i);

export const SCHEDULERS: Readonly<Record<SchedulerName, Scheduler>> = {
  slurm: {
    name: 'slurm',
    submit: 'sbatch',
    cancel: 'scancel',
    prefix: '#SBATCH',
    // --parsable: "12345" or "12345;cluster" instead of prose.
    submitArgs: ['--parsable'],
    arrayMax: 1000,
    nameMax: 128,
    arrayDirective: (n) => `#SBATCH --array=1-${n}`,
    arrayOption: /^#SBATCH\s+(--array\b|-a\b)/,
    nameDirective: (name) => `#SBATCH --job-name=${name}`,
    nameOption: /^#SBATCH\s+(--job-name\b|-J\b)/,
    elementId: '${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}',
    parse(stdout) {
      const m = /^(\d+)(?:;\S+)?$/.exec(stdout.trim());
      if (!m) return undefined;
      const element = byIndex(m[1]!, (id, i) => `${id}_${i}`);
      return { cancelId: m[1]!, element, cancelElement: (i) => [element(i)] };
    },
    // -r: one line per array element, even pending ones. squeue shows jobs that are ending
    // (COMPLETING), and ended ones too when the user's SQUEUE_STATES asks: those are gone.
    // %r, last: the reason, which may hold spaces ("launch failed requeued held").
    list: {
      command: 'squeue',
      args: (id) => ['-h', '-r', '-j', id, '-o', '%i %T %r'],
      parse: (stdout) =>
        rows(stdout)
          .map(([job, state, ...reason]) => ({ job: job!, state: state ?? '', reason: reason.join(' ') }))
          .filter((j) => !SLURM_ENDED.has(j.state)),
      stuck: ({ state, reason }) =>
        state === 'PENDING' && reason !== undefined && SLURM_STUCK_REASONS.has(reason) ? `is pending with reason "${reason}"` : undefined,
    },
  },
  sge: {
    name: 'sge',
    submit: 'qsub',
    cancel: 'qdel',
    prefix: '#$',
    // -terse: "123.1-4:1" for an array; the job number is what qdel and JOB_ID use.
    submitArgs: ['-terse'],
    arrayMax: 75_000,
    nameMax: 128,
    arrayDirective: (n) => `#$ -t 1-${n}`,
    arrayOption: /^#\$\s+-t\b/,
    nameDirective: (name) => `#$ -N ${name}`,
    nameOption: /^#\$\s+-N\b/,
    shell: { directive: (interpreter) => `#$ -S ${interpreter}`, option: /^#\$\s+-S\b/ },
    elementId: '${JOB_ID}.${SGE_TASK_ID}',
    parse(stdout) {
      const m = /^(\d+)(?:\.\S+)?$/.exec(stdout.trim()) ?? /Your job(?:-array)? (\d+)/.exec(stdout);
      return m ? { cancelId: m[1]!, element: byIndex(m[1]!, (id, i) => `${id}.${i}`), cancelElement: (i) => [m[1]!, '-t', String(i)] } : undefined;
    },
    // -g d: one line per array task; columns job-ID prior name user state ... ja-task-ID.
    // -u '*': every owner's jobs (a submit wrapper may submit as another user). The arguments
    // name no job, so one run serves every submission a watch pass lists.
    list: {
      command: 'qstat',
      args: () => ['-g', 'd', '-u', '*'],
      parse: (stdout, id) => rows(stdout).filter((w) => w[0] === id).map((w) => ({ job: `${id}.${w[w.length - 1]}`, state: w[4] ?? '' })),
      // E: the job failed to start (an output path it cannot write, a missing directory) and
      // stays queued in an error state until an administrator clears it (`qmod -cj`).
      stuck: ({ state }) => (state.includes('E') ? `is in error state ${state}` : undefined),
    },
  },
  pbs: {
    name: 'pbs',
    submit: 'qsub',
    cancel: 'qdel',
    prefix: '#PBS',
    submitArgs: [],
    arrayMax: 10_000,
    nameMax: 15,
    // PBS refuses `-J 1-1` (a range must have start < end): one element is a plain job.
    arrayDirective: (n) => (n === 1 ? undefined : `#PBS -J 1-${n}`),
    arrayOption: /^#PBS\s+-J\b/,
    nameDirective: (name) => `#PBS -N ${name}`,
    nameOption: /^#PBS\s+-N\b/,
    // PBS_JOBID of a subjob is "12345[3].server", of a plain job "12345.server": drop the
    // server part (so a one-element submission, a plain job, is "12345").
    elementId: '${PBS_JOBID%%.*}',
    parse(stdout) {
      const text = stdout.trim();
      const array = /^(\d+)\[\](\.\S+)?$/.exec(text);
      if (array) {
        const element = byIndex(array[1]!, (id, i) => `${id}[${i}]`);
        return { cancelId: text, element, cancelElement: (i) => [`${element(i)}${array[2] ?? ''}`] };
      }
      // A plain job: the one-element submission.
      const plain = /^(\d+)(\.\S+)?$/.exec(text);
      return plain ? { cancelId: text, element: () => plain[1]!, cancelElement: () => [text] } : undefined;
    },
    // -t: the subjobs (of an array, not the array's own "12345[]" line) or the plain job;
    // columns Job id, Name, User, Time Use, S, Queue. F (finished) and X (subjob ended) are gone.
    list: {
      command: 'qstat',
      args: (id) => ['-t', id],
      parse: (stdout) =>
        rows(stdout)
          .filter((w) => /^\d+(\[\d+\])?(\.|$)/.test(w[0]!) && w[4] !== 'F' && w[4] !== 'X')
          .map((w) => ({ job: w[0]!.replace(/\..*$/, ''), state: w[4] ?? '' })),
    },
  },
  lsf: {
    name: 'lsf',
    submit: 'bsub',
    cancel: 'bkill',
    prefix: '#BSUB',
    submitArgs: [],
    arrayMax: 1000,
    nameMax: 128,
    arrayDirective: (n, jobName) => `#BSUB -J "${jobName}[1-${n}]"`,
    arrayOption: /^#BSUB\s+-J\b/,
    nameDirective: () => undefined,
    nameOption: /^#BSUB\s+-J\b/,
    elementId: '${LSB_JOBID}[${LSB_JOBINDEX}]',
    parse(stdout) {
      const m = /Job <(\d+)> is submitted/.exec(stdout);
      if (!m) return undefined;
      const element = byIndex(m[1]!, (id, i) => `${id}[${i}]`);
      return { cancelId: m[1]!, element, cancelElement: (i) => [element(i)] };
    },
    // bjobs shows finished jobs (DONE, EXIT) for a while (CLEAN_PERIOD): those are gone.
    list: {
      command: 'bjobs',
      args: (id) => ['-noheader', '-o', 'jobid jobindex stat', id],
      parse: (stdout) =>
        rows(stdout)
          .map(([id, index, state]) => ({ job: `${id}[${index}]`, state: state ?? '' }))
          .filter((j) => j.state !== 'DONE' && j.state !== 'EXIT'),
    },
  },
};

/** The scheduler whose directive prefix starts `line`, if any. */
export function schedulerOfDirective(line: string): Scheduler | undefined {
  return Object.values(SCHEDULERS).find((s) => line === s.prefix || line.startsWith(`${s.prefix} `) || line.startsWith(`${s.prefix}\t`));
}
