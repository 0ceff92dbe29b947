/**
 * remoteDaemonCommand({ endWithStdin }): the shell text a launcher such as ssh runs on the
 * remote side, run here for real in dash and bash (the login shells it meets most), with a
 * stand-in for the daemon that reports what it gets and does what a daemon does: reads the
 * lifeline on stdin, exits with a code, or is replaced by its watchdog's fresh process.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import type { LaunchSpec } from '../../src/launcher.js';
import { remoteDaemonCommand } from '../../src/launchers/remote-command.js';

const dir = mkdtempSync(join(tmpdir(), 'mirai-remote-command-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * The stand-in daemon. Its "URL" says what to do: `exit3` exits with code 3 at once; `wait`
 * runs until its stdin ends; `respawn` starts a fresh copy of itself as a daemon's watchdog
 * does (detached, inheriting stdin, stdout and stderr), which runs until its stdin ends, and
 * is then SIGKILLed.
 */
const standIn = join(dir, 'stand-in.mjs');
writeFileSync(
  standIn,
  `import { spawn } from 'node:child_process';
const [mode] = process.argv.slice(2);
const id = process.env.MIRAI_LAUNCH_ID ?? 'none';
const say = (line) => process.stdout.write(line + '\\n');
say(\`start \${id} \${mode} secret=\${process.env.MIRAI_SECRET ?? ''} eof-flag=\${process.argv.includes('--exit-on-stdin-eof')}\`);
if (mode === 'exit3') process.exit(3);
if (mode === 'respawn') {
  spawn(process.execPath, [process.argv[1], 'fresh', '--exit-on-stdin-eof'], { detached: true, stdio: 'inherit' }).unref();
  setTimeout(() => process.kill(process.pid, 'SIGKILL'), 200);
} else {
  process.stdin.on('end', () => { say(\`eof \${id} \${mode}\`); process.exit(0); });
  process.stdin.resume();
}
setInterval(() => {}, 60_000);
`,
);

const spec = (mode: string): LaunchSpec => ({ url: mode, secret: 'sec ret', options: {}, profile: 'p' });
const program = { node: process.execPath, script: standIn };

/** Runs `command` in `shell` with the secret on a stdin that stays open until `endStdin()`. */
function run(shell: string, command: string) {
  const child = spawn(shell, ['-c', command], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.write('sec ret\n');
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let done = false;
  void exited.then(() => (done = true));
  return {
    pid: child.pid!,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    done: () => done,
    endStdin: () => child.stdin.end(),
    /** Ends the stand-ins too: their stdin ends with it. */
    kill: () => {
      child.stdin.end();
      child.kill('SIGKILL');
    },
  };
}

async function until(check: () => boolean, ms = 5_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

const shells = ['/bin/dash', '/bin/bash'].filter((s) => existsSync(s));

/** A /proc file of `pid` ('' once it is gone). */
function procFile(pid: number, name: string): string {
  try {
    return readFileSync(`/proc/${pid}/${name}`, 'latin1');
  } catch {
    return '';
  }
}

/** The live processes below `pid`. */
function descendants(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procFile(Number(entry), 'stat');
    // pid (comm) state ppid ...: comm may hold spaces, so read after its closing parenthesis.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid > 0) parents.set(Number(entry), ppid);
  }
  const below = (p: number): number[] => [...parents].filter(([, parent]) => parent === p).flatMap(([child]) => [child, ...below(child)]);
  return below(pid);
}

describe.each(shells)('remoteDaemonCommand({ endWithStdin }) in %s', (shell) => {
  it("returns with the daemon's exit code and output, without waiting for stdin to end", async () => {
    const r = run(shell, remoteDaemonCommand(spec('exit3'), program, { secret: 'stdin', launchIds: ['one'], endWithStdin: true }));
    try {
      expect(await Promise.race([r.exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 5_000))])).toBe(3);
      expect(r.stdout()).toBe('start one exit3 secret=sec ret eof-flag=true\n');
    } finally {
      r.kill();
    }
  });

  it("waits for a watchdog's fresh daemon, which keeps reading the command's stdin until it ends", async () => {
    const r = run(shell, remoteDaemonCommand(spec('respawn'), program, { secret: 'stdin', launchIds: ['one'], endWithStdin: true }));
    try {
      expect(await until(() => r.stdout().includes('start one fresh'))).toBe(true);
      // The daemon it started was killed; its fresh copy holds the command's stdout, so the
      // command is still there (over ssh, its return would close the fresh daemon's stdin).
      await new Promise((r) => setTimeout(r, 500));
      expect(r.done()).toBe(false);
      r.endStdin();
      expect(await until(() => r.done())).toBe(true);
      expect(r.stdout()).toContain('eof one fresh');
      expect(await r.exited).toBe(137); // the status of the daemon it started (SIGKILLed)
    } finally {
      r.kill();
    }
  });

  it('gives the secret to the daemon alone: the helper beside it (cat) does not hold it in its environment', async () => {
    const r = run(shell, remoteDaemonCommand(spec('wait'), program, { secret: 'stdin', launchIds: ['one'], endWithStdin: true }));
    try {
      expect(await until(() => r.stdout().includes('start one wait secret=sec ret eof-flag=true'))).toBe(true);
      const helpers = descendants(r.pid).filter((pid) => procFile(pid, 'cmdline').replace(/\0/g, ' ').trim() === 'cat');
      expect(helpers).toHaveLength(1);
      expect(procFile(helpers[0]!, 'environ').split('\0')).not.toContain('MIRAI_SECRET=sec ret');
      expect(procFile(helpers[0]!, 'environ')).not.toContain('MIRAI_SECRET');
    } finally {
      r.endStdin();
      await r.exited;
    }
  });

  it('gives each of several daemons its stdin (not /dev/null), and returns once all are gone', async () => {
    const r = run(shell, remoteDaemonCommand(spec('wait'), program, { secret: 'stdin', launchIds: ['a', 'b'], endWithStdin: true }));
    try {
      expect(await until(() => r.stdout().includes('start a') && r.stdout().includes('start b'))).toBe(true);
      await new Promise((r) => setTimeout(r, 300));
      // Background commands read /dev/null unless told otherwise: they would have seen its end already.
      expect(r.stdout()).not.toMatch(/^eof /m);
      expect(r.done()).toBe(false);
      r.endStdin();
      expect(await until(() => r.done())).toBe(true);
      expect(r.stdout()).toContain('eof a wait');
      expect(r.stdout()).toContain('eof b wait');
      expect(await r.exited).toBe(0);
      expect(r.stderr()).toBe('');
    } finally {
      r.kill();
    }
  });
});

describe('remoteDaemonCommand', () => {
  it('refuses endWithStdin with exec: the command must outlive its daemons', () => {
    expect(() => remoteDaemonCommand(spec('x'), program, { secret: 'stdin', endWithStdin: true, exec: true })).toThrow(ConfigError);
    expect(() => remoteDaemonCommand(spec('x'), program, { secret: 'stdin', endWithStdin: true, exec: true })).toThrow(/endWithStdin and exec/);
  });

  it('without endWithStdin, leaves the command as it was: no lifeline flag, exec when asked', () => {
    const command = remoteDaemonCommand(spec('x'), program, { secret: 'stdin', launchIds: ['a'], exec: true });
    expect(command).not.toContain('--exit-on-stdin-eof');
    expect(command).toMatch(/^IFS= read -r MIRAI_SECRET && export MIRAI_SECRET && MIRAI_LAUNCH_ID=a exec /);
  });
});
