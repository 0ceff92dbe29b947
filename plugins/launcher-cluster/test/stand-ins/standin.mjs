/**
 * Recording stand-ins for PBS's and LSF's submit and cancel commands, which have no Debian
 * packages (see shared/reference/hpc.md). They are NOT the real schedulers: they record argv
 * and stdin under $MIRAI_STANDIN_DIR, answer in the real commands' output formats, and run
 * each array element of the submitted script locally, in the background, with the
 * scheduler's array variables set. Cancel kills the elements' process groups (of a whole job,
 * or of one element: `qdel 1000[2].standin`, `bkill 1000[2]`).
 *
 * Test switches, read from the environment: MIRAI_STANDIN_SUBMIT_DELAY_MS (a slow submission),
 * MIRAI_STANDIN_REJECT_SUBMIT (a refused one), MIRAI_STANDIN_REFUSE_CANCEL (a refused cancel).
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
const submitting = role === 'pbs-qsub' || role === 'lsf-bsub';
if (submitting && process.env.MIRAI_STANDIN_SUBMIT_DELAY_MS) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(process.env.MIRAI_STANDIN_SUBMIT_DELAY_MS));
}
if (submitting && process.env.MIRAI_STANDIN_REJECT_SUBMIT) {
  process.stderr.write('Request rejected (the stand-in was told to)\n');
  process.exit(1);
}

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

/** The recorded elements of job `id`: [index, pid], index from 1; pid 0 is held, -1 cancelled. */
function elements(id) {
  const file = join(dir, 'jobs', `${id}.pids`);
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((pid, i) => [i + 1, Number(pid)]);
}

/** Whether `pid` runs: an ended element whose parent has not reaped it yet (a zombie) does not. */
function alive(pid) {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return false;
  }
}

/** Cancels job `id`, or only its element `index` when given; false when there is no such job. */
function cancel(id, index) {
  const file = join(dir, 'jobs', `${id}.pids`);
  if (!existsSync(file)) return false;
  const pids = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  if (index !== undefined && !(index >= 1 && index <= pids.length)) return false;
  const left = pids.map((pid, i) => {
    if (index !== undefined && i + 1 !== index) return pid;
    // Held (0) or cancelled (-1): nothing runs (and kill(-0) would hit our own group).
    if (Number(pid) > 0) {
      try {
        process.kill(-Number(pid), 'SIGTERM');
      } catch {
        // ended already
      }
    }
    return '-1';
  });
  writeFileSync(file, `${left.join('\n')}\n`);
  return true;
}

/** `1000[2].standin` or `1000[2]` → [1000, 2]; `1000[].standin`, `1000.standin`, `1000` → [1000, undefined]. */
function jobAndIndex(arg) {
  const m = /^(\d+)(?:\[(\d*)\])?/.exec(arg ?? '');
  return m ? [Number(m[1]), m[2] ? Number(m[2]) : undefined] : [NaN, undefined];
}

const directive = (prefix) => stdin.split('\n').filter((l) => l.startsWith(`${prefix} `)).map((l) => l.slice(prefix.length + 1).trim());

if (role === 'pbs-qsub') {
  const lines = directive('#PBS');
  if (lines.some((l) => /^-q\s+nosuchqueue\b/.test(l))) {
    process.stderr.write('qsub: Unknown queue\n');
    process.exit(170);
  }
  const range = lines.map((l) => /^-J\s+1-(\d+)$/.exec(l)).find(Boolean);
  // As real PBS Pro / OpenPBS qsub: an array range needs start < end, so `-J 1-1` is refused.
  if (range && Number(range[1]) < 2) {
    process.stderr.write('qsub: illegal -J value\n');
    process.exit(2);
  }
  const id = nextJobId();
  if (range) writeFileSync(join(dir, 'jobs', `${id}.array`), '');
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
  const ok = args.length > 0 && args.every((a) => cancel(...jobAndIndex(a)));
  if (!ok) {
    process.stderr.write(`qdel: Unknown Job Id ${args.join(' ')}\n`);
    process.exit(153);
  }
} else if (role === 'pbs-qstat') {
  // qstat -t 1000[].standin: a header, the array's own line (B: begun), then one line per
  // subjob (H held, R running, X ended); qstat -t 1000.standin: the plain job's line (F finished).
  const [id] = jobAndIndex(args[args.length - 1]);
  const array = existsSync(join(dir, 'jobs', `${id}.array`));
  // PBS Pro with job history kept (job_history_enable): a job whose every element has ended is
  // not listed without -x; qstat says so and fails.
  if (process.env.MIRAI_STANDIN_PBS_HISTORY && elements(id).every(([, pid]) => pid !== 0 && !(pid > 0 && alive(pid)))) {
    process.stderr.write(`qstat: ${id}${array ? '[]' : ''}.standin Job has finished, use -x or -H to obtain historical job information\n`);
    process.exit(35);
  }
  const line = (job, state) => `${job}.standin  standin  root  0 ${state} workq\n`;
  process.stdout.write('Job id            Name             User              Time Use S Queue\n----------------  ---------------- ----------------  -------- - -----\n');
  if (array) process.stdout.write(line(`${id}[]`, 'B'));
  for (const [i, pid] of elements(id)) {
    const state = pid === 0 ? 'H' : pid > 0 && alive(pid) ? 'R' : array ? 'X' : 'F';
    process.stdout.write(line(array ? `${id}[${i}]` : String(id), state));
  }
} else if (role === 'lsf-bjobs') {
  // bjobs -noheader -o 'jobid jobindex stat' 1001: RUN, or DONE once ended (EXIT when killed).
  const id = Number(args[args.length - 1]);
  for (const [i, pid] of elements(id)) process.stdout.write(`${id} ${i} ${pid > 0 && alive(pid) ? 'RUN' : pid < 0 ? 'EXIT' : 'DONE'}\n`);
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
  const ok = args.length > 0 && args.every((a) => cancel(...jobAndIndex(a)));
  if (!ok) {
    process.stderr.write(`Job <${args.join(' ')}>: No matching job found\n`);
    process.exit(255);
  }
} else {
  process.stderr.write(`standin.mjs: unknown role ${role}\n`);
  process.exit(2);
}
