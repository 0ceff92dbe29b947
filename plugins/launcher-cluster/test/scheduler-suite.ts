/**
 * The tests every real scheduler passes (Slurm, Grid Engine): one cluster per file, started
 * in beforeAll and stopped in afterAll; daemons run as real array jobs.
 */
import { chmodSync, readdirSync, readFileSync, existsSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, ConnectionResetError, daemons, launchRemote, LaunchError, mirai, miraiMap, status } from '@mirai-ts/core';
import { SCHEDULERS, type ClusterLauncher, type JobFields } from '@mirai-ts/launcher-cluster';
import { privateDir, processesWith, waitFor } from './support.js';

export interface TestCluster {
  /** Where its state lives (job records, spooled scripts): grepped for the secret. */
  readonly stateDir: string;
  /** Variables client commands need (SLURM_CONF, SGE_ROOT...). */
  readonly env: NodeJS.ProcessEnv;
  /** Runs a client command of the cluster; resolves to its stdout. */
  cmd(program: string, args: string[]): Promise<string>;
  queue(): Promise<string[]>;
  /** PIDs of every process the cluster runs (daemons, job processes). */
  pids(): number[];
  stop(): Promise<void>;
  /** Makes the node fail every job it starts (on), as a node with a broken mount does; off: heals it. */
  failLaunches?(on: boolean): Promise<void>;
}

export interface SchedulerCase {
  readonly name: 'slurm' | 'sge';
  /** Why it cannot run here (skip), or undefined. */
  readonly missing: string | undefined;
  start(): Promise<TestCluster>;
  launcher(options: JobFields & { directives?: string[]; queue?: string; partition?: string }): ClusterLauncher;
  /** Launch id of an array element → [job id, index]. */
  readonly idPattern: RegExp;
  /** The array index variable jobs see. */
  readonly indexVar: string;
  /** A directive that keeps jobs pending (held). */
  readonly hold: string;
  /** The state codes the scheduler lists for a running and a held job. */
  readonly states: { running: string; held: string };
  /** The scheduler's records of a job, as text: stored script, job record (`scontrol show job`, `qstat -j`). */
  records(cluster: TestCluster, jobId: string): Promise<{ script: string; record: string }>;
  /** Kills one array element the way the scheduler would. */
  kill(cluster: TestCluster, launchId: string): Promise<void>;
  /** Options naming a queue/partition that does not exist, and the scheduler's message for it. */
  readonly badQueue: { options: { queue?: string; partition?: string }; message: RegExp };
  /** A directive the submit command rejects, and its message. */
  readonly badDirective: { directive: string; message: RegExp };
  /**
   * How to get jobs the scheduler keeps queued in a state they never leave (Grid Engine's Eqw,
   * Slurm's "launch failed requeued held"): options, or a node that fails every job it starts;
   * and what the loss says of such a job (the words after its id).
   */
  readonly stuck: { options: JobFields & { directives?: string[] }; failLaunches: boolean; clause: RegExp };
}

