/**
 * Objects kept alive for the life of the process, one per class that is made for every task
 * and never outlives it: V8 holds the shapes ("maps") an object takes on as its fields are added
 * only weakly, so a full GC that finds no object of the class alive frees them. The next object
 * of the class then builds each shape again in the runtime, and code optimized for the old ones
 * is thrown away; a kept one holds its whole chain of shapes. Measured on Node 20: after a full
 * GC with no task alive, `new HostTask` took 25-50 µs instead of 1, and a daemon's next task
 * 25 µs more (a thread daemon whose tasks move 100 MB collects every second task).
 */
const kept: object[] = [];

/** Keeps `exemplar` (made once, at load, never used) alive, and with it its class's shapes. */
export function keepShapeOf(exemplar: object): void {
  kept.push(exemplar);
}
