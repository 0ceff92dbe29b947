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

export function runCommand(command: string, args: readonly string[], input: string, timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let failure: string | undefined;
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: submissionEnv() });
    const timer = setTimeout(() => {
      failure = `'${command}' did not finish within ${timeoutMs} ms`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => {}); // a command that exits without reading: its exit says why
    child.stdin.end(input);
    let done = false;
    const finish = (code: number | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ...(failure !== undefined ? { failure } : {}) });
    };
    child.once('error', (err) => {
      failure = `cannot run '${command}': ${err.message}`;
      finish(null);
    });
    child.once('close', finish);
  });
}
