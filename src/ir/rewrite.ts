import { GraphBuilder, type Graph, type Node } from './graph.js';

/**
 * Rebuild a graph node by node. `rewrite` sees each old node with its operands already
 * mapped into the new graph and returns the node that replaces it, or undefined to copy it
 * unchanged. Passes are written as rewrites, so every pass yields a fresh, verified graph.
 */
export type Rewrite = (node: Node, src: Node[], b: GraphBuilder, map: (old: Node) => Node) => Node | undefined;

export function rewriteGraph(g: Graph, rewrite: Rewrite): Graph {
  const b = new GraphBuilder();
  const params = new Map(g.params.map((p) => [p.name, p]));
  const mapped = new Map<Node, Node>();
  const map = (old: Node) => mapped.get(old)!;
  for (const n of g.nodes) {
    const src = n.src.map(map);
    let out = rewrite(n, src, b, map);
    if (!out) {
      if (n.op === 'param') {
        const p = params.get(n.attrs.name)!;
        out = b.param(p.name, p.type, p.init);
      } else out = b.add(n.op, src, n.attrs, n.type);
    }
    mapped.set(n, out);
  }
  return eliminateDead(b.finish(g.name, map(g.output)));
}

/** Drop nodes the output does not depend on (inputs stay: they are the graph's interface). */
export function eliminateDead(g: Graph): Graph {
  const live = new Set<Node>([g.output, ...g.inputs]);
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    if (live.has(n)) for (const s of n.src) live.add(s);
  }
  if (live.size === g.nodes.length) return g;
  const b = new GraphBuilder();
  const params = new Map(g.params.map((p) => [p.name, p]));
  const mapped = new Map<Node, Node>();
  for (const n of g.nodes) {
    if (!live.has(n)) continue;
    const p = n.op === 'param' ? params.get(n.attrs.name)! : undefined;
    mapped.set(n, p ? b.param(p.name, p.type, p.init) : b.add(n.op, n.src.map((s) => mapped.get(s)!), n.attrs, n.type));
  }
  return b.finish(g.name, mapped.get(g.output)!);
}

/** How many nodes read each node (the graph output counts as a reader). */
export function useCounts(g: Graph): Map<Node, number> {
  const uses = new Map<Node, number>();
  for (const n of g.nodes) for (const s of n.src) uses.set(s, (uses.get(s) ?? 0) + 1);
  uses.set(g.output, (uses.get(g.output) ?? 0) + 1);
  return uses;
}
