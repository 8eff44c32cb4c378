import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import type { Browser } from 'playwright-core';

/**
 * A real browser for tests: Debian's Chromium, driven by playwright-core, with WebGPU on
 * (Chromium's own software adapter when there is no GPU). `openBrowser()` gives undefined when
 * this machine has no Chromium, so a suite can skip; under CI=true that is a failure (.ci/run
 * installs the package).
 */

export const CHROMIUM = process.env.MOEC_CHROMIUM ?? '/usr/bin/chromium';

/** Flags for a headless run on a machine with a closed network (DESIGN.md §5). */
const FLAGS = ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

export let browserSkipReason = '';

export async function openBrowser(): Promise<Browser | undefined> {
  if (!existsSync(CHROMIUM)) {
    const why = `no Chromium at ${CHROMIUM} (Debian: apt-get install chromium; or set MOEC_CHROMIUM)`;
    if (process.env.CI === 'true') throw new Error(`CI=true and the browser tests cannot run: ${why}`);
    browserSkipReason = `skipping browser tests: ${why}`;
    console.warn(browserSkipReason);
    return undefined;
  }
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
}

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.json': 'application/json',
  '.wgsl': 'text/plain',
  '.safetensors': 'application/octet-stream',
};

/** A static file server on 127.0.0.1 (a secure context, which WebGPU needs) for files under `root`. */
export async function serveStatic(root: string, pages: Record<string, string> = {}): Promise<{ url: string; server: Server; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(path);
    if (path in pages) return void res.writeHead(200, { 'content-type': 'text/html' }).end(pages[path]);
    const file = normalize(join(root, path));
    if (!file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, requests };
}
