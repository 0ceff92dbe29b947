/**
 * Packaging, as a new user meets it: every package is packed (`pnpm -r pack`, from the built
 * dist), the tarballs are installed with npm into a fresh app outside the workspace (under
 * os.tmpdir(), with apache-arrow as the app's own dependency), and from there the quick start,
 * a TLS pool, an Arrow round trip and `require('@mirai-ts/core')` run.
 *
 * npm reaches the registry for third-party dependencies (its cache makes later runs fast).
 * Heavy peers (nodejs-polars, onnxruntime-node) are not installed (`--omit=peer`): a user of
 * those plugins installs them; their plugins are covered by the workspace tests.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const ARROW = JSON.parse(readFileSync(join(root, 'plugins/serializer-arrow/package.json'), 'utf8')).devDependencies['apache-arrow'];

interface Packed {
  name: string;
  filename: string;
  files: { path: string }[];
}

/** Names of the workspace's public packages: core, plugins/*, adapters/*. */
function workspacePackages(): string[] {
  const dirs = ['core', ...['plugins', 'adapters'].flatMap((d) => readdirSync(join(root, d), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(d, e.name)))];
  return dirs
    .map((d) => JSON.parse(readFileSync(join(root, d, 'package.json'), 'utf8')) as { name: string; private?: boolean })
    .filter((pkg) => pkg.private !== true)
    .map((pkg) => pkg.name)
    .sort();
}

