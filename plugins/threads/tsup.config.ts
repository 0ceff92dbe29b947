import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'tsup';

/** The core this build bundles into the worker: the workspace's, linked as a dev dependency. */
const core = JSON.parse(readFileSync(new URL('./node_modules/@mirai-ts/core/package.json', import.meta.url), 'utf8')) as { version: string };

export default defineConfig([
  {
    entry: { index: 'src/index.ts' },
    format: ['esm'],
    dts: true,
    // The two builds run at once: this one's clean leaves the other's output alone.
    clean: ['!worker.cjs'],
    target: 'node20',
    sourcemap: true,
  },
  {
    // A thread's entry is one CommonJS script carrying core's daemon side with it: a worker whose
    // entry is an ES module loads Node's ESM loader and a module record per file (0.5 MB more
    // live heap, which each collection of the thread's isolate marks again; see worker.ts).
    entry: { worker: 'src/worker.ts' },
    format: ['cjs'],
    outExtension: () => ({ js: '.cjs' }),
    noExternal: ['@mirai-ts/core'],
    // Its first line names the core it carries: the launcher compares it with the host's
    // (thread-launcher.ts, bundledCoreVersion).
    banner: { js: `// @mirai-ts/threads worker: carries the daemon side of @mirai-ts/core ${core.version}` },
    esbuildOptions: (options) => {
      // import.meta.url, which core's daemon side reads, from the script's path.
      options.inject = [...(options.inject ?? []), fileURLToPath(new URL('./build/import-meta-url.js', import.meta.url))];
      options.define = { ...options.define, 'import.meta.url': 'importMetaUrl' };
      // Core's ES module build, not its require() wrapper.
      options.conditions = ['import'];
      // compiler.ts asks `typeof import.meta.resolve`: undefined here, as meant.
      options.logOverride = { ...options.logOverride, 'empty-import-meta': 'silent' };
    },
    dts: false,
    clean: false,
    target: 'node20',
    // No source map: esbuild would map the bundle to core's sources, outside this package, and
    // task stacks under --enable-source-maps would keep the daemon's frames (error-record.ts
    // cuts them by this package's path).
    sourcemap: false,
  },
]);
