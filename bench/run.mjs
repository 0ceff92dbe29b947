#!/usr/bin/env node
/**
 * Benchmark runner: `pnpm bench` prints a table, `pnpm bench --json` ends with one JSON
 * line holding every median. See README.md.
 *
 *   node bench/run.mjs [--json] [--only name,...] [--rounds n] [--pin cross|same] [--list]
 *
 * How a run is laid out: every benchmark runs `--rounds` times (default 3) and reports the
 * median. A benchmark that names a `limit` runs right beside that raw limit in every round,
 * and the two swap order from one round to the next, so ours and the limit see the same
 * machine state (load, CPU placement, warm caches) and are compared as ratios. A limit that has
 * a limit of its own runs in the same slot too (a chain such as A → `rtt` → `rtt_limit`: lib/plan.mjs).
 *
 * Benchmark contract (one file per group; add a group to GROUPS below):
 *   export const benchmarks = [{
 *     name: 'rtt',                       // selector for --only
 *     metrics: { rtt_us: 'µs' },         // metric name → unit; all metric names are unique
 *     limit: 'rtt_limit',                // optional: name of the benchmark measuring its raw limit
 *     description: '...',                // one line, shown by --list
 *     capMs: 120000,                     // optional: give up on a round after this long
 *     skipRoundsAfterNull: true,         // optional: a round with no figure ends the benchmark
 *     run: async (ctx) => ({ rtt_us: 123.4 }),   // one round; null for "could not measure"
 *     derived: { … },                    // optional: figures computed per round (lib/derived.mjs)
 *   }];
 *   export async function cleanup() {}   // optional: reset after a failed or capped round
 * `ctx` holds `round` (0-based), `rounds`, `shared` (an object kept for the whole run, e.g.
 * a payload made once), `note(metric, text)` (shown under the table and in the JSON),
 * `log(text)` (progress on stderr), and `pinHost()` / `pinPeer(pid)`: latency benchmarks
 * call them on themselves and their peer process; they pin as `--pin` asks (cross: host on
 * CPU 0, peer on CPU 1; same: both on CPU 0) and do nothing without it. The runner gives the
 * host all CPUs back after each benchmark. `draws`: how many fresh pairs a round-trip figure
 * takes the median of (`overDraws`, `measureInTurn` in lib/harness.mjs): params.mjs FREE_DRAWS
 * in free placement, 1 when pinned.
 */
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { killEverything, median, now, setAffinity } from './lib/harness.mjs';
import { checkDerived, deriveRounds, reportedMetrics } from './lib/derived.mjs';
import { plan } from './lib/plan.mjs';
import * as P from './params.mjs';
import { targets, verdict } from './targets.mjs';

/** Benchmark groups, in run order. Extension point: add new group files here. */
const GROUPS = ['./core.mjs', './limits.mjs', './perf.mjs', './placements.mjs', './remote.mjs', './serializers.mjs', './nats.mjs', './ws.mjs', './http.mjs', './cluster.mjs', './chaos.mjs', './autoscale.mjs', './otel.mjs'];

const DEFAULT_ROUNDS = 3;
const DEFAULT_CAP_MS = 120_000;
const CORE_DIST = fileURLToPath(new URL('../core/dist/index.js', import.meta.url));

function parseArgs(argv) {
  const opts = { json: false, only: null, rounds: DEFAULT_ROUNDS, list: false, pin: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const eq = a.indexOf('=');
      if (eq >= 0) return a.slice(eq + 1);
      if (i + 1 >= argv.length) fail(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--json') opts.json = true;
    else if (a === '--list') opts.list = true;
    else if (a === '--only' || a.startsWith('--only=')) opts.only = value().split(',').map((s) => s.trim()).filter(Boolean);
    else if (a === '--rounds' || a.startsWith('--rounds=')) {
      opts.rounds = Number(value());
      if (!Number.isInteger(opts.rounds) || opts.rounds < 1) fail('--rounds must be a whole number ≥ 1');
    } else if (a === '--pin' || a.startsWith('--pin=')) {
      opts.pin = value();
      if (opts.pin !== 'cross' && opts.pin !== 'same') fail('--pin must be cross or same');
    } else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: node bench/run.mjs [--json] [--only name,...] [--rounds n] [--pin cross|same] [--list]\n');
      process.exit(0);
    } else if (a === '--') continue;
    else fail(`unknown option ${a} (try --help)`);
  }
  return opts;
}

