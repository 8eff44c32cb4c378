import type { Graph } from './graph.js';
import { formatType } from './types.js';

/** Graphviz of a graph: one box per op (weights folded into their reader's label), edges with types. */
export function printDot(g: Graph): string {
  const lines = [`digraph "${g.name}" {`, '  rankdir=TB;', '  node [shape=box, fontname="monospace", fontsize=10];'];
  const label = (id: number, text: string) => `  n${id} [label=${JSON.stringify(text)}];`;
  for (const n of g.nodes) {
    if (n.op === 'param') continue;
    const weights = n.src.flatMap((s) => (s.op === 'param' ? [s.attrs.name.split('.').slice(-2).join('.')] : []));
    const name = n.op === 'kernel' ? `kernel ${n.attrs.name}` : n.op === 'input' ? `input ${n.attrs.name}` : n.op;
    lines.push(label(n.id, `%${n.id} ${name}${weights.length ? `\n${weights.join('\n')}` : ''}`));
    for (const s of n.src) if (s.op !== 'param') lines.push(`  n${s.id} -> n${n.id} [label=${JSON.stringify(formatType(s.type))}, fontsize=8];`);
  }
  lines.push(`  n${g.output.id} -> out;`, '  out [shape=oval, label="output"];', '}');
  return `${lines.join('\n')}\n`;
}
