/**
 * Routing traces: recorded expert selections of a real model, the input of `moec simulate`.
 * JSON Lines: the first line is `{"meta": {...}}`, every other line one request
 * `{"request": ID, "tokens": [[[ids of token 0 at MoE layer 0], [... at layer 1], ...], ...]}`.
 * Only routing decisions are recorded, no hidden states (the format of ../shared/traces).
 * Parsing is line by line so that a reader can stream a large file; every error names its line.
 */

export interface TraceMeta {
  model: string;
  /** Routed experts per MoE layer, when the trace states it. */
  experts?: number;
  /** Experts selected per token, when the trace states it. */
  k?: number;
  phase: string;
  /** The model's layer index of each MoE layer, in order. */
  moeLayers: number[];
}

export interface TraceRequest {
  id: string;
  /** tokens[t][i]: the experts token t selected at MoE layer i, in the trace's order. */
  tokens: number[][][];
}

/** What the trace is checked against: the model's MoE layer count and experts per MoE layer. */
export interface TraceShape {
  experts: readonly number[];
}

/** A malformed trace: the CLI prints `FILE:LINE: message` and exits with status 1. */
export class TraceError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

function parseJson(text: string, line: number): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new TraceError(line, `bad JSON: ${(err as Error).message}`);
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** The first line: `{"meta": {...}}` with at least `moe_layers`; checked against the model's MoE layer count. */
export function parseMeta(text: string, shape: TraceShape, line = 1): TraceMeta {
  const value = parseJson(text, line);
  const meta = isRecord(value) ? value['meta'] : undefined;
  if (!isRecord(meta)) throw new TraceError(line, 'the first line must be {"meta": {...}} (model, experts, k, phase, moe_layers)');
  const layers = meta['moe_layers'];
  if (!Array.isArray(layers) || !layers.every(isCount)) throw new TraceError(line, 'meta.moe_layers must be a list of layer indices');
  if (layers.length !== shape.experts.length) {
    throw new TraceError(line, `the trace has ${layers.length} MoE layers, the model ${shape.experts.length}`);
  }
  const experts = meta['experts'];
  if (experts !== undefined && isCount(experts) && shape.experts.some((n) => experts > n)) {
    throw new TraceError(line, `the trace routes over ${experts} experts, more than the model's ${Math.min(...shape.experts)}`);
  }
  const optionalCount = (v: unknown) => (isCount(v) ? v : undefined);
  return {
    model: typeof meta['model'] === 'string' ? meta['model'] : 'unknown',
    ...(optionalCount(experts) !== undefined && { experts: experts as number }),
    ...(optionalCount(meta['k']) !== undefined && { k: meta['k'] as number }),
    phase: typeof meta['phase'] === 'string' ? meta['phase'] : 'unknown',
    moeLayers: layers,
  };
}

/** One request line, every expert id checked against the model. */
export function parseRequest(text: string, shape: TraceShape, line: number): TraceRequest {
  const value = parseJson(text, line);
  if (!isRecord(value) || !Array.isArray(value['tokens'])) throw new TraceError(line, 'a request must be {"request": ID, "tokens": [...]}');
  const id = value['request'];
  const tokens = value['tokens'] as unknown[];
  const layers = shape.experts.length;
  for (const [t, token] of tokens.entries()) {
    if (!Array.isArray(token) || token.length !== layers) {
      throw new TraceError(line, `token ${t} has ${Array.isArray(token) ? token.length : 'no list of'} MoE layers, the model ${layers}`);
    }
    for (const [i, ids] of token.entries()) {
      if (!Array.isArray(ids)) throw new TraceError(line, `token ${t}, MoE layer ${i}: expected a list of expert ids`);
      for (const e of ids) {
        if (!isCount(e) || e >= shape.experts[i]!) {
          throw new TraceError(line, `token ${t}, MoE layer ${i}: expert id ${JSON.stringify(e)} is out of range for the model's ${shape.experts[i]} experts`);
        }
      }
      if (new Set(ids).size !== ids.length) throw new TraceError(line, `token ${t}, MoE layer ${i}: expert ids repeat in ${JSON.stringify(ids)}`);
    }
  }
  return { id: typeof id === 'string' || typeof id === 'number' ? String(id) : `line ${line}`, tokens: tokens as number[][][] };
}

/** Parse a whole trace held in memory (tests, small files); blank lines are skipped. */
export function parseTrace(text: string, shape: TraceShape): { meta: TraceMeta; requests: TraceRequest[] } {
  const lines = text.split('\n');
  const first = lines.findIndex((l) => l.trim() !== '');
  if (first < 0) throw new TraceError(1, 'the trace is empty');
  const meta = parseMeta(lines[first]!, shape, first + 1);
  const requests: TraceRequest[] = [];
  for (let i = first + 1; i < lines.length; i++) if (lines[i]!.trim() !== '') requests.push(parseRequest(lines[i]!, shape, i + 1));
  return { meta, requests };
}
