import { describe, expect, it } from 'vitest';
import type { Graph } from '../src/ir/graph.js';
import { IrParseError, parseGraph } from '../src/ir/parse.js';
import { printGraph } from '../src/ir/print.js';
import { verifyGraph } from '../src/ir/verify.js';
import { PASSES, runPipeline } from '../src/passes/pipeline.js';
import { exampleFiles, readExample } from './helpers.js';
import { compileText, randomInput, randomWeights, run } from './support/model.js';
import { small } from './support/small.js';

/** What a graph is, apart from object identity: each node's op, operand ids, attributes and type. */
function shape(g: Graph) {
  return { name: g.name, output: g.output.id, params: g.params, nodes: g.nodes.map((n) => ({ id: n.id, op: n.op, src: n.src.map((s) => s.id), attrs: n.attrs, type: n.type })) };
}

describe('the textual IR round-trips', () => {
  it.each(exampleFiles())('%s: print, parse, print is byte-identical after every pass, and the parsed graph verifies', (name) => {
    const built = compileText(readExample(name), small[name]).graph;
    for (let i = 0; i <= PASSES.length; i++) {
      const g = runPipeline(built, { upTo: i });
      const text = printGraph(g);
      const parsed = parseGraph(text);
      expect(printGraph(parsed), `after ${i} passes`).toBe(text);
      expect(verifyGraph(parsed), `after ${i} passes`).toEqual([]);
      expect(shape(parsed), `after ${i} passes`).toEqual(shape(g));
    }
  });

  it('a parsed graph computes what the original computes', () => {
    const { graph } = compileText(readExample('deepseek-v3.moe'), small['deepseek-v3.moe']);
    const weights = randomWeights(graph, 3);
    const x = randomInput(5, 16, 1);
    for (const g of [graph, runPipeline(graph)]) expect(run(parseGraph(printGraph(g)), weights, { x })).toEqual(run(g, weights, { x }));
  });

  it('reads comments, such as the header --print-after writes', () => {
    const text = `// after fold-shared\ngraph t {\n  %0 = input "x" : f32[T, 4]\n  return %0\n}\n`;
    expect(printGraph(parseGraph(text))).toBe(text.split('\n').slice(1).join('\n'));
  });
});

describe('parse errors say where', () => {
  const graph = (body: string) => `graph t {\n  %0 = input "x" : f32[T, 4]\n  %1 = param "w" {init = normal(fanIn = 4)} : f32[4, 8]\n${body}\n  return %2\n}\n`;
  const cases: [string, string, string][] = [
    ['an undefined operand', '  %2 = matmul(%0, %7) : f32[T, 8]', '4:20: %7 is not defined before use'],
    ['an unknown op', '  %2 = frobnicate(%0) : f32[T, 8]', "4:8: unknown op 'frobnicate'"],
    ['an unknown attribute', '  %2 = topk(%0) {k = 2, j = 1} : i32[T, 2]', "4:25: unknown attribute 'j'; expected one of k"],
    ['a missing attribute', '  %2 = topk(%0) : i32[T, 2]', '4:3: missing attribute k'],
    ['a bad attribute value', '  %2 = act(%0) {fn = tanh} : f32[T, 4]', "4:22: expected sigmoid or silu or gelu or gelu_tanh or relu or identity, found 'tanh'"],
    ['an unknown dtype', '  %2 = matmul(%0, %1) : f64[T, 8]', "4:25: unknown dtype 'f64'"],
    ['a stray character', '  %2 = matmul(%0, %1) ; f32[T, 8]', "4:23: unexpected character ';'"],
    ['a kernel body operand that is not an input', '  %2 = kernel k(%0) : f32[T, 4] {\n    %k0 = add(%0, %k1) : f32[T, 4]\n  }', '5:20: %k1 is neither a kernel input nor an earlier body value'],
  ];
  it.each(cases)('%s', (_name, body, message) => {
    const error = (() => {
      try {
        parseGraph(graph(body));
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(IrParseError);
    expect((error as Error).message).toBe(message);
  });

  it('a type that does not follow from the operands parses, and verifyGraph reports it', () => {
    const parsed = parseGraph(graph('  %2 = matmul(%0, %1) : f32[T, 4]'));
    expect(verifyGraph(parsed).map((p) => p.message)).toEqual(['%2 = matmul: type f32[T, 4] differs from the inferred f32[T, 8]']);
  });
});
