// piscina's task for the thread peer benchmarks: a trivial value, or the payload moved back.
import { move } from 'piscina';

export default function task(message) {
  if (message !== null && typeof message === 'object' && message.x !== undefined) return move(message.x);
  return 1;
}
