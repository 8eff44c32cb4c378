#!/usr/bin/env node
// The moec language server: `moec-lsp --stdio` (runs the compiled server; build with `npm run build`).
const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  process.stderr.write(`moec-lsp: error: Node ${process.versions.node} is too old; moec needs Node 22 or later (scripts/with-env provides one)\n`);
  process.exit(1);
}
await import('../dist/lsp/main.js');
