/**
 * A real one-node Slurm cluster (munged + slurmctld + slurmd) for tests and benchmarks, in a
 * private state directory under os.tmpdir(), listening on 127.0.0.1 only, started and
 * stopped by PID (no systemd). Plain JS so bench/cluster.mjs can import it too; types in
 * slurm.d.mts.
 *
 * Facts behind the configuration (see shared/realtest.md): client commands need SLURM_CONF;
 * munged needs every directory above its socket world-executable; no cgroups here, so
 * proctrack/linuxproc and task/none; batch_sched_delay=0 or every job waits ~3 s; the first
 * job after slurmctld starts still waits ~3 s (hence a probe job); `scontrol shutdown`
 * leaves slurmstepd behind, so stop() ends everything carrying our SLURM_CONF by PID.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const BINARIES = ['/usr/sbin/munged', '/usr/sbin/slurmctld', '/usr/sbin/slurmd', '/usr/bin/sbatch', '/usr/bin/squeue', '/usr/bin/scancel'];

/** Why the Slurm tests cannot run here, or undefined when they can. With CI set, missing Slurm throws. */
export function slurmMissing() {
  const missing = BINARIES.filter((b) => !existsSync(b));
  if (missing.length === 0 && process.getuid?.() === 0) return undefined;
  const why = missing.length > 0 ? `Slurm is not installed (${missing.join(', ')} missing)` : 'the Slurm test cluster must be started as root';
  if (process.env.CI) throw new Error(`CI is set but ${why}: apt-get install -y slurm-wlm munge`);
  return why;
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function kill(pid, signal) {
  try {
    process.kill(pid, signal);
  } catch {
    // gone already
  }
}

/** The pid in a daemon's pid file, if any. */
export function readPid(file) {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** PIDs whose environment holds `needle` (e.g. `SLURM_CONF=<ours>`), this process excluded. */
export function pidsWithEnv(needle) {
  const found = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${name}/environ`, 'latin1').split('\0');
      if (env.includes(needle)) found.push(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

/** Ends `pids` with SIGTERM, then SIGKILL after `graceMs`. */
export async function endAll(pids, graceMs = 2_000) {
  for (const pid of pids) kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && pids.some(alive)) await sleep(50);
  for (const pid of pids.filter(alive)) kill(pid, 'SIGKILL');
}

/**
 * Starts munged, slurmctld and slurmd; resolves once the node is idle and a probe job ran
 * (`probe: false` skips it). `cpus` is the node's advertised CPU count (default 8, more than
 * this machine has, so several one-CPU daemon jobs run at once; config_overrides allows it).
 */
export async function startSlurm({ probe = true, cpus = 8 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'mirai-slurm-'));
  // munged insists that every directory above its socket is world-executable.
  chmodSync(dir, 0o755);
  for (const sub of ['munge', 'state', 'spool', 'log', 'jobs']) mkdirSync(join(dir, sub), { mode: 0o755 });
  const conf = join(dir, 'slurm.conf');
  const env = { ...process.env, SLURM_CONF: conf };
  const pids = {};
  const node = hostname().split('.')[0];
  const stop = async () => {
    // Cancel jobs first: slurmstepd of a running job outlives slurmctld and retries forever.
    await run('scancel', ['--full', '--user', String(process.getuid?.() ?? 0)], { env, timeout: 5_000 }).catch(() => undefined);
    // Everything this cluster started carries our SLURM_CONF: munged, the daemons, slurmstepd
    // and job processes (some detached from the daemons). A throwaway cluster needs no
    // graceful shutdown: a second's grace, then SIGKILL.
    const ours = () => [...new Set([...pidsWithEnv(`SLURM_CONF=${conf}`), ...Object.values(pids).filter(Boolean)])].filter(alive);
    await endAll(ours(), 1_000);
    for (let i = 0; i < 20 && ours().length > 0; i++) {
      for (const pid of ours()) kill(pid, 'SIGKILL');
      await sleep(50);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    writeFileSync(join(dir, 'munge.key'), randomBytes(1024), { mode: 0o400 });
    const socket = join(dir, 'munge', 'munge.socket.2');
    const munge = spawnSync(
      '/usr/sbin/munged',
      [`--socket=${socket}`, `--key-file=${join(dir, 'munge.key')}`, `--pid-file=${join(dir, 'munged.pid')}`, `--log-file=${join(dir, 'log', 'munged.log')}`, `--seed-file=${join(dir, 'munged.seed')}`, '--force'],
      { encoding: 'utf8', env, timeout: 10_000 },
    );
    if (munge.status !== 0) throw new Error(`munged failed (exit ${munge.status}): ${munge.stderr}`);
    pids.munged = readPid(join(dir, 'munged.pid'));

    const [ctldPort, slurmdPort] = [await freePort(), await freePort()];
    const memory = Math.floor((totalmem() / 1024 / 1024) * 0.9);
    // A prolog that fails while `failLaunches` holds: the way a broken node fails batch jobs.
    const failMarker = join(dir, 'fail-launches');
    const prolog = join(dir, 'prolog');
    writeFileSync(prolog, `#!/bin/sh\n[ ! -e ${failMarker} ]\n`, { mode: 0o755 });
    writeFileSync(
      conf,
      [
        'ClusterName=mirai',
        `SlurmctldHost=${node}(127.0.0.1)`,
        `SlurmctldPort=${ctldPort}`,
        `SlurmdPort=${slurmdPort}`,
        'SlurmUser=root',
        'SlurmdUser=root',
        'AuthType=auth/munge',
        'CredType=cred/munge',
        `AuthInfo=socket=${socket}`,
        `StateSaveLocation=${join(dir, 'state')}`,
        `SlurmdSpoolDir=${join(dir, 'spool')}`,
        `SlurmctldPidFile=${join(dir, 'slurmctld.pid')}`,
        `SlurmdPidFile=${join(dir, 'slurmd.pid')}`,
        `SlurmctldLogFile=${join(dir, 'log', 'slurmctld.log')}`,
        `SlurmdLogFile=${join(dir, 'log', 'slurmd.log')}`,
        'CommunicationParameters=NoCtldInAddrAny,NoInAddrAny',
        'ProctrackType=proctrack/linuxproc',
        'TaskPlugin=task/none',
        'MpiDefault=none',
        'SchedulerType=sched/backfill',
        'SchedulerParameters=batch_sched_delay=0,sched_min_interval=0',
        'SelectType=select/cons_tres',
        'SelectTypeParameters=CR_Core',
        'SlurmdParameters=config_overrides',
        'JobCompType=jobcomp/filetxt',
        `JobCompLoc=${join(dir, 'log', 'jobcomp.txt')}`,
        'MinJobAge=600',
        'KillWait=2',
        `Prolog=${prolog}`,
        'ReturnToService=2',
        'MaxArraySize=2001',
        `NodeName=${node} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${memory} State=UNKNOWN`,
        `PartitionName=debug Nodes=${node} Default=YES MaxTime=INFINITE State=UP`,
        '',
      ].join('\n'),
    );
    // -c: a clean start (no stale jobs from an old state directory). Both daemonize.
    for (const daemon of ['slurmctld', 'slurmd']) {
      const r = spawnSync(`/usr/sbin/${daemon}`, ['-c'], { encoding: 'utf8', env, timeout: 15_000 });
      if (r.status !== 0) throw new Error(`${daemon} failed (exit ${r.status}): ${r.stderr}\n${logOf(dir, daemon)}`);
      for (let i = 0; i < 100 && readPid(join(dir, `${daemon}.pid`)) === undefined; i++) await sleep(20);
      pids[daemon] = readPid(join(dir, `${daemon}.pid`));
    }
    await waitFor(async () => (await run('sinfo', ['-h', '-o', '%t'], { env, timeout: 5_000 })).stdout.trim() === 'idle', 15_000, () => `the Slurm node did not become idle:\n${logOf(dir, 'slurmctld')}\n${logOf(dir, 'slurmd')}`);
    const cluster = {
      dir,
      conf,
      env,
      node,
      /** Runs a Slurm client command with our SLURM_CONF; resolves to its stdout. */
      async cmd(program, args) {
        return (await run(program, args, { env, timeout: 15_000 })).stdout;
      },
      /** Job ids (`123_4`) in the queue, any state but finished. */
      async queue() {
        const out = await cluster.cmd('squeue', ['-h', '-o', '%i %T']);
        return out.split('\n').filter(Boolean).map((line) => line.split(' ')[0]);
      },
      /** PIDs of processes running in jobs of this cluster (slurmstepd excluded). */
      jobPids() {
        return pidsWithEnv(`SLURM_CONF=${conf}`).filter((pid) => {
          try {
            return readFileSync(`/proc/${pid}/environ`, 'latin1').includes('\0SLURM_JOB_ID=') && !readFileSync(`/proc/${pid}/cmdline`, 'latin1').startsWith('slurmstepd');
          } catch {
            return false;
          }
        });
      },
      log: (daemon = 'slurmctld') => logOf(dir, daemon),
      /**
       * Makes the node's prolog fail (`on`), as a node with a broken mount does: Slurm drains
       * the node and requeues the job held ("launch failed requeued held"). Off: the prolog
       * passes again and the node is resumed.
       */
      async failLaunches(on) {
        if (on) {
          writeFileSync(failMarker, '');
          return;
        }
        rmSync(failMarker, { force: true });
        await cluster.cmd('scontrol', ['update', `nodename=${node}`, 'state=resume']).catch(() => undefined);
        await waitFor(async () => ['idle', 'mix', 'alloc'].includes((await cluster.cmd('sinfo', ['-h', '-o', '%t'])).trim()), 15_000, () => `the Slurm node did not come back:\n${logOf(dir, 'slurmctld')}`);
      },
      stop,
    };
    if (probe) {
      // The first batch job after slurmctld starts waits ~3 s; pay that here, once.
      // (sbatch --wait polls every 2 s or more: poll squeue instead.)
      const id = (await cluster.cmd('sbatch', ['--parsable', '-o', '/dev/null', '--wrap', 'true'])).trim();
      await waitFor(async () => (await cluster.cmd('squeue', ['-h', '-t', 'all', '-j', id, '-o', '%T'])).trim() === 'COMPLETED', 20_000, () => `the probe job did not complete:\n${logOf(dir, 'slurmctld')}`);
    }
    return cluster;
  } catch (err) {
    await stop();
    throw err;
  }
}

function logOf(dir, daemon) {
  try {
    return readFileSync(join(dir, 'log', `${daemon}.log`), 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '';
  }
}

/** Polls `check` every 100 ms until it holds; after `ms`, throws `message()` (and the last error). */
export async function waitFor(check, ms, message) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    await sleep(100);
  }
  throw new Error(`${message()}${last ? `\n(last error: ${last.message})` : ''}`);
}

// For completeness when run directly: `node slurm.mjs` starts, submits one job, stops.
if (process.argv[1] === new URL(import.meta.url).pathname) {
  const t0 = Date.now();
  const c = await startSlurm();
  console.log('started in', Date.now() - t0, 'ms', c.conf);
  console.log(execFileSync('sinfo', { env: c.env, encoding: 'utf8' }));
  const t1 = Date.now();
  await c.stop();
  console.log('stopped in', Date.now() - t1, 'ms');
}
