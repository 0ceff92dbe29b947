/**
 * A host process stays alive while its tasks are out, and not after: nothing but the
 * outstanding task keeps these scripts running (the dispatcher's keep-alive, host/dispatcher.ts).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/** Runs `source` as an ES module in a fresh node; its stdout and exit code, or 'hung'. */
function runHost(source: string, timeoutMs = 20_000): Promise<{ stdout: string; code: number | null | 'hung' }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', source], {
    cwd: join(import.meta.dirname, '..', '..'),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ stdout, code: 'hung' });
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ stdout, code });
    });
  });
}

describe('host process lifetime', () => {
  it('waits for a task nobody awaits at top level, then exits by itself with daemons still connected', async () => {
    const { stdout, code } = await runHost(`
      import { daemons, mirai } from '@mirai-ts/core';
      await daemons(2);
      // Nothing awaits at top level: only the outstanding task holds the host.
      mirai(async () => { await new Promise((r) => setTimeout(r, 500)); return 42; }).then((v) => console.log('got', v));`);
    expect(stdout.trim()).toBe('got 42');
    expect(code).toBe(0);
  });

  it('with many daemons connected and tasks one at a time, each waits for its result', async () => {
    const { stdout, code } = await runHost(`
      import { daemons, mirai } from '@mirai-ts/core';
      await daemons(4);
      let n = 0;
      const next = () => mirai(async ({ i }) => { await new Promise((r) => setTimeout(r, 20)); return i; }, { i: n })
        .then((v) => { if (v !== n) throw new Error('out of order'); if (++n < 20) next(); else console.log('done', n); });
      next();`);
    expect(stdout.trim()).toBe('done 20');
    expect(code).toBe(0);
  });
});
