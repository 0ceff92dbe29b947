/**
 * Remote daemons, as mirai's `remote_config()` and `launch_remote()`:
 *
 * - `remoteConfig()` with no command: manual deployment. `launchRemote(n, remoteConfig())`
 *   returns the shell commands to paste on other machines (URL, CA and secret included).
 * - `remoteConfig({ command, args, quote })`: a generic launcher. The line
 *   `command args…` runs in `/bin/sh`, with the `'.'` among `args` replaced by the daemon
 *   command (shell-quoted with `quote: true`, for commands such as `ssh` that pass it to
 *   another shell).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { SECRET_ENV } from '../wire/auth.js';
import { ConfigError } from '../errors.js';
import { checkOptions, is, show } from '../options-check.js';
import type { LaunchHandle, Launcher, LaunchSpec } from '../launcher.js';
import { watchChild } from './child-output.js';
import { shellQuote } from './local.js';
import { remoteDaemonCommand, type RemoteDaemonProgram, type SecretDelivery } from './remote-command.js';

/** Options of {@link remoteConfig}. */
export interface RemoteConfigOptions extends RemoteDaemonProgram {
  /**
   * The program that starts daemons (`'ssh'`, `'srun'`, `'sbatch'`, ...). Without one,
   * nothing is run: `launchRemote()` returns the commands for you to run by hand.
   */
  readonly command?: string;
  /**
   * Arguments: shell text, one of them exactly `'.'`, which becomes the daemon command.
   * An array of such arrays launches once per element (one per host, say); `n` must then
   * be 1 or the number of elements. Default `['.']`.
   */
  readonly args?: readonly string[] | readonly (readonly string[])[];
  /**
   * Shell-quote the daemon command into one word (default false). Needed when `command`
   * hands it to another shell (`ssh host .`, `sbatch --wrap .`); not for `srun .`.
   */
  readonly quote?: boolean;
  /**
   * How the secret reaches daemons. Default: `'stdin'` with `quote` (the daemon command
   * runs in another shell, which reads it from the command's standard input), `'env'`
   * without (the daemon inherits the launching shell's environment); `'inline'` with no
   * command (for pasting). See {@link SecretDelivery}.
   */
  readonly secret?: SecretDelivery;
  /**
   * Keep the command's standard input open after the secret, and have its daemons end when it
   * ends (`mirai-daemon --exit-on-stdin-eof`; default false). For a command that forwards its
   * stdin to the daemon command (`ssh`, `srun`, `docker exec -i`, `kubectl exec -i`): killing it
   * (a launch that failed or timed out, a reset, the host's exit) then ends the daemons it
   * started on the other machine, which `ssh` without a terminal otherwise leaves running. Needs
   * `quote: true` and `secret: 'stdin'`. Not for a command that does not forward its stdin
   * (`sbatch`): its daemons would find it closed and exit at once.
   */
  readonly endWithStdin?: boolean;
}

/** A launcher from {@link remoteConfig}; `config` keeps what it was made from. */
export interface RemoteLauncher extends Launcher {
  readonly kind: 'remote';
  readonly config: RemoteConfigOptions;
}

/**
 * A generic remote launcher (mirai's `remote_config()`), or with no `command` a recipe for
 * manual deployment. Use with `daemons(n, { url, remote })` or {@link launchRemote}.
 *
 * ```ts
 * // by hand: paste each command on another machine
 * await daemons({ url: hostUrl({ tls: true }).eth0 });
 * console.log((await launchRemote(2, remoteConfig())).join('\n'));
 * // through Slurm: the daemon inherits MIRAI_SECRET from srun's environment
 * await launchRemote(4, remoteConfig({ command: 'srun', args: ['--ntasks=1', '.'] }));
 * ```
 */
