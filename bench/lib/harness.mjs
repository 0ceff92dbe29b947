/**
 * Shared helpers for the benchmark groups: timing, statistics, GC, Unix-socket servers,
 * child processes that are tracked so every one of them is killed at the end, and /proc
 * readings (resident memory, CPU time).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export const now = () => performance.now();
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Measures each figure (its name → an async function measuring it) in turn, in the reverse
 * order every other round, so that neither always runs first on a machine state the other
 * then inherits. Resolves with `{ name: value }`. With `draws` > 1, the whole turn is repeated
 * that many times (the order reversed from one draw to the next) and each figure is the median
 * of its draws (see {@link overDraws}).
 */
export async function measureInTurn(ctx, figures, draws = 1) {
  const lists = await drawsInTurn(ctx, figures, draws);
  return Object.fromEntries(Object.entries(lists).map(([name, list]) => [name, median(list)]));
}

/** As {@link measureInTurn}, but resolves with every draw: `{ name: [value per draw] }` (paired by index). */
export async function drawsInTurn(ctx, figures, draws) {
  const lists = Object.fromEntries(Object.keys(figures).map((name) => [name, []]));
  for (let d = 0; d < draws; d++) {
    const entries = Object.entries(figures);
    if ((ctx.round + d) % 2 === 1) entries.reverse();
    for (const [name, measure] of entries) lists[name].push(await measure());
  }
  return lists;
}

/**
 * The median of `ctx.draws` calls of `measure()`, each of which must set up its own pair (a
 * fresh daemon, echo child, thread or pool): where the OS places a pair decides its round
 * trip, so in free placement one pair is one draw of that lottery (see params.mjs FREE_DRAWS).
 * Pinned runs (`--pin`) have `ctx.draws` = 1.
 */
export async function overDraws(ctx, measure) {
  const values = [];
  for (let d = 0; d < (ctx.draws ?? 1); d++) values.push(await measure());
  return median(values);
}

/** Median of the numbers in `values` (nulls ignored); null when there are none. */
export function median(values) {
  const xs = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = xs.length >> 1;
  return xs.length % 2 === 1 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
}

// A full GC before every measurement, so garbage left by the previous benchmark (100 MB
// payloads, 20 000 task records) is not collected on the next one's clock. Enabled at
// run time so `node bench/run.mjs` needs no flags.
setFlagsFromString('--expose-gc');
const fullGc = runInNewContext('gc');
export function gc() {
  fullGc();
}

/**
 * Races `promise` against a cap. Resolves `{ value }` or `{ timedOut: true }`; the loser is
 * left to settle on its own (callers make sure it cannot reject unhandled).
 */
