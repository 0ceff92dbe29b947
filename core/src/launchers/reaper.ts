/**
 * The reaper: one small shell process per host that kills the host's local daemons when the
 * host dies. A daemon notices that its host is gone when its connection closes, and exits
 * (autoexit); one stuck in synchronous code cannot notice. The reaper reads daemon pids on
 * its standard input (`+pid` once launched, `-pid` once exited); when that input ends (the
 * host is gone: even after SIGKILL, the kernel closes the host's end of the pipe) it
 * SIGKILLs the daemons still listed. It costs a `/bin/sh` (about 1 MB) and no CPU while it
 * waits. Once none of its daemons is left it is told to end (its input is closed), so it
 * never outlives them; the next launch starts a new one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';

const SCRIPT = `
pids=" "
while IFS= read -r line; do
  case "$line" in
    +*) pids="$pids\${line#+} " ;;
    -*) kept=" "; for p in $pids; do [ "$p" = "\${line#-}" ] || kept="$kept$p "; done; pids=$kept ;;
  esac
done
for p in $pids; do kill -9 "$p" 2>/dev/null; done
`;

/** The running reaper and how many of its daemons are still alive. */
interface Reaper {
  readonly child: ChildProcess;
  live: number;
}

let reaper: Reaper | undefined;

/** Has `pid` killed if this process dies before `exited` resolves. */
export function reapOnHostDeath(pid: number, exited: Promise<unknown>): void {
  const current = (reaper ??= startReaper());
  const stdin = current.child.stdin;
  if (stdin === null || stdin.destroyed) return;
  stdin.write(`+${pid}\n`);
  current.live++;
  void exited.then(() => {
    if (stdin.destroyed) return;
    stdin.write(`-${pid}\n`);
    if (--current.live > 0) return;
    // Nothing left to guard: a reaper kept past its daemons would outlive daemons(0) as a stray process.
    if (reaper === current) reaper = undefined;
    stdin.end();
  });
}

function startReaper(): Reaper {
  // Its own session: a signal to the host's process group does not take the reaper first.
  const child = spawn('/bin/sh', ['-c', SCRIPT], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  child.unref();
  (child.stdin as unknown as Socket | null)?.unref();
  child.stdin?.on('error', () => {}); // the reaper gone: nothing to tell it any more
  const made: Reaper = { child, live: 0 };
  child.on('exit', () => {
    if (reaper === made) reaper = undefined;
  });
  return made;
}
