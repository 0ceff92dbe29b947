/** The compute profiles of this process, by name. */
import type { ComputePool } from './compute-pool.js';

export const pools = new Map<string, ComputePool>();
