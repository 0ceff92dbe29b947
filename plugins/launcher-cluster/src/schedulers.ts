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
  /** The directive that makes the job an array of `n` elements. */
  arrayDirective(n: number, jobName: string): string;
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
}

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
      return m ? { cancelId: m[1]!, element: byIndex(m[1]!, (id, i) => `${id}_${i}`) } : undefined;
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
      return m ? { cancelId: m[1]!, element: byIndex(m[1]!, (id, i) => `${id}.${i}`) } : undefined;
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
    arrayDirective: (n) => `#PBS -J 1-${n}`,
    arrayOption: /^#PBS\s+-J\b/,
    nameDirective: (name) => `#PBS -N ${name}`,
    nameOption: /^#PBS\s+-N\b/,
    // PBS_JOBID of a subjob is "12345[3].server": drop the server part.
    elementId: '${PBS_JOBID%%.*}',
    parse(stdout) {
      const text = stdout.trim();
      const m = /^(\d+)\[\](?:\.\S+)?$/.exec(text);
      return m ? { cancelId: text, element: byIndex(m[1]!, (id, i) => `${id}[${i}]`) } : undefined;
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
      return m ? { cancelId: m[1]!, element: byIndex(m[1]!, (id, i) => `${id}[${i}]`) } : undefined;
    },
  },
};

/** The scheduler whose directive prefix starts `line`, if any. */
export function schedulerOfDirective(line: string): Scheduler | undefined {
  return Object.values(SCHEDULERS).find((s) => line === s.prefix || line.startsWith(`${s.prefix} `) || line.startsWith(`${s.prefix}\t`));
}
