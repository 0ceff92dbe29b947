/**
 * The objects made for every task keep their V8 shapes through a full GC that finds none of
 * them alive (core/src/util/keep-shape.ts): code V8 optimized for a task's shape is still
 * optimized after the GC. Asked of V8 itself (`%GetOptimizationStatus`, allowed by
 * --allow-natives-syntax): on the host, of HostTask in a process of its own; on a real daemon,
 * of the context its tasks get.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { daemons, mirai } from '@mirai-ts/core';

const root = join(import.meta.dirname, '..', '..');
/** V8's optimization status bit "optimized" (src/runtime/runtime.h, OptimizationStatus). */
const OPTIMIZED = 16;

describe('task shapes outlive a full GC with no task alive', () => {
  afterEach(async () => {
    await daemons(0);
  });

  it('on the host: code optimized for HostTask stays optimized', () => {
    const source = (file: string) => pathToFileURL(join(root, 'core', 'src', ...file.split('/'))).href;
    const out = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--allow-natives-syntax',
        '--expose-gc',
        '--input-type=module',
        '-e',
        `import { HostTask } from ${JSON.stringify(source('host/host-task.ts'))};
         import { FrameType } from ${JSON.stringify(source('wire/frame.ts'))};
         const natives = (body) => new Function('f', body);
         const status = natives('return %GetOptimizationStatus(f)');
         const make = (id) => new HostTask({ type: FrameType.Task, flags: 0, id, segments: [new Uint8Array(8)] }, { id, _fulfil() {}, _reject() {} }, 0, { cancel: () => false });
         const runsOf = (task) => task.runs + task.queuePosition;
         // In a function of its own: a frame still running would keep its tasks alive.
         const warm = () => {
           natives('%PrepareFunctionForOptimization(f)')(runsOf);
           runsOf(make(1));
           runsOf(make(2));
           natives('%OptimizeFunctionOnNextCall(f)')(runsOf);
           runsOf(make(3));
           return status(runsOf);
         };
         const before = warm();
         globalThis.gc();
         globalThis.gc();
         console.log(JSON.stringify({ before: (before & ${OPTIMIZED}) !== 0, after: (status(runsOf) & ${OPTIMIZED}) !== 0 }));`,
      ],
      { cwd: root, encoding: 'utf8', timeout: 30_000 },
    );
    expect(out.status, out.stderr).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual({ before: true, after: true });
  });

  it("on a daemon: code optimized for a task's context stays optimized after a GC between tasks", async () => {
    await daemons(1, { execArgv: ['--allow-natives-syntax', '--expose-gc'] });
    const key = Symbol.for('mirai-ts.test.readContext');
    // Natives in a Function body: only the daemon parses them. The reader is kept on a symbol
    // (task globals are cleaned after each task, symbols are not), the GC runs once the task has
    // ended, with no task running.
    const before = await mirai(
      ({ key }, ctx) => {
        const natives = (body: string) => new Function('f', body) as (f: unknown) => number;
        const read = (c: typeof ctx) => c.taskId + c.daemonId;
        (globalThis as Record<symbol, unknown>)[Symbol.for(key)] = read;
        natives('%PrepareFunctionForOptimization(f)')(read);
        read(ctx);
        read(ctx);
        natives('%OptimizeFunctionOnNextCall(f)')(read);
        read(ctx);
        setImmediate(() => {
          (globalThis as unknown as { gc: () => void }).gc();
          (globalThis as unknown as { gc: () => void }).gc();
        });
        return natives('return %GetOptimizationStatus(f)')(read);
      },
      { key: key.description! },
    );
    await new Promise((r) => setTimeout(r, 300));
    const after = await mirai(({ key }) => (new Function('f', 'return %GetOptimizationStatus(f)') as (f: unknown) => number)((globalThis as Record<symbol, unknown>)[Symbol.for(key)]), {
      key: key.description!,
    });
    expect(before & OPTIMIZED).toBe(OPTIMIZED);
    expect(after & OPTIMIZED).toBe(OPTIMIZED);
  });
});
