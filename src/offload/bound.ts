/**
 * What no policy can beat: an offline bound on hits for a given number of loads, computed from
 * a trace. It answers "could any policy, prefetching or not, degrading or not, reach hit rate h
 * while moving only L experts?" (docs/perf.md uses it to show where the two goals
 * cannot both hold on a real link).
 *
 * One MoE layer of one request is a sequence of accesses with `slots` slots. A policy's work
 * there is a set of residencies: an expert is loaded once, then serves some of its accesses
 * as hits until it is given up. Any policy's residencies that produce hits are dominated by
 * *chains*: an expert held from one of its accesses to a later one, hitting every access of
 * it in between, loaded just before the first (an offline policy knows the future, and a
 * degrade copy serves what is not held, so nothing forces a load). At most `slots` chains
 * hold at any access. For a price `lambda` per load, the chains with the most
 * `hits - lambda * loads` are a min-cost flow of `slots` units along the access timeline:
 *
 *   u(i-1) -> u(i)   cap slots, cost 0       a free slot passes access i
 *   u(i-1) -> a(i)   cap 1, cost lambda      load the expert of access i just before it
 *   a(i)   -> b(i)   cap 1, cost -1          access i is a hit
 *   b(i)   -> u(i)   cap 1, cost 0           give the slot up after access i
 *   b(i)   -> a(j)   cap 1, cost 0           keep it to its next access j
 *
 * By weak duality, a policy with H hits and L loads has H - lambda * L <= OPT(lambda), so
 * H <= min over lambda of OPT(lambda) + lambda * L: the bound `hitBound` returns.
 */

/** The optimum of hits - lambda * loads over chains, with the hits and loads of one optimal solution. */
export interface ChainOptimum {
  hits: number;
  loads: number;
}

interface Graph {
  head: Int32Array;
  next: Int32Array;
  to: Int32Array;
  cap: Int32Array;
  cost: Float64Array;
  arcs: number;
}

function newGraph(nodes: number, maxArcs: number): Graph {
  return { head: new Int32Array(nodes).fill(-1), next: new Int32Array(maxArcs), to: new Int32Array(maxArcs), cap: new Int32Array(maxArcs), cost: new Float64Array(maxArcs), arcs: 0 };
}

function addArc(g: Graph, from: number, to: number, cap: number, cost: number): void {
  for (const [a, b, c, w] of [
    [from, to, cap, cost],
    [to, from, 0, -cost],
  ] as const) {
    g.to[g.arcs] = b;
    g.cap[g.arcs] = c;
    g.cost[g.arcs] = w;
    g.next[g.arcs] = g.head[a]!;
    g.head[a] = g.arcs++;
  }
}

/** Best chains for one access sequence (expert ids in order) with `slots` slots and a price per load. */
export function bestChains(sequence: readonly number[], slots: number, lambda: number): ChainOptimum {
  const n = sequence.length;
  if (n === 0 || slots === 0) return { hits: 0, loads: 0 };
  // Nodes u(i) = 3i, a(i) = 3i - 2, b(i) = 3i - 1: every arc goes to a higher index (a DAG).
  const nodes = 3 * n + 1;
  const maxArcs = 2 * 5 * n;
  const g = newGraph(nodes, maxArcs);
  const last = new Map<number, number>();
  for (let i = 1; i <= n; i++) {
    const u0 = 3 * i - 3;
    const a = 3 * i - 2;
    const b = 3 * i - 1;
    addArc(g, u0, 3 * i, slots, 0);
    addArc(g, u0, a, 1, lambda);
    addArc(g, a, b, 1, -1);
    addArc(g, b, 3 * i, 1, 0);
    const prev = last.get(sequence[i - 1]!);
    if (prev !== undefined) addArc(g, 3 * prev - 1, a, 1, 0);
    last.set(sequence[i - 1]!, i);
  }
  const total = minCostFlow(g, nodes, slots);
  // Read the hits and loads off the flow: a hit arc and a load arc are saturated when used.
  let hits = 0;
  let loads = 0;
  for (let i = 1; i <= n; i++) {
    for (let e = g.head[3 * i - 3]!; e >= 0; e = g.next[e]!) if (g.to[e] === 3 * i - 2 && (e & 1) === 0 && g.cap[e] === 0) loads++;
    for (let e = g.head[3 * i - 2]!; e >= 0; e = g.next[e]!) if (g.to[e] === 3 * i - 1 && (e & 1) === 0 && g.cap[e] === 0) hits++;
  }
  if (Math.abs(hits - lambda * loads + total) > 1e-6 * Math.max(1, n)) throw new Error(`internal: chain flow is inconsistent (${hits} - ${lambda} * ${loads} vs ${-total})`);
  return { hits, loads };
}

