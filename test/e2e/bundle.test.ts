/**
 * A bundled app: esbuild puts @mirai-ts/core inside the app's one file, so core's daemon entry
 * is not beside it. The app names a bundle of the daemon entry with `daemonScript`; without
 * it, the LaunchError names the option. Real esbuild bundles, run by a real node process.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, daemons, LaunchError } from '@mirai-ts/core';

const root = join(import.meta.dirname, '..', '..');
// Two levels below the temporary directory: neither ../dist nor ../../dist of the bundle exists.
const dir = mkdtempSync(join(tmpdir(), 'mirai-bundle-'));
const out = join(dir, 'app', 'out');

/** Runs the bundled app; resolves with the JSON line it printed. */
function runApp(env: Record<string, string>): Promise<{ value?: number; name?: string; error?: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(out, 'app.mjs')], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.stderr.on('data', (d: Buffer) => (text += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const line = text.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || !line.startsWith('{')) reject(new Error(`app exited with ${code}: ${text}`));
      else resolve(JSON.parse(line) as never);
    });
  });
}

describe('a bundled app', () => {
  beforeAll(async () => {
    const common = { bundle: true, platform: 'node', format: 'esm', minify: true, logLevel: 'silent' } as const;
    await build({ ...common, entryPoints: [join(root, 'test/e2e/fixtures/bundle/app.mjs')], outfile: join(out, 'app.mjs') });
    // What the docs tell users to do: bundle core's daemon entry beside the app.
    await build({ ...common, entryPoints: [join(root, 'core/dist/daemon-main.js')], outfile: join(out, 'mirai-daemon.mjs') });
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('without daemonScript: a LaunchError that names the option', async () => {
    const outcome = await runApp({});
    expect(outcome.name).toBe('LaunchError');
    expect(outcome.error).toMatch(/^cannot find the mirai-ts daemon entry \(looked for .*dist\/daemon-main\.js\)\. In a bundled app/);
    expect(outcome.error).toContain('pass daemonScript');
    expect(outcome.error).not.toMatch(/^.*build @mirai-ts\/core first/);
  });

  it('with daemonScript naming the bundled daemon entry: tasks run', async () => {
    expect(await runApp({ MIRAI_BUNDLE_DAEMON: '1' })).toEqual({ value: 42 });
  });
});

describe('the daemonScript option', () => {
  it('a missing file is a LaunchError naming daemonScript and the path', async () => {
    const missing = join(dir, 'nope', 'daemon.mjs');
    const err = await daemons(1, { daemonScript: missing }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as Error).message).toBe(
      `daemonScript ${missing} does not exist: give the path of @mirai-ts/core's dist/daemon-main.js, or of a copy or bundle of it`,
    );
    await daemons(0);
  });

  it('must be a path or a file URL', async () => {
    await expect(daemons(1, { daemonScript: '' })).rejects.toThrow(ConfigError);
    await expect(daemons(1, { daemonScript: 5 as never })).rejects.toThrow(/option 'daemonScript' must be a path or file URL of the daemon entry script, got 5/);
  });
});
