/** Helpers for this package's tests: built packages, polling, a real daemon process. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { launchRemote, type LaunchSpec, type Launcher } from '@mirai-ts/core';
import { daemonArgv } from '@mirai-ts/core/plugin';

/** Daemons import packages from dist: end-to-end tests need them built. */
export function requireBuiltPackages(): void {
  for (const rel of ['../../../core/dist/daemon-main.js', '../dist/index.js']) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    if (!existsSync(path)) throw new Error(`${path} is missing: build first (pnpm --filter @mirai-ts/core --filter @mirai-ts/transport-ws build)`);
  }
}

/** Polls `check` until it holds or `ms` pass; returns whether it held. */
export async function until(check: () => boolean, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/** The launch spec the current profile hands launchers, caught by a launcher that starts nothing. */
export async function currentSpec(): Promise<LaunchSpec> {
  let seen: LaunchSpec | undefined;
  const spy: Launcher = { kind: 'spy', launch: async (spec) => ((seen = spec), []) };
  await launchRemote(1, spy);
  return seen!;
}

/** Runs a real daemon process with `spec` and `secret`; resolves with its exit code, stderr and run time. */
export function runDaemon(spec: LaunchSpec, secret: string): Promise<{ code: number | null; stderr: string; ms: number }> {
  const { MIRAI_SECRET: _none, ...env } = process.env;
  const started = Date.now();
  const child = spawn(process.execPath, daemonArgv(spec), { env: { ...env, MIRAI_SECRET: secret }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stderr, ms: Date.now() - started })));
}
