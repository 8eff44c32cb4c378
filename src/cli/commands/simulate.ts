import { createReadStream, openSync, readSync, closeSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { Command, InvalidArgumentError, Option } from 'commander';
import { UNITS } from '../../language/signatures.js';
import { buildGraph } from '../../ir/from-model.js';
import { planOffload } from '../../passes/plan-offload.js';
import type { ResolvedModel } from '../../model/model.js';
import { LINKS } from '../../offload/link.js';
import { offloadModel, traceShape, type OffloadModel } from '../../offload/model.js';
import { declaredPolicy, namedPolicy, POLICY_NAMES, type Policy, type PolicyContext, type PolicyName } from '../../offload/policy.js';
import type { Forecast } from '../../offload/predictor.js';
import { Replay, type PolicyResult } from '../../offload/simulate.js';
import { parseMeta, parseRequest, TraceError, type TraceMeta } from '../../offload/trace.js';
import { CliError, loadModel } from '../load.js';
import { modelOptions, type ModelOptions } from '../options.js';

/** Sources of the co-occurrence predictor: this token's 8 earlier layers, the 2 previous tokens (docs/offload.md). */
const PREDICTOR = { layerLags: 8, tokenLags: 2 };

interface SimulateOptions extends ModelOptions {
  trace: string;
  budget?: number;
  slots?: number;
  policy?: string[];
  link: string;
  deviceBandwidth: number;
  format: 'text' | 'json';
  progress?: boolean;
  coldStatistics?: boolean;
}

/** What `moec simulate --format json` prints: the issue's five fields first, then the counts behind them. */
export interface SimulateJson {
  slots: number;
  policies: Pick<PolicyResult, 'name' | 'hitRate' | 'bytesMoved' | 'stallSeconds' | 'tokensPerSecond' | 'tokens' | 'accesses' | 'hits' | 'degraded' | 'degradedTokens' | 'prefetches' | 'usefulPrefetches' | 'latePrefetches'>[];
}

export function simulateCommand(): Command {
  const cmd = new Command('simulate')
    .description("replay a routing trace against the model's offload plan: hit rate, bytes moved, stall time and modelled tokens/s per policy (docs/offload.md)")
    .argument('<file>', 'the .moe file')
    .requiredOption('--trace <T.jsonl.gz>', 'routing trace: JSON Lines, gzipped or not; a meta line, then one request per line with tokens[t][i] = expert ids at MoE layer i')
    .option('--budget <SIZE>', "device memory for weights, such as 2GiB (default: the model's offload budget); the offload plan turns it into slots", parseSize)
    .option('--slots <N>', 'expert slots per MoE layer; overrides the budget, needs no offload block', parseSlots)
    .option('--policy <NAMES>', `comma-separated policies to run beside lru and belady: ${['model', ...POLICY_NAMES].join(', ')} (default: all; model: the offload block's own)`, parseList)
    .addOption(new Option('--link <LINK>', `the link experts are loaded over: ${Object.values(LINKS).map((l) => `${l.name}: ${l.description}`).join('; ')}`).choices(Object.keys(LINKS)).default('pcie4'))
    .option('--device-bandwidth <GB/s>', 'memory bandwidth of the device running the experts; decode reads every active weight once per token', parsePositive, 200)
    .addOption(new Option('--format <format>', 'a text table on stdout, or one JSON object').choices(['text', 'json']).default('text'))
    .option('--progress', 'a progress bar on stderr (default: when stderr is a terminal)')
    .option('--cold-statistics', 'forget the learned co-occurrence counts between requests (default: keep them, as a running server would)');
  for (const o of modelOptions()) cmd.addOption(o);
  return cmd.action(async (file: string, opts: SimulateOptions) => {
    const model = loadModel(file, opts.set, opts.model);
    const offload = offloadModel(model);
    if (offload.layers.length === 0) throw new CliError(`${file}: model '${model.name}' has no MoE layers to simulate`);
    const slots = opts.slots ?? planSlots(model, opts.budget, file);
    const runs = (active: number) => policiesFor(opts.policy, model, { slots, active, layers: offload.layers.length }).map((policy) => ({ policy, slots }));
    const { meta, results } = await replayTrace(opts.trace, offload, runs, {
      link: LINKS[opts.link]!,
      deviceBandwidth: opts.deviceBandwidth * 1e9,
      coldStatistics: opts.coldStatistics === true,
      progress: opts.progress === true || process.stderr.isTTY === true,
    });
    if (opts.format === 'json') {
      const json: SimulateJson = {
        slots,
        policies: results.map((r) => ({
          name: r.name,
          hitRate: r.hitRate,
          bytesMoved: r.bytesMoved,
          stallSeconds: r.stallSeconds,
          tokensPerSecond: r.tokensPerSecond,
          tokens: r.tokens,
          accesses: r.accesses,
          hits: r.hits,
          degraded: r.degraded,
          degradedTokens: r.degradedTokens,
          prefetches: r.prefetches,
          usefulPrefetches: r.usefulPrefetches,
          latePrefetches: r.latePrefetches,
        })),
      };
      process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
      return;
    }
    process.stdout.write(textReport(meta, slots, opts, results));
  });
}

/** Slots per MoE layer from the offload plan at the given (or declared) budget. */
function planSlots(model: ResolvedModel, budget: number | undefined, file: string): number {
  const bytes = budget ?? model.offload?.budgetBytes;
  if (bytes === undefined) throw new CliError(`${file}: model '${model.name}' declares no offload budget: give --slots N (per MoE layer) or --budget SIZE`);
  const plan = planOffload({ ...model, offload: { ...offloadModel(model).policy, budgetBytes: bytes } }, buildGraph(model))!;
  if (!plan.fits || plan.cacheSlotsPerLayer === 0) {
    throw new CliError(`${file}: a budget of ${bytes} bytes leaves no expert slot per MoE layer (resident weights ${plan.residentBytes} bytes, fallback copies ${plan.fallbackBytes} bytes, one expert ${plan.expertBytes} bytes)`);
  }
  return plan.cacheSlotsPerLayer;
}

export function policiesFor(names: string[] | undefined, model: ResolvedModel, ctx: PolicyContext): Policy[] {
  const declared = offloadModel(model).policy;
  const wanted = names ?? [...(model.offload ? ['model'] : []), ...POLICY_NAMES];
  const known = ['model', ...POLICY_NAMES];
  for (const n of wanted) if (!known.includes(n)) throw new CliError(`unknown policy '${n}'; policies: ${known.join(', ')}`);
  // lru and belady are always there: the baseline and the optimum of a demand cache.
  const all = [...new Set(['lru', ...wanted.filter((n) => n !== 'lru' && n !== 'belady'), 'belady'])];
  return all.map((n) => (n === 'model' ? declaredPolicy(declared) : namedPolicy(n as PolicyName, declared, ctx)));
}

export interface ReplayOptions {
  link: (typeof LINKS)[string];
  deviceBandwidth: number;
  coldStatistics: boolean;
  progress: boolean;
}

/** One policy at one number of slots per MoE layer. */
export interface Run {
  policy: Policy;
  slots: number;
}

/**
 * Stream the trace once, line by line, replaying each request against every run (built once
 * the meta line gives the trace's k). The predictions are made once per request for all runs.
 */
export async function replayTrace(path: string, model: OffloadModel, runs: (active: number) => Run[], o: ReplayOptions): Promise<{ meta: TraceMeta; results: PolicyResult[] }> {
  const shape = traceShape(model);
  let size: number;
  try {
    size = statSync(path).size;
  } catch (err) {
    throw new CliError(`cannot read trace '${path}': ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  const raw = createReadStream(path);
  const input = isGzip(path) ? raw.pipe(createGunzip()) : raw;
  const bar = o.progress ? progressBar(size, () => raw.bytesRead) : undefined;
  let meta: TraceMeta | undefined;
  let replays: Replay[] = [];
  let forecast: Forecast | undefined;
  let lineNo = 0;
  try {
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      lineNo++;
      if (line.trim() === '') continue;
      if (!meta) {
        meta = parseMeta(line, shape, lineNo);
        // The trace's k, else the model's first router's top-k is not known here: 1 is the safe floor.
        const active = meta.k ?? 1;
        const options = { activeExperts: active, link: o.link, deviceBandwidth: o.deviceBandwidth, predictor: PREDICTOR, warmStatistics: !o.coldStatistics };
        replays = runs(active).map((r) => new Replay(model, r.policy, { ...options, slots: r.slots }));
        const depth = Math.max(0, ...replays.map((r) => r.policy.prefetch?.depth ?? 0));
        forecast = depth > 0 ? Replay.forecast(model, options, depth) : undefined;
        continue;
      }
      const request = parseRequest(line, shape, lineNo);
      forecast?.request(request.tokens);
      for (const r of replays) r.request(request, forecast);
      bar?.update();
    }
  } catch (err) {
    if (err instanceof TraceError) throw new CliError(`${path}:${err.line}: ${err.message}`);
    if ((err as { code?: string }).code?.startsWith('Z_') || (err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'EISDIR') {
      throw new CliError(`cannot read trace '${path}': ${(err as Error).message}`);
    }
    throw err;
  } finally {
    bar?.done();
  }
  if (!meta) throw new CliError(`${path}:1: the trace is empty`);
  return { meta, results: replays.map((r) => r.result()) };
}

function isGzip(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(2);
    return readSync(fd, head, 0, 2, 0) === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    closeSync(fd);
  }
}

/** A one-line bar on stderr, redrawn at most ten times a second, by compressed bytes read. */
function progressBar(total: number, read: () => number): { update(): void; done(): void } {
  let last = 0;
  const draw = () => {
    const f = total > 0 ? Math.min(1, read() / total) : 1;
    const width = 30;
    process.stderr.write(`\rsimulate [${'#'.repeat(Math.round(f * width)).padEnd(width)}] ${(f * 100).toFixed(0).padStart(3)}%`);
  };
  return {
    update() {
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      draw();
    },
    done() {
      draw();
      process.stderr.write('\n');
    },
  };
}

function textReport(meta: TraceMeta, slots: number, opts: SimulateOptions, results: PolicyResult[]): string {
  const first = results[0]!;
  const lru = results.find((r) => r.name === 'lru')!;
  const header = ['policy', 'hit rate', 'moved GB', 'stall s', 'tokens/s', 'vs lru', 'degraded accesses (tokens)', 'prefetched (useful, late)'];
  const rows = results.map((r) => [
    r.name,
    r.hitRate.toFixed(3),
    (r.bytesMoved / 1e9).toFixed(1),
    r.stallSeconds.toFixed(2),
    r.tokensPerSecond.toPrecision(3),
    `${(r.tokensPerSecond / lru.tokensPerSecond).toFixed(2)}x`,
    r.degraded ? `${((100 * r.degraded) / r.accesses).toFixed(1)} % (${((100 * r.degradedTokens) / r.tokens).toFixed(1)} %)` : '0',
    r.prefetches ? `${r.prefetches} (${r.usefulPrefetches}, ${r.latePrefetches})` : '0',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [
    `trace: ${meta.model}, ${meta.phase}; ${first.requests} requests, ${first.tokens} tokens, ${first.accesses} expert accesses`,
    `${slots} slots per MoE layer; link ${LINKS[opts.link]!.description}; device ${opts.deviceBandwidth} GB/s; tokens run one at a time (decode timing)`,
    line(header),
    ...rows.map(line),
    '',
  ].join('\n');
}

function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([A-Za-z]+)$/.exec(text.trim());
  const scale = m ? UNITS[m[2]!] : undefined;
  if (!m || scale === undefined || Number(m[1]) <= 0) throw new InvalidArgumentError(`expected a size with a unit (${Object.keys(UNITS).join(', ')}), such as 2GiB, but got '${text}'`);
  return Number(m[1]) * scale;
}

function parseSlots(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1) throw new InvalidArgumentError(`expected a whole number of slots of at least 1, but got '${text}'`);
  return n;
}

function parsePositive(text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number, but got '${text}'`);
  return n;
}

function parseList(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter((s) => s !== '');
}
