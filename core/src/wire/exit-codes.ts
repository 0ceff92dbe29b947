/** Exit codes of a daemon process (0–3 as in mirai's daemon()). */
export const DaemonExit = {
  /** The connection to the host ended (or the host said Exit). */
  ConnectionEnded: 0,
  /** No task arrived within `idletime`. */
  IdleTime: 1,
  /** `walltime` passed. */
  WallTime: 2,
  /** `maxtasks` tasks were run. */
  MaxTasks: 3,
  /** The host rejected the daemon's secret, or failed to prove its own. */
  AuthFailed: 10,
  /** The host speaks another protocol version or sent garbage. */
  ProtocolError: 11,
  /** The host could not be reached. */
  ConnectFailed: 12,
  /** Invalid command-line options. */
  BadOptions: 13,
} as const;
export type DaemonExit = (typeof DaemonExit)[keyof typeof DaemonExit];

const descriptions: Record<number, string> = {
  0: 'daemon connection terminated',
  1: 'idletime reached',
  2: 'walltime reached',
  3: 'task limit reached',
  10: 'authentication failed',
  11: 'protocol error',
  12: 'could not connect to the host',
  13: 'invalid options',
};

/** `'3 | task limit reached'`, as mirai's nextcode(). */
export function describeExitCode(code: number): string {
  return `${code} | ${descriptions[code] ?? 'unknown'}`;
}
