/**
 * Shell commands that start daemons on another machine: shared by `remoteConfig()` and
 * launcher plugins (SSH, schedulers). The command is POSIX shell text for the remote side.
 *
 * The secret never goes in the daemon's argv (which `ps` shows to every user of that
 * machine). It reaches the daemon in one of three ways, see {@link SecretDelivery}.
 */
import { SECRET_ENV } from '../wire/auth.js';
import { ConfigError } from '../errors.js';
import type { LaunchSpec } from '../launcher.js';
import { daemonArgv, daemonScript, shellQuote } from './local.js';
import { EXIT_ON_STDIN_EOF_FLAG } from '../wire/daemon-args.js';

/**
 * How the profile's secret reaches a daemon started by a command:
 * - `'stdin'`: the command reads one line from its standard input into `MIRAI_SECRET`
 *   (`IFS= read -r MIRAI_SECRET`); the launcher writes the secret there. Crosses `ssh`
 *   without appearing in any argv, on either machine.
 * - `'env'`: the command inherits `MIRAI_SECRET` from the launching process's environment
 *   (works for commands that pass their environment on: `sh`, `srun`, `sbatch`).
 * - `'inline'`: `MIRAI_SECRET='…'` is written into the command as an environment
 *   assignment. The daemon's argv stays clean, but the command text holds the secret: it
 *   is what you paste by hand, and it lands in shell history (and, when a launcher runs it,
 *   in that launcher's argv).
 */
export type SecretDelivery = 'stdin' | 'env' | 'inline';

/** Where the daemon program is on the machine that runs the command. */
export interface RemoteDaemonProgram {
  /** The Node.js executable there (default `'node'`, found on PATH). */
  readonly node?: string;
  /**
   * Path of mirai-daemon's script there: `…/@mirai-ts/core/bin/mirai-daemon.js` or
   * `…/dist/daemon-main.js`. Default: this host's own, which is right when the other
   * machine shares the file system (HPC clusters, the same machine).
   */
  readonly script?: string;
  /**
   * Directory to run the daemon in. Bare `import('pkg')` in tasks and serializer plugins
   * resolve from it, so point it at a project with those packages installed.
   */
  readonly cwd?: string;
}

/** `node <flags> <script> <url> <options…>` as shell words, without any secret. */
export function daemonProgramWords(spec: LaunchSpec, program: RemoteDaemonProgram = {}): string[] {
  return [program.node ?? 'node', ...daemonArgv(spec, program.script ?? daemonScript())];
}

/** How {@link remoteDaemonCommand} shapes the command. */
export interface RemoteCommandOptions {
  readonly secret: SecretDelivery;
  /** One id per daemon to start (`MIRAI_LAUNCH_ID`, so the host can match connections); none: one daemon. */
  readonly launchIds?: readonly string[];
  /**
   * Replace the shell with the daemon (`exec`), saving a process. Right for commands a
   * launcher runs; wrong for commands pasted into an interactive shell, which would close.
   */
  readonly exec?: boolean;
  /**
   * The daemons end when the command's standard input ends (`mirai-daemon
   * --exit-on-stdin-eof`), and the command returns once every daemon it started has ended.
   * For a launcher that holds the command's stdin open while it
   * wants its daemons, and whose end must end them: an ssh session, whose death sends the
   * remote command no signal (without a terminal). The command's exit status is the daemon's
   * (0 for several, as `wait`'s), and it waits even for a daemon its watchdog started afresh
   * (ssh closes the command's stdin once the command returns). Not with `exec`, nor for
   * commands pasted into an interactive shell: the command ends with `exit`.
   */
  readonly endWithStdin?: boolean;
}

/**
 * One shell command that starts `launchIds.length` daemons (or one, when there are no ids),
 * with the secret delivered as `options.secret` says. Several daemons share one command (and
 * so one SSH session and one tunnel): they start in the background and the command waits
 * for all of them.
 */
