/**
 * `output: 'host'`: every line the daemon prints while a task runs starts with `[task <id>] `,
 * so the host's log (where the launcher adds the daemon's own tag) shows which task wrote it.
 */

/**
 * Wraps `process.stdout.write` and `process.stderr.write` once; returns the setter of the
 * current task id (undefined between tasks: lines go out untagged).
 */
export function tagTaskOutput(): (id: number | undefined) => void {
  let current: number | undefined;
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
    // A line is tagged where it starts: a write may hold several lines, or half of one.
    let atLineStart = true;
    stream.write = ((chunk: unknown, ...rest: unknown[]): boolean => {
      if (current === undefined || (typeof chunk !== 'string' && !(chunk instanceof Uint8Array))) return write(chunk, ...rest);
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      const tag = `[task ${current}] `;
      let out = atLineStart ? tag : '';
      const body = text.endsWith('\n') ? text.slice(0, -1) : text;
      out += body.replaceAll('\n', `\n${tag}`);
      if (text.endsWith('\n')) out += '\n';
      atLineStart = text.endsWith('\n');
      return write(out, ...rest);
    }) as typeof stream.write;
  }
  return (id) => {
    current = id;
  };
}
