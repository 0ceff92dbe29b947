/**
 * The SSH launcher: starts daemons on other machines with the system `ssh`, as mirai's
 * `ssh_config()`. It runs `ssh` with an argv array (no local shell), in batch mode, and
 * hands the profile's secret over on ssh's standard input, so it shows up in no argv on
 * either machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt, randomUUID } from 'node:crypto';
import { ConfigError, type LaunchHandle, type Launcher, type LaunchSpec, type RemoteDaemonProgram } from '@mirai-ts/core';
import {
  checkOptions as checkOptionRules,
  checkRemoteUrl,
  formatHostPort,
  is,
  remoteDaemonCommand,
  shellQuote,
  tcpAddress,
  urlScheme,
  watchChild,
  type OptionRules,
  type WatchedChild,
} from '@mirai-ts/core/plugin';
import { parseRemote, type SshRemote } from './remotes.js';

/** Options of {@link sshConfig}. */
export interface SshConfigOptions extends RemoteDaemonProgram {
  /** Where to start daemons: `ssh://[user@]host[:port]` URLs. Key-based login must already work. */
  readonly remotes: readonly string[];
  /**
   * Reach the host through a reverse tunnel (`ssh -R`) instead of directly, for hosts the
   * remote machines cannot reach (firewalls, NAT). The profile must listen at 127.0.0.1
   * (`localUrl({ tcp: true })`, or `tls+tcp://127.0.0.1:0`).
   */
  readonly tunnel?: boolean;
  /**
   * With `tunnel`: the port each session's tunnel first tries to open on the remote machine's
   * 127.0.0.1. Default the host's own port, as mirai. One port serves one session: a session
   * to a remote where a live tunnel of this host already holds it (a replacement, autoscaling,
   * another `daemons()` call) takes a random port from 49152-65535 instead, and so does one
   * whose remote refuses the port (taken, or not permitted there): ssh is run again, up to 5
   * ports in all, after which the launch fails with a LaunchError naming the remote and the ports.
   */
  readonly tunnelPort?: number;
  /** How long ssh may take to connect, in ms (default 10 000; ssh's ConnectTimeout, in whole seconds). */
  readonly timeout?: number;
  /** The ssh program (default `'ssh'`). */
  readonly command?: string;
  /**
   * Extra ssh arguments, before the destination: `['-i', keyFile, '-o', 'UserKnownHostsFile=…']`.
   * BatchMode is on already, so a missing key fails at once instead of prompting.
   */
  readonly sshOptions?: readonly string[];
}

/** The launcher {@link sshConfig} returns; `config` keeps its options. */
export interface SshLauncher extends Launcher {
  readonly kind: 'ssh';
  readonly config: SshConfigOptions;
}


/**
 * An SSH launcher for `daemons(n, { url, remote: sshConfig(...) })` or `launchRemote()`.
 *
 * With one remote, all `n` daemons start there; with several, daemons are spread over
 * them in turn (`n = 1` starts one on each, as mirai). The daemons on one remote share one
 * ssh session (and one tunnel); ssh stays a child of the host while they run, so a failed
 * login or a daemon that exits early is reported with ssh's own error output. The daemons live
 * no longer than their session: when ssh ends (killed at a failed launch, or with its host),
 * its standard input closes and they exit, even with `autoexit: false`.
 *
 * ```ts
 * await daemons(2, {
 *   url: localUrl({ tcp: true }),
 *   remote: sshConfig({ remotes: ['ssh://me@gpu-box'], tunnel: true }),
 * });
 * ```
 */