function fail(message) {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

/** Loads every group and indexes benchmarks by name and by metric. */
async function loadRegistry() {
  const benches = [];
  const byName = new Map();
  const byMetric = new Map();
  for (const path of GROUPS) {
    const group = await import(path);
    for (const b of group.benchmarks) {
      if (byName.has(b.name)) throw new Error(`benchmark name '${b.name}' is used twice`);
      const entry = { ...b, group };
      byName.set(b.name, entry);
      benches.push(entry);
      for (const m of Object.keys(reportedMetrics(b))) {
        if (byMetric.has(m)) throw new Error(`metric '${m}' is produced by two benchmarks`);
        byMetric.set(m, entry);
      }
    }
  }
  for (const b of benches) if (b.limit && !byName.has(b.limit)) throw new Error(`benchmark '${b.name}' names an unknown limit '${b.limit}'`);
  return { benches, byName, byMetric };
}

/** Runs one round of one benchmark, capped; a failure gives nulls and a note. */
async function runRound(bench, ctx) {
  const nulls = Object.fromEntries(Object.keys(bench.metrics).map((m) => [m, null]));
  const cap = bench.capMs ?? DEFAULT_CAP_MS;
  let timer;
  try {
    const result = await Promise.race([
      bench.run(ctx),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`gave up after ${cap / 1000} s`)), cap);
      }),
    ]);
    return { ...nulls, ...result };
  } catch (err) {
    for (const m of Object.keys(bench.metrics)) ctx.note(m, `round ${ctx.round + 1} failed: ${err?.message ?? err}`);
    try {
      await bench.group.cleanup?.();
    } catch {
      // Best effort: the final clean-up kills whatever is left.
    }
    return nulls;
  } finally {
    clearTimeout(timer);
  }
}

/** Numbers as they appear in the JSON and the table: 4 significant digits. */
const round4 = (v) => (v == null ? null : Number(v.toPrecision(4)));