export function remoteConfig(options: RemoteConfigOptions = {}): RemoteLauncher {
  const config = checkConfig(options);
  const argSets = normalizeArgs(config.args);
  const quote = config.quote ?? false;
  const secret: SecretDelivery = config.secret ?? (config.command === undefined ? 'inline' : quote ? 'stdin' : 'env');
  const endWithStdin = config.endWithStdin === true;
  if (endWithStdin && (!quote || secret !== 'stdin' || config.command === undefined)) {
    throw new ConfigError(
      `remoteConfig: endWithStdin needs a command, quote: true and secret: 'stdin' (the daemons read the command's standard input), got ` +
        `${config.command === undefined ? 'no command' : `quote: ${String(quote)}, secret: '${secret}'`}`,
    );
  }
  if (!quote && config.command !== undefined) {
    if (config.cwd !== undefined) throw new ConfigError(`remoteConfig: 'cwd' needs quote: true (the daemon command then runs in a shell of its own)`);
    if (secret !== 'env') {
      throw new ConfigError(`remoteConfig: secret '${secret}' needs quote: true; unquoted, the daemon inherits MIRAI_SECRET from the environment (secret: 'env')`);
    }
  }

  const daemonCommand = (spec: LaunchSpec, delivery: SecretDelivery, launchId: string | undefined): string => {
    if (config.command === undefined) return remoteDaemonCommand(spec, config, { secret: delivery });
    // Unquoted, the daemon command is spliced into the line as plain words (`srun node …`),
    // so it can carry no `cd`/`read`/assignments: the secret and the launch id come from the environment.
    if (!quote) return remoteDaemonCommand(spec, config, { secret: 'env' });
    const launchIds = launchId === undefined ? [] : [launchId];
    return shellQuote(remoteDaemonCommand(spec, config, { secret: delivery, launchIds, ...(endWithStdin ? { endWithStdin } : { exec: true }) }));
  };
  /** The argument set of each exact launch's next daemon: they take the sets in turn. */
  let nextSet = 0;
  /** The argument sets of a launch of `n`: one line each. */
  const setsFor = (spec: LaunchSpec, n: number): string[][] => {
    if (spec.exact !== true || argSets.length === 1) return launchSets(argSets, n);
    const sets = Array.from({ length: n }, (_, i) => argSets[(nextSet + i) % argSets.length]!);
    nextSet = (nextSet + n) % argSets.length;
    return sets;
  };
  /** One line per argument set in `sets`; `launchIds` (one per line) when they are to be run. */
  const lines = (spec: LaunchSpec, sets: readonly string[][], delivery: SecretDelivery, launchIds?: readonly string[]): string[] => {
    if (config.command === undefined) return sets.map(() => daemonCommand(spec, delivery, undefined));
    return sets.map((args, i) => {
      const daemon = daemonCommand(spec, delivery, launchIds?.[i]);
      return [config.command!, ...args.map((a) => (a === '.' ? daemon : a))].join(' ');
    });
  };

  return {
    kind: 'remote',
    config,
    async launch(spec: LaunchSpec, n: number): Promise<LaunchHandle[]> {
      if (config.command === undefined) {
        throw new ConfigError(
          'remoteConfig() has no command, so it cannot start daemons: call launchRemote(n, remoteConfig()) for the ' +
            'commands to run by hand, and listen with daemons({ url }) meanwhile',
        );
      }
      // One launch id per line (one daemon each), so the host knows these daemons as its own:
      // it tells them to exit at a reset, and `repair` replaces a lost one.
      const sets = setsFor(spec, n);
      const ids = sets.map(() => randomUUID());
      return lines(spec, sets, secret, ids).map((line, i) => runLine(line, ids[i]!, spec, secret, endWithStdin));
    },
    commands(spec: LaunchSpec, n: number): string[] {
      // With a command the shown lines never hold the secret (it travels by stdin or env);
      // without one they must, to be pasteable.
      if (config.command === undefined) return lines(spec, Array.from({ length: n }, () => []), 'inline');
      return lines({ ...spec, secret: '<secret>' }, launchSets(argSets, n), secret);
    },
  };
}

// ---------------------------------------------------------------------------

function checkConfig(options: RemoteConfigOptions): RemoteConfigOptions {
  checkOptions('remoteConfig()', options, {
    command: is.any,
    args: is.any,
    quote: is.boolean,
    secret: is.oneOf('stdin', 'env', 'inline'),
    node: is.string,
    script: is.string,
    cwd: is.string,
    endWithStdin: is.boolean,
  });
  if (options.command !== undefined && (typeof options.command !== 'string' || options.command.trim() === '')) {
    throw new ConfigError(`remoteConfig: 'command' must be a non-empty string, got ${show(options.command)}`);
  }
  return { ...options };
}

function normalizeArgs(args: RemoteConfigOptions['args']): string[][] {
  if (args === undefined) return [['.']];
  if (!Array.isArray(args) || args.length === 0) throw new ConfigError(`remoteConfig: 'args' must be a non-empty array, got ${show(args)}`);
  const sets = args.every((a) => Array.isArray(a)) ? (args as string[][]) : [args as string[]];
  for (const set of sets) {
    const bad = set.findIndex((a) => typeof a !== 'string');
    if (bad >= 0) throw new ConfigError(`remoteConfig: 'args' must hold strings (or arrays of strings), got ${show(set[bad])} among them`);
    if (set.filter((a) => a === '.').length !== 1) {
      throw new ConfigError(`remoteConfig: 'args' must contain '.' exactly once, where the daemon command goes; got ${JSON.stringify(set)}`);
    }
  }
  return sets.map((s) => [...s]);
}