export async function withCap(promise, ms) {
  let timer;
  const cap = new Promise((resolve) => {
    timer = setTimeout(() => resolve({ timedOut: true }), ms);
  });
  try {
    return await Promise.race([promise.then((value) => ({ value })), cap]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------- Unix-socket servers

let socketDir;
let socketSeq = 0;
/** A fresh socket path in this run's private temporary directory. */
export function socketPath() {
  socketDir ??= mkdtempSync(join(tmpdir(), 'mirai-bench-'));
  return join(socketDir, `s${++socketSeq}.sock`);
}

/**
 * Listens on a fresh Unix socket (`backlog`: its accept queue, for many dialling at once).
 * `connection()` resolves with the next accepted socket (in arrival order); `close()` destroys
 * every accepted socket and the server.
 */
export async function listenUnix({ backlog } = {}) {
  const path = socketPath();
  const accepted = [];
  const sockets = [];
  const waiters = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    const w = waiters.shift();
    if (w) w(socket);
    else accepted.push(socket);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path, backlog }, resolve);
  });
  return {
    path,
    connection: () => (accepted.length > 0 ? Promise.resolve(accepted.shift()) : new Promise((r) => waiters.push(r))),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

// ---------------------------------------------------------------- child processes

/** Children we spawned (ChildProcess) and other pids we saw started for us (daemons). */
const trackedChildren = new Set();
const trackedPids = new Set();

/**
 * Spawns `node <script> ...args`, tracked for the final clean-up. stderr is shown. `manyFds`:
 * through a shell that first raises the child's open-file limit to its hard limit (`ulimit -n`),
 * for a child that opens thousands of connections. `env`: the child's environment.
 */
export function spawnNode(script, args = [], { manyFds = false, env = process.env } = {}) {
  const options = { env, stdio: ['ignore', 'ignore', 'inherit'] };
  const child = manyFds
    ? spawn('sh', ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"', process.execPath, script, ...args], options)
    : spawn(process.execPath, [script, ...args], options);
  trackedChildren.add(child);
  child.exited = new Promise((resolve) => child.once('exit', resolve));
  child.exited.then(() => trackedChildren.delete(child));
  return child;
}

/** Stops a child we spawned: SIGTERM, then SIGKILL after `graceMs`; resolves when it is gone. */
export async function stopChild(child, graceMs = 1000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const r = await withCap(child.exited, graceMs);
  if (r.timedOut) {
    child.kill('SIGKILL');
    await child.exited;
  }
}

/** Remembers a pid (a daemon) to make sure it is gone at the end. */
export function trackPid(pid) {
  if (typeof pid === 'number') trackedPids.add(pid);
}

/**
 * The pinning a benchmark group gets from `options` (run.mjs passes ctx.pinHost / ctx.pinPeer,
 * which pin as `--pin` asks); none when run on its own.
 */
export function pinningOf(options) {
  return { pinHost: options.pinHost ?? (() => {}), pinPeer: options.pinPeer ?? (() => {}) };
}

/**
 * After `core.daemons(1, …)`: remembers the daemon's pid for the final clean-up, and pins this
 * process and the daemon as `pin` asks.
 */
export function pinOneDaemon(core, pin) {
  const pids = (core.status()?.daemons ?? []).map((d) => d.pid).filter((pid) => typeof pid === 'number');
  pids.forEach(trackPid);
  pin.pinHost();
  if (pids[0] !== undefined) pin.pinPeer(pids[0]);
}

/** Whether `pid` is a live process (a zombie, already dead and awaiting its reaper, is not). */
export function isAlive(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Pids of every live descendant of this process, read from /proc. */
export function descendants(root = process.pid) {
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue;
      const ppid = Number(fields[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(name));
    } catch {
      // The process ended while we listed it.
    }
  }
  const out = [];
  const stack = [root];
  while (stack.length > 0) {
    for (const c of children.get(stack.pop()) ?? []) {
      out.push(c);
      stack.push(c);
    }
  }
  return out;
}

/**
 * Final clean-up: stops every tracked child, then any tracked pid or descendant still
 * alive a second later (SIGTERM, then SIGKILL). Returns the processes that had been left running by
 * someone else (daemons the core did not stop), as `pid (command line)`, so the run can
 * report them and say what they were.
 */
export async function killEverything() {
  await Promise.all([...trackedChildren].map((c) => stopChild(c)));
  const candidates = () => [...new Set([...trackedPids, ...descendants()])].filter(isAlive);
  // A process on its way out (a daemon told to exit, a helper whose input just closed) is
  // not left running: give such processes a moment, as the test suite's teardown does.
  let leftovers = candidates();
  for (const until = now() + 1000; leftovers.length > 0 && now() < until; leftovers = candidates()) await sleep(20);
  const described = leftovers.map((pid) => `${pid} (${commandLine(pid)})`);
  for (const pid of leftovers) signal(pid, 'SIGTERM');
  const deadline = now() + 1000;
  while (leftovers.some(isAlive) && now() < deadline) await sleep(20);
  for (const pid of leftovers) if (isAlive(pid)) signal(pid, 'SIGKILL');
  if (socketDir) rmSync(socketDir, { recursive: true, force: true });
  return described;
}

/** The first 100 characters of `pid`'s command line, for reports. */
function commandLine(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/[\0\s]+/g, ' ').trim().slice(0, 100);
  } catch {
    return '?';
  }
}

function signal(pid, sig) {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

// ---------------------------------------------------------------- /proc readings

/** Resident memory of `pid` in MiB (VmRSS), or null if it cannot be read. */
export function rssMb(pid) {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** CPU time (user + system) used so far by `pid`, in seconds, or null. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- CPU pinning (--pin)

/**
 * Sets the CPU affinity of every thread of `pid` (a `taskset` list such as '0' or '0-1'), or
 * with `allThreads` false of that one thread id only.
 */
export function setAffinity(pid, cpuList, allThreads = true) {
  execFileSync('taskset', [...(allThreads ? ['-a'] : []), '-p', '-c', cpuList, String(pid)], { stdio: 'ignore' });
}

/**
 * `node bench/<group>.mjs`: when `moduleUrl` is the script node was started with, runs one
 * round of `bench` and prints its figures as one JSON line (exit 1 on failure).
 */
export function runStandalone(moduleUrl, bench) {
  if (process.argv[1] !== fileURLToPath(moduleUrl)) return;
  bench({ log: (t) => process.stderr.write(`${t}\n`) }).then(
    (figures) => process.stdout.write(`${JSON.stringify(figures)}\n`),
    (err) => {
      process.stderr.write(`${err?.stack ?? err}\n`);
      process.exit(1);
    },
  );
}
