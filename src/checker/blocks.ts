import type { BlockItem, DeclItem, Item, MembersItem, SectionItem, SettingItem } from '../parser/ast.js';
import type { Span } from '../diagnostics/source.js';
import { SCOPES, SHARED_GATES, TOPOLOGIES } from '../language/signatures.js';
import { itemKeyword } from '../parser/walk.js';
import { bindCall, checkInt } from './args.js';
import { resolveName, withScope, type CheckContext } from './context.js';
import { resolveExpert } from './experts.js';
import { checkTensor } from './limits.js';
import { expertWeights, type ExpertWeight } from '../ir/weights.js';
import type { Block, Expert, ExpertSlots, Topology } from '../model/model.js';
import { resolveRouter, type RouterInfo } from './routers.js';
import { didYouMean, Scope, type Symbol } from './scope.js';

/** A block as resolved before the model width is known, plus spans for later checks. */
export interface BlockInfo {
  block: Omit<Block, 'width' | 'offload'> & { width?: number };
  /** Where the block's width comes from (an expert or the router input). */
  widthSpan?: Span;
  /** The topology line, for width checks made once the model width is known. */
  topologySpan: Span;
  offloadSection?: SectionItem;
  scope: Scope;
}

const blockItems = new Set(['router', 'expert', 'experts', 'shared', 'topology', 'scope', 'offload']);

/**
 * Resolve `block NAME { ... }`: its routers (declared here or referenced from the model),
 * routed and shared experts, topology and isolation scope; check that widths agree.
 */
