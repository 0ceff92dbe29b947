// The examples in the helpers' TypeDoc comments run as shown: each is a module of its own,
// served on 127.0.0.1 with real daemons and asked for one route. A task that calls a function
// from the code around it (the daemon cannot see it) answers 500 instead.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const pkg = join(import.meta.dirname, '..');

/** The ```js (or ```ts) blocks of a source file's doc comments, without their ` * ` margins. */
function docExamples(source: string): string[] {
  return [...source.matchAll(/^ \* ```(?:js|ts)\n((?: \*.*\n)*?) \* ```$/gm)].map((m) => m[1]!.replace(/^ \*(?: |$)/gm, ''));
}

/** How each kind of example is served, then closed: it names its app `app`, `fastify` or `server`. */
const SERVE = {
  express: { listen: "const server = app.listen(0, '127.0.0.1'); await once(server, 'listening');", close: 'server.close();' },
  fastify: { listen: "await fastify.listen({ port: 0, host: '127.0.0.1' }); const server = fastify.server;", close: 'await fastify.close();' },
  node: { listen: "server.listen(0, '127.0.0.1'); await once(server, 'listening');", close: 'server.close();' },
} as const;

const EXAMPLES: { file: string; serve: keyof typeof SERVE; path: string; body: unknown }[] = [
  { file: 'index.ts', serve: 'express', path: '/fib/20', body: { n: 20, fib: 6765 } },
  { file: 'express.ts', serve: 'express', path: '/primes/100', body: { below: 100, primes: 25 } },
  { file: 'fastify.ts', serve: 'fastify', path: '/sha256/abc', body: { sha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad' } },
  { file: 'node-http.ts', serve: 'node', path: '/fib?n=20', body: { n: 20, fib: 6765 } },
];

describe('TypeDoc examples', () => {
  it('finds the fenced blocks of doc comments', () => {
    expect(docExamples('/**\n * Text.\n *\n * ```js\n * const a = 1;\n *\n * f(a);\n * ```\n */\n')).toEqual(['const a = 1;\n\nf(a);\n']);
  });

  it.each(EXAMPLES.map((e) => [e.file, e.path, e] as const))('src/%s runs as shown and answers %s', async (file, path, { serve, body }) => {
    const examples = docExamples(readFileSync(join(pkg, 'src', file), 'utf8'));
    expect(examples, `one example in src/${file}`).toHaveLength(1);
    // Imports may stand anywhere at a module's top level: the harness adds its own after the example.
    const module = `${examples[0]}
import { once } from 'node:events';
import { daemons as stopDaemons } from '@mirai-ts/core';
${SERVE[serve].listen}
const res = await fetch(\`http://127.0.0.1:\${server.address().port}${path}\`);
console.log(JSON.stringify({ status: res.status, body: await res.json() }));
${SERVE[serve].close}
await stopDaemons(0);
`;
    // From the package's folder: express, fastify, core and the package itself resolve there.
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', module], { cwd: pkg, timeout: 60_000 });
    expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toEqual({ status: 200, body });
  }, 90_000);
});
