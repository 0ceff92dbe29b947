/** Types of sge.mjs (plain JS so the benchmarks can import it too). */
export interface TestSge {
  /** The private SGE_ROOT (cell `default`). */
  readonly root: string;
  /** SGE_ROOT, SGE_CELL and the ports: client commands need them. */
  readonly env: NodeJS.ProcessEnv;
  readonly host: string;
  cmd(program: string, args: string[]): Promise<string>;
  queue(): Promise<string[]>;
  pids(): number[];
  log(): string;
  stop(): Promise<void>;
}
export function sgeMissing(): string | undefined;
export function startSge(options?: { probe?: boolean; slots?: number }): Promise<TestSge>;
