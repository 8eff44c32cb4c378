import type { DeclItem } from '../parser/ast.js';
import { EXPERT_KINDS } from '../language/signatures.js';
import { bindCall, checkInt } from './args.js';
import type { CheckContext } from './context.js';
import type { Expert } from '../model/model.js';
import type { Symbol } from './scope.js';

/** Resolve an expert declaration (`expert e = swiglu(a -> b -> a, rank = 64)`), once per symbol. */
export function resolveExpert(ctx: CheckContext, sym: Symbol): Expert | undefined {
  if (ctx.experts.has(sym)) return ctx.experts.get(sym);
  const expert = resolve(ctx, sym);
  ctx.experts.set(sym, expert);
  return expert;
}

function resolve(ctx: CheckContext, sym: Symbol): Expert | undefined {
  const decl = sym.decl as DeclItem;
  if (decl.broken) return undefined;
  if (!decl.value) {
    ctx.diags.report('E0309', decl.name.span, `expert '${sym.name}' needs a definition, such as 'expert ${sym.name} = swiglu(hidden -> ffn -> hidden)'`);
    return undefined;
  }
  const call = bindCall(decl.value, EXPERT_KINDS, 'E0401', 'an expert kind', ctx);
  if (!call) return undefined;
  const ffn = call.sig.ffn;
  if (!ffn) return call.sig.name === 'identity' ? { kind: 'identity', name: sym.name } : { kind: 'null', name: sym.name };

  const shape = call.shape('shape');
  const rank = call.int('rank');
  const latent = call.int('latent');
  // Parameters a kind does not take read as their defaults.
  const param = (name: string) => (call.sig.params.some((p) => p.name === name) ? call.number(name) : undefined);
  const [alpha, beta, limit] = [param('alpha'), param('beta'), param('limit')];
  if (!shape) return undefined;
  if (shape.dims.length !== 3) {
    ctx.diags.report('E0402', shape.span, `${call.sig.name} takes a shape 'in -> hidden -> out', but this one has ${shape.dims.length} part${shape.dims.length === 1 ? '' : 's'}`);
    return undefined;
  }
  const [input, hidden, output] = shape.dims;
  if (input === undefined || hidden === undefined || output === undefined || rank === undefined || latent === undefined) return undefined;
  for (const [i, v] of [input, hidden, output].entries()) {
    if (!checkInt(ctx.diags, v, shape.parts[i]!, `expert '${sym.name}': part ${i + 1} of the shape`)) return undefined;
  }
  return {
    kind: 'ffn',
    name: sym.name,
    gated: ffn.gated,
    act: ffn.act,
    input,
    hidden,
    output,
    ...(rank > 0 ? { rank } : {}),
    ...(latent > 0 ? { latent } : {}),
    ...(call.bool('bias') ? { bias: true } : {}),
    ...(alpha !== undefined && alpha !== 1 ? { alpha } : {}),
    ...(beta !== undefined && beta !== 0 ? { beta } : {}),
    ...(limit !== undefined ? { limit } : {}),
  };
}
