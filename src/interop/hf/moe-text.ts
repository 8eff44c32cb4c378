import { formatSource } from '../../format/format.js';
import { SITE, type LayerKind, type MoeStack } from './stack.js';

/**
 * The .moe text of an imported stack, formatted by moec's formatter: dims, the experts, the
 * block, and layer sections that cover every layer once (an every-n-th pattern is one
 * section with a step).
 */
export function stackToMoe(s: MoeStack): string {
  const dims = [`hidden = ${s.hidden}`];
  if (s.denseFfn !== undefined) dims.push(`ffn = ${s.denseFfn}`);
  if (s.moe) {
    dims.push(`expert_ffn = ${s.moe.ffn}`);
    if (s.moe.shared) dims.push(`shared_ffn = ${s.moe.shared.ffn}`);
    dims.push(`experts = ${s.moe.experts}`);
  }
  const lines = [...s.notes.map((n) => `// ${n}`), `model ${s.name} {`, `dims { ${dims.join(', ')} }`, 'dtype f32'];
  if (s.weights !== 'F32') lines.push(`// Expert matrices stay in the checkpoint's ${s.weights}; routers and norms compute in f32.`, `weights ${s.weights.toLowerCase()}`);
  if (s.denseFfn !== undefined) lines.push(`expert ${SITE.dense} = ${s.kind}(hidden -> ffn -> hidden)`);
  const m = s.moe;
  if (m) {
    const options = Object.entries(s.expert ?? {}).map(([k, v]) => `, ${k} = ${typeof v === 'number' ? number(v) : String(v)}`);
    lines.push(`expert ${SITE.routed} = ${s.kind}(hidden -> expert_ffn -> hidden${options.join('')})`);
    if (m.shared) lines.push(`expert ${SITE.shared} = ${s.kind}(hidden -> shared_ffn -> hidden)`);
    lines.push(`block ${SITE.block} {`);
    lines.push(`router ${SITE.gate} = linear(hidden -> experts${m.gateBias ? ', bias = true' : ''})${m.stages ? ` | ${m.stages}` : ''}`);
    lines.push(`experts ${SITE.routed} x experts`);
    if (m.shared) lines.push(`shared ${SITE.shared}${m.shared.gate ? ' gate sigmoid' : ''}`);
    if (m.scope) lines.push(`scope ${m.scope}`);
    lines.push('}');
  }
  const norm = `rmsnorm(x, eps = ${number(s.eps)})`;
  const body: Record<LayerKind, string> = {
    dense: `x = x + ${SITE.dense}(${norm})`,
    moe: `x = x + ${SITE.block}(${norm})`,
    parallel: `x = x + ${SITE.dense}(${norm}) + ${SITE.block}(${norm})`,
  };
  for (const section of sections(s.layers)) lines.push(`layers ${section.range} { ${body[section.kind]} }`);
  lines.push('}');
  const formatted = formatSource(`${lines.join('\n')}\n`, `${s.name}.moe`);
  if (!formatted.ok) throw new Error(`internal: the generated .moe text does not parse: ${formatted.diagnostics[0]?.message}`);
  return formatted.text;
}

/** A number as the language reads it back exactly (the shortest round-tripping decimal). */
export function number(v: number): string {
  return String(v);
}

interface Section {
  kind: LayerKind;
  first: number;
  range: string;
}

/** Layer sections: one per kind when its layers are evenly spaced (`a..b step s`), else one per contiguous run. */
export function sections(layers: readonly LayerKind[]): Section[] {
  const out: Section[] = [];
  const kinds = [...new Set(layers)];
  for (const kind of kinds) {
    const at = layers.flatMap((k, i) => (k === kind ? [i] : []));
    const step = at.length > 1 ? at[1]! - at[0]! : 1;
    if (at.every((l, j) => l === at[0]! + j * step)) {
      out.push({ kind, first: at[0]!, range: `${at[0]}..${at[at.length - 1]! + 1}${step > 1 ? ` step ${step}` : ''}` });
      continue;
    }
    for (let j = 0; j < at.length; ) {
      let end = j;
      while (end + 1 < at.length && at[end + 1] === at[end]! + 1) end++;
      out.push({ kind, first: at[j]!, range: `${at[j]}..${at[end]! + 1}` });
      j = end + 1;
    }
  }
  return out.sort((a, b) => a.first - b.first);
}
