import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { root } from './helpers.js';

/** The CLI as a user runs it: the built bin/moec.js in a child process (npm test builds first). */
function moec(...args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'moec.js'), ...args], { encoding: 'utf8', cwd: root });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const dir = mkdtempSync(join(tmpdir(), 'moec-simulate-'));
function file(name: string, data: string | Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, data);
  return path;
}

/** Two MoE layers of 4 experts of 3 * 64 * 128 params (f32: 96 KiB each); top-2. */
const model = (offload = '') => `model tiny {
  dims { hidden = 64, ffn = 128 }
  expert e = swiglu(hidden -> ffn -> hidden)
  block moe {
    router gate = linear(hidden -> 4) | softmax | topk(2)
    experts e x 4
  }
  layers 2 { x = x + moe(x) }${offload}
}
`;
const plain = file('plain.moe', model());
// 500 KiB holds the routers (2 * 64 * 4 * 4 B = 2 KiB) and 5 experts of 96 KiB: 2 per layer.
const budgeted = file('budgeted.moe', model('\n  offload { budget = 500 KiB, cache = lfu }'));

const meta = '{"meta": {"model": "tiny", "experts": 4, "k": 2, "phase": "decode", "moe_layers": [0, 1]}}';
const requests = [
  '{"request": 1, "tokens": [[[0, 1], [2, 3]], [[0, 2], [2, 3]], [[1, 3], [0, 1]]]}',
  '{"request": 2, "tokens": [[[0, 1], [2, 3]], [[0, 1], [2, 3]]]}',
];
const trace = file('trace.jsonl.gz', gzipSync(`${[meta, ...requests].join('\n')}\n`));