/** One argument set per launch: `n` copies of a single set, or every set once. */
function launchSets(sets: string[][], n: number): string[][] {
  if (sets.length === 1) return Array.from({ length: n }, () => sets[0]!);
  if (n !== 1 && n !== sets.length) {
    throw new ConfigError(`remoteConfig: ${sets.length} argument sets launch ${sets.length} daemons; n must be 1 or ${sets.length}, got ${n}`);
  }
  return sets;
}

/** How long a launch command may take to end by itself once its daemon was told to exit. */
const END_GRACE_MS = 2_000;

/**
 * Runs one launch line in /bin/sh, in a process group of its own. Launchers do not watch what
 * they start (a command such as `sbatch` or `ssh -f` returns long before its daemon connects),
 * so the handle has no `exited`; a line that fails is reported on stderr with its exit code
 * and output. The handle ends what the line still runs (the shell, an `ssh` it started, a
 * local daemon): `kill()` at once, for a failed launch; `cancel()` at a reset, after a grace
 * for a command whose daemon connected (it was told to exit, and its command ends with it).
 */
function runLine(line: string, id: string, spec: LaunchSpec, secret: SecretDelivery, endWithStdin: boolean): LaunchHandle {
  const env: Record<string, string | undefined> = secret === 'env' ? { ...process.env, [SECRET_ENV]: spec.secret } : { ...process.env };
  // Unquoted lines take the launch id from the environment (srun, env pass it on); quoted ones carry it.
  env.MIRAI_LAUNCH_ID = id;
  const output = spec.options.output === true || spec.options.output === 'host';
  const child = spawn('/bin/sh', ['-c', line], {
    cwd: process.cwd(),
    env,
    // Its own process group: kill() reaches what the shell started too (an ssh, a daemon).
    detached: true,
    stdio: [secret === 'stdin' ? 'pipe' : 'ignore', output ? 'pipe' : 'ignore', 'pipe'],
  });
  if (secret === 'stdin') {
    child.stdin?.on('error', () => {}); // a command that never reads stdin must not crash the host
    if (!endWithStdin) child.stdin?.end(`${spec.secret}\n`);
    else {
      // The pipe stays open, unreferenced (it must not keep the host alive): its end, when the
      // line is killed or the host exits, is what ends the daemons it started.
      child.stdin?.write(`${spec.secret}\n`);
      (child.stdin as { unref?: () => void } | null)?.unref?.();
    }
  }
  const watched = watchChild(child, { tag: '', output, redact: spec.secret });
  let running = child.pid !== undefined;
  let ended = false;
  let connected = false;
  void watched.exited.then(({ code, signal }) => {
    running = false;
    if (code === 0 || ended) return;
    const tail = watched.stderrTail().trim();
    process.stderr.write(
      `[mirai-ts] profile '${spec.profile}': launch command ${
        signal ? `was killed by ${signal}` : code === null ? 'could not be started' : `exited with code ${code}`
      }` + (tail ? `: ${tail}` : '') + '\n',
    );
  });
  const signalGroup = (sig: NodeJS.Signals): void => {
    // Only while the shell runs: once it has exited and been reaped, its pid (the group's id)
    // may be another process's.
    if (!running) return;
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // gone meanwhile
    }
  };
  const exitedWithin = (ms: number): Promise<boolean> =>
    new Promise<boolean>((resolve) => {
      if (!running) return resolve(true);
      const timer = setTimeout(() => resolve(false), ms);
      void watched.exited.then(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  const kill = (): void => {
    if (!running) return;
    ended = true;
    signalGroup('SIGTERM');
    // A command that ignores SIGTERM (or an ssh stuck on a dead network) is killed for good.
    void exitedWithin(END_GRACE_MS).then((gone) => gone || signalGroup('SIGKILL'));
  };
  return {
    id,
    ...(child.pid !== undefined ? { pid: child.pid } : {}),
    kill,
    connected: () => {
      connected = true;
    },
    cancel: async () => {
      if (connected && (await exitedWithin(END_GRACE_MS))) return;
      kill();
      await exitedWithin(END_GRACE_MS + 500);
    },
  };
}
