/** `scale()`: set a running profile's number of daemons by hand. */
import { ConfigError } from '../errors.js';
import { checkCount, MAX_DAEMONS_PER_CALL, show } from '../options-check.js';
import { currentPool } from './profile-scope.js';

/**
 * Sets the number of daemons of a running profile: more are launched (in one launch call),
 * idle daemons above `n` leave at once and busy ones once their task is done, so no task is
 * lost or run twice. On an autoscaled profile this overrides the backlog until
 * `scale('auto')`. Throws a ConfigError for a profile without daemons (sync mode, or none set).
 */
export function scale(n: number | 'auto', profile?: string): void {
  if (n !== 'auto') {
    // As daemons(n): a whole number (a string from process.env is named as such), and no more
    // than one launch call may ask for.
    if (typeof n === 'number' && n > MAX_DAEMONS_PER_CALL) throw new ConfigError(`scale(n): n must be at most ${MAX_DAEMONS_PER_CALL} daemons, got ${show(n)}`);
    checkCount('scale(n)', n, 0);
  }
  const pool = currentPool(profile);
  if (pool.scale === undefined) throw new ConfigError(`scale(): profile '${pool.name}' has no daemon pool to scale (sync mode)`);
  pool.scale(n);
}
