/**
 * A real OpenSSH server for tests, on 127.0.0.1, with throwaway host and client keys in a
 * private directory. Started and stopped by the test; every process started through it
 * carries a SetEnv tag, so stop() can end them all by PID (sessions outlive a killed sshd).
 *
 * Two ways in:
 * - `sshOptions`: ssh to the listening sshd at 127.0.0.1:`port`.
 * - `isolatedSshOptions` (when `unshare` works): ssh through a ProxyCommand that runs a
 *   fresh `sshd -i` in a new, empty network namespace, so the "remote" side cannot reach
 *   the host at all except through an ssh tunnel.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { alive } from './wait.js';

const run = promisify(execFile);

export const SSHD = '/usr/sbin/sshd';
/** The environment variable sshd sets in every session it starts. */
export const SSHD_TAG_ENV = 'MIRAI_TEST_SSHD';

export interface TestSshd {
  readonly port: number;
  readonly dir: string;
  readonly user: string;
  /** `ssh://user@127.0.0.1:port` */
  readonly remote: string;
  /** The tag value in every session's MIRAI_TEST_SSHD. */
  readonly tag: string;
  /** ssh arguments: key, pinned known_hosts, no user config. */
  readonly sshOptions: string[];
  /** ssh arguments for an sshd in its own network namespace, or undefined if unavailable. */
  readonly isolatedSshOptions: string[] | undefined;
  /** The sshd log so far (for failure messages). */
  log(): string;
  /** PIDs of live processes started through this sshd. */
  sessionPids(): number[];
  /** Ends sshd and everything started through it, then removes the directory. */
  stop(): Promise<void>;
}

/** Whether the real-sshd tests can run; with CI set, a missing sshd is a failure, not a skip. */
export function sshdAvailable(): boolean {
  const found = existsSync(SSHD) && existsSync('/usr/bin/ssh') && existsSync('/usr/bin/ssh-keygen');
  if (!found && process.env.CI) throw new Error(`CI is set but OpenSSH is missing (${SSHD}): apt-get install -y openssh-server openssh-client`);
  return found;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function isolationWorks(): boolean {
  const r = spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up'], { stdio: 'ignore', timeout: 10_000 });
  return r.status === 0;
}

/** Starts sshd; resolves once a test login succeeded. `config`: more sshd_config lines (e.g. `PermitListen none`). */
export async function startSshd(options: { readonly config?: readonly string[] } = {}): Promise<TestSshd> {
  // sshd insists on its privilege separation directory; without systemd nobody makes it.
  if (!existsSync('/run/sshd')) {
    try {
      mkdirSync('/run/sshd', { mode: 0o755, recursive: true });
    } catch (err) {
      throw new Error(`cannot create /run/sshd (sshd's privilege separation directory; run as root): ${(err as Error).message}`);
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'mirai-sshd-'));
  const user = userInfo().username;
  const tag = dir.split('/').pop()!;
  const hostKey = join(dir, 'host_key');
  const clientKey = join(dir, 'client_key');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'mirai-test-host', '-f', hostKey]);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'mirai-test-client', '-f', clientKey]);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${clientKey}.pub`), { mode: 0o600 });
  const alias = `mirai-test-${tag}`;
  writeFileSync(join(dir, 'known_hosts'), `${alias} ${readFileSync(`${hostKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`);
  const logFile = join(dir, 'sshd.log');
  const pidFile = join(dir, 'sshd.pid');
  const config = join(dir, 'sshd_config');

  let port = 0;
  let started = false;
  for (let attempt = 0; attempt < 5 && !started; attempt++) {
    port = await freePort();
    writeFileSync(
      config,
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${hostKey}`,
        `PidFile ${pidFile}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        // No PAM: it refuses locked accounts and drags in the system's session stack.
        'UsePAM no',
        // The keys live under /tmp (mode 1777), which StrictModes rejects.
        'StrictModes no',
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PermitRootLogin prohibit-password',
        `AllowUsers ${user}`,
        'AllowTcpForwarding yes',
        'StreamLocalBindUnlink yes',
        `SetEnv ${SSHD_TAG_ENV}=${tag}`,
        'LogLevel VERBOSE',
        ...(options.config ?? []),
        '',
      ].join('\n'),
    );
    // sshd daemonizes itself; -E because there is no syslog here.
    const r = spawnSync(SSHD, ['-f', config, '-E', logFile], { encoding: 'utf8', timeout: 20_000 });
    if (r.status === 0) started = true;
    else if (!/Address already in use|Cannot bind/.test(readIfExists(logFile) + r.stderr)) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`sshd failed to start (exit ${r.status}): ${r.stderr}\n${readIfExists(logFile)}`);
    }
  }
  if (!started) throw new Error(`sshd could not find a free port: ${readIfExists(logFile)}`);

  const common = [
    '-F', '/dev/null',
    '-i', clientKey,
    '-o', 'IdentitiesOnly=yes',
    '-o', `UserKnownHostsFile=${join(dir, 'known_hosts')}`,
    '-o', 'StrictHostKeyChecking=yes',
    '-o', `HostKeyAlias=${alias}`,
    '-o', 'LogLevel=ERROR',
  ];
  const isolated = isolationWorks()
    ? [
        ...common,
        // A fresh sshd per connection, speaking on stdin/stdout, in a network namespace with
        // only its own loopback: the "remote" shares the file system but not the network.
        '-o',
        `ProxyCommand=unshare -n sh -c 'ip link set lo up && exec ${SSHD} -i -f ${config} -E ${join(dir, 'sshd-isolated.log')}'`,
      ]
    : undefined;

  const sshd: TestSshd = {
    port,
    dir,
    user,
    remote: `ssh://${user}@127.0.0.1:${port}`,
    tag,
    sshOptions: common,
    isolatedSshOptions: isolated,
    log: () => readIfExists(logFile),
    sessionPids: () => taggedPids(tag),
    stop: async () => {
      const pid = Number(readIfExists(pidFile).trim());
      if (pid > 0) killQuietly(pid, 'SIGTERM');
      for (const p of taggedPids(tag)) killQuietly(p, 'SIGTERM');
      const deadline = Date.now() + 5_000;
      while (Date.now() < deadline && (taggedPids(tag).length > 0 || (pid > 0 && alive(pid)))) await sleep(50);
      for (const p of taggedPids(tag)) killQuietly(p, 'SIGKILL');
      if (pid > 0 && alive(pid)) killQuietly(pid, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };

  // A test login proves keys, config and the remote shell before any test relies on them.
  try {
    await waitForLogin(sshd);
  } catch (err) {
    await sshd.stop();
    throw err;
  }
  return sshd;
}

async function waitForLogin(sshd: TestSshd): Promise<void> {
  let last = '';
  for (let i = 0; i < 40; i++) {
    try {
      const { stdout } = await run('ssh', [...sshd.sshOptions, '-o', 'BatchMode=yes', '-p', String(sshd.port), `${sshd.user}@127.0.0.1`, `echo "$${SSHD_TAG_ENV}"`], {
        timeout: 15_000,
      });
      if (stdout.trim() === sshd.tag) return;
      last = `unexpected output '${stdout.trim()}'`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`cannot log in to the test sshd: ${last}\n${sshd.log()}`);
}

/** PIDs whose environment holds MIRAI_TEST_SSHD=<tag>. */
function taggedPids(tag: string): number[] {
  const needle = `${SSHD_TAG_ENV}=${tag}`;
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0').includes(needle)) pids.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function readIfExists(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
