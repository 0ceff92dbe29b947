/** Pings this often keep a quiet connection open through proxies (nginx drops after 60 s). */
export const DEFAULT_HEARTBEAT_MS = 20_000;
/** How long a daemon waits for TCP, TLS and the HTTP upgrade together. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