let dir: string;
let app: string;
let packed: Packed[];
let npmLog: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mirai-pack-'));
  // Characters a file URL must escape, in the app's path: what the packages build URLs from must cope.
  app = join(dir, 'app 100% #1');
  mkdirSync(app);
  // dist is built (test/helpers/global-setup.ts rebuilds stale packages): skip prepack's build.
  const json = execFileSync('pnpm', ['--config.ignore-scripts=true', '-r', 'pack', '--pack-destination', dir, '--json'], {
    cwd: root,
    encoding: 'utf8',
  });
  packed = JSON.parse(json) as Packed[];
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'mirai-user-app', private: true, type: 'module' }));
  const install = spawnSync(
    'npm',
    ['install', '--omit=peer', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=warn', `apache-arrow@${ARROW}`, ...packed.map((p) => p.filename)],
    { cwd: app, encoding: 'utf8', env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_onnxruntime_node_install: 'skip' }, timeout: 80_000 },
  );
  npmLog = `${install.stdout}\n${install.stderr}`;
  if (install.status !== 0) throw new Error(`npm install failed (${install.status ?? install.signal}):\n${npmLog}`);
  cpSync(join(root, 'examples', 'quickstart.mjs'), join(app, 'quickstart.mjs'));
  cpSync(join(import.meta.dirname, 'app'), app, { recursive: true });
}, 90_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function run(...args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, args, { cwd: app, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

describe('packed packages installed with npm outside the workspace', () => {
  it('packs every public package with its LICENSE, README, types and no workspace: ranges', () => {
    expect(packed.map((p) => p.name).sort()).toEqual(workspacePackages());
    for (const p of packed) {
      const files = p.files.map((f) => f.path);
      expect(files, p.name).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts']));
      expect(files.filter((f) => f.startsWith('test/')), p.name).toEqual([]);
      const manifest = readFileSync(join(app, 'node_modules', p.name, 'package.json'), 'utf8');
      expect(manifest, p.name).not.toContain('workspace:');
      const { repository, publishConfig, exports } = JSON.parse(manifest);
      expect(repository.url).toBe('git+https://github.com/mirai-ts/mirai-ts.git');
      expect(publishConfig.access).toBe('public');
      expect(exports['.'].default, p.name).toBe('./dist/index.js');
    }
  });

  it('installs without pulling the heavy libraries, with no engine warning of its own', () => {
    const modules = join(app, 'node_modules');
    expect(() => readFileSync(join(modules, 'onnxruntime-node', 'package.json'))).toThrow();
    expect(() => readFileSync(join(modules, 'nodejs-polars', 'package.json'))).toThrow();
    // The one EBADENGINE on Node 20 comes from @nats-io/nuid 3.0.0 (pinned by @nats-io/nats-core).
    const engineWarnings = [...npmLog.matchAll(/EBADENGINE Unsupported engine \{\s*npm warn EBADENGINE\s+package: '([^']+)'/g)].map((m) => m[1]);
    for (const pkg of engineWarnings) expect(pkg).toMatch(/^@nats-io\/nuid@/);
    if (process.versions.node.startsWith('20.')) expect(engineWarnings).toContain('@nats-io/nuid@3.0.0'); // as documented
    // A single apache-arrow: the user's own, shared with the plugin.
    expect(() => readFileSync(join(modules, '@mirai-ts/serializer-arrow/node_modules/apache-arrow/package.json'))).toThrow();
  });

  it('installs core with no runtime dependency: its dist imports only Node builtins and its own files', () => {
    const core = join(app, 'node_modules', '@mirai-ts', 'core');
    const manifest = JSON.parse(readFileSync(join(core, 'package.json'), 'utf8'));
    expect(manifest.dependencies ?? {}).toEqual({});
    expect(manifest.peerDependencies ?? {}).toEqual({});
    const builtins = new Set(builtinModules);
    const outside: string[] = [];
    for (const file of readdirSync(join(core, 'dist')).filter((f) => f.endsWith('.js'))) {
      const source = readFileSync(join(core, 'dist', file), 'utf8');
      // Static imports and re-exports at a statement's start, import() and require() of a literal.
      const imports = /(?:^|;)\s*(?:import|export)\b[^;'"]*?["']([^"'\s]+)["']|\bimport\(\s*["']([^"'\s]+)["']\s*\)|\brequire\(\s*["']([^"'\s]+)["']\s*\)/gm;
      for (const match of source.matchAll(imports)) {
        const specifier = (match[1] ?? match[2] ?? match[3])!;
        if (!specifier.startsWith('./') && !builtins.has(specifier.replace(/^node:/, ''))) outside.push(`${file}: ${specifier}`);
      }
    }
    expect(outside).toEqual([]);
    // ... and bundles pure-rand's code with its licence; so does the thread daemons' worker script,
    // which carries core's daemon side.
    expect(readFileSync(join(core, 'LICENSE'), 'utf8')).toContain('Copyright (c) 2018 Nicolas DUBIEN');
    const threads = join(app, 'node_modules', '@mirai-ts', 'threads');
    expect(readFileSync(join(threads, 'dist', 'worker.cjs'), 'utf8')).toMatch(/xoroshiro128plus/i);
    expect(readFileSync(join(threads, 'LICENSE'), 'utf8')).toContain('Copyright (c) 2018 Nicolas DUBIEN');
  });

  it('runs the quick start', () => {
    const r = run('quickstart.mjs');
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain('mirai: 142');
    expect(r.out.replace(/\s+/g, ' ')).toContain('[ 1, 4, 9, 16, 25, 36, 49, 64, 81 ]');
  });

  it('imports every package that needs no heavy peer', () => {
    const r = run('imports.mjs');
    expect(r.status, r.out).toBe(0);
  });

  it('runs a TLS pool', () => {
    const r = run('tls.mjs');
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain('tls ok');
  });

  it('runs thread daemons from the plugin\'s bundled worker script', () => {
    const r = run('threads.mjs');
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain('threads ok');
  });

  it('round-trips an Arrow table with the plugin and the app’s apache-arrow', () => {
    const r = run('arrow.mjs');
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain('arrow ok');
  });

  it("require('@mirai-ts/core') works from CommonJS, and says why when require(esm) is unavailable", () => {
    const r = run('require.cjs');
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain('require ok');
    // Node < 20.19 behaves like this flag: require() of an ES module throws ERR_REQUIRE_ESM.
    const old = run('--no-experimental-require-module', '-e', "require('@mirai-ts/core')");
    expect(old.status).not.toBe(0);
    expect(old.out).toMatch(/@mirai-ts\/core is an ES module: require\(\) of it needs Node >= 20\.19/);
  });
});