export function sshConfig(options: SshConfigOptions): SshLauncher {
  const config = checkOptions(options);
  const remotes = config.remotes.map(parseRemote);

  /** Where the next daemon of an exact launch goes: the profile's own launches take the remotes in turn. */
  let nextRemote = 0;
  /**
   * Daemons per remote for `n`: a user's n = 1 is one on each remote (mirai's rule), the
   * profile's own launches (`exact`: replacements, autoscaling) exactly n, spread from where the
   * last one stopped.
   */
  const spread = (n: number, exact = false): Array<{ remote: SshRemote; count: number }> => {
    const total = n === 1 && !exact ? remotes.length : n;
    const start = exact ? nextRemote : 0;
    if (exact) nextRemote = (nextRemote + total) % remotes.length;
    const counts = remotes.map(() => 0);
    for (let i = 0; i < total; i++) counts[(start + i) % remotes.length]!++;
    return remotes.map((remote, i) => ({ remote, count: counts[i]! })).filter((r) => r.count > 0);
  };

  /** ssh's arguments for one session; `remotePort`: the tunnel's end over there (with `tunnel`). */
  const argv = (spec: LaunchSpec, remote: SshRemote, launchIds: readonly string[], remotePort: number | undefined): string[] => {
    const { daemonSpec, forward } = tunnelled(spec, remotePort);
    const seconds = Math.max(1, Math.ceil((config.timeout ?? 10_000) / 1000));
    return [
      '-o', 'BatchMode=yes',
      '-o', `ConnectTimeout=${seconds}`,
      '-T',
      '-p', String(remote.port),
      ...(forward ? ['-o', 'ExitOnForwardFailure=yes', '-R', forward] : []),
      ...(config.sshOptions ?? []),
      '--',
      remote.destination,
      // The daemons end when ssh's stdin does: ssh without a terminal sends them no signal when it dies.
      remoteDaemonCommand(daemonSpec, config, { secret: 'stdin', launchIds, endWithStdin: true }),
    ];
  };
  /** The port a session's tunnel tries first on its remote, or undefined without a tunnel (checking the URL either way). */
  const firstTunnelPort = (spec: LaunchSpec): number | undefined => {
    if (!config.tunnel) {
      checkRemoteUrl(spec, 'sshConfig');
      return undefined;
    }
    const port = hostPort(spec);
    return config.tunnelPort ?? port;
  };

  return {
    kind: 'ssh',
    config,
    async launch(spec: LaunchSpec, n: number): Promise<LaunchHandle[]> {
      const first = firstTunnelPort(spec);
      const handles: LaunchHandle[] = [];
      for (const { remote, count } of spread(n, spec.exact === true)) {
        const ids = Array.from({ length: count }, () => randomUUID());
        handles.push(...startSession(config.command ?? 'ssh', (port) => argv(spec, remote, ids, port), ids, spec, remote, first));
      }
      return handles;
    },
    commands(spec: LaunchSpec, n: number): string[] {
      // What would run, minus launch ids; the secret is not in it (it goes on ssh's stdin).
      const first = firstTunnelPort(spec);
      return spread(n).map(({ remote, count }) =>
        [config.command ?? 'ssh', ...argv(spec, remote, count > 1 ? Array.from({ length: count }, (_, i) => `daemon-${i + 1}`) : [], first)]
          .map(shellQuote)
          .join(' '),
      );
    },
  };
}

/** What each option may be, checked as core checks its own (the option, the value, what is expected; unknown keys refused). */
const SSH_RULES: OptionRules = {
  remotes: (v) => (Array.isArray(v) && v.length > 0 ? undefined : 'a non-empty array of ssh://[user@]host[:port] URLs'),
  tunnel: is.boolean,
  tunnelPort: (v) => (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535 ? undefined : 'a port number from 1 to 65535'),
  timeout: is.timeout,
  command: is.string,
  sshOptions: (v) => (Array.isArray(v) && v.every((o) => typeof o === 'string') ? undefined : 'an array of strings'),
  node: is.string,
  script: is.string,
  cwd: is.string,
};

