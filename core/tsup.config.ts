import { defineConfig } from 'tsup';

export default defineConfig({
  // The daemon's entry and its watchdog are entries of their own: launchers start the one as a
  // script (dist/daemon-main.js), the daemon starts the other as a worker thread (dist/watchdog.js).
  entry: {
    index: 'src/index.ts',
    plugin: 'src/plugin.ts',
    daemon: 'src/daemon-side.ts',
    'daemon-main': 'src/daemon/main.ts',
    watchdog: 'src/daemon/watchdog.ts',
  },
  format: ['esm'],
  // pure-rand (MIT, notice in LICENSE) is bundled: core installs with no runtime dependency.
  noExternal: ['pure-rand'],
  dts: { entry: { index: 'src/index.ts', plugin: 'src/plugin.ts', daemon: 'src/daemon-side.ts' } },
  clean: true,
  target: 'node20',
  splitting: true,
  sourcemap: true,
});
