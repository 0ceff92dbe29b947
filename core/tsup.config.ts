import { defineConfig } from 'tsup';

export default defineConfig({
  // daemon-main is its own entry: launchers start it as a script.
  entry: ['src/index.ts', 'src/internal.ts', 'src/daemon-main.ts'],
  format: ['esm'],
  dts: { entry: ['src/index.ts', 'src/internal.ts'] },
  clean: true,
  target: 'node20',
  splitting: true,
  sourcemap: false,
});
