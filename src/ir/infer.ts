import type { OpCall } from './ops.js';
import { affine, dimOf, formatType, mulTokens as mulDim, sameShape, type Dim, type TensorType } from './types.js';
import { routerParamCount } from './routing.js';
import { expertWeights } from './weights.js';

/**
 * Shape and dtype inference: the type of an op's result from its operands' types and its
 * attributes, or a message saying why the operands do not fit. Builders and passes get
 * types from here; the verifier re-infers every node and compares.
 */
export type Inferred = TensorType | string;

const last = (s: readonly Dim[]) => s[s.length - 1];

/** Elements for any token count: equal affine sizes are checked at two token counts. */
function sameSize(a: readonly Dim[], b: readonly Dim[]): boolean {
  const size = (s: readonly Dim[], t: number) => s.reduce<number>((p, d) => p * (affine(d).a * t + affine(d).b), 1);
  return [1, 7].every((t) => size(a, t) === size(b, t));
}

/** Padded rows of a permutation: every expert's run rounded up to the block. */
export function paddedRows(rows: Dim, slots: number, experts: number, block: number): Dim {
  const r = affine(rows);
  return dimOf({ a: r.a * slots, b: r.b * slots + experts * (block - 1) });
}

export function inferType(call: OpCall, src: readonly TensorType[], declared?: TensorType): Inferred {
  const a = src[0];
  const op = call.op;
  const need = (k: number) => (src.length === k ? undefined : `expects ${k} operands, has ${src.length}`);
  const i32 = (shape: Dim[]): TensorType => ({ dtype: 'i32', shape });
  switch (call.op) {
    case 'input':
    case 'param':
    case 'reshape':
      // Declared by the builder; reshape keeps the element count.
      if (op === 'reshape' && (!a || !declared || !sameSize(a.shape, declared.shape))) return `cannot reshape ${a ? formatType(a) : '?'} to ${declared ? formatType(declared) : '?'}`;
      return declared ?? 'needs a declared type';
    case 'add':
    case 'mul': {
      const bad = need(2);
      if (bad) return bad;
      const b = src[1]!;
      if (a!.dtype !== b.dtype) return `operands ${formatType(a!)} and ${formatType(b)} differ in dtype`;
      const fits = sameShape(a!.shape, b.shape) || (b.shape.length === 1 && b.shape[0] === last(a!.shape)) || (op === 'mul' && last(b.shape) === 1 && sameShape(b.shape.slice(0, -1), a!.shape.slice(0, -1)));
      return fits ? a! : `operands ${formatType(a!)} and ${formatType(b)} do not broadcast`;
    }
    case 'matmul': {
      const bad = need(2);
      if (bad) return bad;
      const b = src[1]!;
      if (b.shape.length !== 2 || last(a!.shape) !== b.shape[0]) return `cannot multiply ${formatType(a!)} by ${formatType(b)}`;
      return { dtype: a!.dtype, shape: [...a!.shape.slice(0, -1), b.shape[1]!] };
    }
    case 'dequant': {
      const bad = need(2);
      if (bad) return bad;
      const scale = src[1]!.shape;
      const fits = a!.dtype === (call.attrs.bits === 8 ? 'int8' : 'int4') && sameShape(scale, [...a!.shape.slice(0, -2), last(a!.shape)!]);
      return fits ? { dtype: src[1]!.dtype, shape: a!.shape } : `cannot dequantise ${formatType(a!)} with scales ${formatType(src[1]!)}`;
    }
    case 'act':
    case 'normalize':
    case 'scale':
    case 'group_limit':
      return need(1) ?? a!;
    case 'softmax':
      return src.length === 1 || src.length === 2 ? a! : 'expects 1 or 2 operands';
    case 'rmsnorm':
    case 'layernorm': {
      const bad = need(op === 'rmsnorm' ? 2 : 3);
      if (bad) return bad;
      return src.slice(1).every((p) => sameShape(p.shape, [last(a!.shape)!])) ? a! : `gain and bias must have shape [${last(a!.shape)}]`;
    }
    case 'ffn': {
      const { expert, index } = call.attrs;
      const want = expertWeights(expert);
      const bad = need(1 + want.length);
      if (bad) return bad;
      for (const [i, w] of want.entries()) {
        const got = src[1 + i]!.shape;
        const shape = index === undefined ? got : got.slice(1);
        if (!sameShape(shape, w.shape)) return `weight ${w.name} has shape [${got.join(', ')}]`;
      }
      if (last(a!.shape) !== expert.input) return `expert ${expert.name} takes ${expert.input} features`;
      return { dtype: a!.dtype, shape: [...a!.shape.slice(0, -1), expert.output] };
    }
    case 'route': {
      const r = call.attrs;
      const routers = [...(r.groupRouter ? [r.groupRouter] : []), r.router];
      const params = routers.reduce((n, x) => n + routerParamCount(x), 0);
      const extra = routers.some((x) => x.source.op === 'hash') ? 1 : 0;
      if (src.length < 1 + params + extra || src.length > 2 + params + extra) return `expects the input, ${params} router params and its id inputs, has ${src.length} operands`;
      let p = 1;
      for (const x of routers) {
        if (x.source.op === 'linear' && !sameShape(src[p]!.shape, [last(a!.shape)!, x.width])) return `gate of router ${x.name} must be [${last(a!.shape)}, ${x.width}], is ${formatType(src[p]!)}`;
        p += routerParamCount(x);
      }
      return { dtype: 'route', shape: [a!.shape[0]!, r.slots] };
    }
    case 'moe': {
      const want = call.attrs.groups.flatMap((g) => expertWeights(g.expert).map((w) => [g.count, ...w.shape]));
      const bad = need(2 + want.length);
      if (bad) return bad;
      if (src[1]!.dtype !== 'route' || src[1]!.shape[0] !== a!.shape[0]) return `the second operand must be a route over the same ${a!.shape[0]} rows`;
      const wrongWidth = call.attrs.groups.find((g) => g.expert.kind === 'ffn' && g.expert.input !== last(a!.shape));
      if (wrongWidth) return `expert ${wrongWidth.expert.name} reads ${(wrongWidth.expert as { input: number }).input} features, the input has ${last(a!.shape)}`;
      const wrong = want.findIndex((w, i) => !sameShape(src[2 + i]!.shape, w));
      return wrong >= 0 ? `weight ${wrong} must have shape [${want[wrong]!.join(', ')}]` : a!;
    }
    case 'mask': {
      const bad = need(2);
      if (bad) return bad;
      return sameShape(a!.shape, src[1]!.shape) ? a! : `cannot mask ${formatType(a!)} by ${formatType(src[1]!)}`;
    }
    case 'group_mask': {
      const bad = need(2);
      if (bad) return bad;
      return src[1]!.dtype === 'i32' && src[1]!.shape[0] === a!.shape[0] && typeof last(a!.shape) === 'number' && (last(a!.shape) as number) % call.attrs.size === 0 ? a! : `cannot mask ${formatType(a!)} by groups ${formatType(src[1]!)} of ${call.attrs.size}`;
    }
    case 'group_weight': {
      const bad = need(3);
      if (bad) return bad;
      const [ids, gids, gw] = [a!, src[1]!, src[2]!];
      if (ids.dtype !== 'i32' || gids.dtype !== 'i32' || !sameShape(gids.shape, gw.shape) || ids.shape[0] !== gids.shape[0]) return `expects ids, group ids and group weights, has ${src.map(formatType).join(', ')}`;
      return { dtype: gw.dtype, shape: ids.shape };
    }
    case 'index': {
      const bad = need(1);
      if (bad) return bad;
      const n = a!.shape[0];
      return typeof n === 'number' && call.attrs.i >= 0 && call.attrs.i < n && a!.shape.length > 1 ? { dtype: a!.dtype, shape: a!.shape.slice(1) } : `cannot take item ${call.attrs.i} of ${formatType(a!)}`;
    }
    case 'topk':
      return need(1) ?? i32([a!.shape[0]!, call.attrs.k]);
    case 'drop':
      return need(1) ?? a!;
    case 'top_p':
      return need(2) ?? i32([a!.shape[0]!, call.attrs.max]);
    case 'hash_select':
      return need(1) ?? i32([a!.shape[0]!, call.attrs.k]);
    case 'fixed_select':
      return need(1) ?? i32([a!.shape[0]!, call.attrs.experts.length]);
    case 'expert_choice':
      return src.length === 1 || src.length === 2 ? i32([a!.shape[0]!, a!.shape[1]!]) : 'expects a key and optional requests';
    case 'capacity':
      return src.length === 2 || src.length === 3 ? a! : 'expects ids, weights and optional requests';
    case 'fill':
      return need(1) ?? { dtype: call.attrs.dtype, shape: a!.shape };
    case 'repeat':
      return need(1) ?? { dtype: a!.dtype, shape: [mulDim(a!.shape[0]!, call.attrs.times)] };
    case 'gather':
      return need(2) ?? { dtype: a!.dtype, shape: src[1]!.shape };
    case 'pack_route':
      return need(2) ?? { dtype: 'route', shape: a!.shape };
    case 'extend_route': {
      if (a?.dtype !== 'route' || src.length > 2) return 'expects a route and an optional gate';
      const { count } = call.attrs;
      return { dtype: 'route', shape: [a.shape[0]!, (a.shape[1] as number) + count] };
    }
    case 'route_ids':
    case 'route_weights':
      if (need(1) || a!.dtype !== 'route') return 'expects one route operand';
      return { dtype: op === 'route_ids' ? 'i32' : 'f32', shape: a!.shape };
    case 'count':
      return need(1) ?? i32([call.attrs.experts]);
    case 'offsets':
      return need(1) ?? i32([(a!.shape[0] as number) + 1]);
    case 'permute':
    case 'inverse': {
      const bad = need(2);
      if (bad) return bad;
      if (op === 'inverse') return i32(a!.shape as Dim[]);
      const experts = (src[1]!.shape[0] as number) - 1;
      return i32([paddedRows(a!.shape[0]!, a!.shape[1] as number, experts, call.attrs.block)]);
    }
    case 'gather_rows':
      return need(2) ?? { dtype: a!.dtype, shape: [src[1]!.shape[0]!, last(a!.shape)!] };
    case 'grouped_matmul':
    case 'grouped_copy': {
      const { count } = call.attrs;
      if (op === 'grouped_copy') return need(2) ?? a!;
      const bad = src.length === 4 ? undefined : need(3);
      if (bad) return bad;
      const w = src[2]!.shape;
      if (w.length !== 3 || w[0] !== count || w[1] !== last(a!.shape)) return `weight ${formatType(src[2]!)} does not fit ${count} experts reading ${last(a!.shape)} features`;
      if (src[3] && !sameShape(src[3].shape, [count, w[2]!])) return `bias ${formatType(src[3])} does not fit ${count} experts writing ${w[2]} features`;
      return { dtype: a!.dtype, shape: [a!.shape[0]!, w[2]!] };
    }
    case 'combine':
      return need(4) ?? { dtype: a!.dtype, shape: [src[1]!.shape[0]!, last(a!.shape)!] };
    case 'kernel': {
      // A kernel's body is re-inferred from its inputs: fusion must not change any type.
      const types: TensorType[] = [...src];
      for (const [i, n] of call.attrs.body.entries()) {
        const t = inferType(n, n.src.map((j) => types[j]!), n.type);
        if (typeof t === 'string') return `body node %k${i} (${n.op}): ${t}`;
        if (t.dtype !== n.type.dtype || !sameShape(t.shape, n.type.shape)) return `body node %k${i} (${n.op}) is ${formatType(n.type)}, inferred ${formatType(t)}`;
        types.push(t);
      }
      const result = types[types.length - 1]!;
      return declared && (result.dtype !== declared.dtype || !sameShape(result.shape, declared.shape)) ? `declared ${formatType(declared)} but its body yields ${formatType(result)}` : result;
    }
  }
  return `unknown op ${op as string}`;
}
