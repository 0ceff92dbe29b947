/**
 * Docs move with code: every ```js run block in docs/*.md is executed here as a module
 * (it asserts its own results with node:assert), and the README's quick start example runs.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const scratch = join(root, 'test', '.tmp');

/** The `js run` blocks of a markdown file. */
export function runnableBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```js run\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

function runModule(name: string, source: string): { status: number | null; stdout: string; stderr: string } {
  mkdirSync(scratch, { recursive: true });
  const file = join(scratch, `${name}.mjs`);
  writeFileSync(file, source);
  try {
    const out = spawnSync(process.execPath, [file], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    return { status: out.status, stdout: out.stdout, stderr: out.stderr };
  } finally {
    rmSync(file, { force: true });
  }
}

const pages = readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md'));

describe('docs examples run', () => {
  for (const page of pages) {
    const blocks = runnableBlocks(readFileSync(join(root, 'docs', page), 'utf8'));
    blocks.forEach((block, i) => {
      it(`${page} example ${i + 1}`, () => {
        const result = runModule(`${page.replace(/\W/g, '_')}_${i}`, block);
        expect(result.stderr + result.stdout).not.toMatch(/AssertionError/);
        expect(result.status, result.stderr).toBe(0);
      });
    });
  }

  it('the quick start prints 142 and the squares, the map taking about 2 s', () => {
    const out = spawnSync(process.execPath, ['examples/quickstart.mjs'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(out.status, out.stderr).toBe(0);
    expect(out.stdout).toContain('while it runs: Mirai #1 <pending>');
    expect(out.stdout).toContain('mirai: 142');
    expect(out.stdout.replace(/\s+/g, ' ')).toContain('[ 1, 4, 9, 16, 25, 36, 49, 64, 81 ]');
    const seconds = Number(/in ([\d.]+) s/.exec(out.stdout)?.[1]);
    expect(seconds).toBeGreaterThanOrEqual(1.9);
    expect(seconds).toBeLessThan(4);
  });

  it('finds runnable blocks', () => {
    expect(runnableBlocks('x\n```js run\nconsole.log(1)\n```\n```js\nno\n```\n')).toEqual(['console.log(1)\n']);
  });
});
