#!/usr/bin/env node
// The daemon command: see `mirai-daemon --help`.
import '../dist/daemon-main.js';
