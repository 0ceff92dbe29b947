/**
 * docs/serializers.md shows a complete user-defined serializer: the files it shows are
 * exactly docs/examples/temperature*.mjs, the module is under 40 lines, and the usage file
 * runs as shown and prints what its comment says. (The page's `js run` blocks are run by
 * docs.test.ts; the Temperature serializer also passes the conformance suite.)
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const page = readFileSync(join(root, 'docs', 'serializers.md'), 'utf8');

/** Code blocks preceded by `<!-- file: path -->`: path → code. */
function shownFiles(markdown: string): Map<string, string> {
  return new Map([...markdown.matchAll(/<!-- file: (\S+) -->\n```js\n([\s\S]*?)^```$/gm)].map((m) => [m[1]!, m[2]!]));
}

describe('docs/serializers.md: the user-defined serializer example', () => {
  const files = shownFiles(page);

  it('shows the example files verbatim', () => {
    expect([...files.keys()]).toEqual(['docs/examples/temperature.mjs', 'docs/examples/temperature-usage.mjs']);
    for (const [path, code] of files) expect(code, path).toBe(readFileSync(join(root, path), 'utf8'));
  });

  it('is a complete serializer module in under 40 lines', () => {
    const module = files.get('docs/examples/temperature.mjs')!;
    expect(module.trimEnd().split('\n').length).toBeLessThan(40);
    expect(module).toMatch(/tag: .*claims: .*encode: .*decode: .*ref: /s);
  });

  it('runs as shown, on real daemons, and prints what the comment says', () => {
    const usage = files.get('docs/examples/temperature-usage.mjs')!;
    const promised = /console\.log\(.*\); \/\/ (.*)$/m.exec(usage)![1]!;
    const out = spawnSync(process.execPath, ['docs/examples/temperature-usage.mjs'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(out.status, out.stderr).toBe(0);
    expect(out.stdout.trim()).toBe(promised);
    expect(promised).toBe('true Lyon 70.7');
  });
});
