/**
 * A host that runs out of file descriptors turns further connections away with a logged,
 * counted reason (EMFILE, `ulimit -n`), instead of dropping them silently, and keeps serving.
 * The host runs in a child process under a low `ulimit -n`.
 */
import { spawn } from 'node:child_process';
import { createConnection, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const HOST = fileURLToPath(new URL('../helpers/fixtures/fd-limit-host.mjs', import.meta.url));

describe.skipIf(process.platform !== 'linux')('file descriptor limit', () => {
  it('logs and counts connections it cannot take, and keeps serving', async () => {
    const child = spawn('sh', ['-c', 'ulimit -n 64 && exec "$0" "$@"', process.execPath, HOST], { stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const replies = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const next = async (): Promise<Record<string, unknown>> => JSON.parse(((await replies.next()).value as string) ?? 'null');
    const sockets: Socket[] = [];
    try {
      const { url } = (await next()) as { url: string };
      const port = Number(new URL(url).port);
      for (let i = 0; i < 100; i++) {
        const s = createConnection(port, '127.0.0.1');
        s.on('error', () => {});
        sockets.push(s);
      }
      await new Promise((r) => setTimeout(r, 1_000));
      child.stdin!.write('report\n');
      const report = (await next()) as { rejected: number; lines: string[] };
      expect(report.rejected).toBeGreaterThan(0);
      expect(report.lines.some((l) => /too many open files.*EMFILE.*ulimit -n 64/.test(l))).toBe(true);
      for (const s of sockets) s.destroy();
      await new Promise((r) => setTimeout(r, 300));
      child.stdin!.write('serve\n');
      expect((await next()).value).toBe('still serving');
      expect(await exited).toBe(0);
    } finally {
      for (const s of sockets) s.destroy();
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
