// Writes docs/diagnostics.md from the code table in src/diagnostics/codes.ts.
// Run: npx tsx scripts/gen-diagnostics-doc.ts (a test fails when the file is stale).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { diagnosticsDoc } from '../src/diagnostics/doc.js';

writeFileSync(join(import.meta.dirname, '..', 'docs', 'diagnostics.md'), diagnosticsDoc());
