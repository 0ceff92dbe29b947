// workerpool's worker (process mode) for the placement benchmark: a trivial task.
const workerpool = require('workerpool');
workerpool.worker({ one: () => 1 });
