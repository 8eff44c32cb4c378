import { ATTRS, initCodec } from './attrs.js';
import { str, type Codec } from './codec.js';
import type { Graph, Node, ParamInfo } from './graph.js';
import type { BodyOp, OpAttrs } from './ops.js';
import { formatType, type TensorType } from './types.js';

/**
 * The textual IR: one line per node, `%id = op(%a, %b) {attrs} : type`, every attribute
 * printed (src/ir/attrs.ts), so `parseGraph` (parse.ts) reads it back to the same graph.
 * Stable and diffable: the same graph always prints the same bytes.
 *
 *   graph mixtral {
 *     %0 = input "x" : bf16[T, 4096]
 *     %1 = param "layers.0.rmsnorm.weight" {init = ones} : bf16[4096]
 *     %2 = rmsnorm(%0, %1) {eps = 0.00001} : bf16[T, 4096]
 *     ...
 *     %9 = kernel route(%2, %8) : route[T, 2] {
 *       %k0 = matmul(%2, %8) : bf16[T, 8]
 *       ...
 *     }
 *     return %12
 *   }
 *
 * Kernel body values are %k0, %k1, ...; a body operand that is a kernel input is written as
 * the graph value it reads.
 */
export function printGraph(g: Graph): string {
  const init = new Map(g.params.map((p) => [p.name, p.init]));
  const lines = [`graph ${str.print(g.name)} {`];
  for (const n of g.nodes) lines.push(`  ${printNode(n, n.op === 'param' ? init.get(n.attrs.name) : undefined)}`);
  lines.push(`  return %${g.output.id}`, '}');
  return `${lines.join('\n')}\n`;
}

export function printNode(n: Node, init?: ParamInfo['init']): string {
  const type = formatType(n.type);
  switch (n.op) {
    case 'input':
      return `%${n.id} = input ${JSON.stringify(n.attrs.name)} : ${type}`;
    case 'param':
      return `%${n.id} = param ${JSON.stringify(n.attrs.name)}${init ? ` {init = ${initCodec.print(init)}}` : ''} : ${type}`;
    case 'kernel': {
      const ref = (i: number) => (i < n.src.length ? `%${n.src[i]!.id}` : `%k${i - n.src.length}`);
      const body = n.attrs.body.map((m, i) => `    %k${i} = ${printCall(m.op, m.attrs, m.src.map(ref), m.type)}`);
      return [`%${n.id} = kernel ${str.print(n.attrs.name)}(${n.src.map((s) => `%${s.id}`).join(', ')}) : ${type} {`, ...body, '  }'].join('\n');
    }
    default:
      return `%${n.id} = ${printCall(n.op, n.attrs, n.src.map((s) => `%${s.id}`), n.type)}`;
  }
}

function printCall<O extends BodyOp>(op: O, attrs: OpAttrs[O], operands: string[], type: TensorType): string {
  const codec: Codec<OpAttrs[O]> = ATTRS[op];
  const text = codec.print(attrs);
  return `${op}(${operands.join(', ')})${text === '{}' ? '' : ` ${text}`} : ${formatType(type)}`;
}
