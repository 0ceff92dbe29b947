// import-condition resolution from a directory, on real files in a temporary tree.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveImport } from '../../src/daemon/resolve.js';

const root = mkdtempSync(join(tmpdir(), 'mirai-resolve-'));
const app = join(root, 'app', 'src');

function pkg(dir: string, manifest: object, files: string[]): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify(manifest));
  for (const f of files) {
    mkdirSync(join(dir, f, '..'), { recursive: true });
    writeFileSync(join(dir, f), '');
  }
}

pkg(join(root, 'app'), { name: 'the-app', exports: { './tasks': './src/tasks.js' } }, ['src/tasks.js']);
pkg(join(root, 'node_modules', '@s', 'only-import'), { exports: { '.': { require: './r.cjs', import: './i.js' }, './x/*': './x/*.js', './x/deep/*': './deep/*.js', './hidden': null } }, ['i.js', 'r.cjs', 'x/a.js', 'deep/b.js']);
pkg(join(root, 'node_modules', 'plain'), { main: 'lib/main.js' }, ['lib/main.js', 'other.js']);
pkg(join(root, 'node_modules', 'sugar'), { exports: { import: './s.js', default: './d.js' } }, ['s.js', 'd.js']);
const url = (...p: string[]): string => pathToFileURL(join(root, ...p)).href;

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('resolveImport', () => {
  it('follows exports with the import condition, walking up from the directory', () => {
    mkdirSync(app, { recursive: true });
    expect(resolveImport('@s/only-import', app)).toBe(url('node_modules/@s/only-import/i.js'));
    expect(resolveImport('sugar', app)).toBe(url('node_modules/sugar/s.js'));
  });

  it('picks the longest matching pattern and refuses what exports do not offer', () => {
    expect(resolveImport('@s/only-import/x/a', app)).toBe(url('node_modules/@s/only-import/x/a.js'));
    expect(resolveImport('@s/only-import/x/deep/b', app)).toBe(url('node_modules/@s/only-import/deep/b.js'));
    expect(resolveImport('@s/only-import/hidden', app)).toBeUndefined();
    expect(resolveImport('@s/only-import/i.js', app)).toBeUndefined();
    expect(resolveImport('sugar/s.js', app)).toBeUndefined();
  });

  it('uses main without exports, a package by its own name, and gives up on unknown packages', () => {
    expect(resolveImport('plain', app)).toBe(url('node_modules/plain/lib/main.js'));
    expect(resolveImport('plain/other.js', app)).toBe(url('node_modules/plain/other.js'));
    expect(resolveImport('the-app/tasks', app)).toBe(url('app/src/tasks.js'));
    expect(resolveImport('nowhere', app)).toBeUndefined();
  });
});
