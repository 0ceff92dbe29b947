/**
 * The job script of one array submission. Every element runs the same text: which element
 * it is comes from the scheduler's variables at run time, and the secret from a file.
 */
import type { LaunchSpec, RemoteDaemonProgram } from '@mirai-ts/core';
import { daemonProgramWords, shellQuote } from '@mirai-ts/core/plugin';
import type { Scheduler } from './schedulers.js';

/** A launch spec without its secret: what a job script is made from. */
export type ScriptSpec = Omit<LaunchSpec, 'secret'>;

/** The parts of a job script that do not depend on the launch. */
export interface ScriptParts {
  readonly scheduler: Scheduler;
  /** `#!/bin/sh` unless the options began with another. */
  readonly shebang: string;
  /** Directive lines, prefix included, in order. */
  readonly directives: readonly string[];
  /** Shell lines run before the daemons start (`module load nodejs`). */
  readonly prologue: readonly string[];
  /** The job name; default `mirai-<profile>`. */
  readonly jobName: string | undefined;
  readonly processesPerJob: number;
  readonly program: RemoteDaemonProgram;
}

/** The script for an array of `elements` jobs, whose daemons read the secret from `secretFile`. */
export function renderScript(parts: ScriptParts, spec: ScriptSpec, elements: number, secretFile: string): string {
  const { scheduler, processesPerJob } = parts;
  const words = [...daemonProgramWords({ ...spec, secret: '' }, parts.program), `--secret-file=${secretFile}`].map(shellQuote).join(' ');
  const name = jobNameFor(parts, spec.profile);
  const named = parts.directives.some((d) => scheduler.nameOption.test(d));
  const nameLine = named ? undefined : scheduler.nameDirective(name);
  const shell = scheduler.shell;
  const shellLine = shell && !parts.directives.some((d) => shell.option.test(d)) ? shell.directive(parts.shebang.slice(2).trim().split(/\s+/)[0]!) : undefined;
  const arrayLine = scheduler.arrayDirective(elements, name);
  const out = [parts.shebang, ...(nameLine ? [nameLine] : []), ...(shellLine ? [shellLine] : []), ...parts.directives, ...(arrayLine ? [arrayLine] : []), ...parts.prologue];
  if (parts.program.cwd !== undefined) out.push(`cd ${shellQuote(parts.program.cwd)} || exit 1`);
  // The host matches each connecting daemon to this launch by MIRAI_LAUNCH_ID.
  if (processesPerJob === 1) {
    out.push(`MIRAI_LAUNCH_ID="${scheduler.elementId}"`, 'export MIRAI_LAUNCH_ID', `exec ${words}`);
  } else {
    const ks = Array.from({ length: processesPerJob }, (_, i) => i + 1).join(' ');
    out.push(
      `MIRAI_JOB_ELEMENT="${scheduler.elementId}"`,
      `for k in ${ks}; do`,
      `  MIRAI_LAUNCH_ID="\${MIRAI_JOB_ELEMENT}_$k" ${words} &`,
      'done',
      'wait',
    );
  }
  return `${out.join('\n')}\n`;
}

/** The job name: as given, or `mirai-<profile>` made safe for every scheduler and cut to its limit. */
export function jobNameFor(parts: Pick<ScriptParts, 'jobName' | 'scheduler'>, profile: string): string {
  return parts.jobName ?? `mirai-${profile}`.replace(/[^\w.-]/g, '_').slice(0, parts.scheduler.nameMax);
}
