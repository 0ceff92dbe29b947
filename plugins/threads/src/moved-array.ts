/**
 * Frames that hold an array already moved away: with `transfer: true` a send moves a large
 * array's buffer to the peer thread, which detaches every view of it on this side. A frame
 * built before that move and sent after it cannot be sent: a task queued with the same array
 * as an earlier one, a task sent again by `retry` after its thread died, an `everywhere()`
 * frame sent to a second thread (or to each thread that joins later). A detached view has
 * no bytes left to send; writing it into the ring or packing it for `postMessage` throws
 * ("Cannot perform %TypedArray%.prototype.set on a detached ArrayBuffer").
 *
 * The channel answers such a frame itself instead (see PortChannel.send): a Task or
 * Everywhere frame with an error Result for its id, a Result with an error Result in its
 * place. The error is a SerializationError, encoded as a daemon's machinery sends one (core's
 * `errorResultPayload`), so the host rebuilds it as that class.
 */
import { errorResultPayload, FrameFlag, FrameType, frame, isDetachedView, SerializationError, type Frame } from '@mirai-ts/core/daemon';

/** Whether any of a frame's segments views a detached buffer. */
export function holdsMovedArray(f: Frame): boolean {
  for (let i = 0; i < f.segments.length; i++) if (isDetachedView(f.segments[i]!)) return true;
  return false;
}

/**
 * Why frame `f` (which {@link holdsMovedArray}) cannot be sent: the message of the
 * SerializationError its task fails with. `transfer` tells whether this channel moves arrays
 * itself (else the array was moved by the caller's own code).
 */
export function movedArrayMessage(f: Frame, transfer: boolean): string {
  const how = transfer ? 'already moved to another thread by transfer: true' : 'detached (moved to another thread or transferred) before it was sent';
  if (f.type === FrameType.Result) {
    return `the result of task ${f.id} holds a typed array ${how} (returned or sent before, by an earlier task); it was not sent. Return a copy (x.slice()), or leave transfer off`;
  }
  return (
    `task ${f.id} could not be sent: a typed array in its arguments was ${how} ` +
    '(sent before: by retry after a lost daemon, by everywhere() to another daemon, or passed to another task). ' +
    'Pass each task its own array (x.slice()), or leave transfer off'
  );
}

/**
 * The error Result that stands for frame `f`'s task (a SerializationError with `message`):
 * what the host receives in place of a Result, or from the host's own end for a Task or
 * Everywhere frame it did not send. A Final result stays Final; a chunk fails whole (as a
 * daemon's ResultTooLargeError does), so Batch is dropped.
 */
export function movedArrayResult(f: Frame, message: string): Frame {
  const flags = f.type === FrameType.Result ? (f.flags & FrameFlag.Final) | FrameFlag.Error : FrameFlag.Error;
  // The path is not known here: the channel sees bytes, not which argument held the array.
  return frame(FrameType.Result, f.id, errorResultPayload(new SerializationError(message, ''), true), flags);
}
