/**
 * Recording stand-ins for PBS's and LSF's submit and cancel commands, which have no Debian
 * packages (see shared/reference/hpc.md). They are NOT the real schedulers: they record argv
 * and stdin under $MIRAI_STANDIN_DIR, answer in the real commands' output formats, and run
 * each array element of the submitted script locally, in the background, with the
 * scheduler's array variables set. Cancel kills the elements' process groups.
 *
 *   standin.mjs pbs-qsub | pbs-qdel | pbs-qstat | lsf-bsub | lsf-bkill | lsf-bjobs
 *   (the qsub/qdel/qstat/bsub/bkill/bjobs wrappers call this)
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [role, ...args] = process.argv.slice(2);
const dir = process.env.MIRAI_STANDIN_DIR;
if (!dir) {
  process.stderr.write(`${role}: MIRAI_STANDIN_DIR is not set (this is a test stand-in)\n`);
  process.exit(2);
}
mkdirSync(join(dir, 'jobs'), { recursive: true });
const stdin = role.endsWith('qsub') || role.endsWith('bsub') ? readFileSync(0, 'utf8') : '';
appendFileSync(join(dir, 'calls.jsonl'), `${JSON.stringify({ role, argv: args, stdin })}\n`);

function nextJobId() {
  const file = join(dir, 'next-id');
  const id = existsSync(file) ? Number(readFileSync(file, 'utf8')) : 1000;
  writeFileSync(file, String(id + 1));
  return id;
}

/** Runs element `index` of the script in its own process group; records its pid for cancel. Held (-h): records 0, runs nothing. */
function runElement(id, index, env, held = false) {
  if (held) {
    appendFileSync(join(dir, 'jobs', `${id}.pids`), '0\n');
    return;
  }
  const child = spawn('/bin/sh', ['-c', stdin], { detached: true, stdio: 'ignore', env: { ...process.env, ...env } });
  appendFileSync(join(dir, 'jobs', `${id}.pids`), `${child.pid}\n`);
  child.unref();
}

/** The recorded elements of job `id`: [index, pid], index from 1. */
function elements(id) {
  const file = join(dir, 'jobs', `${id}.pids`);
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((pid, i) => [i + 1, Number(pid)]);
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function cancel(id) {
  const file = join(dir, 'jobs', `${id}.pids`);
  if (!existsSync(file)) return false;
  for (const pid of readFileSync(file, 'utf8').split('\n').filter(Boolean)) {
    if (Number(pid) <= 0) continue; // held: nothing runs (and kill(-0) would hit our own group)
    try {
      process.kill(-Number(pid), 'SIGTERM');
    } catch {
      // ended already
    }
  }
  return true;
}

const directive = (prefix) => stdin.split('\n').filter((l) => l.startsWith(`${prefix} `)).map((l) => l.slice(prefix.length + 1).trim());

if (role === 'pbs-qsub') {
  const lines = directive('#PBS');
  if (lines.some((l) => /^-q\s+nosuchqueue\b/.test(l))) {
    process.stderr.write('qsub: Unknown queue\n');
    process.exit(170);
  }
  const range = lines.map((l) => /^-J\s+1-(\d+)$/.exec(l)).find(Boolean);
  const id = nextJobId();
  const count = range ? Number(range[1]) : 1;
  const held = lines.includes('-h');
  for (let i = 1; i <= count; i++) {
    runElement(id, i, range ? { PBS_JOBID: `${id}[${i}].standin`, PBS_ARRAY_INDEX: String(i), PBS_ARRAY_ID: `${id}[].standin` } : { PBS_JOBID: `${id}.standin` }, held);
  }
  process.stdout.write(range ? `${id}[].standin\n` : `${id}.standin\n`);
} else if (role === 'pbs-qdel') {
  if (process.env.MIRAI_STANDIN_REFUSE_CANCEL) {
    process.stderr.write(`qdel: Unauthorized Request  ${args.join(' ')}\n`);
    process.exit(159);
  }
  const ok = args.length > 0 && args.every((a) => cancel(Number(/^(\d+)/.exec(a)?.[1])));
  if (!ok) {
    process.stderr.write(`qdel: Unknown Job Id ${args.join(' ')}\n`);
    process.exit(153);
  }
} else if (role === 'pbs-qstat') {
  // qstat -t 1000[].standin: a header, then one line per subjob (R running, F finished).
  const id = Number(/^(\d+)/.exec(args[args.length - 1] ?? '')?.[1]);
  process.stdout.write('Job id            Name             User              Time Use S Queue\n----------------  ---------------- ----------------  -------- - -----\n');
  for (const [i, pid] of elements(id)) process.stdout.write(`${id}[${i}].standin  standin  root  0 ${pid === 0 ? 'H' : alive(pid) ? 'R' : 'F'} workq\n`);
} else if (role === 'lsf-bjobs') {
  // bjobs -noheader -o 'jobid jobindex stat' 1001
  const id = Number(args[args.length - 1]);
  for (const [i, pid] of elements(id)) process.stdout.write(`${id} ${i} ${alive(pid) ? 'RUN' : 'DONE'}\n`);
} else if (role === 'lsf-bsub') {
  const lines = directive('#BSUB');
  if (lines.some((l) => /^-q\s+nosuchqueue\b/.test(l))) {
    process.stderr.write('nosuchqueue: No such queue. Job not submitted.\n');
    process.exit(255);
  }
  const array = lines.map((l) => /^-J\s+"([^"[]+)\[1-(\d+)\]"$/.exec(l)).find(Boolean);
  const id = nextJobId();
  const count = array ? Number(array[2]) : 1;
  for (let i = 1; i <= count; i++) runElement(id, i, { LSB_JOBID: String(id), LSB_JOBINDEX: array ? String(i) : '0' });
  process.stdout.write(`Job <${id}> is submitted to queue <normal>.\n`);
} else if (role === 'lsf-bkill') {
  const ok = args.length > 0 && args.every((a) => cancel(Number(a)));
  if (!ok) {
    process.stderr.write(`Job <${args.join(' ')}>: No matching job found\n`);
    process.exit(255);
  }
} else {
  process.stderr.write(`standin.mjs: unknown role ${role}\n`);
  process.exit(2);
}
