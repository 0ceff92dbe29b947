/** Types of slurm.mjs (plain JS so the benchmarks can import it too). */
export interface TestSlurm {
  readonly dir: string;
  /** The slurm.conf path: client commands need SLURM_CONF set to it. */
  readonly conf: string;
  readonly env: NodeJS.ProcessEnv;
  readonly node: string;
  cmd(program: string, args: string[]): Promise<string>;
  queue(): Promise<string[]>;
  jobPids(): number[];
  log(daemon?: string): string;
  /** Makes the node's prolog fail (on): Slurm drains the node and requeues its jobs held. Off: heals and resumes the node. */
  failLaunches(on: boolean): Promise<void>;
  stop(): Promise<void>;
}
export function slurmMissing(): string | undefined;
export function startSlurm(options?: { probe?: boolean; cpus?: number }): Promise<TestSlurm>;
export function freePort(): Promise<number>;
export function sleep(ms: number): Promise<void>;
export function pidsWithEnv(needle: string): number[];
export function endAll(pids: number[], graceMs?: number): Promise<void>;
