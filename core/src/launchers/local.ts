import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SECRET_ENV } from '../wire/auth.js';
import { SECRET_STDIN_FLAG } from '../wire/daemon-args.js';
import { daemonOptionArgs } from '../wire/daemon-args.js';
import { LaunchError } from '../errors.js';
import type { LaunchHandle, Launcher, LaunchSpec } from '../launcher.js';
import { watchChild } from './child-output.js';
import { reapOnHostDeath } from './reaper.js';

/** The daemon entry script, next to this module's build output. */
export function daemonScript(): string {
  // From src/ (tests) and from dist/ (built), ../dist/daemon-main.js is the same file.
  const path = fileURLToPath(new URL('../dist/daemon-main.js', import.meta.url));
  if (!existsSync(path)) {
    const fromLaunchers = fileURLToPath(new URL('../../dist/daemon-main.js', import.meta.url));
    if (existsSync(fromLaunchers)) return fromLaunchers;
    throw new LaunchError(`the daemon script ${path} does not exist: build @mirai-ts/core first (pnpm build)`);
  }
  return path;
}

/** Node flags for daemons: bare `import()` specifiers resolve from the host's directory. */
export const DAEMON_NODE_FLAGS = ['--experimental-import-meta-resolve'];

/** The argv (after `node`) that starts one daemon. */
export function daemonArgv(spec: LaunchSpec, script = daemonScript()): string[] {
  const argv = [...DAEMON_NODE_FLAGS, ...(spec.options.nodeOptions ?? []), script, spec.url, ...daemonOptionArgs(spec.options)];
  if (spec.transport) argv.push(`--transport=${JSON.stringify(spec.transport)}`);
  if (spec.dialOptions) argv.push(`--dial-options=${JSON.stringify(spec.dialOptions)}`);
  return argv;
}

/**
 * Starts daemons as child processes of the host, in the host's working directory.
 * With `output`, their stdout and stderr appear in the host's, each line tagged.
 */
export function localLauncher(): Launcher {
  return {
    kind: 'local',
    async launch(spec: LaunchSpec, n: number): Promise<LaunchHandle[]> {
      // The host ends a stuck local daemon itself (its handle can kill it): no watchdog needed.
      // The secret goes on the daemon's stdin, which it reads once: not in its environment,
      // where a task could read it back from /proc/self/environ.
      const argv = [...daemonArgv({ ...spec, options: { watchdog: false, ...spec.options } }), SECRET_STDIN_FLAG];
      const handles: LaunchHandle[] = [];
      for (let i = 0; i < n; i++) handles.push(startOne(spec, argv));
      return handles;
    },
    commands(spec: LaunchSpec, n: number): string[] {
      const line = [process.execPath, ...daemonArgv(spec)].map(shellQuote).join(' ');
      return Array.from({ length: n }, () => line);
    },
  };
}

function startOne(spec: LaunchSpec, argv: string[]): LaunchHandle {
  const id = randomUUID();
  const output = spec.options.output === true || spec.options.output === 'host';
  const child = spawn(process.execPath, argv, {
    cwd: process.cwd(),
    env: withoutSecret({ ...process.env, MIRAI_LAUNCH_ID: id }),
    stdio: ['pipe', output ? 'pipe' : 'ignore', 'pipe'],
  });
  child.stdin?.on('error', () => {}); // a daemon that died at once: its exit is reported instead
  child.stdin?.end(`${spec.secret}\n`);
  const watched = watchChild(child, { tag: `[${spec.profile} daemon pid ${child.pid ?? '?'}] `, output, redact: spec.secret });
  // A daemon that must leave with its host (autoexit: true) leaves even when stuck in a task.
  if (child.pid !== undefined && (spec.options.autoexit ?? true) === true) reapOnHostDeath(child.pid, watched.exited);
  return {
    id,
    pid: child.pid,
    exited: watched.exited,
    stderrTail: watched.stderrTail,
    kill: () => {
      child.kill('SIGKILL');
    },
  };
}

/** POSIX shell quoting for command lines shown to users. */
export function shellQuote(word: string): string {
  if (/^[\w@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** An environment without the profile secret (the host's own may hold it, for a nested host). */
function withoutSecret(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  delete env[SECRET_ENV];
  return env;
}
