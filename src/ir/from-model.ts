import type { Block, Expert, LayerExpr, ResolvedModel, Router, Stage } from '../model/model.js';
import { blockExpert } from '../model/experts.js';
import { GraphBuilder, type Graph, type Node } from './graph.js';
import type { ExpertGroup, ExpertSpec, RouteAttrs, RouterSpec, RouterStage } from './ops.js';
import { mulTokens, TOKENS, type DType, type Dim, type TensorType } from './types.js';
import { selectionSlots } from './routing.js';
import { expertWeights, SiteNamer, weightsByGroup, type ExpertWeight } from './weights.js';

/**
 * Build the MoE-level graph of a resolved model: one `route` + `moe` per block call (chain
 * blocks unrolled per iteration), `ffn` for dense expert calls, norms and adds. Every call
 * site gets its own weights, named as docs/weights.md describes.
 */
export function buildGraph(model: ResolvedModel): Graph {
  return new ModelBuilder(model).build();
}

class ModelBuilder {
  private readonly g = new GraphBuilder();
  private readonly act: DType;
  private readonly x: Node;
  private ids?: Node;
  /** The layer being built, recorded on moe nodes for the plans. */
  private layer = 0;
  private requests?: Node;

  constructor(private readonly model: ResolvedModel) {
    this.act = model.dtype;
    this.x = this.g.add('input', [], { name: 'x' }, this.t([TOKENS, model.width]));
  }

  build(): Graph {
    let x = this.x;
    for (const layer of this.model.layers) {
      this.layer = layer.index;
      const sites = new SiteNamer();
      const env = new Map<string, Node>([['x', x]]);
      for (const st of layer.statements) env.set(st.target, this.expr(st.value, env, `layers.${layer.index}`, sites));
      x = env.get('x')!;
    }
    return this.g.finish(this.model.name, x);
  }

  private t(shape: Dim[], dtype: DType = this.act): TensorType {
    return { dtype, shape };
  }

  private expr(e: LayerExpr, env: Map<string, Node>, prefix: string, sites: SiteNamer): Node {
    switch (e.op) {
      case 'var':
        return env.get(e.name)!;
      case 'add':
        return e.args.map((a) => this.expr(a, env, prefix, sites)).reduce((l, r) => this.g.add('add', [l, r], {}, l.type));
      case 'rmsnorm':
      case 'layernorm': {
        const v = this.expr(e.arg, env, prefix, sites);
        const site = `${prefix}.${sites.next(e.op)}`;
        const d = v.type.shape[v.type.shape.length - 1]!;
        const g = this.g.param(`${site}.weight`, this.t([d]), { kind: 'ones' });
        const src = e.op === 'layernorm' ? [v, g, this.g.param(`${site}.bias`, this.t([d]), { kind: 'zeros' })] : [v, g];
        return this.g.add(e.op, src, { eps: e.eps }, v.type);
      }
      case 'expert': {
        const v = this.expr(e.arg, env, prefix, sites);
        const expert = expertSpec(this.model.experts[e.expert]!);
        if (expert.kind !== 'ffn') return v; // identity (the checker rejects null experts here)
        const site = `${prefix}.${sites.next(e.expert)}`;
        const dtype = this.weightDtype(e.expert);
        const weights = expertWeights(expert).map((w) => this.weight(`${site}.${w.name}`, w.shape, dtype, w));
        return this.g.add('ffn', [v, ...weights], { expert }, this.t([TOKENS, expert.output]));
      }
      case 'block': {
        const v = this.expr(e.arg, env, prefix, sites);
        return this.block(this.model.blocks[e.block]!, v, `${prefix}.${sites.next(e.block)}`);
      }
    }
  }

