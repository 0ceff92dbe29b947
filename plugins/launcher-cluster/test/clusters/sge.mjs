/**
 * A real one-node Son of Grid Engine cell (sge_qmaster + sge_execd) for tests, built in a
 * private SGE_ROOT under os.tmpdir() (symlinks to the package's bin/lib/utilbin/util; the
 * package's own cell is not used), on ports picked free, started and stopped by PID.
 *
 * Facts behind the set-up (see shared/realtest.md): 127.0.0.1 reverse-resolves to localhost,
 * which fails the client name check unless host_aliases maps it; min_uid must be 0 for root;
 * the default 15 s schedule interval makes every job wait, so it is set to 1 s with flush on
 * submit/finish; the daemons bind 0.0.0.0 (Grid Engine has no bind option).
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { endAll, freePort, pidsWithEnv, readPid, sleep, waitFor } from './slurm.mjs';

const run = promisify(execFile);
const PACKAGE_ROOT = '/var/lib/gridengine';
const UTIL = '/usr/share/gridengine/util';
const BINARIES = ['/usr/sbin/sge_qmaster', '/usr/sbin/sge_execd', '/usr/bin/qsub', '/usr/bin/qconf', '/usr/bin/qdel', '/usr/bin/qstat'];

/** Why the Grid Engine tests cannot run here, or undefined. With CI set, a missing Grid Engine throws. */
export function sgeMissing() {
  const missing = BINARIES.filter((b) => !existsSync(b));
  if (!existsSync(join(PACKAGE_ROOT, 'utilbin'))) missing.push(join(PACKAGE_ROOT, 'utilbin'));
  if (missing.length === 0 && process.getuid?.() === 0) return undefined;
  const why = missing.length > 0 ? `Grid Engine is not installed (${missing.join(', ')} missing)` : 'the Grid Engine test cell must be started as root';
  if (process.env.CI) throw new Error(`CI is set but ${why}: apt-get install -y gridengine-master gridengine-exec gridengine-client`);
  return why;
}

const QUEUE = (host, slots) => `qname                 all.q
hostlist              ${host}
seq_no                0
load_thresholds       NONE
suspend_thresholds    NONE
nsuspend              1
suspend_interval      00:05:00
priority              0
min_cpu_interval      00:05:00
processors            UNDEFINED
qtype                 BATCH INTERACTIVE
ckpt_list             NONE
pe_list               make smp
rerun                 FALSE
slots                 ${slots}
tmpdir                /tmp
shell                 /bin/sh
prolog                NONE
epilog                NONE
shell_start_mode      posix_compliant
starter_method        NONE
suspend_method        NONE
resume_method         NONE
terminate_method      NONE
notify                00:00:60
owner_list            NONE
user_lists            NONE
xuser_lists           NONE
subordinate_list      NONE
complex_values        NONE
projects              NONE
xprojects             NONE
calendar              NONE
initial_state         default
s_rt                  INFINITY
h_rt                  INFINITY
s_cpu                 INFINITY
h_cpu                 INFINITY
s_fsize               INFINITY
h_fsize               INFINITY
s_data                INFINITY
h_data                INFINITY
s_stack               INFINITY
h_stack               INFINITY
s_core                INFINITY
h_core                INFINITY
s_rss                 INFINITY
h_rss                 INFINITY
s_vmem                INFINITY
h_vmem                INFINITY
`;

/**
 * Starts a private cell; resolves once a probe job ran (`probe: false` skips it). `slots`:
 * how many one-slot jobs run at once (default 8).
 */
