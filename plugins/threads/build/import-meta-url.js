// Injected into dist/worker.cjs (tsup.config.ts): the script's import.meta.url, from its path.
// pathToFileURL escapes what a file URL must (`%`, `#`, `?`, spaces); tsup's own shim builds
// `file:${__filename}`, which those characters break.
export const importMetaUrl = require('node:url').pathToFileURL(__filename).href;
