/**
 * `mirai-daemon` started by hand (core's bin, without the flags local launches add) imports a
 * plugin package whose exports offer only the `import` condition, resolved from its working
 * directory; so does a task's `await import()` of such a package's pattern subpath. A real
 * temporary package in a real node_modules, a real daemon process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { daemons, info, mirai, type Serializer } from '@mirai-ts/core';
import { waitFor } from '../helpers/wait.js';

const bin = join(import.meta.dirname, '..', '..', 'core', 'bin', 'mirai-daemon.js');
const SECRET = 'test-secret-import-only-plugins';
const app = mkdtempSync(join(tmpdir(), 'mirai-import-only-'));
const pkg = join(app, 'node_modules', 'mirai-import-only');
let daemon: ChildProcess | undefined;

interface Celsius {
  readonly deg: number;
}

beforeAll(() => {
  mkdirSync(join(pkg, 'lib'), { recursive: true });
  writeFileSync(
    join(pkg, 'package.json'),
    JSON.stringify({ name: 'mirai-import-only', version: '1.0.0', type: 'module', exports: { '.': { import: './index.js' }, './sub/*': { import: './lib/*.js' } } }),
  );
  writeFileSync(
    join(pkg, 'index.js'),
    `export class Celsius { constructor(deg) { this.deg = deg; } }
export function celsiusSerializer() {
  return {
    tag: 'test.celsius',
    claims: (v) => v instanceof Celsius,
    encode: (c) => [new TextEncoder().encode(String(c.deg))],
    decode: ([bytes]) => new Celsius(Number(new TextDecoder().decode(bytes))),
    ref: { specifier: 'mirai-import-only', exportName: 'celsiusSerializer', options: {} },
  };
}
`,
  );
  writeFileSync(join(pkg, 'lib', 'extra.js'), `export const extra = 'from a pattern subpath';\n`);
});

afterAll(async () => {
  await daemons(0);
  if (daemon?.exitCode === null) daemon.kill('SIGKILL');
  rmSync(app, { recursive: true, force: true });
});

describe('mirai-daemon by hand, import-only packages', () => {
  it('loads the serializer plugin and a task imports a subpath, both resolved from its working directory', async () => {
    // The host loads the same package by file URL (its own resolution is not what is tested).
    const mod = (await import(pathToFileURL(join(pkg, 'index.js')).href)) as {
      Celsius: new (deg: number) => Celsius;
      celsiusSerializer: () => Serializer;
    };
    const { url } = await daemons({ secret: SECRET, serializers: [mod.celsiusSerializer()] });
    let stderr = '';
    daemon = spawn(process.execPath, [bin, url], { cwd: app, env: { ...process.env, MIRAI_SECRET: SECRET }, stdio: ['ignore', 'ignore', 'pipe'] });
    daemon.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    expect(await waitFor(() => info()?.connections === 1, 15_000)).toBe(true);

    const out = await mirai(({ t }: { t: Celsius }) => ({ name: t.constructor.name, warmer: new (t.constructor as new (d: number) => Celsius)(t.deg + 1) }), {
      t: new mod.Celsius(20),
    });
    expect(out.name).toBe('Celsius'); // decoded on the daemon by the plugin
    expect(out.warmer).toBeInstanceOf(mod.Celsius); // encoded there by it, decoded here
    expect(out.warmer.deg).toBe(21);

    // A string literal for the daemon's import(); a variable would not be seen by TypeScript either way.
    const task = new Function("return async () => (await import('mirai-import-only/sub/extra')).extra;")() as () => Promise<string>;
    expect(await mirai(task)).toBe('from a pattern subpath');
    expect(stderr).toBe('');
  });
});
