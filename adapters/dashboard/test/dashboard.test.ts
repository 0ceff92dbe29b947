/**
 * The dashboard in a real headless Chromium: it shows the daemons that exist, its counts move
 * while a map runs, a failure appears with its remote stack, an autoscaled profile's decisions
 * appear as they are made. A screenshot is saved in the
 * test's temp folder. With CI=true a missing Chromium fails the test instead of skipping it.
 */
import { spawn } from 'node:child_process';
import { channel, hasSubscribers } from 'node:diagnostics_channel';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { get, request, createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext } from 'playwright-core';
import { ConfigError, daemons, mirai, MiraiChannel, miraiMap, status, type DaemonEvent, type ProfileScaleEvent } from '@mirai-ts/core';
import { dashboard, type Dashboard } from '../src/index.js';
import { MAX_STREAMS } from '../src/dashboard.js';
import { LOST_SHOWN } from '../src/state.js';

const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveChromium = existsSync(executablePath);
if (!haveChromium && process.env.CI === 'true') throw new Error(`CI=true but no Chromium at ${executablePath} (apt-get install -y chromium)`);

/** The page's `document`, as far as the checks below use it (this file has no DOM typings). */
type PageDocument = { querySelector(s: string): { textContent: string | null } | null; querySelectorAll(s: string): ArrayLike<{ textContent: string | null }> };

const dir = mkdtempSync(join(tmpdir(), 'mirai-dashboard-'));
let browser: BrowserContext | undefined;
let board: Dashboard | undefined;

afterEach(async () => {
  await board?.close();
  board = undefined;
  await daemons(0);
  await daemons(0, { profile: 'elastic' });
});
afterAll(async () => {
  await browser?.close();
  rmSync(join(dir, 'profile'), { recursive: true, force: true });
});

