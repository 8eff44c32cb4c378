import type { Expr, SectionItem } from '../parser/ast.js';
import { CACHE_POLICIES, MISS_POLICIES, OFFLOAD_SETTINGS, PREFETCH_POLICIES, UNITS } from '../language/signatures.js';
import { bindCall, dtypeOf } from './args.js';
import { resolveName, type CheckContext } from './context.js';
import type { OffloadPolicy, StorageDType } from '../model/model.js';
import { checkExact } from './limits.js';
import { didYouMean } from './scope.js';

/** Settings of the whole device, not of one block's experts. */
const MODEL_WIDE = new Set(['budget', 'cache', 'prefetch']);

/** Resolve an `offload { ... }` section (model or block level); unset settings take defaults. */
export function resolveOffload(ctx: CheckContext, section: SectionItem, level: 'model' | 'block' = 'model'): OffloadPolicy | undefined {
  const policy: OffloadPolicy = { resident: [], cache: { kind: 'lru' }, prefetch: { kind: 'none' }, onMiss: { kind: 'wait' }, precision: {} };
  const seen = new Set<string>();
  let ok = !section.broken;
  for (const entry of section.entries) {
    const key = entry.name.text;
    if (!(OFFLOAD_SETTINGS as readonly string[]).includes(key)) {
      ctx.diags.report('E0801', entry.name.span, `unknown offload setting '${key}'${didYouMean(key, OFFLOAD_SETTINGS) || `; settings are ${OFFLOAD_SETTINGS.join(', ')}`}`);
      ok = false;
      continue;
    }
    if (level === 'block' && MODEL_WIDE.has(key)) {
      ctx.diags.report('E0804', entry.name.span, `the ${key} is shared by every block: set it in the model's offload section`);
      ok = false;
      continue;
    }
    if (seen.has(key)) {
      ctx.diags.report('E0206', entry.name.span, `offload setting '${key}' is given twice`);
      ok = false;
      continue;
    }
    seen.add(key);
    if (!applySetting(ctx, policy, key as (typeof OFFLOAD_SETTINGS)[number], entry.value)) ok = false;
  }
  return ok ? policy : undefined;
}

function applySetting(ctx: CheckContext, policy: OffloadPolicy, key: (typeof OFFLOAD_SETTINGS)[number], value: Expr): boolean {
  switch (key) {
    case 'budget': {
      const bytes = memorySize(ctx, value);
      if (bytes !== undefined) policy.budgetBytes = bytes;
      return bytes !== undefined;
    }
    case 'resident': {
      const items = value.kind === 'List' ? value.items : [value];
      for (const item of items) {
        const sym = resolveName(ctx, item, ['expert'], 'expert');
        if (!sym) return false;
        policy.resident.push(sym.name);
      }
      return true;
    }
    case 'cache': {
      const call = bindCall(value, CACHE_POLICIES, 'E0803', 'a cache policy', ctx);
      if (!call) return false;
      if (call.sig.name !== 'score') {
        policy.cache = { kind: call.sig.name as 'lru' | 'lfu' };
        return true;
      }
      const recency = call.number('recency');
      if (recency !== undefined) policy.cache = { kind: 'score', recency };
      return recency !== undefined;
    }
    case 'prefetch': {
      const call = bindCall(value, PREFETCH_POLICIES, 'E0803', 'a prefetch policy', ctx);
      if (!call) return false;
      if (call.sig.name === 'none') return true;
      const top = call.int('top');
      if (top !== undefined) policy.prefetch = { kind: 'next_layer', top };
      return top !== undefined;
    }
    case 'on_miss': {
      const call = bindCall(value, MISS_POLICIES, 'E0803', 'a miss policy', ctx);
      if (!call) return false;
      if (call.sig.name === 'wait') return true;
      const dtype = call.dtype('dtype');
      if (dtype !== undefined) policy.onMiss = { kind: 'degrade', dtype };
      return dtype !== undefined;
    }
    case 'precision': {
      if (value.kind !== 'Record') {
        ctx.diags.report('E0311', value.span, 'precision is a record of expert names and dtypes, such as { routed = int4, shared = bf16 }');
        return false;
      }
      for (const entry of value.entries) {
        const sym = resolveName(ctx, { kind: 'NameRef', name: entry.name, span: entry.name.span }, ['expert'], 'expert');
        const dtype: StorageDType | undefined = dtypeOf(ctx.diags, entry.value);
        if (!sym || !dtype) return false;
        policy.precision[sym.name] = dtype;
      }
      return true;
    }
  }
}

/** A memory size `6 GiB` in bytes; the unit is required. */
function memorySize(ctx: CheckContext, value: Expr): number | undefined {
  if (value.kind === 'Unary' && value.operand.kind === 'Number') {
    ctx.diags.report('E0301', value.span, 'a memory budget must be positive');
    return undefined;
  }
  if (value.kind !== 'Number' || !value.unit) {
    ctx.diags.report('E0307', value.span, 'a memory size needs a unit, such as 6 GiB or 512 MiB');
    return undefined;
  }
  const unit = value.unit.text;
  const scale = UNITS[unit];
  if (scale === undefined) {
    ctx.diags.report('E0307', value.unit.span, `unknown unit '${unit}'${didYouMean(unit, Object.keys(UNITS)) || `; use one of ${Object.keys(UNITS).join(', ')}`}`);
    return undefined;
  }
  if (value.value <= 0) {
    ctx.diags.report('E0301', value.span, `a memory budget must be positive, but is ${value.raw} ${unit}`);
    return undefined;
  }
  return checkExact(ctx.diags, value.value * scale, value.span, `${value.raw} ${unit} in bytes`) ? value.value * scale : undefined;
}
