/**
 * An AbortSignal that fires when the client goes away before its response is finished.
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** Reason given to the signal, and so to the task's `CancelledError`. */
export const CLIENT_GONE = 'the HTTP client disconnected';

/**
 * Aborts when the client disconnects (or the socket is destroyed) before `res` was fully
 * written. A response that finished normally never aborts the signal.
 */
export function disconnectSignal(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  // A pipelined request's response waits behind the ones before it on the same socket and has
  // no res.socket until they are written: if the client leaves meanwhile, that response never
  // emits 'close'. The socket the request came on does, so it is watched too.
  const socket = res.req?.socket ?? res.socket;
  if (res.destroyed || socket?.destroyed || res.socket?.destroyed) {
    controller.abort(CLIENT_GONE);
    return controller.signal;
  }
  // 'close' fires after 'finish' for a completed response too; writableFinished tells them apart.
  const onClose = (): void => {
    stop();
    if (!res.writableFinished) controller.abort(CLIENT_GONE);
  };
  const unwatch = socket ? whenClosed(socket, onClose) : () => undefined;
  // Once the response is written (or closed) there is nothing to cancel: stop watching, or a
  // keep-alive socket would keep a callback for every response it ever served.
  const stop = (): void => {
    res.off('close', onClose);
    res.off('finish', stop);
    unwatch();
  };
  res.once('close', onClose);
  res.once('finish', stop);
  return controller.signal;
}

/** What to call when a socket closes, for the responses still waiting on it. */
interface Watch {
  readonly callbacks: Set<() => void>;
  readonly onClose: () => void;
}
const watches = new WeakMap<Socket, Watch>();

/**
 * Calls `callback` when `socket` closes; returns what cancels that. A socket gets one 'close'
 * listener however many responses wait on it (a listener each would trip Node's
 * MaxListenersExceededWarning once a client pipelines ten requests), removed when none does.
 */
function whenClosed(socket: Socket, callback: () => void): () => void {
  let watch = watches.get(socket);
  if (watch === undefined) {
    const callbacks = new Set<() => void>();
    const onClose = (): void => {
      watches.delete(socket);
      for (const call of callbacks) call();
    };
    watch = { callbacks, onClose };
    watches.set(socket, watch);
    socket.once('close', onClose);
  }
  const { callbacks, onClose } = watch;
  callbacks.add(callback);
  return () => {
    callbacks.delete(callback);
    if (callbacks.size === 0 && watches.get(socket) === watch) {
      watches.delete(socket);
      socket.off('close', onClose);
    }
  };
}
