/**
 * @mirai-ts/dashboard: a live page of mirai-ts's profiles.
 *
 * ```ts
 * import { dashboard } from '@mirai-ts/dashboard';
 * const d = await dashboard({ port: 8100 });
 * console.log(d.url);
 * ```
 */
export { dashboard, type Dashboard, type DashboardOptions } from './dashboard.js';
export type { Snapshot, FailureRow } from './state.js';
