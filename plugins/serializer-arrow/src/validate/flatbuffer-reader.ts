/**
 * A bounds-checked reader of flatbuffer tables, for metadata a peer sent.
 *
 * The flatbuffers runtime Arrow uses reads past the end of its buffer without complaint
 * (an out-of-range byte reads as 0) and trusts every vector length, so a forged length makes
 * Arrow build arrays of billions of entries. This reader checks every offset and vector
 * length against the bytes actually there, and counts the tables it visits: vectors may point
 * many times at one shared table, so a few hundred bytes can describe an exponentially large
 * tree unless visits are bounded.
 */

import { DeserializationError } from '@mirai-ts/core';

/** Refuses bytes that do not hold what they claim: the task that carried them fails, nothing else. */
export function invalid(message: string): never {
  throw new DeserializationError(message);
}

/** Deepest nesting of fields accepted (Arrow's own writers never come close). */
export const MAX_DEPTH = 64;

export class FlatbufferReader {
  private readonly view: DataView;
  private visits = 0;
  /** Every legitimately written table takes at least 4 bytes of the buffer. */
  private readonly maxVisits: number;

  constructor(
    readonly bytes: Uint8Array,
    private readonly what: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.maxVisits = Math.floor(bytes.byteLength / 4) + 1;
  }

  /** The root table (offset at byte 0). */
  root(): Table {
    return this.table(this.indirect(0));
  }

  fail(message: string): never {
    return invalid(`${this.what}: ${message}`);
  }

  private need(at: number, size: number): void {
    if (!(at >= 0 && at + size <= this.bytes.byteLength)) {
      this.fail(`reference to bytes ${at}–${at + size} outside its ${this.bytes.byteLength} bytes`);
    }
  }

  u8(at: number): number {
    this.need(at, 1);
    return this.view.getUint8(at);
  }
  i16(at: number): number {
    this.need(at, 2);
    return this.view.getInt16(at, true);
  }
  u16(at: number): number {
    this.need(at, 2);
    return this.view.getUint16(at, true);
  }
  i32(at: number): number {
    this.need(at, 4);
    return this.view.getInt32(at, true);
  }
  /** An int64 as a number; values beyond 2^53 lose precision but stay huge, which is all checks need. */
  i64(at: number): number {
    this.need(at, 8);
    return Number(this.view.getBigInt64(at, true));
  }

  /** Follows the uoffset stored at `at`. */
  indirect(at: number): number {
    const target = at + this.view.getUint32((this.need(at, 4), at), true);
    this.need(target, 4);
    return target;
  }

  table(at: number): Table {
    if (++this.visits > this.maxVisits) this.fail(`more tables referenced than ${this.bytes.byteLength} bytes can hold`);
    const vtable = at - this.i32(at);
    const vtableSize = this.u16(vtable);
    if (vtableSize < 4 || vtableSize % 2 !== 0) this.fail(`vtable of ${vtableSize} bytes`);
    this.need(vtable, vtableSize);
    const tableSize = this.u16(vtable + 2);
    this.need(at, Math.max(tableSize, 4));
    return new Table(this, at, vtable, vtableSize, tableSize);
  }

  /** A vector of `elementSize`-byte elements at the uoffset stored at `at`: its first element and length. */
  vector(at: number, elementSize: number): { start: number; length: number } {
    const target = this.indirect(at);
    const length = this.view.getUint32(target, true);
    const start = target + 4;
    if (length * elementSize > this.bytes.byteLength - start) {
      this.fail(`a vector claims ${length} elements of ${elementSize} bytes but only ${this.bytes.byteLength - start} bytes follow`);
    }
    return { start, length };
  }
}

/** One table: reads its fields by index, each checked to lie inside the table and the buffer. */
export class Table {
  constructor(
    readonly reader: FlatbufferReader,
    readonly at: number,
    private readonly vtable: number,
    private readonly vtableSize: number,
    private readonly tableSize: number,
  ) {}

  /** Absolute position of field `id`, or undefined when absent. */
  private field(id: number, size: number): number | undefined {
    const slot = 4 + 2 * id;
    if (slot + 2 > this.vtableSize) return undefined;
    const offset = this.reader.u16(this.vtable + slot);
    if (offset === 0) return undefined;
    if (offset + size > this.tableSize) this.reader.fail(`field ${id} lies outside its table`);
    return this.at + offset;
  }

  has(id: number): boolean {
    return this.field(id, 1) !== undefined;
  }
  bool(id: number, fallback = false): boolean {
    const at = this.field(id, 1);
    return at === undefined ? fallback : this.reader.u8(at) !== 0;
  }
  u8(id: number, fallback = 0): number {
    const at = this.field(id, 1);
    return at === undefined ? fallback : this.reader.u8(at);
  }
  i16(id: number, fallback = 0): number {
    const at = this.field(id, 2);
    return at === undefined ? fallback : this.reader.i16(at);
  }
  i32(id: number, fallback = 0): number {
    const at = this.field(id, 4);
    return at === undefined ? fallback : this.reader.i32(at);
  }
  i64(id: number, fallback = 0): number {
    const at = this.field(id, 8);
    return at === undefined ? fallback : this.reader.i64(at);
  }
  table(id: number): Table | undefined {
    const at = this.field(id, 4);
    return at === undefined ? undefined : this.reader.table(this.reader.indirect(at));
  }
  /** Checks a string's length against the buffer (its contents are not needed). */
  string(id: number): void {
    const at = this.field(id, 4);
    if (at !== undefined) this.reader.vector(at, 1);
  }
  /** A vector of tables. */
  tables(id: number): Table[] {
    const at = this.field(id, 4);
    if (at === undefined) return [];
    const { start, length } = this.reader.vector(at, 4);
    const out: Table[] = [];
    for (let i = 0; i < length; i++) out.push(this.reader.table(this.reader.indirect(start + 4 * i)));
    return out;
  }
  /** A vector of structs or scalars: where it starts and how many elements it has. */
  vector(id: number, elementSize: number): { start: number; length: number } {
    const at = this.field(id, 4);
    return at === undefined ? { start: 0, length: 0 } : this.reader.vector(at, elementSize);
  }
}
