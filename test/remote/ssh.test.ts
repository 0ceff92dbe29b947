/**
 * The SSH launcher against a real OpenSSH server that this file starts on 127.0.0.1 with
 * its own keys (test/helpers/sshd.ts). Daemons really run in ssh sessions: each task
 * reports the SetEnv tag that only sessions of this sshd carry.
 *
 * Skipped when sshd is not installed, unless CI is set (then missing sshd fails).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  CancelledError,
  ConfigError,
  daemons,
  everywhere,
  hostUrl,
  launchRemote,
  LaunchError,
  localUrl,
  mirai,
  remoteConfig,
  status,
  stopMirai,
} from '@mirai-ts/core';
import { shellQuote } from '@mirai-ts/core/plugin';
import { parseRemote, sshConfig } from '@mirai-ts/launcher-ssh';
import { SSHD_TAG_ENV, sshdAvailable, startSshd, type TestSshd } from '../helpers/sshd.js';
import { silentHost } from '../helpers/silent-host.js';
import { alive, sleep, waitFor } from '../helpers/wait.js';
import { sshDaemons } from './examples/ssh-tunnel.js';
import { argvOf, processesWithArgv, testSecret } from './support.js';

/** What a task reports about where it runs. */
interface Where {
  tag: string | undefined;
  pid: number;
  argv: string[];
}
const where = (): Promise<Where> =>
  mirai(async () => {
    await new Promise((r) => setTimeout(r, 30));
    return { tag: process.env.MIRAI_TEST_SSHD, pid: process.pid, argv: process.argv };
  }) as Promise<Where>;

/** A non-loopback address of this machine, if it has one (a "real" remote would dial it). */
function lanUrl(tls: boolean): string {
  const urls = Object.values(hostUrl({ tls }));
  return urls[0] ?? `${tls ? 'tls+tcp' : 'tcp'}://127.0.0.1:0`;
}

/** PIDs of the processes started with MIRAI_LAUNCH_ID=`id`: a launch's daemon, wherever it runs on this machine. */
function pidsOfLaunch(id: string): number[] {
  const needle = `MIRAI_LAUNCH_ID=${id}`;
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        return readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0').includes(needle);
      } catch {
        return false; // gone, or not ours to read
      }
    })
    .map(Number)
    .filter(alive);
}

const root = join(import.meta.dirname, '..', '..');

const available = sshdAvailable();