export function resolveBlock(model: CheckContext, item: BlockItem): BlockInfo | undefined {
  const scope = new Scope(model.diags, model.scope);
  const ctx = withScope(model, scope);
  const seen = new Map<string, Item>();
  for (const it of item.items) {
    const word = itemKeyword(it);
    if (!blockItems.has(word)) {
      ctx.diags.report('E0207', it.keywordSpan, `'${word}' belongs in the model, not inside block '${item.name.text}'`);
      continue;
    }
    if ((word === 'topology' || word === 'scope' || word === 'offload') && seen.has(word)) {
      ctx.diags.report('E0206', it.keywordSpan, `block '${item.name.text}' already has a '${word}'; keep one`, [{ span: seen.get(word)!.keywordSpan, message: 'the first one is here' }]);
      continue;
    }
    seen.set(word, it);
    if (it.kind === 'Decl' && (it.value || it.keyword === 'expert')) {
      // A block's own router is used by the block; its own experts must appear in a member list.
      scope.declare({ kind: it.keyword, name: it.name.text, span: it.name.span, decl: it, used: it.keyword === 'router', owner: item.name.text });
    }
  }
  if (item.broken) return undefined;
  // Block-local experts are checked even when no member list uses them.
  for (const sym of scope.own()) if (sym.kind === 'expert') resolveExpert(ctx, sym);

  const routers = resolveRouters(ctx, item);
  const experts = resolveMembers(ctx, item, 'experts');
  const shared = resolveMembers(ctx, item, 'shared');
  const topologyItem = seen.get('topology') as SettingItem | undefined;
  const scopeItem = seen.get('scope') as SettingItem | undefined;
  if (!routers || !experts || !shared) return undefined;

  if (experts.slots.length === 0) {
    ctx.diags.report('E0601', item.name.span, `block '${item.name.text}' has no routed experts; add a line such as 'experts ffn x 8'`);
    return undefined;
  }
  if (experts.members.every((m) => m.expert.kind === 'null')) {
    ctx.diags.report('E0601', item.name.span, `block '${item.name.text}' has only null experts, so it computes nothing; add experts that compute`);
    return undefined;
  }
  const topology = resolveTopology(ctx, topologyItem, routers, item);
  if (!topology) return undefined;

  const heads = topology.kind === 'multihead' ? topology.heads : 1;
  let expertWidth: number | undefined;
  let widthSpan: Span | undefined;
  for (const m of [...experts.members, ...shared.members]) {
    const isShared = shared.members.includes(m);
    const w = ffnWidth(m.expert);
    if (w === undefined) continue;
    const want = expertWidth === undefined ? undefined : isShared ? expertWidth * heads : expertWidth;
    if (m.expert.kind === 'ffn' && m.expert.input !== m.expert.output) {
      ctx.diags.report('E0404', m.span, `expert '${m.expert.name}' maps ${m.expert.input} to ${m.expert.output}, but block experts must return their input width`);
      return undefined;
    }
    if (want === undefined) {
      if (isShared && w % heads !== 0) {
        ctx.diags.report('E0312', topologyItem?.value.span ?? item.name.span, `multihead(heads = ${heads}) splits each token into ${heads} sub-tokens, so it must divide the width ${w}`);
        return undefined;
      }
      expertWidth = isShared ? w / heads : w;
      widthSpan = m.span;
    } else if (w !== want) {
      ctx.diags.report('E0404', m.span, `expert '${m.expert.name}' has width ${w}, but block '${item.name.text}' works at ${want}`, widthSpan ? [{ span: widthSpan, message: 'the block width is set here' }] : []);
      return undefined;
    }
  }

  const expertCount = experts.slots.reduce((n, s) => n + s.count, 0);
  const gated = topology.kind === 'union' ? routers.find((r) => r.router.name === topology.expertRouter)! : routers[0]!;
  for (const info of routers) {
    const isGroupRouter = topology.kind === 'union' && info.router.name === topology.groupRouter;
    const want = isGroupRouter ? topology.groups : expertCount;
    if (info.router.width !== want) {
      const what = isGroupRouter ? `union(expert = ${topology.expertRouter}) splits experts into ${want} groups` : `block '${item.name.text}' has ${expertCount} experts (${experts.slots.map((s) => `${s.expert} x ${s.count}`).join(', ')})`;
      ctx.diags.report('E0505', info.widthSpan, `router '${info.router.name}' scores ${info.router.width} entries, but ${what}`);
      return undefined;
    }
    if (info.input !== undefined) {
      if (expertWidth === undefined) {
        expertWidth = info.input;
        widthSpan = info.inputSpan;
      } else if (info.input !== expertWidth) {
        const why = heads > 1 ? ` (the width divided by ${heads} heads)` : '';
        ctx.diags.report('E0506', info.inputSpan, `router '${info.router.name}' reads ${info.input} features, but block '${item.name.text}' routes ${expertWidth}-wide tokens${why}`);
        return undefined;
      }
    }
  }
  if (topology.kind === 'union' && expertCount % topology.groups !== 0) {
    ctx.diags.report('E0508', gated.widthSpan, `${topology.groups} groups do not divide the block's ${expertCount} experts evenly`);
    return undefined;
  }
  if (topology.kind === 'union') {
    // The expert router only sees the experts of the groups the group router chose.
    const topk = (r: RouterInfo) => r.router.stages.find((st): st is Extract<typeof st, { op: 'topk' }> => st.op === 'topk')?.k;
    const groupRouter = routers.find((r) => r.router.name === topology.groupRouter)!;
    const [groupK, expertK] = [topk(groupRouter), topk(gated)];
    const reachable = (groupK ?? topology.groups) * (expertCount / topology.groups);
    if (expertK !== undefined && expertK > reachable) {
      ctx.diags.report('E0507', gated.span, `router '${gated.router.name}' selects ${expertK} experts, but the group${groupK === 1 ? '' : 's'} router '${groupRouter.router.name}' picks hold${groupK === 1 ? 's' : ''} only ${reachable}`);
      return undefined;
    }
  }

  const couples = routers.filter((r) => r.router.couplesTokens);
  const isolation = scopeItem ? resolveScope(ctx, scopeItem) : undefined;
  if (scopeItem && !isolation) return undefined;
  if (couples.length && !isolation) {
    ctx.diags.report('W0002', couples[0]!.span, `router '${couples[0]!.router.name}' couples tokens across the batch; declare 'scope request' or 'scope batch' in block '${item.name.text}'`);
  } else if (isolation && !couples.length) {
    ctx.diags.report('W0003', scopeItem!.keywordSpan, `block '${item.name.text}' declares a scope, but none of its routers couples tokens`);
  }

  const block: BlockInfo['block'] = {
    name: item.name.text,
    ...(expertWidth !== undefined ? { width: expertWidth * heads } : {}),
    expertWidth: expertWidth ?? 0,
    routers: routers.map((r) => r.router),
    experts: experts.slots,
    expertCount,
    shared: { slots: shared.slots, gate: shared.gate },
    topology,
    ...(isolation ? { scope: isolation } : {}),
  };
  const offloadSection = seen.get('offload') as SectionItem | undefined;
  return { block, ...(widthSpan ? { widthSpan } : {}), topologySpan: topologyItem?.value.span ?? item.name.span, ...(offloadSection ? { offloadSection } : {}), scope };
}

/** Resolve a router declaration once; a model-level router used by several blocks is reported on once. */
export function routerOf(ctx: CheckContext, decl: DeclItem): RouterInfo | undefined {
  if (!ctx.routers.has(decl)) {
    ctx.routers.set(decl, decl.value && !decl.broken ? resolveRouter(ctx, decl.name.text, decl.value) : undefined);
  }
  return ctx.routers.get(decl);
}

function ffnWidth(e: Expert): number | undefined {
  return e.kind === 'ffn' ? e.input : undefined;
}

function resolveRouters(ctx: CheckContext, item: BlockItem): RouterInfo[] | undefined {
  const out: RouterInfo[] = [];
  let ok = true;
  for (const it of item.items) {
    if (it.kind !== 'Decl' || it.keyword !== 'router') continue;
    let decl: DeclItem | undefined = it;
    if (!it.value) {
      const sym = resolveName(ctx, { kind: 'NameRef', name: it.name, span: it.name.span }, ['router'], 'router');
      decl = sym?.decl as DeclItem | undefined;
    }
    const info = decl && routerOf(ctx, decl);
    if (info) out.push(info);
    else ok = false;
  }
  if (!ok) return undefined;
  return out;
}

