#!/usr/bin/env node
// The `moec` command: runs the compiled CLI (build with `npm run build`).
import '../dist/cli/main.js';
