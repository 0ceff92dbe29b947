/**
 * Errors no task awaits, left behind by a task (a timer that rejects or throws after the task
 * returned), on real daemons: an unhandled rejection is reported and the daemon serves on; an
 * uncaught exception fails the task running then with an error naming it, and the daemon
 * leaves (exit code 70) to be replaced.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConnectionResetError, daemons, info, mirai, status, TaskError, type MiraiError } from '@mirai-ts/core';
import { threadDaemons } from '@mirai-ts/threads';
import { waitFor } from '../helpers/wait.js';

const script = join(import.meta.dirname, '..', '..', 'core', 'dist', 'daemon-main.js');
const SECRET = 'test-secret-for-stray-errors';
const children: ChildProcess[] = [];

/** What the host process writes to its stderr (daemons' lines, with `output`). */
function captureStderr(): { text: () => string } {
  let text = '';
  const write = process.stderr.write.bind(process.stderr);
  vi.spyOn(process.stderr, 'write').mockImplementation(((chunk: unknown, ...rest: unknown[]) => {
    text += typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
    return (write as (c: unknown, ...r: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stderr.write);
  return { text: () => text };
}

const errorOf = (p: PromiseLike<unknown>): Promise<MiraiError> =>
  Promise.resolve(p).then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: MiraiError) => e,
  );

/** Task A: returns at once, leaving a timer that rejects (or throws) 200 ms later. */
const leaveRejection = (): string => {
  setTimeout(() => Promise.reject(new Error('late rejection left by task A')), 200);
  return 'A';
};
const leaveException = (): string => {
  setTimeout(() => {
    throw new Error('late exception left by task A');
  }, 200);
  return 'A';
};
/** Task B: running when A's timer fires. */
const slowB = (): Promise<string> => new Promise((r) => setTimeout(() => r('B ok'), 700));

afterEach(async () => {
  vi.restoreAllMocks();
  await daemons(0);
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

describe('errors a task leaves behind', () => {
  it('an unhandled rejection is reported in the daemon log, and the task running then succeeds on the same daemon', async () => {
    const stderr = captureStderr();
    await daemons(1, { output: true });
    const pid = status()!.daemons[0]!.pid;
    expect(await mirai(leaveRejection)).toBe('A');
    expect(await mirai(slowB)).toBe('B ok');
    expect(await waitFor(() => stderr.text().includes('late rejection left by task A'), 5_000)).toBe(true);
    expect(stderr.text()).toMatch(/unhandled promise rejection while task \d+ ran .*the daemon goes on/);
    expect(await mirai(() => process.pid)).toBe(pid);
    expect(info()!.cumulative).toBe(1);
  });

  it('an uncaught exception fails the task running then with an error naming it, and the pool replaces the daemon for the next task', async () => {
    const stderr = captureStderr();
    await daemons(1, { output: true });
    const pid = status()!.daemons[0]!.pid;
    expect(await mirai(leaveException)).toBe('A');
    // Two tasks wait behind B: they are not lost with the daemon, they run on its replacement.
    const b = mirai(slowB);
    const behind = [mirai(() => 'C'), mirai(() => 'D')];
    const err = await errorOf(b);
    expect(await Promise.all(behind)).toEqual(['C', 'D']);
    expect(err).not.toBeInstanceOf(ConnectionResetError);
    expect(err).toBeInstanceOf(TaskError);
    expect(err.name).toBe('UncaughtExceptionError');
    expect(err.message).toMatch(/an uncaught exception ended daemon \d+ while it ran task \d+ \(Error: late exception left by task A\)/);
    expect((err.cause as Error).message).toBe('late exception left by task A');
    // It left with Bye 'uncaught' (the host took back what it had not started), and is replaced (repair).
    expect(await waitFor(() => info()!.cumulative === 2 && info()!.connections === 1, 10_000)).toBe(true);
    expect(await mirai(() => process.pid)).not.toBe(pid);
    expect(stderr.text()).toMatch(/uncaught exception while task \d+ ran: Error: late exception left by task A/);
  });

  it('a daemon started by hand leaves with exit code 70 after an uncaught exception between tasks, having logged it', async () => {
    const { url } = await daemons({ secret: SECRET });
    const child = spawn(process.execPath, [script, url, '--autoexit=false'], { env: { ...process.env, MIRAI_SECRET: SECRET }, stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    let log = '';
    child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    const exit = new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(await mirai(leaveException)).toBe('A');
    expect(await exit).toBe(70);
    expect(log).toMatch(/uncaught exception: Error: late exception left by task A/);
    expect(log).toContain('the daemon leaves (exit code 70)');
  });

  it('thread daemons: an unhandled rejection leaves the thread serving, and an uncaught exception fails the running task by name', async () => {
    await daemons(1, threadDaemons());
    expect(await mirai(leaveRejection)).toBe('A');
    expect(await mirai(slowB)).toBe('B ok');
    expect(info()!.cumulative).toBe(1);
    expect(await mirai(leaveException)).toBe('A');
    const err = await errorOf(mirai(slowB));
    expect(err.name).toBe('UncaughtExceptionError');
    expect(await waitFor(() => info()!.cumulative === 2 && info()!.connections === 1, 10_000)).toBe(true);
    expect(await mirai(() => 'next')).toBe('next');
  });
});