interface Members {
  slots: ExpertSlots[];
  members: { expert: Expert; span: Span }[];
  gate: 'none' | 'sigmoid';
}

function resolveMembers(ctx: CheckContext, item: BlockItem, keyword: 'experts' | 'shared'): Members | undefined {
  const out: Members = { slots: [], members: [], gate: 'none' };
  let first = 0;
  let ok = true;
  for (const it of item.items) {
    if (it.kind !== 'Members' || it.keyword !== keyword) continue;
    if (!resolveGate(ctx, it, out)) ok = false;
    for (const m of it.members) {
      const sym: Symbol | undefined = resolveName(ctx, { kind: 'NameRef', name: m.name, span: m.name.span }, ['expert'], 'expert');
      const expert = sym && resolveExpert(ctx, sym);
      const count = m.count ? ctx.evaluator.evaluate(m.count, ctx.scope) : 1;
      const stacked = (w: ExpertWeight) => checkTensor(ctx.diags, m.span, `'${m.name.text} x ${count}' (its ${w.name} matrices stacked)`, w.shape, count);
      if (!expert || count === undefined || !checkInt(ctx.diags, count, m.count?.span ?? m.span, `the count of '${m.name.text}'`) || !expertWeights(expert).every(stacked)) {
        ok = false;
        continue;
      }
      out.slots.push({ expert: expert.name, count, first });
      out.members.push({ expert, span: m.span });
      first += count;
    }
  }
  return ok ? out : undefined;
}

function resolveGate(ctx: CheckContext, it: MembersItem, out: Members): boolean {
  if (!it.gate) return true;
  if (it.keyword === 'experts') {
    ctx.diags.report('E0207', it.gate.span, "a gate applies to shared experts only; routed experts are weighted by the router");
    return false;
  }
  const gate = bindCall(it.gate, SHARED_GATES, 'E0803', 'a shared-expert gate', ctx);
  if (gate) out.gate = gate.sig.name as 'sigmoid';
  return gate !== undefined;
}

function resolveTopology(ctx: CheckContext, it: SettingItem | undefined, routers: RouterInfo[], item: BlockItem): Topology | undefined {
  const call = it ? bindCall(it.value, TOPOLOGIES, 'E0603', 'a topology', ctx) : undefined;
  if (it && !call) return undefined;
  const kind = call?.sig.name ?? 'standard';
  const span = it?.value.span ?? item.name.span;
  if (kind === 'union') {
    const names = [call!.name('group'), call!.name('expert')];
    if (!names[0] || !names[1]) return undefined;
    for (const n of names) {
      if (!routers.some((r) => r.router.name === n!.text)) {
        ctx.diags.report('E0201', n!.span, `block '${item.name.text}' has no router '${n!.text}'${didYouMean(n!.text, routers.map((r) => r.router.name))}`);
        return undefined;
      }
    }
    if (routers.length !== 2 || names[0].text === names[1].text) {
      ctx.diags.report('E0602', span, `a union block has exactly two routers, one over groups and one over experts; block '${item.name.text}' has ${routers.length}`);
      return undefined;
    }
    const groups = routers.find((r) => r.router.name === names[0]!.text)!.router.width;
    const expertRouter = routers.find((r) => r.router.name === names[1]!.text)!;
    if (expertRouter.router.stages[0]!.op !== 'linear') {
      ctx.diags.report('E0607', expertRouter.widthSpan, `union expert router '${names[1].text}' must score experts with linear(in -> experts); ${expertRouter.router.stages[0]!.op} routing ignores the chosen groups`);
      return undefined;
    }
    return { kind: 'union', groupRouter: names[0].text, expertRouter: names[1].text, groups };
  }
  if (routers.length !== 1) {
    ctx.diags.report('E0602', routers[1]?.span ?? item.name.span, `a ${kind} block has exactly one router; block '${item.name.text}' has ${routers.length}`);
    return undefined;
  }
  if (kind === 'chain') {
    const [iterations, residual] = [call!.int('iterations'), call!.bool('residual')];
    return iterations === undefined || residual === undefined ? undefined : { kind: 'chain', iterations, residual };
  }
  if (kind === 'multihead') {
    const heads = call!.int('heads');
    return heads === undefined ? undefined : { kind: 'multihead', heads };
  }
  return { kind: 'standard' };
}

function resolveScope(ctx: CheckContext, it: SettingItem): 'request' | 'batch' | undefined {
  const word = it.value.kind === 'NameRef' ? it.value.name.text : undefined;
  if (word && (SCOPES as readonly string[]).includes(word)) return word as 'request' | 'batch';
  ctx.diags.report('E0606', it.value.span, `unknown scope${word ? ` '${word}'` : ''}: use 'request' or 'batch'${word ? didYouMean(word, SCOPES) : ''}`);
  return undefined;
}
