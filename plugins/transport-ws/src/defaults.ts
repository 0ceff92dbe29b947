/** Pings this often keep a quiet connection open through proxies (nginx drops after 60 s). */
export const DEFAULT_HEARTBEAT_MS = 20_000;
/**
 * A peer that owes nothing (a daemon with no task) and stays silent through this many
 * heartbeats is lost: its WebSocket answers pings by itself, so silence means the path is gone.
 */
export const SILENT_HEARTBEATS = 3;
/**
 * How long a peer that may be busy stays connected without a sign of life: a daemon running
 * a task (synchronous code blocks its event loop, and with it the pongs), and, seen from a
 * daemon, the host (it may be busy in the application's own code).
 */
export const DEFAULT_BUSY_TIMEOUT_MS = 30 * 60_000;
/** How long a daemon waits for TCP, TLS and the HTTP upgrade together. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
