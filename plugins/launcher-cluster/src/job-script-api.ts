/** `jobScript()`: the exact script a launcher would submit, for review. */
import { ConfigError, type DaemonOptions } from '@mirai-ts/core';
import { checkCount, checkDaemonOptions, checkOptions, is, show, type OptionRule, type OptionRules } from '@mirai-ts/core/plugin';
import type { ClusterLauncher } from './cluster-config.js';
import type { ScriptSpec } from './job-script.js';

/** What a job script is made from; the profile's secret is never in it (only its file's path). */
export interface JobScriptSpec extends Partial<Omit<ScriptSpec, 'options'>> {
  readonly options?: DaemonOptions;
}

/** A URL daemons could dial (`tls+tcp://HOST:PORT` is the placeholder's shape). */
const url: OptionRule = (v) => (typeof v === 'string' && /^[a-z][a-z0-9+.-]*:\/\/\S+$/i.test(v) ? undefined : "a URL such as 'tls+tcp://10.0.0.5:5555' (the profile's status().url)");

const SPEC_RULES: OptionRules = { url, profile: is.string, options: is.object, transport: is.object, dialOptions: is.object };

/**
 * The script `launcher` would submit for `n` daemons (one submission: `n` up to
 * `arrayMax × processesPerJob`), daemons dialling `spec.url` (default a placeholder,
 * `tls+tcp://HOST:PORT`; pass the profile's URL, e.g. from `status().url`, for the exact text).
 */
export function jobScript(launcher: ClusterLauncher, n: number, spec: JobScriptSpec = {}): string {
  const who = 'jobScript(launcher, n, spec)';
  if (typeof launcher !== 'object' || launcher === null || typeof launcher.script !== 'function') {
    throw new ConfigError(`${who}: launcher must be a cluster launcher such as slurm(), got ${show(launcher)}`);
  }
  checkCount(who, n, 1);
  checkOptions(who, spec, SPEC_RULES);
  checkDaemonOptions(spec.options ?? {}, `${who}: spec.options`);
  const full: ScriptSpec = { url: 'tls+tcp://HOST:PORT', profile: 'default', options: {}, ...spec };
  return launcher.script(full, Math.ceil(n / launcher.processesPerJob));
}
