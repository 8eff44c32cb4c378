import type { DiagnosticBag } from '../diagnostics/diagnostic.js';
import type { Span } from '../diagnostics/source.js';
import { NORMS } from '../language/signatures.js';
import type { Binding, DeclItem, Expr } from '../parser/ast.js';

export type SymbolKind = 'dim' | 'const' | 'expert' | 'router' | 'block';

export interface Symbol {
  kind: SymbolKind;
  name: string;
  /** Span of the declared name. */
  span: Span;
  /** The declaring syntax: a dims/const binding, an expert/router decl, or a block. */
  decl: Binding | DeclItem | { kind: 'BlockRef'; name: string };
  used: boolean;
  /** Declared inside a block (block-local routers and experts). */
  owner?: string;
  /** The expression to evaluate, for dims and constants (overrides replace it). */
  value?: Expr;
}

const article: Record<SymbolKind, string> = { dim: 'a dim', const: 'a constant', expert: 'an expert', router: 'a router', block: 'a block' };
export function describeKind(kind: SymbolKind): string {
  return article[kind];
}

/** A lexical scope: a model, or a block inside it. Lookups fall back to the parent. */
export class Scope {
  private readonly table = new Map<string, Symbol>();
  /** Rejected duplicates, so uses that fit the duplicate resolve to it instead of cascading errors. */
  private readonly duplicates = new Map<string, Symbol>();

  constructor(
    private readonly diags: DiagnosticBag,
    readonly parent?: Scope,
  ) {}

  declare(sym: Symbol): void {
    // A block or expert named like a built-in norm would silently replace it in layer bodies.
    if ((sym.kind === 'expert' || sym.kind === 'block') && NORMS.has(sym.name)) {
      this.diags.report('E0202', sym.span, `'${sym.name}' is the built-in norm; give the ${sym.kind} another name`);
      return;
    }
    const prev = this.table.get(sym.name) ?? this.parent?.lookupLocalChain(sym.name);
    if (prev) {
      this.diags.report('E0202', sym.span, `'${sym.name}' is already declared as ${describeKind(prev.kind)}; rename one of them`, [
        { span: prev.span, message: `'${sym.name}' is first declared here` },
      ]);
      if (prev.kind !== sym.kind) this.duplicates.set(sym.name, sym);
      return;
    }
    this.table.set(sym.name, sym);
  }

  private lookupLocalChain(name: string): Symbol | undefined {
    return this.table.get(name) ?? this.parent?.lookupLocalChain(name);
  }

  lookup(name: string): Symbol | undefined {
    return this.lookupLocalChain(name);
  }

  /** Like lookup, but prefers a symbol of one of `kinds`, including a rejected duplicate. */
  lookupKind(name: string, kinds: readonly SymbolKind[]): Symbol | undefined {
    const sym = this.lookup(name);
    if (sym && !kinds.includes(sym.kind)) {
      const dup = this.findDuplicate(name);
      if (dup && kinds.includes(dup.kind)) return dup;
    }
    return sym;
  }

  private findDuplicate(name: string): Symbol | undefined {
    return this.duplicates.get(name) ?? this.parent?.findDuplicate(name);
  }

  /** All visible names, innermost first, for suggestions and completion. */
  visible(): Symbol[] {
    return [...this.table.values(), ...(this.parent?.visible() ?? [])];
  }

  own(): Symbol[] {
    return [...this.table.values()];
  }
}

export { didYouMean, suggest } from '../diagnostics/suggest.js';
