/**
 * Docs move with code. The one mechanism for every page of docs/:
 * - each ```js run block is executed as a module from the repository root and asserts its own
 *   results with node:assert; `js run needs=nats` blocks get a real nats-server (NATS_URL);
 * - each `<!-- example: path -->` block shows that file verbatim (the files are run by the
 *   tests of what they show: test/remote/examples.test.ts, and the serializer example below);
 * - the README's quick start (examples/quickstart.mjs) runs and prints what it promises.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsServer, natsTestsEnabled } from '../plugins/transport-nats/test/nats-server.js';

const root = join(import.meta.dirname, '..');
const scratch = join(root, 'test', '.tmp');

/** A ```js run block: its code and what it needs (`needs=nats`). */
export interface RunnableBlock {
  readonly code: string;
  readonly needs: readonly string[];
}

/** The `js run` blocks of a markdown file. */
export function runnableBlocks(markdown: string): RunnableBlock[] {
  return [...markdown.matchAll(/^```js run((?: [\w=,]+)*)\n([\s\S]*?)^```$/gm)].map((m) => ({
    code: m[2]!,
    needs: /needs=([\w,]+)/.exec(m[1]!)?.[1]?.split(',') ?? [],
  }));
}

/** `<!-- example: path -->` followed by a fenced block: [path, code]. */
export function exampleBlocks(markdown: string): [string, string][] {
  return [...markdown.matchAll(/<!-- example: (\S+) -->\n```\w*\n([\s\S]*?)^```$/gm)].map((m) => [m[1]!, m[2]!]);
}

function runModule(name: string, source: string, env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  mkdirSync(scratch, { recursive: true });
  const file = join(scratch, `${name}.mjs`);
  writeFileSync(file, source);
  try {
    const out = spawnSync(process.execPath, [file], { cwd: root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });
    return { status: out.status, stdout: out.stdout, stderr: out.stderr };
  } finally {
    rmSync(file, { force: true });
  }
}

const pages = readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md'));
const read = (page: string): string => readFileSync(join(root, 'docs', page), 'utf8');
const needsNats = pages.some((page) => runnableBlocks(read(page)).some((b) => b.needs.includes('nats')));

describe('docs examples run', () => {
  let nats: NatsServer | undefined;
  beforeAll(async () => {
    if (needsNats && natsTestsEnabled()) nats = await NatsServer.start();
  }, 60_000);
  afterAll(async () => {
    await nats?.dispose();
  });

  for (const page of pages) {
    runnableBlocks(read(page)).forEach((block, i) => {
      const unknown = block.needs.filter((n) => n !== 'nats');
      const skip = block.needs.includes('nats') && !natsTestsEnabled();
      it.skipIf(skip)(`${page} example ${i + 1}`, () => {
        expect(unknown, 'unknown needs= in a js run block').toEqual([]);
        const env = block.needs.includes('nats') ? { NATS_URL: nats!.url } : {};
        const result = runModule(`${page.replace(/\W/g, '_')}_${i}`, block.code, env);
        expect(result.stderr + result.stdout).not.toMatch(/AssertionError/);
        expect(result.status, result.stderr).toBe(0);
      }, 90_000);
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

  it('finds runnable blocks and what they need', () => {
    expect(runnableBlocks('x\n```js run\nconsole.log(1)\n```\n```js\nno\n```\n```js run needs=nats\n2\n```\n')).toEqual([
      { code: 'console.log(1)\n', needs: [] },
      { code: '2\n', needs: ['nats'] },
    ]);
  });
});

describe('docs show their example files verbatim', () => {
  const shown = pages.flatMap((page) => exampleBlocks(read(page)).map(([path, code]) => ({ page, path, code })));

  it('finds the examples', () => {
    expect(shown.length).toBeGreaterThanOrEqual(6);
  });

  it.each(shown.map((e) => [e.page, e.path, e.code] as const))('%s shows %s', (_page, path, code) => {
    expect(code).toBe(readFileSync(join(root, path), 'utf8'));
  });
});

describe('docs/serializers.md: the user-defined serializer example', () => {
  const files = new Map(exampleBlocks(read('serializers.md')));

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
