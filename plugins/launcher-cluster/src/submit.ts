/** Runs a scheduler command (sbatch, qsub, bsub, scancel, ...) with the job script on stdin. */
import { spawn } from 'node:child_process';
import { SECRET_ENV } from '@mirai-ts/core/plugin';

export interface CommandResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Set when the command could not be started or ran past its time. */
  readonly failure?: string;
}

/**
 * The submission environment: the host's, minus anything that must not reach jobs (schedulers
 * copy it into the job record: `sbatch --export=ALL`, `qsub -V`, LSF by default).
 */
export function submissionEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env[SECRET_ENV];
  delete env.MIRAI_LAUNCH_ID;
  return env;
}

/**
 * How long output may still come after the command exited: what it wrote before exiting is
 * read at once, but a process it left behind (a wrapper script's background child) may hold
 * the pipes open for as long as it lives.
 */
const EXIT_GRACE_MS = 500;

/**
 * Runs of list commands in one pass over the watched submissions, by their arguments: a
 * command whose arguments name no job (Grid Engine lists all of the user's jobs) runs once.
 */
export type ListRuns = Map<string, Promise<CommandResult>>;

/**
 * Runs `command` with `input` on its stdin. Settles within `timeoutMs` whatever the command
 * does: on a timeout, the command's whole process group is killed (a wrapper script and what
 * it started, such as a hung `sbatch`) and the result has a `failure`; the pipes are never
 * waited on past {@link EXIT_GRACE_MS} after the command exits.
 */
export function runCommand(command: string, args: readonly string[], input: string, timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let failure: string | undefined;
    let code: number | null = null;
    // Detached: the command leads a process group of its own, which a timeout kills whole.
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: submissionEnv(), detached: true });
    let done = false;
    let grace: NodeJS.Timeout | undefined;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(grace);
      // Whatever still holds the pipes is not waited for.
      child.stdin.destroy();
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({ code, stdout, stderr, ...(failure !== undefined ? { failure } : {}) });
    };
    const timer = setTimeout(() => {
      failure = `'${command}' did not finish within ${timeoutMs} ms`;
      killGroup(child.pid);
      finish();
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => {}); // a command that exits without reading: its exit says why
    child.stdin.end(input);
    child.once('error', (err) => {
      failure = `cannot run '${command}': ${err.message}`;
      finish();
    });
    child.once('exit', (exitCode) => {
      code = exitCode;
      grace = setTimeout(finish, EXIT_GRACE_MS);
    });
    child.once('close', (exitCode: number | null) => {
      code = exitCode;
      finish();
    });
  });
}

/** SIGKILLs the process group led by `pid` (a detached child); a group already gone is fine. */
function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ended already
  }
}
