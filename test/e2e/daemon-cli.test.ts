import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CancelledError, daemons, describeExitCode, everywhere, info, launchRemote, localUrl, mirai, remoteConfig, status, stopMirai } from '@mirai-ts/core';
import { silentHost } from '../helpers/silent-host.js';
import { alive, sleep, waitFor } from '../helpers/wait.js';

const script = join(import.meta.dirname, '..', '..', 'core', 'dist', 'daemon-main.js');
const SECRET = 'test-secret-for-manual-daemons';
const children: ChildProcess[] = [];

/** Starts `mirai-daemon <url> ...flags` by hand, as on another machine (`stdin: 'pipe'`: as a launcher that holds it open). */
function startDaemon(url: string, ...flags: string[]): { child: ChildProcess; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [script, url, ...flags], {
    env: { ...process.env, MIRAI_SECRET: SECRET },
    stdio: [flags.includes('--exit-on-stdin-eof') ? 'pipe' : 'ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  child.stderr!.resume();
  return { child, exit: new Promise((resolve) => child.on('exit', resolve)) };
}

afterEach(async () => {
  await daemons(0);
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

describe('mirai-daemon command', () => {
  it('exits with code 3 after maxtasks, having delivered its last result', async () => {
    const { url } = await daemons({ secret: SECRET });
    const { exit } = startDaemon(url, '--maxtasks=2');
    expect(await mirai(() => 'one')).toBe('one');
    expect(await mirai(() => 'two')).toBe('two');
    expect(await exit).toBe(3);
    expect(describeExitCode(3)).toBe('3 | task limit reached');
  });

  it('exits with code 1 after idletime and code 2 after walltime', async () => {
    const { url } = await daemons({ secret: SECRET });
    const idle = startDaemon(url, '--idletime=200');
    const wall = startDaemon(url, '--walltime=400');
    expect(await idle.exit).toBe(1);
    expect(await wall.exit).toBe(2);
    expect(info()!.connections).toBe(0);
  });

  it('with autoexit=false survives its host and joins the next host at the same URL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mirai-test-'));
    const url = `ipc://${join(dir, 'host.sock')}`;
    await daemons({ url, secret: SECRET });
    const { child } = startDaemon(url, '--autoexit=false');
    expect(await waitFor(() => info()!.connections === 1)).toBe(true);
    await daemons(0);
    await new Promise((r) => setTimeout(r, 300));
    expect(child.exitCode).toBeNull(); // still alive, dialling again
    await daemons({ url, secret: SECRET });
    expect(await waitFor(() => info()?.connections === 1, 10_000)).toBe(true);
    expect(await mirai(() => 'back')).toBe('back');
    const exited = new Promise((resolve) => child.on('exit', resolve));
    await daemons(0, { terminate: true }); // says Exit even to daemons it did not launch
    expect(await exited).toBe(0);
  });

  it('a daemon the host did not launch runs a watchdog, which replaces it when a cancelled task is stuck', async () => {
    const { url } = await daemons({ secret: SECRET });
    const { child } = startDaemon(url);
    expect(await waitFor(() => status()?.daemons[0]?.watchdog === true, 10_000)).toBe(true);
    const oldPid = status()!.daemons[0]!.pid!;
    expect(oldPid).toBe(child.pid);
    await everywhere(() => {
      (globalThis as Record<string, unknown>).prepared = 'yes';
    });
    const stuck = mirai(() => {
      for (;;);
    });
    await waitFor(() => info()!.executing === 1);
    stopMirai(stuck);
    expect(stuck.error).toBeInstanceOf(CancelledError);
    // The watchdog starts a fresh daemon and ends the stuck one; the host launched nothing.
    expect(await waitFor(() => info()!.cumulative === 2 && info()!.connections === 1, 10_000)).toBe(true);
    const newPid = status()!.daemons[0]!.pid!;
    expect(newPid).not.toBe(oldPid);
    expect(await waitFor(() => !alive(oldPid), 5_000)).toBe(true);
    expect(await mirai(() => (globalThis as Record<string, unknown>).prepared)).toBe('yes');
    await daemons(0, { terminate: true });
    expect(await waitFor(() => !alive(newPid), 5_000)).toBe(true);
  });

  it('a daemon busy in a task exits soon after its host is killed: its watchdog enforces autoexit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mirai-test-'));
    const url = `ipc://${join(dir, 'host.sock')}`;
    const host = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { daemons, mirai, status } from '@mirai-ts/core';
         await daemons({ url: ${JSON.stringify(url)}, secret: ${JSON.stringify(SECRET)} });
         while (!(status().daemons[0]?.watchdog)) await new Promise((r) => setTimeout(r, 20));
         mirai(() => { for (;;); });
         while (status().executing === 0) await new Promise((r) => setTimeout(r, 20));
         console.log('busy');
         setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'], cwd: join(import.meta.dirname, '..', '..') },
    );
    children.push(host);
    await waitFor(() => existsSync(join(dir, 'host.sock')), 10_000);
    const { child } = startDaemon(url);
    await new Promise<void>((resolve) => host.stdout!.once('data', () => resolve()));
    host.kill('SIGKILL');
    const killedAt = Date.now();
    expect(await waitFor(() => !alive(child.pid!), 5_000, 20)).toBe(true);
    expect(Date.now() - killedAt).toBeLessThan(3_000); // 1 s grace for a stuck task, plus a loaded machine
  });

  it('local daemons run no watchdog: the host ends them itself', async () => {
    await daemons(1);
    expect(status()!.daemons[0]!.watchdog).toBe(false);
  });

  it("daemons({ watchdog }) reaches the daemons it starts and the commands it gives", async () => {
    await daemons(1, { watchdog: true });
    expect(await waitFor(() => status()?.daemons[0]?.watchdog === true, 10_000)).toBe(true);
    await daemons(0);
    await daemons({ url: localUrl({ tcp: true }), watchdog: false });
    const [command] = await launchRemote(1, remoteConfig());
    expect(command).toContain('--watchdog=false');
  });

  it('refuses bad options with exit code 13 and a usage line', async () => {
    const { exit } = startDaemon('ipc:///nowhere.sock', '--maxtasks=-1');
    expect(await exit).toBe(13);
    for (const spin of ['-1', '1001', 'fast', '']) {
      const bad = startDaemon('ipc:///nowhere.sock', `--spin=${spin}`);
      let stderr = '';
      bad.child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      expect(await bad.exit, spin).toBe(13);
      expect(stderr).toContain(`--spin must be a number of µs from 0 to 1000, got '${spin}'`);
    }
    const refusals: [string, string][] = [
      ['--cleanup=no', "--cleanup must be true or false, got 'no'"],
      ['--maxtasks=1.5', "--maxtasks must be a whole number ≥ 1, or Infinity, got '1.5'"],
      // Node fires a timer of more than 2^31 - 1 ms after 1 ms: the daemon would leave at once.
      ['--idletime=3e9', "--idletime must be a number of ms > 0 and ≤ 2147483647, or Infinity, got '3e9'"],
      ['--walltime=', "--walltime must be a number of ms > 0 and ≤ 2147483647, or Infinity, got ''"],
      ['--secret-file=/nonexistent/mirai-secret', 'cannot read --secret-file /nonexistent/mirai-secret: ENOENT'],
      // Decimal only: Number() alone takes hex, binary and surrounding spaces.
      ['--idletime=0x10', "--idletime must be a number of ms > 0 and ≤ 2147483647, or Infinity, got '0x10'"],
      ['--maxtasks= 5 ', "--maxtasks must be a whole number ≥ 1, or Infinity, got ' 5 '"],
      ['--maxtasks=0b11', "--maxtasks must be a whole number ≥ 1, or Infinity, got '0b11'"],
      ['--autoexit=yes', "--autoexit must be true, false or finish, got 'yes'"],
      ['--watchdog=1', "--watchdog must be true or false, got '1'"],
      ['--dial-options=5', "--dial-options must be a JSON object, got '5'"],
      ['--dial-options={"limits":5}', "--dial-options: 'limits' is the daemon's own"],
      ['--dial-options={"bogus":1}', "ipc:// takes no dial options, got 'bogus'"],
      ['--transport={"bogus":1}', '--transport must be a JSON plugin reference'],
    ];
    // --secret-stdin reads stdin to its end, which --exit-on-stdin-eof would take as its launcher's end.
    const both = startDaemon('ipc:///nowhere.sock', '--secret-stdin', '--exit-on-stdin-eof');
    let bothStderr = '';
    both.child.stderr!.on('data', (chunk: Buffer) => (bothStderr += chunk.toString()));
    expect(await both.exit).toBe(13);
    expect(bothStderr).toContain('give --secret-stdin or --exit-on-stdin-eof, not both');
    refusals.push(['--exit-on-stdin-eof=true', "Option '--exit-on-stdin-eof' does not take an argument"]);
    for (const [flag, message] of refusals) {
      const bad = startDaemon('ipc:///nowhere.sock', flag);
      let stderr = '';
      bad.child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      expect(await bad.exit, flag).toBe(13);
      expect(stderr, flag).toContain(message);
    }
  });

  it('daemons() refuses a time limit a timer cannot hold', async () => {
    const month = 30 * 24 * 3_600_000;
    await expect(daemons(1, { walltime: month })).rejects.toThrow(`daemons(): option 'walltime' must be a number of milliseconds > 0 and ≤ 2147483647, or Infinity (no limit), got ${month}`);
    await expect(daemons(1, { idletime: 0 })).rejects.toThrow(/option 'idletime' must be a number of milliseconds > 0/);
    await daemons(1, { walltime: Infinity, idletime: Infinity });
    expect(await mirai(() => 'no limits')).toBe('no limits');
  });

  it('takes --spin: a daemon polls for its next task with its event loop turning (0: it never does)', async () => {
    const { url } = await daemons({ secret: SECRET });
    // A task that came while the daemon polled runs with the poll's next tick (an Immediate) pending.
    const pollPending = ({ i }: { i: number }): [number, boolean] => [i, process.getActiveResourcesInfo().includes('Immediate')];
    const seen: Record<string, number> = {};
    for (const spin of ['0', '1000']) {
      const { exit } = startDaemon(url, `--spin=${spin}`, '--maxtasks=40');
      // All 40 queued at once: the host sends each next task as the previous result comes in,
      // within the daemon's poll, instead of after a round through this test's awaits (which a
      // loaded CI machine stretched past 1 ms: 0 of 40 polled once).
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => mirai(pollPending, { i })));
      expect(results.map(([i]) => i)).toEqual(Array.from({ length: 40 }, (_, i) => i));
      seen[spin] = results.filter(([, polled]) => polled).length;
      expect(await exit).toBe(3); // maxtasks: it ran every task it was sent
    }
    expect(seen['0']).toBe(0);
    expect(seen['1000']).toBeGreaterThan(0);
  });

  it('--exit-on-stdin-eof: serves while its stdin is open, exits (code 0) when it ends', async () => {
    const { url } = await daemons({ secret: SECRET });
    const { child, exit } = startDaemon(url, '--exit-on-stdin-eof');
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    expect(await waitFor(() => info()!.connections === 1, 10_000)).toBe(true);
    await sleep(300);
    expect(await mirai(() => 'serving')).toBe('serving');
    expect(child.exitCode).toBeNull();
    child.stdin!.end(); // what a launcher's ssh session ending looks like from the daemon
    expect(await exit).toBe(0);
    expect(stderr).toContain('standard input ended (--exit-on-stdin-eof): its launcher is gone, exiting');
  });

  it('--exit-on-stdin-eof: a daemon still in its handshake (a host that never answers) exits when its stdin ends', async () => {
    // Sends a Challenge, takes the Hello, and never sends Init: the daemon waits for ever.
    const { url, helloSeen, close } = await silentHost();
    try {
      const { child, exit } = startDaemon(url, '--exit-on-stdin-eof');
      expect(await waitFor(helloSeen, 10_000)).toBe(true);
      await sleep(300);
      expect(child.exitCode).toBeNull(); // it waits for the host's Init
      child.stdin!.end();
      const endedAt = Date.now();
      expect(await exit).toBe(0);
      expect(Date.now() - endedAt).toBeLessThan(2_000);
    } finally {
      close();
    }
  });

  it('exits with code 12 when the host cannot be reached', async () => {
    const { exit } = startDaemon('tcp://127.0.0.1:1');
    expect(await exit).toBe(12);
  });
});
