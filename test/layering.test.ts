import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root } from './helpers.js';

/**
 * The layering of DESIGN.md §3: everything below the checker (the IR, the passes, the
 * runtime and code generation) reads the resolved model (src/model) and never the front end,
 * so the IR is closed: a back end needs nothing from the checker or the parser.
 */
const below = ['ir', 'passes', 'runtime', 'codegen', 'stages', 'offload'];
const frontEnd = ['checker', 'parser', 'lsp', 'cli'];
const src = join(root, 'src');

function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : /\.(ts|mts)$/.test(f) ? [p] : [];
  });
}

/** Relative module specifiers of static imports, re-exports and dynamic imports. */
function importsOf(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) found.push(m[1]!);
  return found;
}

describe('layering', () => {
  it('finds static, type-only, re-exported and dynamic imports', () => {
    const text = `import a from './a.js';\nimport type { B } from "../b.js";\nexport { c } from './c.js';\nconst d = await import('../d.js');\nimport './e.js';`;
    expect(importsOf(text)).toEqual(['./a.js', '../b.js', './c.js', '../d.js', './e.js']);
  });

  it.each(below)('nothing under src/%s imports the front end (checker, parser, lsp, cli)', (layer) => {
    const offending: string[] = [];
    for (const file of files(join(src, layer))) {
      for (const spec of importsOf(readFileSync(file, 'utf8'))) {
        const target = relative(src, resolve(dirname(file), spec)).split(/[\\/]/)[0]!;
        if (frontEnd.includes(target)) offending.push(`${relative(root, file)} imports ${spec}`);
      }
    }
    expect(offending).toEqual([]);
  });

  it('moec/runtime is browser-safe: no static import of a Node module anywhere it reaches', () => {
    const seen = new Set<string>();
    const offending: string[] = [];
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, 'utf8');
      // Static imports and re-exports only: a dynamic import runs only on the path that needs it.
      for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?\bfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]/gm)) {
        const spec = (m[1] ?? m[2])!;
        if (/^import\s+type\b|^export\s+type\b/.test(m[0].trim())) continue;
        if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
        else if (spec.startsWith('node:') || ['fs', 'path', 'os', 'url', 'child_process'].includes(spec)) offending.push(`${relative(root, file)} imports ${spec}`);
      }
    };
    visit(join(src, 'runtime', 'webgpu', 'index.ts'));
    expect(seen.size).toBeGreaterThan(10);
    expect(offending).toEqual([]);
  });
});