export function remoteDaemonCommand(spec: LaunchSpec, program: RemoteDaemonProgram, options: RemoteCommandOptions): string {
  if (options.endWithStdin === true && options.exec === true) {
    throw new ConfigError('remoteDaemonCommand: endWithStdin and exec do not go together: the command must outlive its daemons to wait for them');
  }
  const steps: string[] = [];
  if (program.cwd !== undefined) steps.push(`cd ${shellQuote(program.cwd)}`);
  // With endWithStdin the daemons run beside helpers (`cat`): the secret goes to each daemon by an
  // assignment prefix, not `export`, which would put it in the helpers' environments too.
  const stdinPrefix = options.endWithStdin === true;
  if (options.secret === 'stdin') steps.push(`IFS= read -r ${SECRET_ENV}`, ...(stdinPrefix ? [] : [`export ${SECRET_ENV}`]));
  // An assignment prefix, not `export`: the secret stays out of the pasting shell's environment.
  const secretPrefix =
    options.secret === 'inline' ? `${SECRET_ENV}=${shellQuote(spec.secret)} ` : options.secret === 'stdin' && stdinPrefix ? `${SECRET_ENV}="$${SECRET_ENV}" ` : '';
  const programWords = daemonProgramWords(spec, program);
  const words = (options.endWithStdin === true ? [...programWords, EXIT_ON_STDIN_EOF_FLAG] : programWords).map(shellQuote).join(' ');
  const ids = options.launchIds === undefined || options.launchIds.length === 0 ? [undefined] : options.launchIds;
  // Assignments go before `exec` (`A=1 exec cmd` passes A to cmd; `exec A=1 cmd` does not parse).
  const one = (id: string | undefined, exec: boolean, redirections = ''): string =>
    `${secretPrefix}${id === undefined ? '' : `MIRAI_LAUNCH_ID=${shellQuote(id)} `}${exec ? 'exec ' : ''}${words}${redirections}`;
  if (options.endWithStdin === true) steps.push(...untilAllEnded(ids.map((id) => (redirections: string) => one(id, false, redirections))));
  else if (ids.length === 1) steps.push(one(ids[0], options.exec === true));
  else steps.push(`{ ${ids.map((id) => `${one(id, false)} &`).join(' ')} wait; }`);
  return steps.join(' && ');
}

/**
 * The steps that run `daemons` (each given the redirections to append) so that each reads the
 * command's stdin, and the command ends once every one of them, and every process that holds
 * their stdout, has ended, with the daemon's status (`wait`'s, for several).
 *
 * Why a pipe: a daemon's watchdog replaces a stuck daemon by a fresh process (not a child of
 * this shell) that inherits the daemon's stdin and stdout. ssh closes the remote command's
 * stdin once the command returns, which would end that fresh daemon at once; so the command
 * waits, through `cat`, until nothing holds the daemons' stdout. POSIX sh has no pipefail, so
 * the daemon's status comes back on fd 4 from inside the command substitution, while `cat`
 * copies their output to the real stdout (fd 3). The daemons get neither fd.
 *
 * Daemons started in the background read /dev/null, not stdin, unless told otherwise; and
 * dash applies that before the command's own redirections (so `<&0` would read /dev/null),
 * hence stdin goes through fd 5.
 */
function untilAllEnded(daemons: ReadonlyArray<(redirections: string) => string>): string[] {
  const run =
    daemons.length === 1
      ? daemons[0]!(' 3>&- 4>&-')
      : `{ ${daemons.map((d) => `${d(' <&5 3>&- 4>&- 5<&-')} &`).join(' ')} wait; } 5<&0`;
  // ksh93 gives a command killed by signal N the status 256 + N, which `exit` would truncate to
  // N (reading as one of the daemon's own codes): 128 + N, as the other shells give it.
  const status = 'mirai_s=$?; [ "$mirai_s" -gt 255 ] && mirai_s=$((mirai_s - 128)); echo "$mirai_s" >&4';
  return ['exec 3>&1', `mirai_status=$( { { ${run}; ${status}; } | cat >&3; } 4>&1 )`, 'exit "$mirai_status"'];
}

/** Checks that a launch spec can reach a daemon on another machine at all. */
export function checkRemoteUrl(spec: LaunchSpec, launcher: string): void {
  if (spec.url.startsWith('ipc://') || spec.url.startsWith('abstract://')) {
    throw new ConfigError(
      `${launcher}: the profile listens at ${spec.url}, a local socket other machines cannot reach; ` +
        `listen at hostUrl() (or localUrl({ tcp: true }) with an SSH tunnel) instead`,
    );
  }
}