export async function startSge({ probe = true, slots = 8 } = {}) {
  const root = mkdtempSync(join(tmpdir(), 'mirai-sge-'));
  const cell = 'default';
  const common = join(root, cell, 'common');
  const spool = join(root, cell, 'spool');
  const host = hostname().split('.')[0];
  const [qmasterPort, execdPort] = [await freePort(), await freePort()];
  const env = { ...process.env, SGE_ROOT: root, SGE_CELL: cell, SGE_QMASTER_PORT: String(qmasterPort), SGE_EXECD_PORT: String(execdPort) };
  const stop = async () => {
    await run('qdel', ['-u', '*', '-f'], { env, timeout: 5_000 }).catch(() => undefined);
    // Everything this cell started (daemons, shepherds, jobs) carries our SGE_ROOT.
    const ours = () => pidsWithEnv(`SGE_ROOT=${root}`);
    await endAll(ours(), 1_000);
    for (let i = 0; i < 20 && ours().length > 0; i++) {
      for (const pid of ours()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      await sleep(50);
    }
    rmSync(root, { recursive: true, force: true });
  };
  const util = (program, args) => {
    const r = spawnSync(join(root, 'utilbin', 'lx-amd64', program), args, { encoding: 'utf8', env, timeout: 20_000 });
    if (r.status !== 0) throw new Error(`${program} ${args.join(' ')} failed (exit ${r.status}): ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const qconf = async (args) => (await run('qconf', args, { env, timeout: 15_000 })).stdout;
  try {
    for (const link of ['bin', 'lib', 'utilbin']) symlinkSync(join(PACKAGE_ROOT, link), join(root, link));
    symlinkSync(UTIL, join(root, 'util'));
    for (const d of [common, join(spool, 'qmaster'), join(spool, 'execd')]) mkdirSync(d, { recursive: true });
    writeFileSync(
      join(common, 'bootstrap'),
      [
        'admin_user              root',
        'default_domain          none',
        'ignore_fqdn             true',
        'spooling_method         classic',
        'spooling_lib            libspoolc',
        `spooling_params         ${common};${join(spool, 'qmaster')}`,
        `binary_path             ${join(root, 'bin')}`,
        `qmaster_spool_dir       ${join(spool, 'qmaster')}`,
        'security_mode           none',
        'listener_threads        2',
        'worker_threads          2',
        'scheduler_threads       1',
        'jvm_threads             0',
        '',
      ].join('\n'),
    );
    writeFileSync(join(common, 'act_qmaster'), `${host}\n`);
    // 127.0.0.1 resolves to "localhost"; without this alias the qmaster refuses its own host's clients.
    writeFileSync(join(common, 'host_aliases'), `${host} localhost\n`);
    const configuration = readFileSync('/usr/share/gridengine/default-configuration', 'utf8')
      .replace(/^execd_spool_dir .*$/m, `execd_spool_dir        ${join(spool, 'execd')}`)
      .replace(/^min_uid .*$/m, 'min_uid                0')
      .replace(/^min_gid .*$/m, 'min_gid                0')
      .replace(/^load_report_time .*$/m, 'load_report_time       00:00:05')
      .replace(/^mailer .*$/m, 'mailer                 /bin/true');
    writeFileSync(join(root, 'configuration'), configuration);
    util('spoolinit', ['classic', 'libspoolc', `${common};${join(spool, 'qmaster')}`, 'init']);
    util('spooldefaults', ['configuration', join(root, 'configuration')]);
    util('spooldefaults', ['complexes', join(UTIL, 'resources', 'centry')]);
    util('spooldefaults', ['pes', join(UTIL, 'resources', 'pe')]);
    util('spooldefaults', ['usersets', join(UTIL, 'resources', 'usersets')]);
    util('spooldefaults', ['managers', 'root']);
    util('spooldefaults', ['operators', 'root']);
    util('spooldefaults', ['adminhosts', host]);

    const master = spawnSync('/usr/sbin/sge_qmaster', [], { encoding: 'utf8', env, timeout: 20_000 });
    if (master.status !== 0) throw new Error(`sge_qmaster failed (exit ${master.status}): ${master.stderr}${logOf(root)}`);
    await waitFor(async () => (await qconf(['-sh'])).includes(host), 20_000, () => `sge_qmaster does not answer:\n${logOf(root)}`);
    const sconf = readFileSync(join(UTIL, 'install_modules', 'inst_schedd_normal.conf'), 'utf8')
      .replace(/^schedule_interval .*$/m, 'schedule_interval                0:0:1')
      .replace(/^flush_submit_sec .*$/m, 'flush_submit_sec                 1')
      .replace(/^flush_finish_sec .*$/m, 'flush_finish_sec                 1')
      .replace(/^job_load_adjustments .*$/m, 'job_load_adjustments             NONE')
      .replace(/^load_adjustment_decay_time .*$/m, 'load_adjustment_decay_time       0:0:0');
    writeFileSync(join(root, 'sconf'), sconf);
    await qconf(['-Msconf', join(root, 'sconf')]);
    await qconf(['-as', host]);
    const execd = spawnSync('/usr/sbin/sge_execd', [], { encoding: 'utf8', env, timeout: 20_000 });
    if (execd.status !== 0) throw new Error(`sge_execd failed (exit ${execd.status}): ${execd.stderr}`);
    await waitFor(async () => (await qconf(['-sel'])).includes(host), 20_000, () => `sge_execd did not register:\n${logOf(root)}`);
    writeFileSync(join(root, 'queue'), QUEUE(host, slots));
    await qconf(['-Aq', join(root, 'queue')]);
    const cell_ = {
      root,
      env,
      host,
      async cmd(program, args) {
        return (await run(program, args, { env, timeout: 15_000 })).stdout;
      },
      /** Job ids in qstat (any state), one per array task line. */
      async queue() {
        const out = await cell_.cmd('qstat', ['-u', '*']);
        return out.split('\n').slice(2).filter((l) => l.trim() !== '').map((l) => l.trim().split(/\s+/)[0]);
      },
      pids: () => pidsWithEnv(`SGE_ROOT=${root}`),
      log: () => logOf(root),
      stop,
    };
    if (probe) {
      const id = (await cell_.cmd('qsub', ['-terse', '-b', 'y', '-o', '/dev/null', '-e', '/dev/null', '/bin/true'])).trim();
      await waitFor(async () => !(await cell_.queue()).includes(id), 30_000, () => `the probe job did not run:\n${logOf(root)}`);
    }
    return cell_;
  } catch (err) {
    await stop();
    throw err;
  }
}

function logOf(root) {
  const files = [join(root, 'default', 'spool', 'qmaster', 'messages'), join(root, 'default', 'spool', 'execd', hostname().split('.')[0], 'messages')];
  return files
    .filter(existsSync)
    .map((f) => `${f}:\n${readFileSync(f, 'utf8').split('\n').slice(-15).join('\n')}`)
    .join('\n');
}

if (process.argv[1] === new URL(import.meta.url).pathname) {
  const t0 = Date.now();
  const c = await startSge();
  console.log('started in', Date.now() - t0, 'ms', c.root);
  console.log(await c.cmd('qstat', ['-f']));
  const t1 = Date.now();
  await c.stop();
  console.log('stopped in', Date.now() - t1, 'ms');
}