function checkOptions(options: SshConfigOptions): SshConfigOptions {
  if (options === null || typeof options !== 'object') throw new ConfigError('sshConfig(): expected an options object with remotes');
  checkOptionRules('sshConfig()', options, SSH_RULES);
  if (options.remotes === undefined) throw new ConfigError(`sshConfig(): option 'remotes' is required: a non-empty array of ssh://[user@]host[:port] URLs`);
  if (options.tunnelPort !== undefined && options.tunnel !== true) throw new ConfigError(`sshConfig(): option 'tunnelPort' needs tunnel: true`);
  return { ...options, remotes: [...options.remotes] };
}

/** The port a tunnel forwards to: the profile's, which must listen at 127.0.0.1 over tcp:// or tls+tcp://. */
function hostPort(spec: LaunchSpec): number {
  const scheme = urlScheme(spec.url);
  if (scheme !== 'tcp' && scheme !== 'tls+tcp') {
    throw new ConfigError(`sshConfig: a tunnel needs a tcp:// or tls+tcp:// URL at 127.0.0.1, not ${spec.url}`);
  }
  const { host, port } = tcpAddress(spec.url);
  if (host !== '127.0.0.1') {
    throw new ConfigError(
      `sshConfig: with tunnel: true the profile must listen at 127.0.0.1 (use localUrl({ tcp: true })), not ${spec.url}`,
    );
  }
  if (port === 0) throw new ConfigError(`sshConfig: the profile's URL has no bound port yet (${spec.url})`);
  return port;
}

/**
 * With a tunnel, daemons dial 127.0.0.1:<remotePort> on their own machine, which ssh forwards
 * back to the host's 127.0.0.1:<bound port> (the real one, so port 0 works). The remote end
 * names 127.0.0.1: sshd binds "localhost" on every loopback address otherwise, and counts the
 * forward as made when only ::1 was free, leaving the daemons to dial whatever holds the
 * IPv4 port.
 */
function tunnelled(spec: LaunchSpec, remotePort: number | undefined): { daemonSpec: LaunchSpec; forward: string | undefined } {
  if (remotePort === undefined) return { daemonSpec: spec, forward: undefined };
  const scheme = urlScheme(spec.url);
  return {
    daemonSpec: { ...spec, url: formatHostPort(scheme, '127.0.0.1', remotePort) },
    forward: `127.0.0.1:${remotePort}:127.0.0.1:${hostPort(spec)}`,
  };
}

/** How many remote ports one session's tunnel tries before its launch fails. */
const TUNNEL_ATTEMPTS = 5;
/** Where a tunnel looks for a free port after its first choice: the IANA dynamic range, 49152-65535. */
const DYNAMIC_PORTS = { first: 49_152, count: 16_384 } as const;

/**
 * Remote ports this process's live tunnels hold, per machine (host and ssh port, whatever
 * the user): a new session there starts on another, instead of failing on a port its own
 * earlier session holds. Across launchers and profiles, as they share the remote's ports.
 */
const tunnelPortsInUse = new Map<string, Set<number>>();

/** The remote port a session's next attempt asks for: the first choice unless taken or tried, else a random dynamic port. */
function pickTunnelPort(remote: SshRemote, first: number, tried: readonly number[]): number {
  const held = tunnelPortsInUse.get(machineKey(remote));
  if (tried.length === 0 && held?.has(first) !== true) return first;
  for (;;) {
    const port = DYNAMIC_PORTS.first + randomInt(DYNAMIC_PORTS.count);
    if (held?.has(port) !== true && !tried.includes(port)) return port;
  }
}

function holdTunnelPort(remote: SshRemote, port: number, held: boolean): void {
  const key = machineKey(remote);
  const ports = tunnelPortsInUse.get(key) ?? new Set<number>();
  if (held) ports.add(port);
  else ports.delete(port);
  if (ports.size > 0) tunnelPortsInUse.set(key, ports);
  else tunnelPortsInUse.delete(key);
}

function machineKey(remote: SshRemote): string {
  return `${remote.host}:${remote.port}`;
}

