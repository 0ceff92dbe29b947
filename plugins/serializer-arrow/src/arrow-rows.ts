/**
 * Rows of an Arrow Table as plain JavaScript values, for `miraiMap()` over a table.
 *
 * Arrow's rows are proxies (StructRow) that V8 cannot serialize; each row becomes a plain
 * object, nested struct cells plain objects, map cells `Map`s and list cells arrays (typed
 * arrays for numeric lists without nulls).
 */
import { DataType, MapRow, RecordBatch, StructRow, Table, Vector } from 'apache-arrow';

/** One plain object per row, in order. */
export function arrowRows(value: Table | RecordBatch): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = new Array(value.numRows);
  let i = 0;
  for (const row of value) out[i++] = plain(row) as Record<string, unknown>;
  return out;
}

function plain(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (value instanceof MapRow) {
    const map = new Map<unknown, unknown>();
    for (const [k, v] of value as Iterable<[unknown, unknown]>) map.set(plain(k), plain(v));
    return map;
  }
  if (value instanceof StructRow) {
    const json = (value as unknown as { toJSON(): Record<string, unknown> }).toJSON();
    for (const key of Object.keys(json)) json[key] = plain(json[key]);
    return json;
  }
  if (value instanceof Vector) {
    // Numeric lists without nulls stay typed arrays; anything else is read value by value
    // (toArray() would drop nulls and give raw storage for dates and decimals).
    if (value.nullCount === 0 && (DataType.isInt(value.type) || DataType.isFloat(value.type))) return value.toArray();
    return Array.from(value as Iterable<unknown>, plain);
  }
  return value;
}
