/**
 * PBS and LSF have no Debian packages, so these tests run the launchers against recording
 * stand-ins of qsub/qdel and bsub/bkill (stand-ins/): they record argv and stdin, answer in
 * the real commands' formats, and run each array element locally with the scheduler's array
 * variables set. What is tested is our side: scripts, command lines, id parsing, launch id
 * matching, cancellation. Real daemons run and connect.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { daemons, LaunchError, mirai, miraiMap, status } from '@mirai-ts/core';
import { jobScript, lsf, pbs } from '@mirai-ts/launcher-cluster';
import type { LaunchSpec } from '@mirai-ts/core';
import { privateDir, processesWith, waitFor } from './support.js';

const STANDINS = join(import.meta.dirname, 'stand-ins');
const URL = 'tcp://127.0.0.1:0';

interface Call {
  role: string;
  argv: string[];
  stdin: string;
}

describe('pbs() and lsf() against recording stand-ins of qsub and bsub', () => {
  const record = privateDir('mirai-standin-');
  const secrets = privateDir('mirai-secrets-');
  const calls = (): Call[] =>
    readFileSync(join(record.dir, 'calls.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Call);
  let seen = 0;
  /** Calls since the last look. */
  const newCalls = (): Call[] => {
    const all = calls();
    const fresh = all.slice(seen);
    seen = all.length;
    return fresh;
  };

  beforeAll(() => {
    process.env.MIRAI_STANDIN_DIR = record.dir;
  });
  afterEach(async () => {
    await daemons(0);
    newCalls();
  });
  afterAll(async () => {
    await daemons(0);
    // Stand-in jobs are daemons that exit with their host; make sure before removing the record.
    expect(await waitFor(() => processesWith(record.dir).length === 0 && processesWith(secrets.dir).length === 0, 5_000)).toBe(true);
    delete process.env.MIRAI_STANDIN_DIR;
    record.remove();
    secrets.remove();
  });

  it('PBS: one qsub of a -J 1-3 array; the script on stdin is jobScript(); ids 1000[i]; qdel 1000[].standin at reset', async () => {
    const secret = `pbs-secret-${Date.now()}`;
    const launcher = pbs({ command: join(STANDINS, 'pbs', 'qsub'), secretDir: secrets.dir, queue: 'workq', walltime: 600, memory: '2G' });
    await daemons(3, { url: URL, remote: launcher, secret });
    const [submit] = newCalls();
    expect(submit!.role).toBe('pbs-qsub');
    expect(submit!.argv).toEqual([]);
    expect(submit!.stdin).toBe(jobScript(launcher, 3, { url: status()!.url }));
    expect(submit!.stdin).toContain('#PBS -J 1-3\n');
    expect(submit!.stdin).toContain('#PBS -q workq\n#PBS -l walltime=00:10:00\n#PBS -l select=1:mem=2048mb\n');
    expect(submit!.stdin).not.toContain(secret);

    const rows = status()!.daemons;
    expect(rows.map((r) => r.launchId).sort()).toEqual([1, 2, 3].map((i) => `${/^(\d+)/.exec(rows[0]!.launchId!)![1]}[${i}]`));
    expect(rows.every((r) => r.launcher === 'pbs')).toBe(true);
    expect((await launcher.jobs()).sort((a, b) => a.job.localeCompare(b.job))).toEqual(rows.map((r) => r.launchId!).sort().map((job) => ({ job, state: 'R' })));
    expect(newCalls()).toEqual([{ role: 'pbs-qstat', argv: ['-t', `${/^(\d+)/.exec(rows[0]!.launchId!)![1]}[].standin`], stdin: '' }]);
    const indices = await miraiMap([1, 2, 3, 4, 5, 6], () => process.env.PBS_ARRAY_INDEX).flat();
    expect(indices.every((i) => ['1', '2', '3'].includes(i!))).toBe(true);

    const id = /^(\d+)/.exec(rows[0]!.launchId!)![1];
    await daemons(0);
    expect(newCalls()).toEqual([{ role: 'pbs-qdel', argv: [`${id}[].standin`], stdin: '' }]);
  });

  it('LSF: bsub -J "name[1-2]" with 2 daemons per job; ids 1001[i]_k; bkill <id> at reset', async () => {
    const launcher = lsf({ command: join(STANDINS, 'lsf', 'bsub'), secretDir: secrets.dir, processesPerJob: 2, jobName: 'crunch', walltime: '01:30:00' });
    await daemons(4, { url: URL, remote: launcher });
    const [submit] = newCalls();
    expect(submit!.role).toBe('lsf-bsub');
    expect(submit!.stdin).toBe(jobScript(launcher, 4, { url: status()!.url }));
    expect(submit!.stdin).toContain('#BSUB -W 1:30\n');
    expect(submit!.stdin).toContain('#BSUB -J "crunch[1-2]"\n');
    const ids = status()!.daemons.map((r) => r.launchId!).sort();
    const job = /^(\d+)/.exec(ids[0]!)![1];
    expect(ids).toEqual([`${job}[1]_1`, `${job}[1]_2`, `${job}[2]_1`, `${job}[2]_2`]);
    expect(await launcher.jobs()).toEqual([
      { job: `${job}[1]`, state: 'RUN' },
      { job: `${job}[2]`, state: 'RUN' },
    ]);
    expect(newCalls()).toEqual([{ role: 'lsf-bjobs', argv: ['-noheader', '-o', 'jobid jobindex stat', job], stdin: '' }]);
    await daemons(0);
    expect(newCalls()).toEqual([{ role: 'lsf-bkill', argv: [job], stdin: '' }]);
  });

  it('PBS: held jobs past the launch timeout are a logged warning, listed by jobs(), and withdrawn at reset', async () => {
    const logs: string[] = [];
    const launcher = pbs({ command: join(STANDINS, 'pbs', 'qsub'), secretDir: secrets.dir, directives: ['-h'] });
    const handle = await daemons(2, { url: URL, remote: launcher, launchTimeout: 200, log: (_level, message) => logs.push(message) });
    expect(handle.connections).toBe(0);
    expect(logs.join('\n')).toMatch(/2 daemon\(s\) were launched \(pbs\) but not all connected .* within 200 ms; they may be waiting in the pbs queue/);
    const listed = await launcher.jobs();
    expect(listed.map((j) => j.state)).toEqual(['H', 'H']);
    expect(newCalls().map((c) => c.role)).toEqual(['pbs-qsub', 'pbs-qstat']);
    await daemons(0);
    expect(newCalls()).toEqual([{ role: 'pbs-qdel', argv: [`${/^(\d+)/.exec(listed[0]!.job)![1]}[].standin`], stdin: '' }]);
    expect(await launcher.jobs()).toEqual([]);
  });

  it('a cancel the scheduler refuses, with the job still listed, is reported on stderr', async () => {
    const launcher = pbs({ command: join(STANDINS, 'pbs', 'qsub'), secretDir: secrets.dir, directives: ['-h'] });
    await daemons(1, { url: URL, remote: launcher, launchTimeout: 100, log: () => {} });
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    process.env.MIRAI_STANDIN_REFUSE_CANCEL = '1';
    let said = '';
    try {
      await daemons(0);
      // (Read before mockRestore(), which clears the recorded calls.)
      said = stderr.mock.calls.map((c) => String(c[0])).join('');
    } finally {
      delete process.env.MIRAI_STANDIN_REFUSE_CANCEL;
      stderr.mockRestore();
    }
    expect(said).toMatch(/\[mirai-ts\] pbs: could not cancel job \d+\.standin with .*qdel: qdel: Unauthorized Request/);
    expect(existsSync(launcher.secretFile('default'))).toBe(false);
  });

  it('splits beyond arrayMax into several submissions, each an array, and cancels them all', async () => {
    const launcher = lsf({ command: join(STANDINS, 'lsf', 'bsub'), secretDir: secrets.dir, arrayMax: 2 });
    await daemons(5, { url: URL, remote: launcher });
    const submits = newCalls();
    expect(submits.map((c) => /#BSUB -J "mirai-default\[(1-\d)\]"/.exec(c.stdin)?.[1])).toEqual(['1-2', '1-2', '1-1']);
    expect(status()!.connections).toBe(5);
    await daemons(0);
    expect(newCalls().map((c) => c.role)).toEqual(['lsf-bkill', 'lsf-bkill', 'lsf-bkill']);
  });

  it("a rejected submission is a LaunchError carrying the scheduler's message", async () => {
    const err = await daemons(1, { url: URL, remote: pbs({ command: join(STANDINS, 'pbs', 'qsub'), secretDir: secrets.dir, queue: 'nosuchqueue' }) }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as Error).message).toMatch(/qsub rejected the job \(exit 170\): qsub: Unknown queue/);
    await expect(daemons(1, { url: URL, remote: lsf({ command: join(STANDINS, 'lsf', 'bsub'), secretDir: secrets.dir, queue: 'nosuchqueue' }) })).rejects.toThrow(
      /bsub rejected the job \(exit 255\): nosuchqueue: No such queue/,
    );
  });
  it('PBS: one daemon is a plain job (qsub refuses -J 1-1, as the stand-in does): id 1000, listed, qdel 1000.standin at reset', async () => {
    const launcher = pbs({ command: join(STANDINS, 'pbs', 'qsub'), secretDir: secrets.dir });
    await daemons(1, { url: URL, remote: launcher });
    const [submit] = newCalls();
    expect(submit!.stdin).not.toContain('#PBS -J');
    const [row] = status()!.daemons;
    expect(row!.launchId).toMatch(/^\d+$/);
    expect(await launcher.jobs()).toEqual([{ job: row!.launchId, state: 'R' }]);
    newCalls();
    await daemons(0);
    expect(newCalls()).toEqual([{ role: 'pbs-qdel', argv: [`${row!.launchId}.standin`], stdin: '' }]);
  });

  it('jobs() lists only queued or running elements, not finished ones (LSF DONE/EXIT, PBS F/X)', async () => {
    for (const launcher of [
      lsf({ command: join(STANDINS, 'lsf', 'bsub'), secretDir: secrets.dir }),
      pbs({ command: join(STANDINS, 'pbs', 'qsub'), secretDir: secrets.dir }),
    ]) {
      await daemons(2, { url: URL, remote: launcher });
      const [ended, running] = status()!.daemons.map((d) => d.launchId!).sort();
      // The stand-in runs each element as `exec node <daemon>` in its own process group: end one.
      const records = readFileSync(join(record.dir, 'jobs', `${/^\d+/.exec(ended!)![0]}.pids`), 'utf8').split('\n');
      process.kill(-Number(records[0]), 'SIGTERM');
      expect(await waitFor(async () => (await launcher.jobs()).length === 1, 5_000)).toBe(true);
      expect(await launcher.jobs()).toEqual([{ job: running, state: launcher.kind === 'lsf' ? 'RUN' : 'R' }]);
      await daemons(0);
    }
  });

  it('PBS keeping job history: a job that ended before its daemon connected ("Job has finished", exit 35) is lost; the launch fails', async () => {
    process.env.MIRAI_STANDIN_PBS_HISTORY = '1';
    try {
      const launcher = pbs({ command: join(STANDINS, 'pbs', 'qsub'), secretDir: secrets.dir, prologue: ['exit 3'], watchInterval: 200 });
      await expect(daemons(1, { url: URL, remote: launcher, launchTimeout: 60_000 })).rejects.toThrow(/^profile 'default': pbs job \d+ ended before its daemon connected/);
      expect(existsSync(launcher.secretFile('default'))).toBe(false);
    } finally {
      delete process.env.MIRAI_STANDIN_PBS_HISTORY;
    }
  });

  it('a submission whose daemons all left by design is let go: its secret file goes at once, and the reset cancels nothing', async () => {
    const launcher = pbs({ command: join(STANDINS, 'pbs', 'qsub'), secretDir: secrets.dir });
    await daemons({ url: URL, remote: launcher, log: () => {}, autoscale: { min: 0, max: 1, idle: 200, throttle: 10 } });
    expect(await mirai(() => 42)).toBe(42);
    expect(await waitFor(() => status()!.connections === 0, 10_000)).toBe(true); // retired once idle
    expect(await waitFor(() => !existsSync(launcher.secretFile('default')), 5_000)).toBe(true);
    newCalls();
    await daemons(0);
    expect(newCalls()).toEqual([]); // no qdel of a job that has ended
    expect(await launcher.jobs()).toEqual([]);
  });

  it("a failed launch leaves the secret file of the same profile's launch still in flight", async () => {
    const launcher = pbs({ command: join(STANDINS, 'pbs', 'qsub'), secretDir: secrets.dir, directives: ['-h'] });
    const spec: LaunchSpec = { url: 'tcp://10.1.2.3:5555', secret: 'in-flight-secret', options: {}, profile: 'p' };
    const file = launcher.secretFile('p');
    // Each submission gets the environment of its moment: a slow one, then a refused one.
    process.env.MIRAI_STANDIN_SUBMIT_DELAY_MS = '1500';
    const slow = launcher.launch(spec, 2);
    delete process.env.MIRAI_STANDIN_SUBMIT_DELAY_MS;
    process.env.MIRAI_STANDIN_REJECT_SUBMIT = '1';
    const failed = launcher.launch(spec, 2).then(
      () => undefined,
      (e: unknown) => e,
    );
    delete process.env.MIRAI_STANDIN_REJECT_SUBMIT;
    expect(await failed).toBeInstanceOf(LaunchError);
    // The slow launch's jobs read the file when they start: it must still be there.
    expect(existsSync(file)).toBe(true);
    const handles = await slow;
    expect(readFileSync(file, 'utf8').trim()).toBe('in-flight-secret');
    await Promise.all(handles.map((h) => h.cancel!()));
    expect(existsSync(file)).toBe(false);
  });
});
