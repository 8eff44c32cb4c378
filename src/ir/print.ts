import type { Graph, Node } from './graph.js';
import type { OpCall, RouterSpec } from './ops.js';
import { formatType } from './types.js';

/**
 * The textual IR: one line per node, `%id = op(%a, %b) {attrs} : type`. Stable and diffable:
 * the same graph always prints the same bytes.
 *
 *   graph mixtral {
 *     %0 = input "x" : bf16[T, 4096]
 *     %1 = param "layers.0.rmsnorm.weight" : bf16[4096]
 *     %2 = rmsnorm(%0, %1) {eps = 0.00001} : bf16[T, 4096]
 *     ...
 *     return %9
 *   }
 */
export function printGraph(g: Graph): string {
  const lines = [`graph ${g.name} {`];
  for (const n of g.nodes) lines.push(`  ${printNode(n)}`);
  lines.push(`  return %${g.output.id}`, '}');
  return `${lines.join('\n')}\n`;
}

export function printNode(n: Node): string {
  if (n.op === 'kernel') return printKernel(n);
  const attrs = printAttrs(n);
  if (n.op === 'param' || n.op === 'input') return `%${n.id} = ${n.op} ${JSON.stringify(n.attrs.name)} : ${formatType(n.type)}`;
  const operands = n.src.map((s) => `%${s.id}`).join(', ');
  return `%${n.id} = ${n.op}(${operands})${attrs ? ` {${attrs}}` : ''} : ${formatType(n.type)}`;
}

export function printStage(s: { op: string; [key: string]: unknown }): string {
  const { op, ...rest } = s;
  const args = Object.entries(rest).map(([k, v]) => `${k} = ${Array.isArray(v) ? `[${v.join(', ')}]` : v}`);
  return args.length ? `${op}(${args.join(', ')})` : op;
}

function printRouter(r: RouterSpec): string {
  const src = r.source;
  const head = src.op === 'linear' ? `linear(${r.width}${src.bias ? ', bias' : ''})` : printStage({ ...src, width: r.width });
  return [head, ...r.stages.map(printStage)].join(' | ');
}

function printAttrs(n: OpCall): string {
  switch (n.op) {
    case 'rmsnorm':
    case 'layernorm':
      return `eps = ${n.attrs.eps}`;
    case 'ffn': {
      const { expert, index } = n.attrs;
      return `expert = ${expert.name}${index !== undefined ? `, index = ${index}` : ''}`;
    }
    case 'route': {
      const r = n.attrs;
      const parts = [`router = "${printRouter(r.router)}"`];
      if (r.groupRouter) parts.unshift(`groups = "${printRouter(r.groupRouter)}"`);
      if (r.nullEntries.length) parts.push(`null = [${r.nullEntries.join(', ')}]`);
      if (r.scope) parts.push(`scope = ${r.scope}`);
      if (r.subTokens) parts.push(`sub_tokens = ${r.subTokens}`);
      return parts.join(', ');
    }
    case 'moe':
      return `groups = [${n.attrs.groups.map((g) => `${g.expert.name} x ${g.count} @ ${g.first}`).join(', ')}]`;
    default:
      return Object.entries(n.attrs as object)
        .map(([k, v]) => `${k} = ${Array.isArray(v) ? `[${v.join(', ')}]` : String(v)}`)
        .join(', ');
  }
}

/** A fused kernel with its body indented; body values are %k0.. after the kernel's inputs %i0... */
function printKernel(n: Node): string {
  if (n.op !== 'kernel') return '';
  const { name, body } = n.attrs;
  const ref = (i: number) => (i < n.src.length ? `%${n.src[i]!.id}` : `%k${i - n.src.length}`);
  const lines = body.map((m, i) => {
    const attrs = printAttrs(m);
    return `    %k${i} = ${m.op}(${m.src.map(ref).join(', ')})${attrs ? ` {${attrs}}` : ''} : ${formatType(m.type)}`;
  });
  return [`%${n.id} = kernel ${name}(${n.src.map((s) => `%${s.id}`).join(', ')}) : ${formatType(n.type)} {`, ...lines, '  }'].join('\n');
}
