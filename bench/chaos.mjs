/**
 * Chaos benchmarks (issue 10): what a million queued tasks cost the host, and how many tasks
 * settle after a storm of daemon kills with self-healing on (the default `repair`).
 */
import { spawn } from 'node:child_process';
import { daemons, mirai, status } from '@mirai-ts/core';
import { runStandalone, sleep, trackPid } from './lib/harness.mjs';

const QUEUE_CHILD = new URL('./children/queue.mjs', import.meta.url).pathname;

/**
 * Peak RSS (MB) of a fresh process queueing `n` trivial tasks, and its RSS before it queued any;
 * with `awaited`, also its peak once `Promise.all` waits on them.
 */
function queuePeak(n, awaited = false) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [QUEUE_CHILD, String(n), ...(awaited ? ['awaited'] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`queue child exited with ${code}`))));
  });
}

async function killStorm({ tasks, kills, everyMs, waitMs }) {
  await daemons(2, { log: () => {} });
  try {
    const ms = Array.from({ length: tasks }, () => mirai(() => new Promise((r) => setTimeout(() => r(1), 1))));
    for (let i = 0; i < kills; i++) {
      await sleep(everyMs);
      const pids = (status()?.daemons ?? []).map((d) => d.pid).filter((p) => typeof p === 'number');
      pids.forEach(trackPid);
      if (pids.length > 0) {
        try {
          process.kill(pids[i % pids.length], 'SIGKILL');
        } catch {
          // gone already
        }
      }
    }
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline && ms.some((m) => m.unresolved)) await sleep(50);
    return (100 * ms.filter((m) => !m.unresolved).length) / tasks;
  } finally {
    await daemons(0);
  }
}

export const benchmarks = [
  {
    name: 'queue1m',
    metrics: { queue1m_rss_mb: 'MB', queue1m_base_rss_mb: 'MB', queue1m_awaited_rss_mb: 'MB' },
    description: 'peak host RSS with 1 000 000 trivial tasks queued (listen-only profile), beside the same process before queueing; awaited: another process, once Promise.all waits on them',
    capMs: 180_000,
    run: async () => {
      const { peak, base } = await queuePeak(1_000_000);
      const { awaitedPeak } = await queuePeak(1_000_000, true);
      return { queue1m_rss_mb: peak, queue1m_base_rss_mb: base, queue1m_awaited_rss_mb: awaitedPeak };
    },
  },
  {
    name: 'killstorm',
    metrics: { killstorm_settled_pct: '%' },
    description: '10 000 tasks on 2 daemons, 100 daemon SIGKILLs 100 ms apart (repair on): share settled 30 s after the storm',
    capMs: 120_000,
    run: async () => ({ killstorm_settled_pct: await killStorm({ tasks: 10_000, kills: 100, everyMs: 100, waitMs: 30_000 }) }),
  },
];

runStandalone(import.meta.url, async () => ({
  ...(await benchmarks[0].run()),
  ...(await benchmarks[1].run()),
}));
