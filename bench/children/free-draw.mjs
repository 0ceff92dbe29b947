// One free-placement round trip of one system, in a process of its own (placements.mjs):
// `node free-draw.mjs <ours|limit|threads|piscina|workerpool>` prints its figures as JSON.
import { freeDraw } from '../placements.mjs';

const figures = await freeDraw(process.argv[2]);
process.stdout.write(`${JSON.stringify(figures)}\n`);
process.exit(0);
