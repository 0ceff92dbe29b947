/**
 * Manual deployment (`launchRemote(n, remoteConfig())`) and the generic launcher
 * (`remoteConfig({ command, args, quote })`), with real daemon processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConfigError,
  DaemonExit,
  daemons,
  launchRemote,
  LaunchError,
  localUrl,
  mirai,
  NoDaemonsError,
  remoteConfig,
  status,
} from '@mirai-ts/core';
import { alive, waitFor } from '../helpers/wait.js';
import { processesWithArgv, testSecret } from './support.js';

/** Pastes a command into a fresh shell, as a person would: on its stdin, not in its argv. */
function paste(command: string): ChildProcess {
  const { MIRAI_SECRET: _none, ...env } = process.env;
  const shell = spawn('/bin/sh', [], { stdio: ['pipe', 'ignore', 'pipe'], env });
  shell.stdin!.end(`${command}\n`);
  return shell;
}

const exited = (child: ChildProcess): Promise<number | null> =>
  child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((r) => child.once('exit', (code) => r(code)));

describe('manual deployment', () => {
  const shells: ChildProcess[] = [];
  afterEach(async () => {
    await daemons(0);
    for (const s of shells.splice(0)) {
      if (s.exitCode === null && s.signalCode === null) s.kill('SIGKILL');
    }
  });

  it('returns commands that join the profile when pasted into a shell (TLS, CA and secret included)', async () => {
    const secret = testSecret();
    const logs: string[] = [];
    const h = await daemons({ url: 'tls+tcp://127.0.0.1:0', secret, log: (_l, m) => logs.push(m) });
    const commands = await launchRemote(2, remoteConfig());
    expect(commands).toHaveLength(2);
    for (const command of commands) {
      expect(command).toContain(h.url);
      expect(command).toContain('BEGIN CERTIFICATE');
      // The secret is an environment assignment, never an argument of the daemon.
      expect(command.startsWith(`MIRAI_SECRET=${secret} `)).toBe(true);
      expect(command.indexOf(secret)).toBe(command.lastIndexOf(secret));
    }
    shells.push(...commands.map(paste));
    expect(await waitFor(() => h.connections === 2, 20_000)).toBe(true);
    const pids = await Promise.all([1, 2, 3, 4].map(() => mirai(async () => { await new Promise((r) => setTimeout(r, 50)); return process.pid; })));
    expect(new Set(pids).size).toBe(2);
    // Nobody can read the secret off a process list, and status() and the log never show it.
    expect(processesWithArgv(secret)).toEqual([]);
    expect(JSON.stringify(status())).not.toContain(secret);
    expect(logs.join('\n')).not.toContain(secret);
    await h.close();
    // The daemons exit when told, so the pasted commands finish.
    expect(await Promise.all(shells.map(exited))).toEqual([0, 0]);
  });

  it('works with the secret in a file instead (--secret-file), as docs/remote.md describes', async () => {
    const secret = testSecret();
    const dir = mkdtempSync(join(tmpdir(), 'mirai-secret-'));
    try {
      writeFileSync(join(dir, 'secret'), secret, { mode: 0o600 });
      const h = await daemons({ url: 'tls+tcp://127.0.0.1:0', secret });
      const [command] = await launchRemote(1, remoteConfig());
      const withFile = `${command!.replace(`MIRAI_SECRET=${secret} `, '')} --secret-file=${join(dir, 'secret')}`;
      expect(withFile).not.toContain(secret);
      shells.push(paste(withFile));
      expect(await waitFor(() => h.connections === 1, 20_000)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('carries daemon options and the working directory into the command', async () => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'mirai-cwd-')));
    try {
      await daemons({ url: localUrl({ tcp: true }) });
      const [command] = await launchRemote(1, remoteConfig({ cwd: dir }), { maxtasks: 1 });
      expect(command).toContain('--maxtasks=1');
      const shell = paste(command!);
      shells.push(shell);
      expect(await waitFor(() => status()!.connections === 1, 20_000)).toBe(true);
      expect(await mirai(() => process.cwd())).toBe(dir);
      // maxtasks=1: the daemon leaves after its task (exit code 3), so the shell ends by itself.
      expect(await exited(shell)).toBe(DaemonExit.MaxTasks);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses what cannot work', async () => {
    await expect(launchRemote(1, remoteConfig())).rejects.toThrow(NoDaemonsError);
    await daemons({ url: localUrl() });
    // An ipc:// socket exists only on this machine.
    await expect(launchRemote(1, remoteConfig())).rejects.toThrow(/local socket/);
    await expect(launchRemote(0, remoteConfig())).rejects.toThrow(ConfigError);
    // remoteConfig() without a command cannot start anything by itself.
    await expect(daemons(1, { url: localUrl({ tcp: true }), remote: remoteConfig(), launchTimeout: 5_000 })).rejects.toThrow(LaunchError);
    await expect(daemons(1, { url: localUrl({ tcp: true }), remote: remoteConfig() })).rejects.toThrow(/launchRemote/);
  });
});

describe('remoteConfig({ command, args, quote })', () => {
  afterEach(async () => {
    await daemons(0);
  });

  it('quote: true hands the quoted daemon command to another shell, the secret on stdin', async () => {
    const secret = testSecret();
    const remote = remoteConfig({ command: 'sh', args: ['-c', '.'], quote: true });
    const h = await daemons(2, { url: 'tls+tcp://127.0.0.1:0', remote, secret });
    expect(h.connections).toBe(2);
    expect(await mirai(({ a }: { a: number }) => a + 1, { a: 41 })).toBe(42);
    expect(processesWithArgv(secret)).toEqual([]);
    const shown = await launchRemote(1, remote);
    expect(shown[0]).toMatch(/^sh -c '.*IFS= read -r MIRAI_SECRET/);
    expect(shown.join('\n')).not.toContain(secret);
    expect(status()!.connections).toBe(3);
  });

  it('quote: false splices the daemon command in; it inherits the secret from the environment', async () => {
    const secret = testSecret();
    await daemons(1, { url: localUrl({ tcp: true }), remote: remoteConfig({ command: 'env', args: ['.'] }), secret });
    expect(await mirai(() => typeof process.env.MIRAI_SECRET)).toBe('undefined'); // the daemon removed it
    expect(processesWithArgv(secret)).toEqual([]);
  });

  it('an array of argument sets launches once per set', async () => {
    const remote = remoteConfig({ command: 'sh', args: [['-c', '.'], ['-c', '.', 'second']], quote: true });
    const h = await daemons(2, { url: localUrl({ tcp: true }), remote });
    expect(h.connections).toBe(2);
    expect(remote.commands!({ url: 'tcp://127.0.0.1:1', secret: 's', options: {}, profile: 'p' }, 1)).toHaveLength(2);
    expect(() => remote.commands!({ url: 'tcp://127.0.0.1:1', secret: 's', options: {}, profile: 'p' }, 3)).toThrow(/n must be 1 or 2/);
  });

  it('validates its options with ConfigErrors that say what is wrong', () => {
    expect(() => remoteConfig({ command: 'ssh', args: ['host'] })).toThrow(/must contain '\.'/);
    expect(() => remoteConfig({ command: 'ssh', args: ['.', '.'] })).toThrow(/exactly once/);
    expect(() => remoteConfig({ command: 'srun', args: ['.'], cwd: '/tmp' })).toThrow(/quote: true/);
    expect(() => remoteConfig({ command: 'srun', args: ['.'], secret: 'stdin' })).toThrow(ConfigError);
    expect(() => remoteConfig({ command: '' })).toThrow(ConfigError);
    expect(() => remoteConfig({ secret: 'carrier-pigeon' as never })).toThrow(ConfigError);
  });

  it('a failing command is reported on stderr, with the secret redacted from its output', async () => {
    const secret = testSecret();
    // A "launcher" that prints its stdin (the secret) to stderr and fails.
    const remote = remoteConfig({ command: 'cat >&2; exit 3 #', args: ['.'], quote: true });
    const written: string[] = [];
    const original = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
      written.push(String(chunk));
      return original(chunk, ...rest);
    }) as typeof process.stderr.write;
    try {
      await expect(daemons(1, { url: localUrl({ tcp: true }), remote, secret, launchTimeout: 3_000 })).rejects.toThrow(LaunchError);
    } finally {
      process.stderr.write = original;
    }
    const report = written.join('');
    expect(report).toMatch(/launch command exited with code 3: <secret>/);
    expect(report).not.toContain(secret);
  });

  it('a launch command that does not end is ended, with what it started, when its launch fails and at a reset', async () => {
    // A stand-in for an ssh that blocks: a shell that starts a child, then waits. The marker is
    // one argv word (processesWithArgv searches the raw, NUL-separated argv).
    const marker = (): string => `${40_000 + Math.floor(Math.random() * 9_999)}.317`;
    const hanging = (m: string) => remoteConfig({ command: `sleep ${m} & sleep ${m}; #`, args: ['.'] });
    const first = marker();
    await expect(daemons(1, { url: localUrl({ tcp: true }), remote: hanging(first), launchTimeout: 500 })).rejects.toThrow(LaunchError);
    expect(await waitFor(() => processesWithArgv(first).length === 0, 5_000)).toBe(true);
    // daemons(0) while the launch waits: the reset ends the launch, and the command.
    const second = marker();
    const launching = daemons(1, { url: localUrl({ tcp: true }), remote: hanging(second), launchTimeout: 60_000 }).catch((e: unknown) => e);
    expect(await waitFor(() => processesWithArgv(second).length === 3, 5_000)).toBe(true); // the shell and both sleeps
    await daemons(0);
    expect(await launching).toBeInstanceOf(LaunchError);
    expect(await waitFor(() => processesWithArgv(second).length === 0, 5_000)).toBe(true);
  }, 30_000);

  it('its daemons carry launch ids: a lost one is replaced (repair), and daemons(0) tells them to exit', async () => {
    const remote = remoteConfig({ command: 'sh', args: ['-c', '.'], quote: true });
    await daemons(2, { url: localUrl({ tcp: true }), remote, autoexit: false, log: () => {} });
    const rows = status()!.daemons;
    expect(rows.map((r) => r.launcher)).toEqual(['remote', 'remote']);
    expect(new Set(rows.map((r) => r.launchId)).size).toBe(2);
    const pid = await mirai(() => process.pid);
    process.kill(pid, 'SIGKILL');
    // Replaced: two connected again, one of them new.
    const before = new Set(rows.map((r) => r.launchId));
    const replaced = (): boolean => {
      const now = status()!.daemons;
      return now.length === 2 && now.filter((r) => r.launchId !== undefined && !before.has(r.launchId)).length === 1;
    };
    expect(await waitFor(replaced, 10_000)).toBe(true);
    const pids = await Promise.all([mirai(() => process.pid), mirai(() => process.pid)]);
    // autoexit: false waits for the next host unless told to exit: daemons(0) tells them, as this host launched them.
    await daemons(0);
    expect(await waitFor(() => pids.every((p) => !alive(p)), 5_000)).toBe(true);
  }, 30_000);

  it('with several argument sets, a replacement is one daemon (not one per set), and replacements take the sets in turn', async () => {
    // Two "machines" (argument sets); daemons(1) is one on each, mirai's rule for a user's call.
    const remote = remoteConfig({ command: 'sh', args: [['-c', '.'], ['-c', '.']], quote: true });
    await daemons(1, { url: localUrl({ tcp: true }), remote, log: () => {} });
    expect(await waitFor(() => status()!.connections === 2, 10_000)).toBe(true);
    // repair asks for exactly one: launching one per set grew the pool at every loss.
    for (let round = 0; round < 2; round++) {
      const before = new Set(status()!.daemons.map((r) => r.launchId));
      process.kill(await mirai(() => process.pid), 'SIGKILL');
      const replaced = (): boolean => status()!.daemons.filter((r) => !before.has(r.launchId)).length === 1 && status()!.connections === 2;
      expect(await waitFor(replaced, 10_000), `round ${round}`).toBe(true);
      await new Promise((r) => setTimeout(r, 500));
      expect(status()!.connections, `round ${round}`).toBe(2);
    }
  }, 30_000);

  it('a failing launch command fails the launch with a LaunchError after the launch timeout', async () => {
    const remote = remoteConfig({ command: 'sh', args: ['-c', '.'], quote: true, node: '/nonexistent/node' });
    await expect(daemons(1, { url: localUrl({ tcp: true }), remote, launchTimeout: 2_000 })).rejects.toThrow(LaunchError);
  });
});
