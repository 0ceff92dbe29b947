import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { LaunchHandle, Launcher, LaunchSpec } from '@mirai-ts/core';
import { daemonArgv, SECRET_ENV, shellQuote } from '@mirai-ts/core/plugin';

/** Starts daemons on this machine at a lower CPU priority (`nice -n <level>`). */
export function niceLauncher(level = 10): Launcher {
  const argv = (spec: LaunchSpec): string[] => ['-n', String(level), process.execPath, ...daemonArgv(spec)];
  return {
    kind: 'nice',
    async launch(spec: LaunchSpec, n: number): Promise<LaunchHandle[]> {
      return Array.from({ length: n }, () => {
        const id = randomUUID();
        const child = spawn('nice', argv(spec), {
          // The secret travels in the environment, never in argv (which `ps` shows to all).
          // MIRAI_LAUNCH_ID lets the host match this process to the connection it makes.
          env: { ...process.env, [SECRET_ENV]: spec.secret, MIRAI_LAUNCH_ID: id },
          stdio: 'ignore',
        });
        child.unref(); // daemons must not keep the host process alive
        const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
          child.once('exit', (code, signal) => resolve({ code, signal })),
        );
        return { id, pid: child.pid, exited, kill: () => child.kill('SIGKILL') };
      });
    },
    commands(spec: LaunchSpec, n: number): string[] {
      const line = ['nice', ...argv(spec)].map(shellQuote).join(' ');
      return Array.from({ length: n }, () => line);
    },
  };
}