/**
 * The bound for an ONLINE policy, given what it can know: `belief[t * experts + e]` is the
 * probability that step t (one token at this layer) selects expert e, conditioned on everything
 * a runtime has before that layer's router runs (earlier layers of the token, earlier tokens).
 * Whatever a policy holds, arrived, when step t's layer starts was decided on that information
 * alone, so its expected hits there are the beliefs of what it holds: a policy's expected
 * `hits - lambda * loads` is at most the best over every sequence of held sets (at most `slots`
 * experts each; an expert not held at t - 1 and held at t costs one load) of
 * `sum of beliefs held - lambda * loads`, even one chosen knowing every step's beliefs in advance.
 * That best is a min-cost flow of `slots` units through one lane per expert:
 *
 *   h(t-1)   -> h(t)     cap slots, cost 0        a slot holds nothing useful at step t
 *   h(t-1)   -> in(t,e)  cap 1, cost lambda       load e for step t
 *   out(t-1,e) -> in(t,e) cap 1, cost 0           keep e
 *   in(t,e)  -> out(t,e) cap 1, cost -belief      hold e at step t (an expert has one slot)
 *   out(t,e) -> h(t)     cap 1, cost 0            give it up after step t
 *
 * With beliefs of 0 or 1 (the future known) it is the offline bound on whole tokens.
 */
export function beliefChains(belief: ArrayLike<number>, experts: number, slots: number, lambda: number): ChainOptimum {
  const steps = belief.length / experts;
  if (steps === 0 || slots === 0) return { hits: 0, loads: 0 };
  // h(t) = t * stride, in(t,e) = (t-1) * stride + 1 + e, out(t,e) = in(t,e) + experts: a DAG in index order.
  const stride = 2 * experts + 1;
  const nodes = steps * stride + 1;
  const g = newGraph(nodes, 2 * steps * (1 + 4 * experts));
  const loadArcs: number[] = [];
  for (let t = 1; t <= steps; t++) {
    const hub = (t - 1) * stride;
    addArc(g, hub, t * stride, slots, 0);
    for (let e = 0; e < experts; e++) {
      const inNode = hub + 1 + e;
      loadArcs.push(g.arcs);
      addArc(g, hub, inNode, 1, lambda);
      if (t > 1) addArc(g, inNode - stride + experts, inNode, 1, 0);
      addArc(g, inNode, inNode + experts, 1, -belief[(t - 1) * experts + e]!);
      addArc(g, inNode + experts, t * stride, 1, 0);
    }
  }
  const total = minCostFlow(g, nodes, slots);
  const loads = loadArcs.reduce((n, arc) => n + (g.cap[arc] === 0 ? 1 : 0), 0);
  return { hits: lambda * loads - total, loads };
}

/**
 * Sends up to `units` units from node 0 to the last node, each along a cheapest path while that
 * path gains anything (a free slot that holds nothing costs 0); returns the total cost. Every arc
 * of `g` goes to a higher index (a DAG), so the first potentials are its shortest distances.
 */
