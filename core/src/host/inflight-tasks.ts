import type { HostTask } from './host-task.js';

/**
 * The tasks sent to one daemon and not answered yet, in the order they were sent. A daemon runs
 * its tasks one after another and answers in that order, so the answered task is nearly always
 * the first: finding and removing it is one comparison. A daemon that answers out of order
 * (a bug, or a hostile peer) is still served, by a scan of the few tasks it holds.
 *
 * A ring, not a Map keyed by task id: a Map emptied by a delete shrinks into a freshly allocated
 * table, about 150 B of garbage per task when one task at a time is in flight.
 */
export class InflightTasks {
  /** Power-of-two capacity, grown by doubling; the tasks are at head, head+1, ... (mod length). */
  #ring: (HostTask | undefined)[] = [undefined, undefined, undefined, undefined];
  #head = 0;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** Adds a task just sent (after every task sent before it). */
  add(task: HostTask): void {
    if (this.#size === this.#ring.length) this.#grow();
    this.#ring[(this.#head + this.#size) & (this.#ring.length - 1)] = task;
    this.#size++;
  }

  /** The task sent first and not answered yet. */
  first(): HostTask | undefined {
    return this.#size === 0 ? undefined : this.#ring[this.#head];
  }

  has(id: number): boolean {
    return this.#indexOf(id) >= 0;
  }

  /** Removes the task with this id and returns it; undefined if no such task is in flight. */
  take(id: number): HostTask | undefined {
    const at = this.#indexOf(id);
    if (at < 0) return undefined;
    const ring = this.#ring;
    const mask = ring.length - 1;
    const task = ring[(this.#head + at) & mask];
    if (at === 0) {
      ring[this.#head] = undefined;
      this.#head = (this.#head + 1) & mask;
    } else {
      // Out of order: the tasks sent after it move up one place, keeping the sending order.
      for (let i = at; i < this.#size - 1; i++) ring[(this.#head + i) & mask] = ring[(this.#head + i + 1) & mask];
      ring[(this.#head + this.#size - 1) & mask] = undefined;
    }
    this.#size--;
    return task;
  }

  /** The tasks in the order they were sent, as a new array (safe to change the set while using it). */
  values(): HostTask[] {
    const out = new Array<HostTask>(this.#size);
    for (let i = 0; i < this.#size; i++) out[i] = this.#ring[(this.#head + i) & (this.#ring.length - 1)]!;
    return out;
  }

  /** Their ids, in the order they were sent. */
  ids(): number[] {
    return this.values().map((t) => t.id);
  }

  /**
   * Removes the tasks sent after the one with this id and returns them, in the order they were
   * sent; none when no task has this id. For a daemon's Final answer: a daemon runs its tasks in
   * the order they were sent and starts none after its Final one, so these never ran.
   */
  takeSentAfter(id: number): HostTask[] {
    const at = this.#indexOf(id);
    if (at < 0) return [];
    const ring = this.#ring;
    const mask = ring.length - 1;
    const later: HostTask[] = [];
    for (let i = at + 1; i < this.#size; i++) {
      const slot = (this.#head + i) & mask;
      later.push(ring[slot]!);
      ring[slot] = undefined;
    }
    this.#size = at + 1;
    return later;
  }

  /** Removes every task and returns them, in the order they were sent. */
  takeAll(): HostTask[] {
    const all = this.values();
    this.clear();
    return all;
  }

  clear(): void {
    this.#ring.fill(undefined);
    this.#head = 0;
    this.#size = 0;
  }

  #indexOf(id: number): number {
    const ring = this.#ring;
    const mask = ring.length - 1;
    for (let i = 0; i < this.#size; i++) if (ring[(this.#head + i) & mask]!.id === id) return i;
    return -1;
  }

  #grow(): void {
    const tasks = this.values();
    this.#ring = new Array<HostTask | undefined>(this.#ring.length * 2).fill(undefined);
    for (let i = 0; i < tasks.length; i++) this.#ring[i] = tasks[i];
    this.#head = 0;
  }
}