  /**
   * An expert matrix. Stored in int8 or int4, it is the quantised values plus per-output-column
   * scales (`NAME.scale`, shape [..., out], in the compute dtype), dequantised in the graph.
   * Biases are never quantised: under int8 or int4 they are stored in the compute dtype.
   */
  private weight(name: string, shape: Dim[], dtype: DType, { fanIn, bias }: ExpertWeight): Node {
    if (bias && (dtype === 'int8' || dtype === 'int4')) return this.g.param(name, this.t(shape), { kind: 'normal', fanIn });
    if (dtype !== 'int8' && dtype !== 'int4') return this.g.param(name, this.t(shape, dtype), { kind: 'normal', fanIn });
    const q = this.g.param(name, this.t(shape, dtype), { kind: 'normal', fanIn });
    const scale = this.g.param(`${name}.scale`, this.t([...shape.slice(0, -2), shape[shape.length - 1]!]), { kind: 'scale' });
    return this.g.add('dequant', [q, scale], { bits: dtype === 'int8' ? 8 : 4 });
  }

  /** Stored dtype of an expert's weights: the block's offload precision, the model's, or `weights`. */
  private weightDtype(expert: string, block?: Block): DType {
    return (block?.offload ?? this.model.offload)?.precision[expert] ?? this.model.weightDtype;
  }

  private block(block: Block, x: Node, site: string): Node {
    const heads = block.topology.kind === 'multihead' ? block.topology.heads : 1;
    const groups = this.groups(block, block.experts, `${site}.experts`);
    let routed: Node;
    if (heads > 1) {
      const d = block.width;
      const inW = this.g.param(`${site}.heads_in.weight`, this.t([d, d]), { kind: 'normal', fanIn: d });
      const outW = this.g.param(`${site}.heads_out.weight`, this.t([d, d]), { kind: 'normal', fanIn: d });
      const projected = this.g.add('matmul', [x, inW], {}, x.type);
      const sub = this.g.add('reshape', [projected], {}, this.t([mulTokens(TOKENS, heads), block.expertWidth]));
      const merged = this.g.add('reshape', [this.moe(block, sub, groups.nodes, groups.groups, site, 0, heads)], {}, x.type);
      routed = this.g.add('matmul', [merged, outW], {}, x.type);
    } else if (block.topology.kind === 'chain') {
      let h = x;
      for (let i = 0; i < block.topology.iterations; i++) {
        const out = this.moe(block, h, groups.nodes, groups.groups, site, i, 1);
        h = block.topology.residual ? this.g.add('add', [h, out], {}, h.type) : out;
      }
      routed = h;
    } else {
      routed = this.moe(block, x, groups.nodes, groups.groups, site, 0, 1);
    }
    return this.shared(block, x, routed, site);
  }

  /** Stacked weights for consecutive experts of one declaration. */
  private groups(block: Block, slots: Block['experts'], prefix: string): { groups: ExpertGroup[]; nodes: Node[] } {
    const names = new SiteNamer();
    const groups: ExpertGroup[] = [];
    const nodes: Node[] = [];
    for (const slot of slots) {
      const expert = expertSpec(blockExpert(this.model, block, slot.expert)!);
      const name = `${prefix}.${names.next(slot.expert)}`;
      const dtype = this.weightDtype(slot.expert, block);
      groups.push({ expert, count: slot.count, first: slot.first });
      for (const w of expertWeights(expert)) {
        nodes.push(this.weight(`${name}.${w.name}`, [slot.count, ...w.shape], dtype, w));
      }
    }
    return { groups, nodes };
  }

  private moe(block: Block, x: Node, weights: Node[], groups: ExpertGroup[], site: string, iteration: number, heads: number): Node {
    const route = this.route(block, x, site, iteration, heads);
    return this.g.add('moe', [x, route, ...weights], { groups, block: block.name, layer: this.layer }, x.type);
  }

