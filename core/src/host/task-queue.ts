/**
 * Queue with O(1) push, shift, pop and remove (removal leaves a hole that shift and pop skip). Each
 * item carries its own position (`queuePosition`, -1 when not queued), so a million queued
 * tasks cost a slot each and no side table.
 */
export interface Queueable {
  /** Absolute position while queued; -1 otherwise. Owned by the queue. */
  queuePosition: number;
}

export class TaskQueue<T extends Queueable> {
  private items: (T | undefined)[] = [];
  private head = 0;
  private count = 0;
  /** Absolute position of items[0]: positions stay valid across compactions. */
  private offset = 0;

  /** Number of tasks waiting. */
  get size(): number {
    return this.count;
  }

  push(item: T): void {
    item.queuePosition = this.offset + this.items.length;
    this.items.push(item);
    this.count++;
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
    item.queuePosition = this.offset + this.head;
    this.count++;
  }

  shift(): T | undefined {
    while (this.head < this.items.length) {
      const item = this.items[this.head];
      this.items[this.head] = undefined;
      this.head++;
      if (item !== undefined) {
        item.queuePosition = -1;
        this.count--;
        this.compact();
        return item;
      }
    }
    return undefined;
  }

  /** Takes the item pushed last (LIFO), or undefined when empty. */
  pop(): T | undefined {
    while (this.items.length > this.head) {
      const item = this.items.pop();
      if (item !== undefined) {
        item.queuePosition = -1;
        this.count--;
        return item;
      }
    }
    return undefined;
  }

  /** Whether `item` is queued here (an item belongs to at most one queue at a time). */
  has(item: T): boolean {
    return item.queuePosition >= 0;
  }

  /** Removes `item` if queued; returns whether it was. */
  remove(item: T): boolean {
    const index = item.queuePosition - this.offset;
    if (item.queuePosition < 0 || this.items[index] !== item) return false;
    this.items[index] = undefined;
    item.queuePosition = -1;
    this.count--;
    return true;
  }

  /** Empties the queue, returning what was in it, in order. */
  drainAll(): T[] {
    const out: T[] = [];
    for (let item = this.shift(); item !== undefined; item = this.shift()) out.push(item);
    return out;
  }

  private compact(): void {
    if (this.head < 1024 || this.head * 2 < this.items.length) return;
    this.items = this.items.slice(this.head);
    this.offset += this.head;
    this.head = 0;
  }
}
