/**
 * docs/nats.md moves with the code: its ```js nats-run blocks run here as modules against a
 * real nats-server (NATS_URL), asserting their own results with node:assert.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsServer, natsTestsEnabled } from '../../../test/helpers/nats-server.js';
import { requireBuiltPackages } from './built.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const page = readFileSync(new URL('docs/nats.md', `file://${root}`), 'utf8');
const blocks = [...page.matchAll(/^```js nats-run\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);

describe.skipIf(!natsTestsEnabled())('docs/nats.md examples', () => {
  let server: NatsServer;
  beforeAll(async () => {
    requireBuiltPackages();
    server = await NatsServer.start();
  }, 60_000);
  afterAll(async () => {
    await server?.dispose();
  });

  it('has a runnable example', () => {
    expect(blocks.length).toBeGreaterThan(0);
  });

  blocks.forEach((source, i) => {
    it(`example ${i + 1} runs`, () => {
      // -e resolves bare imports from the working directory: the repository root.
      const out = spawnSync(process.execPath, ['--input-type=module', '-e', source], {
        cwd: root,
        env: { ...process.env, NATS_URL: server.url },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(out.stderr + out.stdout).not.toMatch(/AssertionError/);
      expect(out.status, out.stderr).toBe(0);
    }, 90_000);
  });
});