/** One headless Chromium for the file, started on first use. */
async function openBrowser(): Promise<BrowserContext> {
  // A fresh profile directory: launchPersistentContext passes it as --user-data-dir.
  browser ??= await chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath,
    headless: true,
    viewport: { width: 1000, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  return browser;
}

describe.skipIf(!haveChromium)('dashboard in Chromium', () => {
  it('shows the daemons, counts that move during a map, and a failure with its stack', async () => {
    const browser = await openBrowser();
    await daemons(2);
    board = await dashboard({ interval: 50 });
    expect(board.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await browser.newPage();
    await page.goto(board.url);
    const profile = page.locator('section.profile[data-profile="default"]');
    await profile.locator('.daemons').filter({ hasText: '2' }).waitFor({ timeout: 10_000 });
    const pids = (status()!.daemons.map((d) => String(d.pid))).sort();
    const shownPids = (await profile.locator('tbody tr td:nth-child(3)').allTextContents()).sort();
    expect(shownPids).toEqual(pids);

    // A map of slow tasks: the completed count moves while it runs.
    const mp = miraiMap(Array.from({ length: 12 }, (_, i) => i), async (i: number) => {
      await new Promise((r) => setTimeout(r, 60));
      return i;
    });
    await page.waitForFunction(() => {
      const doc = (globalThis as unknown as { document: PageDocument }).document;
      const n = Number(doc.querySelector('section.profile .completed')?.textContent);
      return n > 0 && n < 12;
    }, undefined, { timeout: 10_000 });
    await mp;
    await profile.locator('.completed').filter({ hasText: /^12$/ }).waitFor({ timeout: 10_000 });
    expect(Number(await profile.locator('.failed').textContent())).toBe(0);

    // A failure shows with the remote stack.
    const bad = mirai(function failingTask() {
      throw new RangeError('dashboard sees this');
    });
    await bad.catch(() => undefined);
    const failure = page.locator('#failures .failure').first();
    await failure.waitFor({ timeout: 10_000 });
    expect(await failure.textContent()).toContain('dashboard sees this');
    expect(await failure.locator('pre').textContent()).toMatch(/RangeError: dashboard sees this\n\s+at failingTask/);
    expect(await profile.locator('.failed').textContent()).toBe('1');
    await page.waitForFunction(
      () =>
        Array.from((globalThis as unknown as { document: PageDocument }).document.querySelectorAll('section.profile td.done')).reduce(
          (sum, td) => sum + Number(td.textContent),
          0,
        ) === 13,
      undefined,
      { timeout: 10_000 },
    );
    expect(await profile.locator('svg[aria-label="task timeline"] rect').count()).toBeGreaterThanOrEqual(13);

    const shot = join(dir, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(5_000);
    console.log(`dashboard screenshot: ${shot}`);
  });

  it('shows an autoscaled profile\'s target and its decisions as they are made: launches, then retirements', async () => {
    const browser = await openBrowser();
    board = await dashboard({ interval: 50 });
    await daemons({ profile: 'elastic', autoscale: { min: 0, max: 2, idle: 300 } });
    const page = await browser.newPage();
    await page.goto(board.url);
    const profile = page.locator('section.profile[data-profile="elastic"]');
    await profile.locator('.scaling').waitFor({ timeout: 10_000 });
    expect(await profile.locator('.scaling tbody').textContent()).toContain('no decision yet');
    // Four slow tasks: the autoscaler launches two daemons (max), then retires them when idle.
    const tasks = Array.from({ length: 4 }, () => mirai(() => new Promise((r) => setTimeout(() => r('done'), 200)), {}, { profile: 'elastic' }));
    const launch = profile.locator('.scaling tr[data-action="launch"]').first();
    await launch.waitFor({ timeout: 15_000 });
    expect(await launch.locator('td:nth-child(3)').textContent()).toBe('2');
    expect(await launch.locator('td:nth-child(6)').textContent()).toMatch(/\w/);
    expect(await profile.locator('.target').first().textContent()).toBe('2');
    expect(await Promise.all(tasks)).toEqual(['done', 'done', 'done', 'done']);
    await profile.locator('.scaling tr[data-action="retire"]').first().waitFor({ timeout: 15_000 });
    const actions = await profile.locator('.scaling tbody tr').evaluateAll((rows) => rows.map((r) => (r as unknown as { dataset: { action: string } }).dataset.action));
    // Newest first: every retirement after the launch.
    expect(actions.at(-1)).toBe('launch');
    expect(actions.slice(0, -1).every((a) => a === 'retire')).toBe(true);
    await profile.locator('.target').filter({ hasText: /^0$/ }).waitFor({ timeout: 10_000 });
  });
});

describe('dashboard server', () => {
  it('asks for the token when bound beyond loopback, and checks its options', async () => {
    board = await dashboard({ host: '0.0.0.0' });
    const url = new URL(board.url);
    expect(url.searchParams.get('token')).toMatch(/^[\w-]{24}$/);
    const port = url.port;
    expect((await fetch(`http://127.0.0.1:${port}/snapshot`)).status).toBe(403);
    expect((await fetch(`http://127.0.0.1:${port}/snapshot?token=${'x'.repeat(24)}`)).status).toBe(403);
    const ok = await fetch(`http://127.0.0.1:${port}/snapshot?token=${url.searchParams.get('token')}`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toHaveProperty('profiles');
    await expect(dashboard({ prot: 1 } as never)).rejects.toThrow("dashboard(): unknown option 'prot'; did you mean 'port'? (known: port, host, profiles, interval)");
    await expect(dashboard({ port: -1 })).rejects.toThrow(ConfigError);
    await expect(dashboard({ port: '8080' as never })).rejects.toThrow("dashboard(): option 'port' must be a whole number from 0 to 65535 (0: a free port), got '8080' (a string)");
    await expect(dashboard({ host: '' })).rejects.toThrow("dashboard(): option 'host' must be a non-empty string, got '' (a string)");
    await expect(dashboard({ profiles: 'default' as never })).rejects.toThrow("dashboard(): option 'profiles' must be an array of profile names, got 'default' (a string)");
    await expect(dashboard({ interval: 5 })).rejects.toThrow("dashboard(): option 'interval' must be a number of milliseconds from 10 to 3600000, got 5");
    await expect(dashboard(null as never)).rejects.toThrow('dashboard(): options must be an object, got null');
  });

  it('refuses a token of the right length in characters but not in bytes, and keeps serving', async () => {
    board = await dashboard({ host: '0.0.0.0' });
    const url = new URL(board.url);
    const wide = encodeURIComponent('\u00e9'.repeat(24)); // 24 characters, 48 bytes
    expect((await fetch(`http://127.0.0.1:${url.port}/snapshot?token=${wide}`)).status).toBe(403);
    expect((await fetch(`http://127.0.0.1:${url.port}/snapshot?token=${url.searchParams.get('token')}`)).status).toBe(200);
  });

  it('bound to loopback, answers only requests addressed to a loopback name (no DNS rebinding)', async () => {
    board = await dashboard();
    const port = Number(new URL(board.url).port);
    expect(await statusFor(port, 'rebind.attacker.example')).toBe(403);
    expect(await statusFor(port, `rebind.attacker.example:${port}`)).toBe(403);
    expect(await statusFor(port, `127.0.0.1:${port}`)).toBe(200);
    expect(await statusFor(port, `localhost:${port + 1}`)).toBe(200); // an SSH tunnel's port
    expect(await statusFor(port, `[::1]:${port}`)).toBe(200);
  });

  it('serves at most MAX_STREAMS event streams at once', async () => {
    board = await dashboard();
    const streams = await Promise.all(Array.from({ length: MAX_STREAMS }, () => fetch(new URL('/events', board!.url))));
    expect(streams.every((r) => r.status === 200)).toBe(true);
    const refused = await fetch(new URL('/events', board.url));
    expect(refused.status).toBe(503);
    expect(await refused.text()).toContain(`too many open dashboard pages (${MAX_STREAMS})`);
    await Promise.all(streams.map((r) => r.body!.cancel()));
  });

  it('leaves nothing subscribed when it cannot listen', async () => {
    const taken = createHttpServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as { port: number }).port;
      expect(hasSubscribers(MiraiChannel.taskSettled)).toBe(false);
      await expect(dashboard({ port })).rejects.toThrow(ConfigError);
      expect(hasSubscribers(MiraiChannel.taskSettled)).toBe(false);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it(`shows the ${LOST_SHOWN} newest lost daemons of a profile, and none that left as asked`, async () => {
    board = await dashboard({ profiles: [] });
    // The lifecycle events a crash loop publishes, as the host publishes them.
    channel(MiraiChannel.profileSet).publish({ profile: 'churn', url: 'tcp://127.0.0.1:1', n: 1 });
    const event = (daemonId: number): DaemonEvent => ({ profile: 'churn', url: 'tcp://127.0.0.1:1', daemonId, pid: 1000 + daemonId, hostname: 'h', peer: undefined, connectedAt: Date.now(), completed: 0 });
    for (let id = 1; id <= 60; id++) {
      channel(MiraiChannel.daemonConnected).publish(event(id));
      channel(id % 2 === 0 ? MiraiChannel.daemonLost : MiraiChannel.daemonDisconnected).publish(event(id));
    }
    channel(MiraiChannel.daemonConnected).publish(event(61)); // still connected
    const snapshot = (await (await fetch(new URL('/snapshot', board.url))).json()) as { profiles: { name: string; daemons: { id: number; state: string }[] }[] };
    const shown = snapshot.profiles.find((p) => p.name === 'churn')!.daemons;
    const lost = Array.from({ length: LOST_SHOWN }, (_, i) => 60 - 2 * (LOST_SHOWN - 1 - i));
    expect(shown.map((d) => d.id)).toEqual([...lost, 61]);
    expect(shown.slice(0, -1).every((d) => d.state === 'lost')).toBe(true);
  });
});

describe('profiles that were reset', () => {
  /** The names of the profiles on show. */
  const shown = async (): Promise<string[]> => ((await (await fetch(new URL('/snapshot', board!.url))).json()) as { profiles: { name: string }[] }).profiles.map((p) => p.name);

  it('leave the dashboard for good: the tasks their reset failed and a late scaling decision do not bring them back', async () => {
    board = await dashboard({ profiles: [] });
    for (const profile of ['job-1', 'job-2']) {
      await daemons(1, { profile });
      // One task running and one queued when the profile is reset: both settle after the reset.
      const tasks = [mirai(() => new Promise((r) => setTimeout(r, 5_000)), undefined, { profile }), mirai(() => 1, undefined, { profile })].map((t) => t.then(() => 'done', (e: { kind: string }) => e.kind));
      await new Promise((r) => setTimeout(r, 200));
      expect(await shown()).toContain(profile);
      await daemons(0, { profile });
      expect(await Promise.all(tasks)).toEqual(['connection-reset', 'connection-reset']);
    }
    // An autoscaler's decision published after its profile's reset (a launch that failed meanwhile).
    const late: ProfileScaleEvent = { profile: 'job-1', action: 'launch-failed', count: 1, target: 1, connected: 0, launching: 0, backlog: 0, reason: 'late', at: Date.now() };
    channel(MiraiChannel.profileScale).publish(late);
    // A sync profile's reset leaves it too.
    await daemons({ sync: true, profile: 'inline' });
    expect(await mirai(() => 'here', undefined, { profile: 'inline' })).toBe('here');
    expect(await shown()).toContain('inline');
    await daemons(0, { profile: 'inline' });
    expect(await shown()).toEqual([]);

    // Set again, a profile shows, and counts its new tasks only.
    await daemons(1, { profile: 'job-1' });
    await mirai(() => 2, undefined, { profile: 'job-1' });
    const snapshot = (await (await fetch(new URL('/snapshot', board.url))).json()) as { profiles: { name: string; completed: number; failed: number; daemons: unknown[]; scaling: unknown[] }[] };
    expect(snapshot.profiles.map((p) => [p.name, p.completed, p.failed, p.daemons.length, p.scaling.length])).toEqual([['job-1', 1, 0, 1, 0]]);
    await daemons(0, { profile: 'job-1' });
  });
});

describe('the process', () => {
  it('ends when its own work does, an open page (an event stream) and a pending push notwithstanding', async () => {
    // A host of its own: it starts a dashboard, prints its URL and, told that a page streams,
    // runs a task (the dashboard then has a push waiting, 60 s off) and has nothing more to do.
    const script = `
      import { daemons, mirai } from '@mirai-ts/core';
      import { dashboard } from ${JSON.stringify(join(import.meta.dirname, '..', 'dist', 'index.js'))};
      const board = await dashboard({ interval: 60_000 });
      console.log(board.url);
      process.stdin.once('data', async () => {
        process.stdin.destroy();
        await daemons({ sync: true });
        await mirai(() => 1);
        console.log('done');
      });
    `;
    const host = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: join(import.meta.dirname, '..'), stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = once(host, 'exit');
    let out = '';
    host.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    let page: IncomingMessage | undefined;
    try {
      await until(() => out.includes('\n'));
      // The page: the event stream, open until the host goes.
      page = await new Promise<IncomingMessage>((resolve, reject) => get(new URL('/events', out.split('\n')[0]!), resolve).once('error', reject));
      page.on('error', () => {});
      await once(page, 'data'); // its first snapshot
      host.stdin.write('go\n');
      const [code] = (await Promise.race([exited, new Promise((r) => setTimeout(() => r(['still running 5 s after its last task']), 5_000))])) as [unknown];
      expect(out).toContain('done');
      expect(code).toBe(0);
    } finally {
      page?.destroy();
      if (host.exitCode === null) host.kill();
    }
  });
});

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The status of GET /snapshot on 127.0.0.1:port sent with this Host header. */
function statusFor(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/snapshot', headers: { host } }, (res: IncomingMessage) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.once('error', reject);
    req.end();
  });
}