function minCostFlow(g: Graph, nodes: number, units: number): number {
  const potential = new Float64Array(nodes).fill(Infinity);
  potential[0] = 0;
  for (let v = 0; v < nodes; v++) {
    if (potential[v] === Infinity) continue;
    for (let e = g.head[v]!; e >= 0; e = g.next[e]!) if (g.cap[e]! > 0 && potential[v]! + g.cost[e]! < potential[g.to[e]!]!) potential[g.to[e]!] = potential[v]! + g.cost[e]!;
  }
  const sink = nodes - 1;
  const dist = new Float64Array(nodes);
  const via = new Int32Array(nodes);
  const done = new Uint8Array(nodes);
  const heap = new MinHeap(g.arcs + 1);
  let total = 0;
  for (let unit = 0; unit < units; unit++) {
    // Dijkstra on reduced costs (non-negative once the potentials are shortest distances).
    dist.fill(Infinity);
    done.fill(0);
    dist[0] = 0;
    heap.push(0, 0);
    while (heap.size > 0) {
      const v = heap.pop();
      if (done[v]) continue;
      done[v] = 1;
      for (let e = g.head[v]!; e >= 0; e = g.next[e]!) {
        if (g.cap[e]! === 0) continue;
        const w = g.to[e]!;
        const d = dist[v]! + g.cost[e]! + potential[v]! - potential[w]!;
        if (d < dist[w]! - 1e-12) {
          dist[w] = d;
          via[w] = e;
          heap.push(w, d);
        }
      }
    }
    const pathCost = dist[sink]! + potential[sink]! - potential[0]!;
    if (dist[sink] === Infinity || pathCost >= -1e-12) break;
    for (let v = 0; v < nodes; v++) if (dist[v]! < Infinity) potential[v]! += dist[v]!;
    for (let v = sink; v !== 0; v = g.to[via[v]! ^ 1]!) {
      g.cap[via[v]!]!--;
      g.cap[via[v]! ^ 1]!++;
    }
    total += pathCost;
  }
  return total;
}

class MinHeap {
  private readonly keys: Float64Array;
  private readonly items: Int32Array;
  size = 0;
  /** A node is pushed once per improvement, at most once per arc into it: `capacity` = the arcs. */
  constructor(capacity: number) {
    this.keys = new Float64Array(capacity);
    this.items = new Int32Array(capacity);
  }
  push(item: number, key: number): void {
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.keys[p]! <= key) break;
      this.keys[i] = this.keys[p]!;
      this.items[i] = this.items[p]!;
      i = p;
    }
    this.keys[i] = key;
    this.items[i] = item;
  }
  pop(): number {
    const top = this.items[0]!;
    const key = this.keys[--this.size]!;
    const item = this.items[this.size]!;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= this.size) break;
      if (c + 1 < this.size && this.keys[c + 1]! < this.keys[c]!) c++;
      if (this.keys[c]! >= key) break;
      this.keys[i] = this.keys[c]!;
      this.items[i] = this.items[c]!;
      i = c;
    }
    this.keys[i] = key;
    this.items[i] = item;
    return top;
  }
}

/**
 * The most hits any policy can have on these sequences with at most `loads` loads in all:
 * min over the given prices of sum OPT(lambda) + lambda * loads, each OPT from `bestChains`.
 * `optima[j][s]` is sequence s's optimum at `lambdas[j]`.
 */
export function hitBound(lambdas: readonly number[], optima: readonly (readonly ChainOptimum[])[], loads: number): { hits: number; lambda: number } {
  let best = { hits: Infinity, lambda: NaN };
  lambdas.forEach((lambda, j) => {
    const opt = optima[j]!.reduce((s, o) => s + o.hits - lambda * o.loads, 0);
    if (opt + lambda * loads < best.hits) best = { hits: opt + lambda * loads, lambda };
  });
  return best;
}

/** Each MoE layer's accesses that need a slot (resident and empty experts always hit), in order. */
export function slotAccesses(tokens: readonly (readonly (readonly number[])[])[], layers: readonly { expertBytes: readonly number[]; resident: readonly boolean[] }[]): number[][] {
  return layers.map((layer, l) => tokens.flatMap((token) => token[l]!.filter((e) => !layer.resident[e] && layer.expertBytes[e]! > 0)));
}
