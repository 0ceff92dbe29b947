/**
 * The reaper: one small shell process per host that kills the host's local daemons when the
 * host dies. A daemon notices that its host is gone when its connection closes, and exits
 * (autoexit); one stuck in synchronous code cannot notice. The reaper reads daemon pids on
 * its standard input (`+pid` once launched, `-pid` once exited); when that input ends (the
 * host is gone: even after SIGKILL, the kernel closes the host's end of the pipe) it
 * SIGKILLs the daemons still listed. It costs a `/bin/sh` (about 1 MB) and no CPU while it
 * waits.
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

let reaper: ChildProcess | undefined;

/** Has `pid` killed if this process dies before `exited` resolves. */
export function reapOnHostDeath(pid: number, exited: Promise<unknown>): void {
  const stdin = (reaper ??= startReaper()).stdin;
  if (stdin === null || stdin.destroyed) return;
  stdin.write(`+${pid}\n`);
  void exited.then(() => {
    if (!stdin.destroyed) stdin.write(`-${pid}\n`);
  });
}

function startReaper(): ChildProcess {
  // Its own session: a signal to the host's process group does not take the reaper first.
  const child = spawn('/bin/sh', ['-c', SCRIPT], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  child.unref();
  (child.stdin as unknown as Socket | null)?.unref();
  child.stdin?.on('error', () => {}); // the reaper gone: nothing to tell it any more
  child.on('exit', () => {
    if (reaper === child) reaper = undefined;
  });
  return child;
}
