/**
 * An AbortSignal that fires when the client goes away before its response is finished.
 */
import type { ServerResponse } from 'node:http';

/** Reason given to the signal, and so to the task's `CancelledError`. */
export const CLIENT_GONE = 'the HTTP client disconnected';

/**
 * Aborts when `res` closes before it was fully written: the client disconnected (or the
 * socket was destroyed). A response that finished normally never aborts the signal.
 */
export function disconnectSignal(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  // 'close' fires after 'finish' for a completed response too; writableFinished tells them apart.
  const onClose = (): void => {
    if (!res.writableFinished) controller.abort(CLIENT_GONE);
  };
  if (res.destroyed || res.socket?.destroyed) controller.abort(CLIENT_GONE);
  else res.once('close', onClose);
  return controller.signal;
}
