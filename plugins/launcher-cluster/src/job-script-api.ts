/** `jobScript()`: the exact script a launcher would submit, for review. */
import type { DaemonOptions } from '@mirai-ts/core';
import type { ClusterLauncher } from './cluster-config.js';
import type { ScriptSpec } from './job-script.js';

/** What a job script is made from; the profile's secret is never in it (only its file's path). */
export interface JobScriptSpec extends Partial<Omit<ScriptSpec, 'options'>> {
  readonly options?: DaemonOptions;
}

/**
 * The script `launcher` would submit for `n` daemons (one submission: `n` up to
 * `arrayMax × processesPerJob`), daemons dialling `spec.url` (default a placeholder,
 * `tls+tcp://HOST:PORT`; pass the profile's URL, e.g. from `status().url`, for the exact text).
 */
export function jobScript(launcher: ClusterLauncher, n: number, spec: JobScriptSpec = {}): string {
  const full: ScriptSpec = { url: 'tls+tcp://HOST:PORT', profile: 'default', options: {}, ...spec };
  return launcher.script(full, Math.ceil(n / launcher.processesPerJob));
}
