/**
 * The dashboard in a real headless Chromium: it shows the daemons that exist, its counts move
 * while a map runs, a failure appears with its remote stack, an autoscaled profile's decisions
 * appear as they are made. A screenshot is saved in the
 * test's temp folder. With CI=true a missing Chromium fails the test instead of skipping it.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext } from 'playwright-core';
import { ConfigError, daemons, mirai, miraiMap, status } from '@mirai-ts/core';
import { dashboard, type Dashboard } from '../src/index.js';

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
});
