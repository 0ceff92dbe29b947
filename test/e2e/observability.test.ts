/**
 * Lifecycle channels, trace context and task-tagged output with real local daemons.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CancelledError, daemons, mirai, MiraiChannel, miraiMap, setTraceContextProvider, stopMirai, traceContextProvider, type TaskContext, type TaskSettledEvent } from '@mirai-ts/core';
import { waitFor } from '../helpers/wait.js';

const fixture = join(import.meta.dirname, '..', 'helpers', 'fixtures', 'instrumentation.mjs');
const unsubscribers: (() => void)[] = [];
function listen(name: string): Record<string, unknown>[] {
  const seen: Record<string, unknown>[] = [];
  const fn = (m: unknown): void => void seen.push(m as Record<string, unknown>);
  subscribe(name, fn);
  unsubscribers.push(() => unsubscribe(name, fn));
  return seen;
}

afterEach(async () => {
  for (const u of unsubscribers.splice(0)) u();
  setTraceContextProvider(undefined);
  vi.restoreAllMocks();
  await daemons(0);
});

describe('observability with real daemons', () => {
  it('publishes the lifecycle of a map with a failure, from set to reset', async () => {
    const set = listen(MiraiChannel.profileSet);
    const connected = listen(MiraiChannel.daemonConnected);
    const settled = listen(MiraiChannel.taskSettled);
    const maps = listen(MiraiChannel.mapEnd);
    const reset = listen(MiraiChannel.profileReset);
    await daemons(2);
    const out = await miraiMap([1, 2, 3], (x: number) => {
      if (x === 2) throw new Error('two');
      return x;
    });
    expect(out[1]).toBeInstanceOf(Error);
    await daemons(0);
    expect(set).toEqual([expect.objectContaining({ profile: 'default', n: 2 })]);
    expect(connected.map((c) => typeof c.pid)).toEqual(['number', 'number']);
    const kinds = (settled as unknown as TaskSettledEvent[]).map((s) => s.outcome).sort();
    expect(kinds).toEqual(['ok', 'ok', 'task']);
    expect((settled as unknown as TaskSettledEvent[]).find((s) => s.outcome === 'task')!.error!.message).toMatch(/two/);
    expect(maps).toEqual([expect.objectContaining({ size: 3, failed: 1 })]);
    expect(reset).toHaveLength(1);
  });

  it('a sync profile publishes its reset too, before its running tasks settle, once', async () => {
    const reset = listen(MiraiChannel.profileReset);
    const settled = listen(MiraiChannel.taskSettled);
    await daemons({ sync: true, profile: 'inline' });
    const m = mirai(() => new Promise(() => {}), undefined, { profile: 'inline' });
    m.catch(() => {});
    await daemons(0, { profile: 'inline' });
    await daemons(0, { profile: 'inline' });
    expect(reset).toEqual([expect.objectContaining({ profile: 'inline' })]);
    await waitFor(() => settled.length === 1, 5_000);
    expect(settled[0]).toMatchObject({ profile: 'inline', outcome: 'connection-reset' });
  });

  it('a trace context provider that throws fails no task: it goes without trace context, and a warning says why once', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      setTraceContextProvider(() => {
        throw new Error('sampler broke');
      });
      await daemons(1);
      expect(await mirai(() => 1)).toBe(1);
      expect(await mirai(() => 2)).toBe(2);
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => /trace context provider threw.*sampler broke/.test(w))).toHaveLength(1);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('traceContextProvider() tells which provider is installed, so an adapter removes only its own', () => {
    const a = () => undefined;
    const b = () => undefined;
    setTraceContextProvider(a);
    expect(traceContextProvider()).toBe(a);
    setTraceContextProvider(b);
    expect(traceContextProvider()).toBe(b);
    setTraceContextProvider(undefined);
    expect(traceContextProvider()).toBeUndefined();
  });

  it('carries the trace context to a daemon-side instrumentation loaded by reference', async () => {
    const parent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    setTraceContextProvider(({ taskId }) => ({ traceparent: parent, tracestate: `task=${taskId}` }));
    await daemons(1, { instrumentation: [{ ref: { specifier: fixture, exportName: 'captureTrace', options: { tag: 'e2e' } } }] });
    const m = mirai(() => (globalThis as { __miraiSeen?: unknown }).__miraiSeen);
    const seen = (await m) as Record<string, unknown>;
    expect(seen).toEqual({ traceparent: parent, tracestate: `task=${m.id}`, taskId: m.id, tag: 'e2e' });
    // Without a provider, nothing is sent.
    setTraceContextProvider(undefined);
    const plain = (await mirai(() => (globalThis as { __miraiSeen?: unknown }).__miraiSeen)) as Record<string, unknown>;
    expect(plain.traceparent).toBeUndefined();
  });

  it('takes instrumentation options beyond the handshake limit in Init, and refuses ones Init cannot carry', async () => {
    // 17 000 characters: more than the 16 KiB a handshake frame may hold (daemons refused such an Init as a wrong secret).
    const tag = 'x'.repeat(17_000);
    await daemons(1, { instrumentation: [{ ref: { specifier: fixture, exportName: 'captureTrace', options: { tag } } }] });
    setTraceContextProvider(() => ({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }));
    const seen = (await mirai(() => (globalThis as { __miraiSeen?: { tag: string } }).__miraiSeen)) as { tag: string };
    setTraceContextProvider(undefined);
    expect(seen.tag).toBe(tag);
    await daemons(0);
    const huge = 'x'.repeat(1_100_000);
    await expect(daemons(1, { instrumentation: [{ ref: { specifier: fixture, exportName: 'captureTrace', options: { huge } } }] })).rejects.toThrow(
      /refs and options come to \d+ bytes, more than daemons take in Init \(1048576\)/,
    );
  });

  it('publishes the same task lifecycle for a sync profile, run in this process', async () => {
    const queued = listen(MiraiChannel.taskQueued);
    const assigned = listen(MiraiChannel.taskAssigned);
    const settled = listen(MiraiChannel.taskSettled) as unknown as TaskSettledEvent[];
    const cancelled = listen(MiraiChannel.taskCancelled);
    await daemons({ sync: true });
    const ok = mirai((a: { text: string }) => a.text.repeat(100), { text: 'xy' });
    expect(await ok).toHaveLength(200);
    const bad = mirai(() => {
      throw new Error('sync failure');
    });
    await expect(bad).rejects.toThrow(/sync failure/);
    const stuck = mirai((_: undefined, ctx: TaskContext) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)));
    expect(stopMirai(stuck)).toBe(true);
    await expect(stuck).rejects.toBeInstanceOf(CancelledError);

    const ids = [ok.id, bad.id, stuck.id];
    expect(queued.map((e) => e.taskId)).toEqual(ids);
    expect(queued.every((e) => e.profile === 'default' && e.queueDepth === 0)).toBe(true);
    expect(queued[0]!.bytes).toBeGreaterThan(2); // the encoded argument
    expect(assigned.map((e) => [e.taskId, e.daemonId])).toEqual(ids.map((id) => [id, 0]));
    expect(settled.map((e) => [e.taskId, e.outcome])).toEqual([
      [ok.id, 'ok'],
      [bad.id, 'task'],
      [stuck.id, 'cancelled'],
    ]);
    expect(settled[0]!.bytesReceived).toBeGreaterThan(200); // the 200-character result
    expect(settled[1]!.error!.message).toMatch(/sync failure/);
    expect(settled.every((e) => e.daemonId === 0 && Number.isFinite(e.totalMs) && e.totalMs >= 0)).toBe(true);
    expect(cancelled).toEqual([expect.objectContaining({ taskId: stuck.id, running: true })]);
  });

  it("output: 'host' tags each line a task prints with its task id", async () => {
    const lines: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: string | Uint8Array, ...rest: never[]) => {
      lines.push(String(chunk));
      return write(chunk, ...rest);
    }) as typeof process.stdout.write);
    await daemons(1, { output: 'host' });
    const m = mirai(() => {
      console.log('first line\nsecond line');
      return 1;
    });
    await m;
    await waitFor(() => lines.join('').includes('second line'));
    const text = lines.join('');
    expect(text).toMatch(new RegExp(`\\[default daemon pid \\d+\\] \\[task ${m.id}\\] first line\\n`));
    expect(text).toMatch(new RegExp(`\\[default daemon pid \\d+\\] \\[task ${m.id}\\] second line\\n`));
  });
});
