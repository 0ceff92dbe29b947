/**
 * @mirai-ts/launcher-cluster: start mirai-ts daemons as job arrays on HPC schedulers
 * (Slurm, Grid Engine, PBS, LSF).
 *
 * ```ts
 * import { daemons, hostUrl } from '@mirai-ts/core';
 * import { slurm } from '@mirai-ts/launcher-cluster';
 * await daemons(100, { url: hostUrl({ tls: true }).ib0, remote: slurm({ partition: 'short', memory: '4G' }) });
 * ```
 */
export {
  clusterConfig,
  type ClusterConfigOptions,
  type ClusterLauncher,
  type CommonClusterOptions,
} from './cluster-config.js';
export { slurm, sge, pbs, lsf, type JobFields, type SlurmOptions, type SgeOptions, type PbsOptions, type LsfOptions } from './builders.js';
export { jobScript, type JobScriptSpec } from './job-script-api.js';
export { SCHEDULERS, type SchedulerName, type Scheduler, type ListedJob, type Submitted } from './schedulers.js';
