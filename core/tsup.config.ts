import { defineConfig } from 'tsup';

export default defineConfig({
  // daemon-main and watchdog are their own entries: launchers start the one as a script, the
  // daemon starts the other as a worker thread.
  entry: ['src/index.ts', 'src/plugin.ts', 'src/daemon-main.ts', 'src/watchdog.ts'],
  format: ['esm'],
  dts: { entry: ['src/index.ts', 'src/plugin.ts'] },
  clean: true,
  target: 'node20',
  splitting: true,
  sourcemap: true,
});
