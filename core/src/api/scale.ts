/** `scale()`: set a running profile's number of daemons by hand. */
import { ConfigError } from '../errors.js';
import { currentPool } from './profile-scope.js';

/**
 * Sets the number of daemons of a running profile: more are launched (in one launch call),
 * idle daemons above `n` leave at once and busy ones once their task is done, so no task is
 * lost or run twice. On an autoscaled profile this overrides the backlog until
 * `scale('auto')`. Throws a ConfigError for a profile without daemons (sync mode, or none set).
 */
export function scale(n: number | 'auto', profile?: string): void {
  const pool = currentPool(profile);
  if (pool.scale === undefined) throw new ConfigError(`scale(): profile '${pool.name}' has no daemon pool to scale (sync mode)`);
  pool.scale(n);
}