describe('moec simulate', () => {
  it('prints one JSON object with the slots and every policy, lru and belady among them', () => {
    const r = moec('simulate', plain, '--trace', trace, '--slots', '2', '--format', 'json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { slots: number; policies: Record<string, unknown>[] };
    expect(Object.keys(out)).toEqual(['slots', 'policies']);
    expect(out.slots).toBe(2);
    const names = out.policies.map((p) => p['name']);
    expect(names).toEqual(['lru', 'lfu', 'score', 'prefetch', 'prefetch-greedy', 'prefetch+degrade', 'lru+degrade', 'admit+degrade', 'belady']);
    // The five fields first, then the counts behind them.
    for (const p of out.policies) {
      expect(Object.keys(p)).toEqual(['name', 'hitRate', 'bytesMoved', 'stallSeconds', 'tokensPerSecond', 'tokens', 'accesses', 'hits', 'degraded', 'degradedTokens', 'prefetches', 'usefulPrefetches', 'latePrefetches']);
      expect(p['hitRate']).toBe((p['hits'] as number) / (p['accesses'] as number));
      expect(p['tokens']).toBe(5);
      expect(p['accesses']).toBe(20);
      // Only a policy that degrades on a miss runs copies, on misses only (lru+degrade on every one;
      // admit+degrade waits while its pool has a free slot).
      const misses = 20 - (p['hits'] as number);
      if (p['name'] === 'lru+degrade') expect(p['degraded']).toBe(misses);
      else if (String(p['name']).endsWith('+degrade')) expect(p['degraded']).toBeLessThanOrEqual(misses);
      else expect(p['degraded']).toBe(0);
      if (!String(p['name']).startsWith('prefetch')) expect(p['prefetches']).toBe(0);
    }
    // Request 1, layer 0: 0 1 | 0 2 | 1 3 with 2 slots (lru): m m h m m m; layer 1: m m h h m m.
    // Request 2: layer 0 m m h h, layer 1 m m h h. 7 hits in 20 accesses.
    const lru = out.policies[0]!;
    expect(lru['hitRate']).toBe(7 / 20);
    expect(lru['bytesMoved']).toBe(13 * 3 * 64 * 128 * 4);
  });

  it('sizes the pool from the offload plan, and runs the model’s own policy', () => {
    const r = moec('simulate', budgeted, '--trace', trace, '--format', 'json', '--policy', 'model');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { slots: number; policies: { name: string }[] };
    expect(out.slots).toBe(2);
    expect(out.policies.map((p) => p.name)).toEqual(['lru', 'model: lfu', 'belady']);
    expect(JSON.parse(moec('simulate', budgeted, '--trace', trace, '--format', 'json', '--budget', '300KiB').stdout).slots).toBe(1);
  });

  it('prints a table with the degraded accesses and prefetches', () => {
    const r = moec('simulate', plain, '--trace', trace, '--slots', '1', '--link', 'usb3');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^trace: tiny, decode; 2 requests, 5 tokens, 20 expert accesses\n1 slots per MoE layer; link a USB 3.2/);
    expect(r.stdout).toMatch(/\nlru +0\.\d{3} /);
    expect(r.stdout).toMatch(/\nlru\+degrade .* 1\.00x?|lru\+degrade/);
  });

  it('draws a progress bar on stderr with --progress, and none without', () => {
    const r = moec('simulate', plain, '--trace', trace, '--slots', '2', '--format', 'json', '--progress');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^\rsimulate \[[# ]{30}\] +\d+%.*100%\n$/s);
  });

  it('reads an uncompressed trace too', () => {
    const text = file('trace.jsonl', `${[meta, ...requests].join('\n')}\n`);
    const a = moec('simulate', plain, '--trace', text, '--slots', '2', '--format', 'json');
    const b = moec('simulate', plain, '--trace', trace, '--slots', '2', '--format', 'json');
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
  });

  it('needs --slots or a budget for a model without an offload block', () => {
    const r = moec('simulate', plain, '--trace', trace);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`moec: error: ${plain}: model 'tiny' declares no offload budget: give --slots N (per MoE layer) or --budget SIZE\n`);
  });

  it.each([
    ['bad JSON', [meta, requests[0], '{"request": 2, "tokens": [[[0, 1]'], 3, 'bad JSON'],
    ['an expert id out of range', [meta, requests[0], '{"request": 2, "tokens": [[[0, 4], [2, 3]]]}'], 3, "token 0, MoE layer 0: expert id 4 is out of range for the model's 4 experts"],
    ['a layer count that does not match', [meta.replace('[0, 1]', '[0, 1, 2]')], 1, 'the trace has 3 MoE layers, the model 2'],
    ['a token with too few layers', [meta, '{"request": 1, "tokens": [[[0, 1]]]}'], 2, 'token 0 has 1 MoE layers, the model 2'],
  ])('rejects %s with the line number and exit 1', (_, lines, line, message) => {
    const bad = file(`bad-${line}.jsonl.gz`, gzipSync(lines.join('\n')));
    const r = moec('simulate', plain, '--trace', bad, '--slots', '2');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^moec: error: ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${line}: ${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  });

  it('rejects a missing trace, a corrupt gzip file and unknown policies with exit 1', () => {
    expect(moec('simulate', plain, '--trace', join(dir, 'none.gz'), '--slots', '2').stderr).toContain("cannot read trace '");
    const corrupt = file('corrupt.gz', Buffer.from([0x1f, 0x8b, 1, 2, 3]));
    const c = moec('simulate', plain, '--trace', corrupt, '--slots', '2');
    expect([c.code, c.stderr.startsWith(`moec: error: cannot read trace '${corrupt}'`)]).toEqual([1, true]);
    const p = moec('simulate', plain, '--trace', trace, '--slots', '2', '--policy', 'fifo');
    expect([p.code, p.stderr]).toEqual([1, 'moec: error: unknown policy \'fifo\'; policies: model, lru, lfu, score, belady, prefetch, prefetch-greedy, prefetch+degrade, lru+degrade, admit+degrade\n']);
    expect(moec('simulate', plain, '--trace', trace, '--slots', '0').code).toBe(1);
  });
});