describe.skipIf(!available)('sshConfig() with a real sshd', () => {
  let sshd: TestSshd;

  beforeAll(async () => {
    sshd = await startSshd();
  }, 60_000);

  afterEach(async () => {
    await daemons(0);
    // Daemons leave when their host says Exit; their ssh sessions end with them.
    expect(await waitFor(() => sshd.sessionPids().length === 0, 15_000)).toBe(true);
  });

  afterAll(async () => {
    await sshd?.stop();
  });

  it('replaces a daemon stuck in a cancelled task through its watchdog, on the remote', async () => {
    // Two remotes (one machine): one daemon in each ssh session, so the stuck one is its session's only daemon.
    const remote = sshConfig({ remotes: [sshd.remote, sshd.remote.replace('@127.0.0.1', '@localhost')], sshOptions: sshd.sshOptions, timeout: 20_000 });
    await daemons(1, { url: localUrl({ tcp: true }), remote, secret: testSecret() });
    expect(await waitFor(() => status()!.connections === 2 && status()!.daemons.every((d) => d.watchdog), 10_000)).toBe(true);
    await everywhere(() => {
      (globalThis as Record<string, unknown>).ready = 'set up';
    });
    const stuck = mirai(() => {
      for (;;);
    });
    await waitFor(() => status()!.executing === 1);
    const stuckPid = status()!.daemons.find((d) => d.state === 'busy')!.pid!;
    stopMirai(stuck);
    expect(stuck.error).toBeInstanceOf(CancelledError);
    // A fresh daemon joins from the same remote; the stuck process is gone; the pool keeps its size.
    expect(await waitFor(() => status()!.cumulative === 3 && status()!.connections === 2, 20_000)).toBe(true);
    expect(status()!.daemons.map((d) => d.pid)).not.toContain(stuckPid);
    expect(await waitFor(() => !alive(stuckPid), 5_000)).toBe(true);
    // The fresh daemon stays: it keeps the session's stdin (its lifeline), which sshd would
    // close if the remote command returned when the stuck daemon was killed.
    await sleep(1_000);
    expect(status()!.cumulative).toBe(3);
    expect(status()!.connections).toBe(2);
    const seen = await Promise.all([1, 2, 3, 4].map(() => mirai(async () => {
      await new Promise((r) => setTimeout(r, 30));
      return [process.env.MIRAI_TEST_SSHD, (globalThis as Record<string, unknown>).ready];
    })));
    expect(seen.every(([tag, ready]) => tag === sshd.tag && ready === 'set up')).toBe(true);
  });

  it('starts daemons over ssh that dial the host directly (TLS), secret only on stdin', async () => {
    const secret = testSecret();
    const remote = sshConfig({ remotes: [sshd.remote], sshOptions: sshd.sshOptions, timeout: 20_000 });
    const h = await daemons(2, { url: lanUrl(true), remote, secret });
    expect(h.connections).toBe(2);
    const seen = await Promise.all([1, 2, 3, 4].map(where));
    expect(seen.every((w) => w.tag === sshd.tag)).toBe(true);
    expect(new Set(seen.map((w) => w.pid)).size).toBe(2);
    // Neither ssh's argv here nor the daemons' argv "over there" holds the secret.
    expect(processesWithArgv(secret)).toEqual([]);
    expect(JSON.stringify(status())).not.toContain(secret);
    // Both daemons share one session: one ssh process, launched with an argv array.
    const shown = await launchRemote(1, remote);
    expect(shown).toHaveLength(1);
    expect(shown[0]).toMatch(/^ssh -o BatchMode=yes -o ConnectTimeout=20 -T -p \d+ /);
    expect(shown[0]).not.toContain(secret);
    expect(await waitFor(() => status()!.connections === 3, 20_000)).toBe(true);
  });

  it('tunnel: daemons in a network namespace of their own reach the host only through ssh -R', async (ctx) => {
    if (sshd.isolatedSshOptions === undefined) ctx.skip();
    const remote = sshConfig({ remotes: [sshd.remote], sshOptions: sshd.isolatedSshOptions, tunnel: true, timeout: 20_000 });
    const h = await daemons(2, { url: 'tls+tcp://127.0.0.1:0', remote });
    const seen = await Promise.all([1, 2, 3].map(where));
    expect(seen.every((w) => w.tag === sshd.tag)).toBe(true);
    // Same port on both sides, as mirai: the remote's 127.0.0.1:<port> is the tunnel's end.
    const port = h.url.split(':').pop()!;
    expect(seen[0]!.argv).toContain(`tls+tcp://127.0.0.1:${port}`);
    const shown = await launchRemote(1, remote);
    expect(shown[0]).toContain(`-R 127.0.0.1:${port}:127.0.0.1:${port}`);
    // That launch ran a second session while the first holds its port: it took another at
    // once (each session has a namespace of its own here, so only the launcher knew).
    expect(await waitFor(() => h.connections === 3, 20_000)).toBe(true);
    const urls = status()!.daemons.map((d) => argvOf(d.pid!).split(' ').find((a) => a.startsWith('tls+tcp://127.0.0.1:')));
    expect(urls.filter((u) => u === `tls+tcp://127.0.0.1:${port}`)).toHaveLength(2);
    expect(urls.filter((u) => u !== `tls+tcp://127.0.0.1:${port}`)).toHaveLength(1);
  });

  it('without the tunnel the isolated daemons cannot reach the host: a LaunchError says why', async (ctx) => {
    if (sshd.isolatedSshOptions === undefined) ctx.skip();
    const remote = sshConfig({ remotes: [sshd.remote], sshOptions: sshd.isolatedSshOptions, timeout: 20_000 });
    const error = await daemons(1, { url: 'tcp://127.0.0.1:0', remote }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LaunchError);
    expect((error as Error).message).toMatch(/could not connect|cannot connect|ECONNREFUSED/);
  });

  it('tunnel with tunnelPort: the daemon dials a port only the tunnel serves', async () => {
    const { createServer } = await import('node:net');
    const free = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const remote = sshConfig({ remotes: [sshd.remote], sshOptions: sshd.sshOptions, tunnel: true, tunnelPort: free, timeout: 20_000 });
    const h = await daemons(1, { url: localUrl({ tcp: true }), remote });
    const w = await where();
    expect(w.tag).toBe(sshd.tag);
    expect(w.argv).toContain(`tcp://127.0.0.1:${free}`);
    expect(h.url).not.toContain(`:${free}`);
  });

  it('tunnel: each session to a remote gets a port of its own; a second launch and a replacement join while the first runs', async () => {
    // This machine is the "remote": the host's own port is taken on its 127.0.0.1 (by the
    // host), so no session can have it, and every session's tunnel takes another port.
    const remote = sshConfig({ remotes: [sshd.remote], sshOptions: sshd.sshOptions, tunnel: true, timeout: 20_000 });
    const h = await daemons(1, { url: localUrl({ tcp: true }), remote });
    await launchRemote(1, remote); // a second session to the same remote, the first still running
    expect(h.connections).toBe(2);
    const seen = await Promise.all([1, 2, 3, 4].map(where));
    expect(seen.every((w) => w.tag === sshd.tag)).toBe(true);
    const byPid = new Map(seen.map((w) => [w.pid, w.argv.find((a) => a.startsWith('tcp://127.0.0.1:'))]));
    expect(byPid.size).toBe(2);
    const ports = new Set(byPid.values());
    expect(ports.size).toBe(2); // one tunnel port per session
    expect(ports.has(h.url)).toBe(false);
    // A lost daemon's replacement is a third session on this remote while the other runs.
    const before = new Set(status()!.daemons.map((d) => d.launchId));
    process.kill(seen[0]!.pid, 'SIGKILL');
    expect(await waitFor(() => h.connections === 2 && status()!.daemons.some((d) => !before.has(d.launchId)), 20_000)).toBe(true);
    const after = await Promise.all([1, 2, 3, 4].map(where));
    expect(new Set(after.map((w) => w.pid)).size).toBe(2);
    expect(after.some((w) => w.pid === seen[0]!.pid)).toBe(false);
  });

  it('tunnel: a remote that takes no port fails the launch, naming the remote and the ports tried', async () => {
    const strict = await startSshd({ config: ['PermitListen none'] });
    try {
      const remote = sshConfig({ remotes: [strict.remote], sshOptions: strict.sshOptions, tunnel: true, tunnelPort: 7070, timeout: 20_000 });
      const error = await daemons(1, { url: localUrl({ tcp: true }), remote }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LaunchError);
      const message = (error as Error).message;
      expect(message).toContain('remote port forwarding failed for listen port');
      expect(message).toContain(`(ssh to ${strict.remote}; the reverse tunnel could not listen on remote ports 7070, `);
      // tunnelPort first, then four more, each a fresh ssh login; then it gives up.
      const tried = /remote ports ([\d, ]+) there/.exec(message)![1]!.split(', ').map(Number);
      expect(tried).toHaveLength(5);
      expect(new Set(tried).size).toBe(5);
      expect(tried.slice(1).every((p) => p >= 49_152 && p <= 65_535)).toBe(true);
    } finally {
      await daemons(0);
      await strict.stop();
    }
  });

  it('remote.md example: sshDaemons() over a tunnel', async () => {
    // On this machine as the remote, the host's own port is taken there: the tunnel takes another.
    const h = await sshDaemons([sshd.remote], sshd.sshOptions);
    expect(h.connections).toBe(2);
    const seen = await Promise.all([1, 2].map(where));
    expect(seen.every((w) => w.tag === sshd.tag)).toBe(true);
  });

  it('a failed login fails the launch at once with ssh’s own message', async () => {
    const bad = sshd.sshOptions.map((o) => (o.endsWith('client_key') ? `${sshd.dir}/no-such-key` : o));
    const started = Date.now();
    const error = await daemons(1, { url: localUrl({ tcp: true }), remote: sshConfig({ remotes: [sshd.remote], sshOptions: bad }) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LaunchError);
    expect((error as Error).message).toMatch(/Permission denied/);
    expect((error as Error).message).toContain(sshd.remote);
    expect(Date.now() - started).toBeLessThan(20_000); // not the 30 s launch timeout
  });

  it('daemons live as long as their ssh sessions, and a reset ends both at once', async () => {
    const remote = sshConfig({ remotes: [sshd.remote], sshOptions: sshd.sshOptions, timeout: 20_000 });
    const h = await daemons(2, { url: lanUrl(true), remote });
    const first = new Set((await Promise.all([1, 2, 3, 4].map(where))).map((w) => w.pid));
    await sleep(1_500);
    // The sessions' stdin stays open: the same two daemons serve on, none ended or replaced.
    const later = new Set((await Promise.all([1, 2, 3, 4].map(where))).map((w) => w.pid));
    expect(later).toEqual(first);
    expect(first.size).toBe(2);
    expect(h.connections).toBe(2);
    expect(status()!.cumulative).toBe(2);
    // Told to exit, the daemons end, and their sessions with them: the host does not wait out
    // the 2 s after which it would kill an ssh still running.
    const resetAt = Date.now();
    await daemons(0);
    expect(Date.now() - resetAt).toBeLessThan(1_900);
    expect(await waitFor(() => sshd.sessionPids().length === 0, 2_000)).toBe(true);
    expect([...first].filter(alive)).toEqual([]);
  });

  it('a daemon that cannot connect ends with its ssh session: killed at a failed launch, it leaves nothing on the remote', async () => {
    const { url, helloSeen, close } = await silentHost();
    try {
      const remote = sshConfig({ remotes: [sshd.remote], sshOptions: sshd.sshOptions, timeout: 20_000 });
      const [handle] = await remote.launch({ url, secret: testSecret(), options: {}, profile: 'p' }, 1);
      expect(await waitFor(helloSeen, 20_000)).toBe(true);
      const [daemonPid, ...others] = pidsOfLaunch(handle!.id);
      expect(daemonPid).toBeDefined();
      expect(others).toEqual([]);
      await sleep(300);
      expect(alive(daemonPid!)).toBe(true);
      // What the profile does to a launch that did not connect within the launch timeout.
      handle!.kill!();
      await handle!.exited; // ssh ends (255: it catches SIGTERM)
      expect(await waitFor(() => !alive(daemonPid!), 3_000)).toBe(true);
      expect(await waitFor(() => sshd.sessionPids().length === 0, 3_000)).toBe(true);
    } finally {
      close();
    }
  });

  it('remoteConfig({ command: ssh, endWithStdin }): a daemon that cannot connect ends when its line is killed', async () => {
    const { url, helloSeen, close } = await silentHost();
    try {
      const destination = `${sshd.user}@127.0.0.1`;
      const args = ['-T', '-o', 'BatchMode=yes', '-p', String(sshd.port), ...sshd.sshOptions.map(shellQuote), destination, '.'];
      const remote = remoteConfig({ command: 'ssh', args, quote: true, endWithStdin: true });
      const [handle] = await remote.launch({ url, secret: testSecret(), options: {}, profile: 'p' }, 1);
      expect(await waitFor(helloSeen, 20_000)).toBe(true);
      // The line's shell and ssh carry the launch id too: the daemon is the one running mirai-daemon.
      const daemonPids = pidsOfLaunch(handle!.id).filter((pid) => /^\S*node .*daemon-main/.test(argvOf(pid)));
      expect(daemonPids).toHaveLength(1);
      await sleep(300);
      expect(alive(daemonPids[0]!)).toBe(true);
      // What the profile does to a launch that did not connect within the launch timeout.
      handle!.kill!();
      expect(await waitFor(() => !alive(daemonPids[0]!), 3_000)).toBe(true);
      expect(await waitFor(() => sshd.sessionPids().length === 0, 3_000)).toBe(true);
    } finally {
      close();
    }
  });

  it('a launch that times out names its remote, and leaves nothing running there though the profile still listens', async () => {
    // A daemon program that starts late: by then its launch has timed out and its ssh is gone.
    const dir = mkdtempSync(join(tmpdir(), 'mirai-slow-node-'));
    const slowNode = join(dir, 'slow-node');
    writeFileSync(slowNode, '#!/bin/sh\nsleep 2\nexec node "$@"\n', { mode: 0o755 });
    try {
      await daemons({ url: localUrl({ tcp: true }), launchTimeout: 1_000 }); // listening: a late daemon could still join
      const remote = sshConfig({ remotes: [sshd.remote], sshOptions: sshd.sshOptions, node: slowNode, timeout: 20_000 });
      const error = await launchRemote(1, remote).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LaunchError);
      expect((error as Error).message).toMatch(/not all connected to tcp:\/\/127\.0\.0\.1:\d+ within 1000 ms; their stderr:\n/);
      expect((error as Error).message).toContain(`(ssh to ${sshd.remote})`);
      // The daemon starts after its ssh was killed, finds its stdin closed, and exits instead of joining.
      expect(await waitFor(() => sshd.sessionPids().length === 0, 8_000)).toBe(true);
      expect(status()!.cumulative).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a daemon still connecting ends when the host that launched it dies: the host’s ssh session ends', async () => {
    // The daemon waits in its handshake and writes nothing: nothing but its session's end can reach it.
    const { url, helloSeen, close } = await silentHost();
    const host = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { sshConfig } from '@mirai-ts/launcher-ssh';
         const remote = sshConfig({ remotes: [${JSON.stringify(sshd.remote)}], sshOptions: ${JSON.stringify(sshd.sshOptions)}, timeout: 20000 });
         const [handle] = await remote.launch({ url: ${JSON.stringify(url)}, secret: 'a-secret-of-the-dead-host', options: {}, profile: 'p' }, 1);
         console.log(handle.id);
         setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'], cwd: root },
    );
    try {
      const lines = createInterface({ input: host.stdout! })[Symbol.asyncIterator]();
      const id = (await Promise.race([lines.next(), sleep(30_000)]))?.value as string;
      expect(await waitFor(helloSeen, 20_000)).toBe(true);
      const [daemonPid] = pidsOfLaunch(id);
      expect(daemonPid).toBeDefined();
      host.kill('SIGKILL');
      // Its ssh reads the end of its stdin (the kernel closes the dead host's end) and passes it on.
      expect(await waitFor(() => !alive(daemonPid!), 5_000)).toBe(true);
      expect(await waitFor(() => sshd.sessionPids().length === 0, 5_000)).toBe(true);
      expect(await waitFor(() => processesWithArgv(`${sshd.dir}/client_key`).length === 0, 5_000)).toBe(true);
    } finally {
      host.kill('SIGKILL');
      close();
    }
  });

  it('a host with ssh daemons exits by itself when its work is done: the pipes it keeps open to ssh do not hold it', async () => {
    const host = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { daemons, mirai } from '@mirai-ts/core';
         import { sshConfig } from '@mirai-ts/launcher-ssh';
         await daemons(1, { url: 'tcp://127.0.0.1:0', remote: sshConfig({ remotes: [${JSON.stringify(sshd.remote)}], sshOptions: ${JSON.stringify(sshd.sshOptions)}, timeout: 20000 }) });
         console.log(await mirai(() => process.pid));`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'], cwd: root },
    );
    let stdout = '';
    host.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const code = await Promise.race([new Promise((resolve) => host.on('exit', resolve)), sleep(20_000).then(() => 'hung')]);
    host.kill('SIGKILL');
    expect(code).toBe(0);
    const daemonPid = Number(stdout.trim());
    expect(daemonPid).toBeGreaterThan(0);
    expect(await waitFor(() => !alive(daemonPid), 5_000)).toBe(true);
    expect(await waitFor(() => sshd.sessionPids().length === 0, 5_000)).toBe(true);
  });

  it('spreads daemons over several remotes, one ssh session each', async () => {
    const remote = sshConfig({ remotes: [sshd.remote, sshd.remote.replace('@127.0.0.1', '@localhost')], sshOptions: sshd.sshOptions });
    // n = 1 with two remotes: one daemon on each, as mirai.
    const h = await daemons(1, { url: 'tls+tcp://127.0.0.1:0', remote });
    expect(await waitFor(() => h.connections === 2, 20_000)).toBe(true);
    expect(remote.commands!({ url: 'tcp://10.0.0.1:5555', secret: 's', options: {}, profile: 'p' }, 4)).toHaveLength(2);
    // repair replaces a lost daemon with one (n = 1 from the profile itself is exactly one),
    // on the remotes in turn: one per remote grew the pool at every loss.
    const before = new Set(status()!.daemons.map((d) => d.launchId));
    process.kill(await mirai(() => process.pid), 'SIGKILL');
    expect(await waitFor(() => status()!.daemons.some((d) => !before.has(d.launchId)) && h.connections === 2, 20_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(h.connections).toBe(2);
  }, 60_000);

  it('refuses configurations that cannot work', async () => {
    expect(() => sshConfig({ remotes: [] })).toThrow(ConfigError);
    expect(() => sshConfig({ remotes: ['http://host'] })).toThrow(/ssh:\/\//);
    expect(() => sshConfig({ remotes: ['ssh://-oProxyCommand=evil'] })).toThrow(/invalid host/);
    expect(() => sshConfig({ remotes: ['ssh://host'], tunnelPort: 2222 })).toThrow(/needs tunnel/);
    expect(() => sshConfig({ remotes: ['ssh://host'], timeout: -1 })).toThrow(ConfigError);
    expect(parseRemote('ssh://me@[::1]:2200')).toMatchObject({ user: 'me', host: '::1', port: 2200, destination: 'me@::1' });
    expect(parseRemote('ssh://node7')).toMatchObject({ user: undefined, port: 22, destination: 'node7' });
    // A tunnel needs the host to listen at 127.0.0.1.
    await daemons({ url: lanUrl(false) });
    await expect(launchRemote(1, sshConfig({ remotes: [sshd.remote], tunnel: true }))).rejects.toThrow(/127\.0\.0\.1/);
    // A local socket is out of reach of any remote.
    await daemons({ url: localUrl() });
    await expect(launchRemote(1, sshConfig({ remotes: [sshd.remote] }))).rejects.toThrow(/local socket/);
  });
});

describe('sshd availability', () => {
  it('is known (skips only outside CI)', () => {
    expect(typeof available).toBe('boolean');
    if (process.env.CI) expect(available).toBe(true);
    expect(SSHD_TAG_ENV).toBe('MIRAI_TEST_SSHD');
  });
});