/** Whether ssh ended because the remote refused to listen on `port` (taken, or not permitted): ExitOnForwardFailure's fatal error. */
function forwardRefused(stderr: string, port: number): boolean {
  return new RegExp(`remote port forwarding failed for listen port ${port}\\b`).test(stderr);
}

/**
 * Runs one ssh session starting `ids.length` daemons; one handle per daemon, sharing the process.
 * With a tunnel (`firstPort`), a remote that refuses the forward's port gets the session again
 * on another port (see {@link SshConfigOptions.tunnelPort}); the handles follow the current ssh
 * process, and report its end once no attempt is left.
 */
function startSession(
  command: string,
  argvFor: (remotePort: number | undefined) => string[],
  ids: string[],
  spec: LaunchSpec,
  remote: SshRemote,
  firstPort: number | undefined,
): LaunchHandle[] {
  const output = spec.options.output === true || spec.options.output === 'host'; // 'host': lines also tagged with their task id, by the daemon
  const tried: number[] = [];
  const refused: number[] = [];
  let child: ChildProcess | undefined;
  let watched: WatchedChild | undefined;
  /** Set by kill(): no attempt follows the current one. */
  let killed = false;
  /** Why no (further) ssh could be started, for stderrTail. */
  let notStarted = '';
  let settle!: (result: { code: number | null; signal: string | null }) => void;
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => (settle = resolve));

  const attempt = (): void => {
    const port = firstPort === undefined ? undefined : pickTunnelPort(remote, firstPort, tried);
    const args = argvFor(port);
    let started: ChildProcess;
    try {
      started = spawn(command, args, { stdio: ['pipe', output ? 'pipe' : 'ignore', 'pipe'] });
    } catch (err) {
      throw new ConfigError(`sshConfig: cannot run '${command}': ${(err as Error).message}`);
    }
    child = started;
    if (port !== undefined) {
      tried.push(port);
      holdTunnelPort(remote, port, true);
    }
    // The remote shell reads the secret as its first line (IFS= read -r MIRAI_SECRET). The pipe
    // then stays open, unreferenced (it must not keep the host alive): its end, when ssh dies
    // or the host exits, is what ends the daemons over there.
    started.stdin?.on('error', () => {}); // ssh gone already: its exit says why
    started.stdin?.write(`${spec.secret}\n`);
    (started.stdin as { unref?: () => void } | null)?.unref?.();
    const current = watchChild(started, { tag: `[${spec.profile} ssh ${remote.host}] `, output, redact: spec.secret });
    watched = current;
    void current.exited.then((result) => {
      if (port !== undefined) holdTunnelPort(remote, port, false);
      const again = port !== undefined && result.code === 255 && forwardRefused(current.stderrTail(), port);
      if (again) refused.push(port);
      if (again && !killed && tried.length < TUNNEL_ATTEMPTS) {
        try {
          attempt();
          return;
        } catch (err) {
          notStarted = (err as Error).message;
        }
      }
      settle(result);
    });
  };
  attempt(); // the first attempt's ConfigError fails the launch call

  // Error messages must not carry the secret, whatever the remote side printed (watchChild redacts it).
  const describe = (): string => {
    const text = `${watched?.stderrTail() ?? ''}${notStarted ? `\n${notStarted}` : ''}`;
    const ports =
      refused.length === 0
        ? ''
        : `; the reverse tunnel could not listen on remote port${refused.length > 1 ? 's' : ''} ${refused.join(', ')} there ` +
          `(in use, or not permitted by its sshd)`;
    return `${text}${text && !text.endsWith('\n') ? '\n' : ''}(ssh to ${remote.url}${ports})`;
  };
  return ids.map((id) => ({
    id,
    // The current attempt's ssh.
    get pid(): number | undefined {
      return child?.pid;
    },
    exited,
    stderrTail: describe,
    kill: () => {
      killed = true;
      child?.kill('SIGTERM');
    },
  }));
}
