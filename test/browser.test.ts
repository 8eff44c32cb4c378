import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { initWeights } from '../src/runtime/init-weights.js';
import { readSafetensors, writeSafetensors } from '../src/runtime/safetensors.js';
import { examplesDir, readExample, root } from './helpers.js';
import { browserSkipReason, openBrowser, serveStatic } from './support/browser.js';
import { compileText, randomInput, relativeL2, run } from './support/model.js';
import { small } from './support/small.js';

/**
 * The generated module in a real browser: a page served on 127.0.0.1 maps `moec/runtime` to
 * this checkout's dist/ with an import map, imports MODEL.js, loads the weights over HTTP and
 * runs forward on the browser's WebGPU adapter; the result must match the CPU reference. The
 * default (gpu) schedule needs no subgroups, so it runs on any adapter, SwiftShader's included.
 */
const browser = await openBrowser();
mkdirSync(join(root, 'out'), { recursive: true });
const dir = mkdtempSync(join(root, 'out', 'browser-test-'));
afterAll(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8">
<script type="importmap">{ "imports": { "moec/runtime": "/dist/runtime/webgpu/index.js" } }</script>
<script type="module">
  // What an application page does: import the generated module, load, run, dispose.
  window.runModel = async ({ base, name, xs }) => {
    const mod = await import(\`\${base}/\${name}.js\`);
    const events = [];
    const m = await mod.load(\`\${base}/weights.safetensors\`, { onProgress: (p) => events.push(p.loadedBytes) });
    const ys = [];
    for (const x of xs) ys.push(Array.from(await m.forward(new Float32Array(x))));
    const tooWide = await m.forward(new Float32Array(3)).then(() => 'accepted', (e) => e.code);
    m.dispose();
    return { ys, events: events.length, lastLoaded: events.at(-1), tooWide, info: mod.info };
  };
</script>
</head><body>moec browser test</body></html>`;

interface PageResult {
  ys: number[][];
  events: number;
  lastLoaded: number;
  tooWide: string;
  info: { name: string; width: number; maxTokens: number };
}

describe.skipIf(!browser)(browser ? 'the generated module in headless Chromium (WebGPU)' : browserSkipReason, () => {
  it.each(['mixtral-8x7b.moe', 'deepseek-v3.moe'])('%s loads its weights over HTTP and matches the CPU reference', async (name) => {
    const overrides = small[name]!;
    const out = join(dir, name.replace('.moe', ''));
    const sets = Object.entries(overrides).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
    const compiled = spawnSync(process.execPath, [join(root, 'bin', 'moec.js'), 'compile', join(examplesDir, name), ...sets, '--max-tokens', '32', '-o', out], { encoding: 'utf8' });
    expect(compiled.status, compiled.stderr).toBe(0);
    const { model, graph } = compileText(readExample(name), overrides);
    writeFileSync(join(out, 'weights.safetensors'), writeSafetensors(initWeights(graph, 3)));
    const weights = new Map([...readSafetensors(readFileSync(join(out, 'weights.safetensors')))].map(([n, s]) => [n, s.tensor]));

    const site = await serveStatic(root, { '/index.html': PAGE });
    const page = await browser!.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    try {
      await page.goto(`${site.url}/index.html`);
      const base = `/${relative(root, out).split('\\').join('/')}`;
      const xs = [1, 5, 32].map((t) => randomInput(t, model.width, t));
      await page.waitForFunction(() => 'runModel' in globalThis);
      const result = await page.evaluate((args) => (globalThis as unknown as { runModel: (a: typeof args) => Promise<PageResult> }).runModel(args), {
        base,
        name: model.name,
        xs: xs.map((x) => Array.from(x.data)),
      });
      expect(errors).toEqual([]);
      expect(result.info).toMatchObject({ name: model.name, width: model.width, maxTokens: 32 });
      expect(result.events).toBe(graph.params.length);
      expect(result.lastLoaded).toBe(readFileSync(join(out, 'weights.safetensors')).length);
      expect(result.tooWide).toBe('input');
      for (const [i, x] of xs.entries()) expect(relativeL2(Float32Array.from(result.ys[i]!), run(graph, weights, { x }))).toBeLessThan(1e-5);
      // The page fetched the module, its program, the runtime from dist/ and the weights, and nothing from a Node path.
      expect(site.requests).toEqual(expect.arrayContaining([`${base}/${model.name}.js`, `${base}/${model.name}.program.json`, '/dist/runtime/webgpu/index.js', `${base}/weights.safetensors`]));
    } finally {
      await page.close();
      site.server.close();
    }
  });

  it('examples/app/index.html runs the compiled example in the page', async () => {
    const { prepare } = (await import(pathToFileURL(join(root, 'examples', 'app', 'prepare.mjs')).href)) as { prepare: () => void };
    prepare();
    const site = await serveStatic(root);
    const page = await browser!.newPage();
    try {
      await page.goto(`${site.url}/examples/app/index.html`);
      await page.waitForFunction(() => /done|error/.test((globalThis as unknown as { document: { getElementById(id: string): { textContent: string } } }).document.getElementById('log').textContent), undefined, { timeout: 120_000 });
      const log = await page.textContent('#log');
      expect(log).toMatch(/mixtral_8x7b: 1 token -> y\[0\.\.3\] = -?\d+\.\d{4}, [^]*16 tokens[^]*done/);
    } finally {
      await page.close();
      site.server.close();
    }
  });
});
