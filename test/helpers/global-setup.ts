/**
 * Test-run setup: builds stale packages (daemon processes run built code), marks every
 * process this run starts, and at the end fails loudly if any of them is still running.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const RUN_ENV = 'MIRAI_TEST_RUN';

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * Packages whose build carries a copy of core's, by the file that does: the thread daemons'
 * worker script bundles core's built daemon side (a failed build may leave dist/index.js without it).
 */
const BUNDLES_CORE = new Map([[join('plugins', 'threads'), join('dist', 'worker.cjs')]]);

/** Packages whose dist is missing or older than their src (or, for BUNDLES_CORE, than core's src and dist). */
function stalePackages(): string[] {
  const dirs = ['core', ...['plugins', 'adapters'].flatMap((d) => (existsSync(join(root, d)) ? readdirSync(join(root, d)).map((p) => join(d, p)) : []))];
  const coreDist = join(root, 'core', 'dist');
  const core = Math.max(newestMtime(join(root, 'core', 'src')), existsSync(coreDist) ? newestMtime(coreDist) : Infinity);
  return dirs.filter((dir) => {
    const src = join(root, dir, 'src');
    const dist = join(root, dir, 'dist', 'index.js');
    if (!existsSync(src)) return false;
    if (!existsSync(dist) || statSync(dist).mtimeMs < newestMtime(src)) return true;
    const bundle = BUNDLES_CORE.get(dir);
    return bundle !== undefined && (!existsSync(join(root, dir, bundle)) || statSync(join(root, dir, bundle)).mtimeMs < core);
  });
}

/** Processes whose environment carries this run's marker. */
export function processesOfRun(runId: string): { pid: number; cmd: string }[] {
  const found: { pid: number; cmd: string }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const environ = readFileSync(`/proc/${name}/environ`, 'latin1');
      if (!environ.includes(`${RUN_ENV}=${runId}`)) continue;
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'latin1').replace(/\0/g, ' ').trim();
      if (cmd.includes('vitest')) continue; // the test workers themselves
      found.push({ pid: Number(name), cmd });
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

export function setup(): () => Promise<void> {
  // Daemon processes run built code: build what changed (MIRAI_TEST_NO_BUILD=1 skips this).
  const stale = process.env.MIRAI_TEST_NO_BUILD ? [] : stalePackages();
  if (stale.length > 0) {
    execFileSync('pnpm', ['-r', ...stale.flatMap((dir) => ['--filter', `./${dir}`]), 'run', 'build'], { cwd: root, stdio: 'inherit' });
  }
  const runId = randomUUID();
  process.env[RUN_ENV] = runId;
  return async () => {
    // Daemons get up to a second to notice their host is gone.
    let left = processesOfRun(runId);
    for (let i = 0; i < 30 && left.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = processesOfRun(runId);
    }
    if (left.length > 0) {
      for (const p of left) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      throw new Error(`processes left running after the tests (now killed):\n${left.map((p) => `${p.pid} ${p.cmd}`).join('\n')}`);
    }
  };
}
