import type { ChildProcess } from 'node:child_process';
import { secretRedactor } from './redact.js';

/** What a launcher learns from a process it started. */
export interface WatchedChild {
  /** Resolves when the process ends (or could not be started). */
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  /** The last bytes the process wrote to stderr, with `redact` (as is, quoted or JSON-escaped) replaced by `<secret>`. */
  stderrTail(): string;
}

/**
 * Watches a launched process: keeps the tail of its stderr for launch errors, forwards its
 * stdout and stderr line by line with `tag` in front when `output` is set, and unrefs it so
 * it does not keep the host alive (the host's connections do that while work is pending).
 * The child's stdout/stderr must be pipes (or ignored).
 */
export function watchChild(
  child: ChildProcess,
  options: { readonly tag: string; readonly output: boolean; readonly redact?: string; readonly tailBytes?: number },
): WatchedChild {
  const tailBytes = options.tailBytes ?? 8 * 1024;
  // The command itself may be echoed (a shell's error quotes it), with the secret shell-quoted.
  const redact = secretRedactor([options.redact], 1); // the profile's secret, however short
  let tail = '';
  const forward = (target: NodeJS.WriteStream): ((chunk: Buffer) => void) => {
    let partial = '';
    return (chunk) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      if (lines.length > 0) target.write(lines.map((line) => options.tag + line).join('\n') + '\n');
    };
  };
  const toStdout = options.output ? forward(process.stdout) : undefined;
  const toStderr = options.output ? forward(process.stderr) : undefined;
  child.stdout?.on('data', (chunk: Buffer) => toStdout?.(chunk));
  child.stderr?.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-tailBytes);
    toStderr?.(chunk);
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (err) => {
      tail += `\ncannot run '${child.spawnfile}': ${err.message}`;
      resolve({ code: null, signal: null });
    });
  });
  child.unref();
  for (const stream of [child.stdout, child.stderr]) (stream as { unref?: () => void } | null)?.unref?.();
  return {
    exited,
    stderrTail: () => redact(tail),
  };
}
