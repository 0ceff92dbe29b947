// Bare Node child for the startup limit and the bare-RSS reference: dial the host's Unix
// socket and idle until the host hangs up. CommonJS and no imports on purpose: this is the
// floor a daemon's start-up is compared with.
//   node dial.cjs <socket path>
const socket = require('node:net').connect(process.argv[2]);
socket.on('close', () => process.exit(0));
socket.on('error', () => process.exit(1));
