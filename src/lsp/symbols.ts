import type { Span } from '../diagnostics/source.js';
import type { BlockItem, Expr, FileNode, Item, Model } from '../parser/ast.js';
import type { SymbolKind } from '../checker/scope.js';

/** A declared name: a dim, a constant, an expert, a router or a block. */
export interface Declaration {
  name: string;
  kind: SymbolKind;
  /** The declared name. */
  span: Span;
  /** The whole declaration (binding or item), for the outline and hovers. */
  full: Span;
  model: Model;
  /** The block that declares it, for block-local routers and experts. */
  block?: BlockItem;
  references: Span[];
}

/** One place a declared name appears, as its declaration or a use. */
export interface Occurrence {
  span: Span;
  declaration: Declaration;
}

/**
 * Declarations and uses of names in a (possibly partial) syntax tree, by the checker's scope
 * rules (docs/language.md): one namespace per model, a block's routers and experts in a
 * nested scope; `router NAME` without a pipeline in a block uses a model-level router.
 * Built from the AST alone, so it works on files the checker rejects.
 */
export class SymbolIndex {
  readonly declarations: Declaration[] = [];
  private readonly occurrences: Occurrence[] = [];

  constructor(ast: FileNode) {
    for (const model of ast.models) this.indexModel(model);
    this.occurrences.sort((a, b) => a.span.start - b.span.start);
  }

  /** The occurrence whose name contains `offset` (its end included, where a cursor often rests). */
  at(offset: number): Occurrence | undefined {
    return this.occurrences.find((o) => o.span.start <= offset && offset <= o.span.end);
  }

  /** Declarations visible at `offset`: its block's, then its model's. */
  visibleAt(offset: number): Declaration[] {
    const model = this.declarations.find((d) => contains(d.model.span, offset))?.model;
    const inner = this.declarations.filter((d) => d.model === model && d.block && contains(d.block.span, offset));
    return [...inner, ...this.declarations.filter((d) => d.model === model && !d.block)];
  }

  private indexModel(model: Model): void {
    const scope = new Map<string, Declaration>();
    const declare = (name: { text: string; span: Span }, kind: SymbolKind, full: Span, into: Map<string, Declaration>, block?: BlockItem) => {
      if (!name.text || into.has(name.text)) return;
      const d: Declaration = { name: name.text, kind, span: name.span, full, model, ...(block ? { block } : {}), references: [] };
      into.set(name.text, d);
      this.declarations.push(d);
      this.occurrences.push({ span: name.span, declaration: d });
    };
    for (const item of model.items) {
      if (item.kind === 'Section' && item.keyword !== 'offload') {
        for (const b of item.entries) declare(b.name, item.keyword === 'dims' ? 'dim' : 'const', b.span, scope);
      } else if (item.kind === 'Decl') declare(item.name, item.keyword, item.span, scope);
      else if (item.kind === 'Block') declare(item.name, 'block', item.span, scope);
    }
    for (const item of model.items) {
      if (item.kind !== 'Block') {
        this.indexItem(item, (n) => scope.get(n));
        continue;
      }
      const local = new Map<string, Declaration>();
      for (const inner of item.items) {
        if (inner.kind === 'Decl' && (inner.value || inner.keyword === 'expert')) declare(inner.name, inner.keyword, inner.span, local, item);
      }
      const lookup = (n: string) => local.get(n) ?? scope.get(n);
      for (const inner of item.items) {
        // `router NAME` alone uses the model's router of that name.
        if (inner.kind === 'Decl' && !inner.value && inner.keyword === 'router') this.use(inner.name, lookup);
        else this.indexItem(inner, lookup);
      }
    }
  }

  private indexItem(item: Item, lookup: Lookup): void {
    const walk = (e: Expr | undefined, mode: Mode, vars?: Set<string>) => e && this.indexExpr(e, lookup, mode, vars);
    switch (item.kind) {
      case 'Section':
        if (item.keyword !== 'offload') return item.entries.forEach((b) => walk(b.value, 'value'));
        for (const b of item.entries) {
          if (b.name.text === 'resident') walk(b.value, 'value');
          // Keys of `precision = { routed = int8 }` name experts; the values are dtypes.
          else if (b.name.text === 'precision' && b.value.kind === 'Record') b.value.entries.forEach((r) => this.use(r.name, lookup));
          else walk(b.value, 'call');
        }
        return;
      case 'Setting':
        // dtype, weights and scope take built-in words; a topology's arguments may name routers.
        return item.keyword === 'topology' ? walk(item.value, 'call') : undefined;
      case 'Decl':
        return walk(item.value, 'call');
      case 'Members':
        for (const m of item.members) {
          this.use(m.name, lookup);
          walk(m.count, 'value');
        }
        return;
      case 'Layers': {
        walk(item.range, 'value');
        walk(item.step, 'value');
        // Layer bodies assign variables (x, h, ...): they are not declarations.
        const vars = new Set(['x', ...item.statements.map((st) => st.name.text)]);
        return item.statements.forEach((st) => walk(st.value, 'tensor', vars));
      }
      case 'Block':
        return; // indexed by indexModel, with its own scope
    }
  }

  /**
   * `value`: every name is a declared dim, constant or expert. `call`: callees are built-in
   * stages, kinds or policies, their arguments values. `tensor`: callees are blocks or experts,
   * positional arguments tensors over layer variables, named arguments values.
   */
  private indexExpr(e: Expr, lookup: Lookup, mode: Mode, vars?: Set<string>): void {
    const walk = (x: Expr, m: Mode = mode) => this.indexExpr(x, lookup, m, vars);
    switch (e.kind) {
      case 'NameRef':
        // A bare word where a call may stand is built in (`softmax`, `identity`, `lru`).
        if (mode === 'call' || (mode === 'tensor' && vars?.has(e.name.text))) return;
        return this.use(e.name, lookup);
      case 'Call':
        if (mode !== 'call') this.use(e.callee, lookup);
        return e.args.forEach((a) => walk(a.value, mode === 'tensor' && !a.name ? 'tensor' : 'value'));
      case 'Unary':
        return walk(e.operand);
      case 'Binary':
        walk(e.left);
        return walk(e.right);
      case 'Chain':
      case 'List':
        return e.items.forEach((x) => walk(x));
      default:
        return;
    }
  }

  /** Records a use of `name` when it resolves to a declaration (builtins such as `softmax` do not). */
  private use(name: { text: string; span: Span }, lookup: Lookup): void {
    const d = lookup(name.text);
    if (!d) return;
    d.references.push(name.span);
    this.occurrences.push({ span: name.span, declaration: d });
  }
}

type Lookup = (name: string) => Declaration | undefined;
type Mode = 'value' | 'call' | 'tensor';

export function contains(span: Span, offset: number): boolean {
  return span.start <= offset && offset <= span.end;
}
