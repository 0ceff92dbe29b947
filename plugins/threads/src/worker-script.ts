/**
 * The script a thread daemon runs: dist/worker.cjs, one CommonJS bundle of worker.ts with core's
 * daemon side (see tsup.config.ts). It carries the core it was built with, so it is checked
 * against the host's before the first thread starts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LaunchError } from '@mirai-ts/core';

/** The worker script's first line, written by its build: `… carries the daemon side of @mirai-ts/core <version>`. */
const BANNER = /^\/\/ @mirai-ts\/threads worker: carries the daemon side of @mirai-ts\/core (\S+)$/m;

/** The version of core a worker script carries, from its first line; undefined if it does not say. */
export function bundledCoreVersion(source: string): string | undefined {
  const firstLine = source.slice(0, source.indexOf('\n') >>> 0);
  return BANNER.exec(firstLine)?.[1];
}

/**
 * The version of the `@mirai-ts/core` this host runs: the package.json above the module that
 * `require.resolve` finds for it (the package's `require` entry sits in its root). Undefined
 * where it cannot be found (a bundled host): the check is then skipped.
 */
export function hostCoreVersion(): string | undefined {
  try {
    let dir = dirname(createRequire(import.meta.url).resolve('@mirai-ts/core'));
    for (let i = 0; i < 4; i++, dir = dirname(dir)) {
      const file = join(dir, 'package.json');
      if (!existsSync(file)) continue;
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === '@mirai-ts/core' && typeof pkg.version === 'string') return pkg.version;
    }
  } catch {
    // not resolvable from here
  }
  return undefined;
}

/** Why a worker carrying core `bundled` cannot serve a host running core `host`; undefined if it can. */
export function coreSkew(bundled: string | undefined, host: string | undefined): string | undefined {
  if (bundled === undefined) return '@mirai-ts/threads: dist/worker.cjs does not say which @mirai-ts/core it carries; rebuild the package';
  if (host === undefined || bundled === host) return undefined;
  return (
    `@mirai-ts/threads: its thread daemons carry the daemon side of @mirai-ts/core ${bundled}, but this host runs @mirai-ts/core ${host}; ` +
    'install @mirai-ts/threads of the same release as @mirai-ts/core (a thread runs the core its plugin was built with)'
  );
}

let checked: URL | undefined;

/** The built worker script (beside this module when built, ../dist from sources), checked once against the host's core. */
export function workerScript(): URL {
  if (checked !== undefined) return checked;
  let script = new URL('./worker.cjs', import.meta.url);
  if (!existsSync(fileURLToPath(script))) script = new URL('../dist/worker.cjs', import.meta.url);
  if (!existsSync(fileURLToPath(script))) throw new LaunchError('@mirai-ts/threads: dist/worker.cjs is missing; build the package first');
  // The banner is the script's first line: 200 bytes hold it.
  const head = readFileSync(fileURLToPath(script)).subarray(0, 200).toString('latin1');
  const skew = coreSkew(bundledCoreVersion(head), hostCoreVersion());
  if (skew !== undefined) throw new LaunchError(skew);
  return (checked = script);
}
