/**
 * Local daemons and the host's loaders: a host started with `node --import tsx` (and by the
 * `tsx` command) runs `fromModule('./….ts')` on daemons that inherit the loader; `execArgv`
 * overrides what they get. Real host processes, real daemons, real tsx.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, daemons, fromModule, mirai, TaskError } from '@mirai-ts/core';

const root = join(import.meta.dirname, '..', '..');
const host = 'test/e2e/fixtures/ts-tasks/host.ts';
const tasks = './test/e2e/fixtures/ts-tasks/tasks.ts';

interface HostOutcome {
  value?: number;
  error?: string;
  execArgv: string[];
}

/** Runs the fixture host with `argv` from the repository root; resolves with what it printed. */
function runHost(command: string, argv: string[]): Promise<HostOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 25_000); // by pid; the host ends itself normally
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || !line.startsWith('{')) reject(new Error(`host exited with ${code}: ${out}${err}`));
      else resolve(JSON.parse(line) as HostOutcome);
    });
  });
}

describe('local daemons inherit the host loaders', () => {
  it('node --import tsx: fromModule of a .ts file runs on a daemon', async () => {
    const outcome = await runHost(process.execPath, ['--import', 'tsx', host]);
    expect(outcome).toEqual({ value: 42, execArgv: ['--import', 'tsx'] });
  });

  it('the tsx command (its own --require and --import of absolute paths) works too', async () => {
    const outcome = await runHost(join(root, 'node_modules', '.bin', 'tsx'), [host]);
    expect(outcome.value).toBe(42);
    expect(outcome.execArgv.join(' ')).toMatch(/--import file:.*tsx\/dist\/loader\.mjs/);
  });

  it("execArgv: 'none' leaves the loader out, and the error says where loaders come from", async () => {
    const outcome = await runHost(process.execPath, ['--import', 'tsx', host, 'none']);
    expect(outcome.value).toBeUndefined();
    expect(outcome.error).toMatch(/^Unknown file extension "\.ts" for .*tasks\.ts: this daemon has no TypeScript loader/);
    expect(outcome.error).toContain("pass execArgv: ['--import', 'tsx'] to daemons()");
  });
});

describe('execArgv under vitest', () => {
  afterEach(async () => {
    await daemons(0);
  });

  it("inherits none of vitest's own flags, so a .ts module needs an explicit loader", async () => {
    await daemons(1);
    const err = await mirai(fromModule(tasks, 'scaledArea'), { w: 3, h: 7, by: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskError);
    expect((err as Error).message).toMatch(/Unknown file extension "\.ts".*under vitest.*execArgv: \['--import', 'tsx'\]/);
  });

  it("execArgv: ['--import', 'tsx'] gives daemons the loader", async () => {
    await daemons(1, { execArgv: ['--import', 'tsx'] });
    expect(await mirai(fromModule(tasks, 'scaledArea'), { w: 3, h: 7, by: 2 })).toBe(42);
  });

  it.each([
    ['all', /option 'execArgv' must be 'inherit', 'none', or an array of node flags/],
    [['tsx'], /the first word must be a flag, got 'tsx'/],
    [['--import', 'tsx', '--eval', 'process.exit()'], /without '--eval' \(it would stop the process from running the daemon\)/],
    [['--inspect=0'], /without '--inspect=0'/],
    [[1], /an array of node flags/],
  ])('refuses execArgv %j', async (execArgv, message) => {
    await expect(daemons(1, { execArgv: execArgv as never })).rejects.toThrow(ConfigError);
    await expect(daemons(1, { execArgv: execArgv as never })).rejects.toThrow(message);
  });
});
