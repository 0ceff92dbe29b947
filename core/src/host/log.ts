/** How the host side of a profile reports what it does: a log function and its default. */

/** A log line from the host side of a profile. */
export type LogFunction = (level: 'info' | 'warn', message: string) => void;

/** The default log: warnings to stderr. */
export const defaultLog: LogFunction = (level, message) => {
  if (level === 'warn') process.stderr.write(`[mirai-ts] ${message}\n`);
};