  private route(block: Block, x: Node, site: string, iteration: number, heads: number): Node {
    const suffix = iteration === 0 ? '' : `@${iteration}`;
    const src: Node[] = [x];
    const spec = (r: Router): RouterSpec => {
      const [source, ...rest] = r.stages;
      const base = `${site}.${r.name}${suffix}`;
      if (source!.op === 'linear') {
        src.push(this.g.param(`${base}.weight`, this.t([source!.input, r.width]), { kind: 'normal', fanIn: source!.input }));
        if (source!.bias) src.push(this.g.param(`${base}.bias`, this.t([r.width]), { kind: 'zeros' }));
      }
      const selectBias = rest.some((s) => s.op === 'select_bias');
      if (selectBias) src.push(this.g.param(`${base}.select_bias`, this.t([r.width]), { kind: 'zeros' }));
      const sourceSpec: RouterSpec['source'] =
        source!.op === 'linear' ? { op: 'linear', bias: source!.bias } : source!.op === 'hash' ? { op: 'hash', k: source!.k, seed: source!.seed } : { op: 'fixed', experts: (source as { experts: number[] }).experts };
      return { name: r.name, width: r.width, stages: rest.map(routerStage), source: sourceSpec, selectBias };
    };
    const union = block.topology.kind === 'union' ? block.topology : undefined;
    const groupRouter = union ? spec(block.routers.find((r) => r.name === union.groupRouter)!) : undefined;
    const router = spec(union ? block.routers.find((r) => r.name === union.expertRouter)! : block.routers[0]!);
    const nullEntries = block.experts.filter((s) => blockExpert(this.model, block, s.expert)?.kind === 'null').flatMap((s) => Array.from({ length: s.count }, (_, i) => s.first + i));
    const couples = block.routers.some((r) => r.couplesTokens);
    const tokenInputs: RouteAttrs['tokenInputs'] = [];
    if (router.source.op === 'hash' || groupRouter?.source.op === 'hash') {
      src.push((this.ids ??= this.g.add('input', [], { name: 'ids' }, this.t([TOKENS], 'i32'))));
      tokenInputs.push('ids');
    }
    if (couples && block.scope === 'request') {
      src.push((this.requests ??= this.g.add('input', [], { name: 'requests' }, this.t([TOKENS], 'i32'))));
      tokenInputs.push('requests');
    }
    const attrs: RouteAttrs = {
      router,
      ...(groupRouter ? { groupRouter } : {}),
      nullEntries,
      slots: selectionSlots(router),
      ...(couples && block.scope ? { scope: block.scope } : {}),
      ...(heads > 1 ? { subTokens: heads } : {}),
      tokenInputs,
    };
    return this.g.add('route', src, attrs, this.t([x.type.shape[0]!, attrs.slots], 'route'));
  }

  private shared(block: Block, x: Node, routed: Node, site: string): Node {
    if (!block.shared.slots.length) return routed;
    const { groups, nodes } = this.groups(block, block.shared.slots, `${site}.shared`);
    let out: Node | undefined;
    const perGroup = weightsByGroup(groups, nodes);
    for (const [g, group] of groups.entries()) {
      const weights = perGroup[g]!;
      for (let i = 0; i < group.count; i++) {
        const y = group.expert.kind === 'ffn' ? this.g.add('ffn', [x, ...weights], { expert: group.expert, index: i }, x.type) : group.expert.kind === 'identity' ? x : undefined;
        if (y) out = out ? this.g.add('add', [out, y], {}, x.type) : y;
      }
    }
    if (!out) return routed;
    if (block.shared.gate === 'sigmoid') {
      const gw = this.g.param(`${site}.shared_gate.weight`, this.t([block.width, 1]), { kind: 'normal', fanIn: block.width });
      const gate = this.g.add('act', [this.g.add('matmul', [x, gw], {})], { fn: 'sigmoid' });
      out = this.g.add('mul', [out, gate], {}, x.type);
    }
    return this.g.add('add', [routed, out], {}, x.type);
  }
}

/** The IR's copy of an expert declaration (IR attributes never hold front-end objects). */
function expertSpec(e: Expert): ExpertSpec {
  if (e.kind !== 'ffn') return { kind: e.kind, name: e.name };
  const { name, gated, act, input, hidden, output, rank, latent, bias, alpha, beta, limit } = e;
  const given = Object.entries({ bias, alpha, beta, limit }).filter(([, v]) => v !== undefined);
  return { kind: 'ffn', name, gated, act, input, hidden, output, ...(rank ? { rank } : {}), ...(latent ? { latent } : {}), ...Object.fromEntries(given) };
}

/** A router stage after the source; the checker puts sources first only (E0510). */
function routerStage(s: Stage): RouterStage {
  if (s.op === 'linear' || s.op === 'hash' || s.op === 'fixed') throw new Error(`internal: source stage ${s.op} after the first stage`);
  return { ...s };
}
