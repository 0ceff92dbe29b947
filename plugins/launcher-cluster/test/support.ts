/** Helpers shared by this package's tests. */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Polls `check` until it holds or `ms` pass; resolves to whether it held. */
export async function waitFor(check: () => boolean | Promise<boolean>, ms: number, every = 50): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, every));
  }
}

/** A private directory for secret files (the default, ~/.mirai-ts/secrets, stays untouched by tests). */
export function privateDir(prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The argv and environment of live processes whose command line contains `needle`. */
export function processesWith(needle: string): Array<{ pid: number; argv: string; environ: string }> {
  const found: Array<{ pid: number; argv: string; environ: string }> = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'latin1');
      if (!argv.includes(needle)) continue;
      found.push({ pid: Number(name), argv, environ: readFileSync(`/proc/${name}/environ`, 'latin1') });
    } catch {
      // gone
    }
  }
  return found;
}
