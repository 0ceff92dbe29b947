/** Daemons import packages from dist: end-to-end tests need the packages built. */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function requireBuiltPackages(): void {
  for (const rel of ['../../../core/dist/daemon-main.js', '../dist/index.js']) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    if (!existsSync(path)) {
      throw new Error(`${path} is missing: build first (pnpm --filter @mirai-ts/core --filter @mirai-ts/transport-nats build)`);
    }
  }
}