function formatTable(slots, values, medians, notes, rounds) {
  const rows = [['metric', 'median', 'unit', `rounds (${rounds})`, 'vs target', 'target', '']];
  for (const slot of slots) {
    for (const b of slot) {
      for (const [metric, unit] of Object.entries(reportedMetrics(b))) {
        const v = verdict(metric, medians);
        rows.push([
          metric,
          medians[metric] == null ? '—' : String(round4(medians[metric])),
          unit,
          values[metric].map((x) => (x == null ? '—' : String(round4(x)))).join(' / '),
          v?.ratio == null ? '' : `${v.ratio.toFixed(2)}×`,
          v?.text ?? '',
          v == null || v.reference ? '' : v.pass == null ? 'no figure' : v.pass ? 'ok' : 'MISS',
        ]);
      }
    }
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const line = (r) => r.map((cell, c) => (c === 1 || c === 4 ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd();
  const out = [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)];
  const noteLines = Object.entries(notes).flatMap(([m, list]) => list.map((n) => `  ${m}: ${n}`));
  if (noteLines.length > 0) out.push('', 'notes:', ...noteLines);
  return out.join('\n') + '\n';
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (!existsSync(CORE_DIST)) fail(`${CORE_DIST} is missing: build the core first (pnpm --filter @mirai-ts/core build)`);
  const registry = await loadRegistry();
  if (opts.list) {
    for (const b of registry.benches) {
      const limit = b.limit ? `  [limit: ${b.limit}]` : '';
      process.stdout.write(`${b.name.padEnd(20)} ${Object.keys(reportedMetrics(b)).join(', ')}${limit}\n${' '.repeat(21)}${b.description ?? ''}\n`);
    }
    return;
  }
  let slots;
  try {
    slots = plan(registry, opts.only);
    checkDerived(slots.flat());
  } catch (err) {
    fail(err.message);
  }
  const benches = slots.flat();
  const values = Object.fromEntries(benches.flatMap((b) => Object.keys(b.metrics).map((m) => [m, []])));
  const notes = {};
  const shared = {};
  const skipped = new Set();
  const log = (text) => process.stderr.write(`${text}\n`);
  const started = now();
  const allCpus = `0-${cpus().length - 1}`;
  if (opts.pin === 'cross' && cpus().length < 2) fail('--pin cross needs 2 CPUs');
  const pinHost = opts.pin ? () => setAffinity(process.pid, '0') : () => {};
  const pinPeer = opts.pin ? (pid) => setAffinity(pid, opts.pin === 'cross' ? '1' : '0') : () => {};

  let interrupted = false;
  process.once('SIGINT', async () => {
    interrupted = true;
    log('bench: interrupted, cleaning up');
    await killEverything();
    process.exit(130);
  });

  // Other work on the machine skews every figure; say so up front (and in the JSON).
  const loadAtStart = loadavg()[0];
  log(`bench: ${benches.map((b) => b.name).join(', ')} × ${opts.rounds} rounds (node ${process.version}, ${cpus().length} cpus${opts.pin ? `, --pin ${opts.pin}` : ''}, load ${loadAtStart.toFixed(2)})`);
  if (loadAtStart > 0.5) log('bench: warning: the machine is already busy; compare figures only with their limits from this run');
  for (let round = 0; round < opts.rounds && !interrupted; round++) {
    for (const slot of slots) {
      // Swap ours and its limit every other round.
      const order = round % 2 === 0 ? slot : [...slot].reverse();
      for (const bench of order) {
        const metrics = Object.keys(bench.metrics);
        if (skipped.has(bench.name)) {
          for (const m of metrics) values[m][round] = null;
          continue;
        }
        const ctx = {
          round,
          rounds: opts.rounds,
          shared,
          log,
          pinHost,
          pinPeer,
          draws: opts.pin ? 1 : P.FREE_DRAWS,
          note: (metric, text) => {
            (notes[metric] ??= []).includes(text) || notes[metric].push(text);
          },
        };
        const t0 = now();
        const result = await runRound(bench, ctx);
        if (opts.pin) {
          try {
            setAffinity(process.pid, allCpus);
          } catch {
            // taskset vanished mid-run: later benchmarks stay pinned, the note below says so.
            ctx.note(metrics[0], `could not restore the host's CPU affinity`);
          }
        }
        for (const m of metrics) values[m][round] = result[m] ?? null;
        const shown = metrics.map((m) => `${m}=${result[m] == null ? '—' : round4(result[m])}`).join(' ');
        log(`[${round + 1}/${opts.rounds}] ${bench.name.padEnd(20)} ${shown}  (${((now() - t0) / 1000).toFixed(1)} s)`);
        if (bench.skipRoundsAfterNull && metrics.every((m) => result[m] == null) && round + 1 < opts.rounds) {
          skipped.add(bench.name);
          for (const m of metrics) ctx.note(m, 'later rounds skipped');
        }
      }
    }
  }

  // Reset every group, then make sure no process we started is left.
  for (const path of GROUPS) {
    try {
      await (await import(path)).cleanup?.();
    } catch {
      // The kill below still runs.
    }
  }
  const leftovers = await killEverything();
  deriveRounds(benches, values, opts.rounds);
  if (leftovers.length > 0) (notes._cleanup ??= []).push(`killed ${leftovers.length} process(es) left running: pid ${leftovers.join(', ')}`);

  const medians = {};
  for (const [m, list] of Object.entries(values)) medians[m] = round4(median(list));
  // Per-round ratio of each figure to its limit from the same round, for judging noise.
  const paired = {};
  for (const [m, t] of Object.entries(targets)) {
    if (!t.limit || !values[m] || !values[t.limit]) continue;
    paired[m] = values[m].map((v, r) => (v == null || !values[t.limit][r] ? null : round4(v / values[t.limit][r])));
  }
  const seconds = (now() - started) / 1000;
  const table = formatTable(slots, values, medians, notes, opts.rounds) + `\ntotal ${seconds.toFixed(1)} s\n`;
  (opts.json ? process.stderr : process.stdout).write(table);
  if (opts.json) {
    const meta = {
      rounds: opts.rounds,
      node: process.version,
      cpus: cpus().length,
      seconds: round4(seconds),
      load_at_start: round4(loadAtStart),
      pin: opts.pin,
      raw: Object.fromEntries(Object.entries(values).map(([m, list]) => [m, list.map(round4)])),
      paired_ratios: paired,
      notes,
    };
    process.stdout.write(`${JSON.stringify({ ...medians, meta })}\n`);
  }
}

main().then(
  () => process.exit(0),
  async (err) => {
    process.stderr.write(`bench: ${err?.stack ?? err}\n`);
    await killEverything();
    process.exit(1);
  },
);
