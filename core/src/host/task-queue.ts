/**
 * FIFO queue with O(1) push, shift and remove (removal leaves a hole that shift skips).
 */
export class TaskQueue<T extends object> {
  private items: (T | undefined)[] = [];
  private head = 0;
  private readonly positions = new Map<T, number>();

  /** Number of tasks waiting. */
  get size(): number {
    return this.positions.size;
  }

  push(item: T): void {
    this.positions.set(item, this.offset + this.items.length);
    this.items.push(item);
  }

  /** Puts `item` at the front (a task handed back after its daemon was lost). */
  unshift(item: T): void {
    if (this.head > 0) {
      this.head--;
      this.items[this.head] = item;
    } else {
      // Rare: shifting the array keeps every absolute position once the offset moves too.
      this.items.unshift(item);
      this.offset--;
    }
    this.positions.set(item, this.offset + this.head);
  }

  shift(): T | undefined {
    while (this.head < this.items.length) {
      const item = this.items[this.head];
      this.items[this.head] = undefined;
      this.head++;
      if (item !== undefined) {
        this.positions.delete(item);
        this.compact();
        return item;
      }
    }
    return undefined;
  }

  /** Removes `item` if queued; returns whether it was. */
  remove(item: T): boolean {
    const position = this.positions.get(item);
    if (position === undefined) return false;
    this.positions.delete(item);
    this.items[position - this.offset] = undefined;
    return true;
  }

  /** Empties the queue, returning what was in it, in order. */
  drainAll(): T[] {
    const out: T[] = [];
    for (let item = this.shift(); item !== undefined; item = this.shift()) out.push(item);
    return out;
  }

  /** Absolute index of items[0]: positions stay valid across compactions. */
  private offset = 0;

  private compact(): void {
    if (this.head < 1024 || this.head * 2 < this.items.length) return;
    this.items = this.items.slice(this.head);
    this.offset += this.head;
    this.head = 0;
  }
}