/** Every file under `dir`, as text. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return filesUnder(path);
    try {
      return e.isFile() ? [readFileSync(path, 'latin1')] : [];
    } catch {
      return [];
    }
  });
}

const URL = 'tcp://127.0.0.1:0';

export function schedulerSuite(c: SchedulerCase): void {
  describe.skipIf(c.missing !== undefined)(`${c.name}() on a real ${c.name === 'slurm' ? 'Slurm' : 'Grid Engine'}${c.missing ? ` (skipped: ${c.missing})` : ''}`, () => {
    let cluster: TestCluster;
    const secrets = privateDir('mirai-secrets-');
    const saved: NodeJS.ProcessEnv = {};

    beforeAll(async () => {
      cluster = await c.start();
      // Client commands (submit, cancel) find the test cluster through these.
      for (const [key, value] of Object.entries(cluster.env)) {
        if (process.env[key] === value) continue;
        saved[key] = process.env[key];
        process.env[key] = value;
      }
    }, 60_000);

    afterEach(async () => {
      await daemons(0);
    });

    afterAll(async () => {
      await daemons(0);
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
      await cluster?.stop();
      secrets.remove();
    }, 30_000);

    it('runs a miraiMap of 200 items on one 4-element array job; the secret is nowhere but its 0600 file', async () => {
      const secret = `cluster-test-secret-${process.pid}-${Date.now()}`;
      const launcher = c.launcher({ secretDir: secrets.dir });
      await daemons(4, { url: URL, remote: launcher, secret });

      // One submission: four elements of one array job, named by job id and index.
      const rows = status()!.daemons;
      expect(rows).toHaveLength(4);
      const ids = rows.map((r) => c.idPattern.exec(r.launchId ?? '')).map((m) => ({ job: m![1]!, index: Number(m![2]) }));
      expect(new Set(ids.map((i) => i.job)).size).toBe(1);
      expect(ids.map((i) => i.index).sort()).toEqual([1, 2, 3, 4]);
      expect(rows.every((r) => r.launcher === c.name)).toBe(true);
      const jobId = ids[0]!.job;
      const listed = await launcher.jobs();
      expect(listed.map((j) => j.job).sort()).toEqual(rows.map((r) => r.launchId).sort());
      // The scheduler's own record may lag behind the daemons' connections on a busy machine.
      let states = listed.map((j) => j.state);
      for (let i = 0; i < 50 && !states.every((s) => s === c.states.running); i++) {
        await new Promise((r) => setTimeout(r, 200));
        states = (await launcher.jobs()).map((j) => j.state);
      }
      expect(states.every((s) => s === c.states.running), states.join(' ')).toBe(true);

      const indexVar = c.indexVar;
      const results = await miraiMap(
        Array.from({ length: 200 }, (_, i) => i),
        (x: number, { v }: { v: string }) => ({ square: x * x, index: Number(process.env[v]) }),
        { args: { v: indexVar } },
      ).flat();
      expect(results.map((r) => r.square)).toEqual(Array.from({ length: 200 }, (_, i) => i * i));
      expect(results.every((r) => r.index >= 1 && r.index <= 4)).toBe(true);

      // The secret travels in a 0600 file in a 0700 directory...
      const file = launcher.secretFile('default');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(statSync(secrets.dir).mode & 0o777).toBe(0o700);
      expect(readFileSync(file, 'utf8').trim()).toBe(secret);
      // ...and in nothing else: the stored script, the job record, the scheduler's state (job
      // environment records included), the job processes' argv and environment.
      const { script, record } = await c.records(cluster, jobId);
      expect(script).toContain(`--secret-file=${file}`);
      expect(script).not.toContain(secret);
      expect(record).toContain(jobId);
      expect(record).not.toContain(secret);
      expect(filesUnder(cluster.stateDir).filter((text) => text.includes(secret))).toEqual([]);
      const daemonsArgv = processesWith(file);
      expect(daemonsArgv.length).toBeGreaterThanOrEqual(4);
      for (const pid of cluster.pids()) {
        let argv = '';
        let environ = '';
        try {
          argv = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
          environ = readFileSync(`/proc/${pid}/environ`, 'latin1');
        } catch {
          continue; // ended meanwhile
        }
        expect(argv).not.toContain(secret);
        expect(environ).not.toContain(secret);
      }
      for (const p of daemonsArgv) expect(`${p.argv}${p.environ}`).not.toContain(secret);

      // Reset: daemons exit, the jobs end, the secret file goes.
      await daemons(0);
      expect(existsSync(file)).toBe(false);
      expect(await waitFor(async () => (await cluster.queue()).length === 0, 10_000)).toBe(true);
    });

    it('a reset cancels jobs still waiting in the queue; their launch timeout is a warning, not a failure', async () => {
      const logs: string[] = [];
      const launcher = c.launcher({ secretDir: secrets.dir, directives: [c.hold] });
      const handle = await daemons(3, { url: URL, remote: launcher, launchTimeout: 300, log: (_level, message) => logs.push(message) });
      expect(handle.connections).toBe(0);
      expect(logs.join('\n')).toMatch(new RegExp(`3 daemon\\(s\\) were launched \\(${c.name}\\) but not all connected.*waiting in the ${c.name} queue`));
      // What is still waiting: the launcher lists each element with the scheduler's state.
      const listed = await launcher.jobs();
      expect(listed).toHaveLength(3);
      expect(listed.every((j) => c.idPattern.test(j.job) && j.state === c.states.held)).toBe(true);
      await daemons(0);
      expect(await launcher.jobs()).toEqual([]);
      expect(await cluster.queue()).toEqual([]);
      expect(existsSync(launcher.secretFile('default'))).toBe(false);
    });

    it('with failOnLaunchTimeout, jobs still queued at the launch timeout fail the launch and are withdrawn', async () => {
      const launcher = c.launcher({ secretDir: secrets.dir, directives: [c.hold], failOnLaunchTimeout: true });
      await expect(daemons(2, { url: URL, remote: launcher, launchTimeout: 300 })).rejects.toThrow(LaunchError);
      expect(await cluster.queue()).toEqual([]);
      expect(existsSync(launcher.secretFile('default'))).toBe(false);
    });

    it('with failOnLaunchTimeout, a launch into a live profile that times out withdraws its jobs itself (no reset follows)', async () => {
      await daemons({ url: URL, launchTimeout: 300 });
      const launcher = c.launcher({ secretDir: secrets.dir, directives: [c.hold], failOnLaunchTimeout: true });
      await expect(launchRemote(2, launcher)).rejects.toThrow(LaunchError);
      // The profile lives on: only the failed launch itself can withdraw what it queued.
      expect(status()).toBeDefined();
      expect(await waitFor(async () => (await cluster.queue()).length === 0, 10_000)).toBe(true);
      expect(await launcher.jobs()).toEqual([]);
      expect(existsSync(launcher.secretFile('default'))).toBe(false);
    });

    it('with failOnLaunchTimeout, only the elements that did not connect are withdrawn; a connected one keeps running', async () => {
      await daemons({ url: URL, launchTimeout: 10_000 });
      // Element 2 starts but stalls before its daemon; element 1 connects.
      const launcher = c.launcher({ secretDir: secrets.dir, failOnLaunchTimeout: true, prologue: [`[ "$${c.indexVar}" = 2 ] && sleep 120`] });
      await expect(launchRemote(2, launcher)).rejects.toThrow(LaunchError);
      const [connected] = status()!.daemons;
      expect(c.idPattern.exec(connected!.launchId!)![2]).toBe('1');
      expect(await waitFor(async () => (await launcher.jobs()).length === 1, 10_000)).toBe(true);
      expect((await launcher.jobs()).map((j) => j.job)).toEqual([connected!.launchId]);
      expect(await mirai(() => 'still here')).toBe('still here');
    });

    it('submitTimeout bounds a submission whose program hangs (a wrapper holding the pipes): its group is killed, the job it printed cancelled', async () => {
      // A wrapper that submits for real, prints the job id, then hangs in a child that holds
      // stdout, as a site wrapper or a stuck client behind one would. Its cancel and list
      // programs come from the same directory: the real ones.
      const { submit, cancel, list } = { submit: SCHEDULERS[c.name].submit, cancel: SCHEDULERS[c.name].cancel, list: SCHEDULERS[c.name].list.command };
      const wrappers = privateDir('mirai-wrapper-');
      try {
        const real = (program: string): string => join('/usr/bin', program);
        writeFileSync(
          join(wrappers.dir, submit),
          `#!/bin/sh\n${real(submit)} "$@" || exit $?\n'${process.execPath}' -e 'setTimeout(() => {}, 40000)' "$0"\n`,
        );
        chmodSync(join(wrappers.dir, submit), 0o755);
        for (const program of [cancel, list]) symlinkSync(real(program), join(wrappers.dir, program));
        const launcher = c.launcher({ secretDir: secrets.dir, directives: [c.hold], command: join(wrappers.dir, submit), submitTimeout: 2_000 });
        const started = Date.now();
        const err = await daemons(1, { url: URL, remote: launcher }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(LaunchError);
        expect((err as Error).message).toMatch(/did not finish within 2000 ms.*; it had printed job \d+[^ ]*, which was cancelled/);
        // Settled near the timeout, not when the hung child let go of the pipes (40 s).
        expect(Date.now() - started).toBeLessThan(20_000);
        expect(await waitFor(() => processesWith(wrappers.dir).length === 0, 5_000)).toBe(true);
        expect(await waitFor(async () => (await cluster.queue()).length === 0, 10_000)).toBe(true);
      } finally {
        for (const p of processesWith(wrappers.dir)) process.kill(p.pid, 'SIGKILL');
        wrappers.remove();
      }
    }, 60_000);

    it('a job killed mid-task settles that task with 19, and repair submits a replacement', async () => {
      await daemons(1, { url: URL, remote: c.launcher({ secretDir: secrets.dir }), repair: true });
      const first = status()!.daemons[0]!.launchId!;
      const long = mirai(() => new Promise((r) => setTimeout(r, 60_000)));
      expect(await waitFor(() => status()!.executing === 1, 5_000)).toBe(true);
      await c.kill(cluster, first);
      const err = await long.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConnectionResetError);
      // The replacement is a new submission: a new job id.
      expect(await waitFor(() => status()!.daemons.some((d) => d.launchId !== undefined && d.launchId !== first), 20_000)).toBe(true);
      const indexVar = c.indexVar;
      expect(await mirai(({ v }: { v: string }) => process.env[v], { v: indexVar })).toBe('1');
      expect(status()!.daemons.map((d) => d.launchId)).not.toContain(first);
    });

    it('a launch whose jobs all end before their daemons connect fails within seconds, naming the job, not at the launch timeout', async () => {
      // A job whose node cannot start the daemon: its script fails before the daemon dials.
      const launcher = c.launcher({ secretDir: secrets.dir, prologue: ['exit 3'], watchInterval: 500 });
      const started = Date.now();
      const err = await daemons(2, { url: URL, remote: launcher, launchTimeout: 60_000 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(LaunchError);
      const list = SCHEDULERS[c.name].list.command;
      expect((err as Error).message).toMatch(
        new RegExp(`^profile 'default': ${c.name} job \\d+[._]\\d ended before its daemon connected \\(${list} no longer lists it[^)]*\\); the job's output says why \\(logDirectory keeps it\\) \\(and 1 more daemon\\(s\\) of this launch were lost\\)$`),
      );
      expect(Date.now() - started).toBeLessThan(30_000);
      expect(await launcher.jobs()).toEqual([]);
      expect(existsSync(launcher.secretFile('default'))).toBe(false);
    });

    it('with repair, a job lost after its launch call returned is replaced after a backoff, and the queued task runs once jobs work', async () => {
      const flags = privateDir('mirai-broken-');
      try {
        const broken = join(flags.dir, 'broken');
        writeFileSync(broken, '');
        // While the flag file exists, jobs end a second after they start, before their daemon.
        const launcher = c.launcher({ secretDir: secrets.dir, prologue: [`if [ -e ${broken} ]; then sleep 1; exit 3; fi`], watchInterval: 500 });
        const warnings: string[] = [];
        await daemons(1, { url: URL, remote: launcher, launchTimeout: 300, repair: true, log: (level, message) => level === 'warn' && warnings.push(message) });
        expect(status()!.connections).toBe(0);
        const task = mirai(() => 'ran');
        expect(await waitFor(() => status()!.launches.failures >= 1, 30_000)).toBe(true);
        expect(status()!.launches.lastError).toMatch(new RegExp(`^${c.name} job \\d+[._]1 ended before its daemon connected`));
        expect(warnings.join('\n')).toMatch(/ended before its daemon connected .*\(1 in a row\); trying again in/);
        rmSync(broken);
        expect(await task).toBe('ran');
        expect(status()!.connections).toBe(1);
      } finally {
        flags.remove();
      }
    }, 90_000);

    it('a list command that fails declares nothing lost: held jobs stay on their way, and are listed once it answers again', async () => {
      const { submit, cancel, list } = { submit: SCHEDULERS[c.name].submit, cancel: SCHEDULERS[c.name].cancel, list: SCHEDULERS[c.name].list.command };
      const wrappers = privateDir('mirai-wrapper-');
      try {
        const failing = join(wrappers.dir, 'failing');
        const calls = join(wrappers.dir, 'calls');
        writeFileSync(failing, '');
        // The list program, failing as a client does when it cannot reach the controller.
        writeFileSync(
          join(wrappers.dir, list),
          `#!/bin/sh\necho >> ${calls}\nif [ -e ${failing} ]; then echo 'error: cannot reach the controller' >&2; exit 1; fi\nexec /usr/bin/${list} "$@"\n`,
        );
        chmodSync(join(wrappers.dir, list), 0o755);
        for (const program of [submit, cancel]) symlinkSync(join('/usr/bin', program), join(wrappers.dir, program));
        const listCalls = (): number => (existsSync(calls) ? readFileSync(calls, 'utf8').length : 0);
        const launcher = c.launcher({ secretDir: secrets.dir, directives: [c.hold], command: join(wrappers.dir, submit), watchInterval: 100 });
        const logs: string[] = [];
        await daemons(2, { url: URL, remote: launcher, launchTimeout: 300, repair: true, log: (_level, message) => logs.push(message) });
        expect(await waitFor(() => listCalls() >= 4, 10_000)).toBe(true);
        rmSync(failing);
        const answered = listCalls();
        expect(await waitFor(() => listCalls() >= answered + 3, 10_000)).toBe(true);
        expect((await launcher.jobs()).map((j) => j.state)).toEqual([c.states.held, c.states.held]);
        expect(status()!.launches).toMatchObject({ failures: 0, lastError: undefined });
        expect(logs.join('\n')).not.toMatch(/before its daemon connected/);
      } finally {
        await daemons(0);
        wrappers.remove();
      }
    });

    it("jobs() lists each submission with one run of the list command, and one run for all when the command names no job (Grid Engine's qstat)", async () => {
      const { submit, cancel, list } = { submit: SCHEDULERS[c.name].submit, cancel: SCHEDULERS[c.name].cancel, list: SCHEDULERS[c.name].list.command };
      const wrappers = privateDir('mirai-wrapper-');
      try {
        const calls = join(wrappers.dir, 'calls');
        writeFileSync(join(wrappers.dir, list), `#!/bin/sh\necho >> ${calls}\nexec /usr/bin/${list} "$@"\n`);
        chmodSync(join(wrappers.dir, list), 0o755);
        for (const program of [submit, cancel]) symlinkSync(join('/usr/bin', program), join(wrappers.dir, program));
        const listCalls = (): number => (existsSync(calls) ? readFileSync(calls, 'utf8').length : 0);
        const launcher = c.launcher({ secretDir: secrets.dir, directives: [c.hold], command: join(wrappers.dir, submit), watchInterval: 0 });
        // Two launches: two submissions of one held job each.
        await daemons(1, { url: URL, remote: launcher, launchTimeout: 300 });
        await launchRemote(1, launcher);
        const before = listCalls();
        const listed = await launcher.jobs();
        expect(listed.map((j) => j.state)).toEqual([c.states.held, c.states.held]);
        expect(new Set(listed.map((j) => j.job)).size).toBe(2);
        expect(listCalls() - before).toBe(c.name === 'sge' ? 1 : 2);
      } finally {
        await daemons(0);
        wrappers.remove();
      }
    });

    it('a job the scheduler keeps queued in a state it never leaves is lost and withdrawn: the launch fails, nothing stays queued', async () => {
      if (c.stuck.failLaunches) await cluster.failLaunches!(true);
      try {
        const launcher = c.launcher({ secretDir: secrets.dir, ...c.stuck.options, watchInterval: 500 });
        const err = await daemons(1, { url: URL, remote: launcher, launchTimeout: 60_000 }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(LaunchError);
        expect((err as Error).message).toMatch(
          new RegExp(`^profile 'default': ${c.name} job \\d+[._]1 ${c.stuck.clause.source} and would wait in the queue forever .*; it was withdrawn$`),
        );
        expect(await waitFor(async () => (await cluster.queue()).length === 0, 10_000)).toBe(true);
        expect(existsSync(launcher.secretFile('default'))).toBe(false);
      } finally {
        if (c.stuck.failLaunches) await cluster.failLaunches!(false);
      }
    });

    it("a bad queue or directive is a LaunchError with the scheduler's own message", async () => {
      const badQueue = c.launcher({ secretDir: secrets.dir, ...c.badQueue.options });
      await expect(daemons(2, { url: URL, remote: badQueue })).rejects.toThrow(c.badQueue.message);
      expect(existsSync(badQueue.secretFile('default'))).toBe(false);
      const err = await daemons(1, { url: URL, remote: c.launcher({ secretDir: secrets.dir, directives: [c.badDirective.directive] }) }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(LaunchError);
      expect((err as Error).message).toMatch(c.badDirective.message);
      // Nothing was queued (a job of an earlier test may still be completing: give it time).
      expect(await waitFor(async () => (await cluster.queue()).length === 0, 10_000)).toBe(true);
    });

    it('refuses a URL compute nodes cannot reach', async () => {
      const err = await daemons(1, { remote: c.launcher({ secretDir: secrets.dir }) }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((err as Error).cause).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(new RegExp(`${c.name}: the profile listens at (ipc|abstract)://.*other machines cannot reach`));
    });
  });
}
