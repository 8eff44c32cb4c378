import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root } from './helpers.js';
import { gpuSuiteTitle, openTestDevice } from './support/webgpu.js';

/** examples/app/node.mjs, as the README tells a user to run it. (The page is tested in browser.test.ts.) */
const gpu = await openTestDevice();

describe.skipIf(!gpu)(gpuSuiteTitle('examples/app', gpu), () => {
  it('node.mjs compiles the example, imports the generated module and runs it', () => {
    const r = spawnSync(process.execPath, [join(root, 'examples', 'app', 'node.mjs')], { encoding: 'utf8', cwd: root, timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^mixtral_8x7b: 1 token -> y\[0\.\.3\] = .*\nmixtral_8x7b: 16 tokens -> .*\nmixtral_8x7b: 64 tokens -> .*\n$/);
  });
});
