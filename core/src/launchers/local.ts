import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SECRET_ENV } from '../wire/auth.js';
import { SECRET_STDIN_FLAG } from '../wire/daemon-args.js';
import { daemonOptionArgs } from '../wire/daemon-args.js';
import { LaunchError } from '../errors.js';
import type { LaunchHandle, Launcher, LaunchSpec } from '../launcher.js';
import { watchChild } from './child-output.js';
import { reapOnHostDeath } from './reaper.js';
import { shellQuote } from './redact.js';

export { shellQuote };

/** Options only the local launcher reads (from the launch spec's daemon options). */
export interface LocalDaemonOptions {
  /**
   * Node flags of local daemon processes, before their script. `'inherit'` (default): the
   * host's loaders and module flags from `process.execArgv` (`--import`, `--require`,
   * `--loader`, `--conditions`, `--enable-source-maps`, `--experimental-*`), so
   * `fromModule('./src/tasks.ts')` works under `node --import tsx`; never `--inspect`,
   * `--eval` or other flags that would change what the process runs. `'none'`: none of them.
   * An array: exactly these (`['--import', 'tsx']`), e.g. under vitest, whose own loader
   * daemons cannot inherit. `NODE_OPTIONS` reaches daemons in any case, with the environment.
   */
  readonly execArgv?: readonly string[] | 'inherit' | 'none';
  /**
   * The daemon entry script local daemons run (a path or file URL): a copy of
   * `@mirai-ts/core`'s `dist/daemon-main.js` (or a bundle of it) for apps bundled with
   * esbuild or webpack, where core's own files are not beside the app's code.
   */
  readonly daemonScript?: string | URL;
}

/** Flags of the host that daemons inherit, and whether each takes the next word as its value. */
const INHERITED_WITH_VALUE = new Set(['--import', '--loader', '--experimental-loader', '--require', '-r', '--conditions', '-C']);
const INHERITED = /^(--enable-source-maps|--preserve-symlinks|--no-warnings|--no-deprecation|--disable-warning=.+|--(no-)?experimental-[\w-]+(=.*)?)$/;

/** Flags that make a process run something else than its script, or wait for a debugger. */
const REFUSED = /^(-e|-p|-c|-i|--eval|--print|--check|--interactive|--input-type|--test|--watch|--inspect|--inspect-brk|--inspect-wait|--debug)(\b|=|-|$)/;

/**
 * The host's flags local daemons inherit (see {@link LocalDaemonOptions.execArgv}). Inside a
 * vitest worker, vitest's own additions are left out: its warning filter (`--require
 * …/vitest/suppress-warnings.cjs`) and the `--conditions` it derives from Vite's
 * `resolve.conditions` (a `source` condition would make daemons import packages' `.ts`).
 */
export function inheritedExecArgv(execArgv: readonly string[] = process.execArgv, env: NodeJS.ProcessEnv = process.env): string[] {
  const inVitest = env.VITEST !== undefined;
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!;
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg : arg.slice(0, eq);
    if (INHERITED_WITH_VALUE.has(name)) {
      const value = eq < 0 ? execArgv[++i] : arg.slice(eq + 1);
      if (value === undefined) break;
      if (inVitest && (name === '--conditions' || name === '-C' || /[\\/]vitest[\\/]suppress-warnings\.cjs$/.test(value))) continue;
      out.push(name, value);
    } else if (INHERITED.test(arg) && !DAEMON_NODE_FLAGS.includes(arg)) {
      out.push(arg);
    }
  }
  return out;
}

/** Checks an `execArgv` option: 'inherit', 'none', or node flags (with their values) that keep the daemon a daemon. */
export function checkExecArgv(value: unknown): string | undefined {
  const expected = "'inherit', 'none', or an array of node flags and their values such as ['--import', 'tsx']";
  if (value === 'inherit' || value === 'none') return undefined;
  if (!Array.isArray(value) || !value.every((w) => typeof w === 'string' && w !== '' && !/[\0\n]/.test(w))) return expected;
  if (value.length > 0 && !(value[0] as string).startsWith('-')) return `${expected} (the first word must be a flag, got '${value[0]}')`;
  const refused = (value as string[]).find((w) => REFUSED.test(w));
  return refused === undefined ? undefined : `${expected}, without '${refused}' (it would stop the process from running the daemon)`;
}

/** The node flags of local daemons for `options` (default: inherited from the host). */
export function localExecArgv(options: LocalDaemonOptions): string[] {
  const { execArgv = 'inherit' } = options;
  if (execArgv === 'none') return [];
  return execArgv === 'inherit' ? inheritedExecArgv() : [...execArgv];
}

const BUILT_ENTRY = 'dist/daemon-main.js';

/**
 * The daemon entry script: `explicit` (the `daemonScript` option), else the one next to this
 * module's build output. A bundled app has no such file; the error then names the option.
 */
export function daemonScript(explicit?: string | URL): string {
  if (explicit !== undefined) {
    const path = explicit instanceof URL || explicit.startsWith('file:') ? fileURLToPath(explicit) : resolvePath(explicit);
    if (!existsSync(path)) {
      throw new LaunchError(`daemonScript ${path} does not exist: give the path of @mirai-ts/core's ${BUILT_ENTRY}, or of a copy or bundle of it`);
    }
    return path;
  }
  // From src/ (tests) and from dist/ (built), ../dist/daemon-main.js is the same file.
  const path = fileURLToPath(new URL(`../${BUILT_ENTRY}`, import.meta.url));
  if (existsSync(path)) return path;
  const fromLaunchers = fileURLToPath(new URL(`../../${BUILT_ENTRY}`, import.meta.url));
  if (existsSync(fromLaunchers)) return fromLaunchers;
  throw new LaunchError(
    `cannot find the mirai-ts daemon entry (looked for ${path}). In a bundled app (esbuild, webpack, Rollup) @mirai-ts/core's ` +
      `files are not beside the bundle: pass daemonScript, the path of @mirai-ts/core's ${BUILT_ENTRY} or of a copy or bundle of it ` +
      `(daemons(n, { daemonScript })), or keep @mirai-ts/core external. In a clone of mirai-ts, build it first (pnpm build).`,
  );
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

/** The argv (after `node`) of a local daemon: its inherited or chosen flags first. */
function localArgv(spec: LaunchSpec): string[] {
  const options = spec.options as LocalDaemonOptions;
  return [...localExecArgv(options), ...daemonArgv(spec, daemonScript(options.daemonScript))];
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
      const argv = [...localArgv({ ...spec, options: { watchdog: false, ...spec.options } }), SECRET_STDIN_FLAG];
      const handles: LaunchHandle[] = [];
      for (let i = 0; i < n; i++) handles.push(startOne(spec, argv));
      return handles;
    },
    commands(spec: LaunchSpec, n: number): string[] {
      const line = [process.execPath, ...localArgv(spec)].map(shellQuote).join(' ');
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

/** An environment without the profile secret (the host's own may hold it, for a nested host). */
function withoutSecret(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  delete env[SECRET_ENV];
  return env;
}
