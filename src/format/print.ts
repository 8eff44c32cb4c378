import type { Binding, Expr, FileNode, Item, Model, Name } from '../parser/ast.js';
import { ExprPrinter } from './expr.js';
import { Writer, type Comment } from './writer.js';

const INDENT = 2;

/**
 * The canonical layout of a .moe file: one model after another, a blank line between them;
 * one item, binding or statement per line, two spaces per level; bindings without commas;
 * single spaces around `=`, `->`, `|` and arithmetic, none around `..`. Blank lines between
 * items are kept (at most one). Everything else about the source's layout is forgotten.
 */
export function printFile(ast: FileNode, source: string, comments: readonly Comment[]): string {
  return new Printer(source, comments).file(ast);
}

class Printer {
  private readonly w: Writer;
  private readonly exprs: ExprPrinter;

  constructor(
    private readonly source: string,
    private readonly comments: readonly Comment[],
  ) {
    this.w = new Writer(source, comments);
    this.exprs = new ExprPrinter(this.w, source);
  }

  file(ast: FileNode): string {
    ast.models.forEach((model, i) => {
      this.w.element(model.span.start, i === 0, i > 0);
      this.model(model);
    });
    this.w.closing(this.source.length, ast.models.length === 0);
    return this.w.text();
  }

  private model(m: Model): void {
    this.w.write('model');
    this.name(m.name);
    this.body(m.name.span.end, m.span.end, m.items, (item) => this.item(item));
  }

  private item(item: Item): void {
    const w = this.w;
    switch (item.kind) {
      case 'Section':
        w.write(item.keyword);
        return this.bindings(item.keywordSpan.end, item.span.end, item.entries);
      case 'Setting':
        w.write(item.keyword);
        w.space();
        return this.exprs.expr(item.value);
      case 'Decl':
        w.write(item.keyword);
        this.name(item.name);
        if (item.value) this.assigned(item.value);
        return;
      case 'Block':
        w.write('block');
        this.name(item.name);
        return this.body(item.name.span.end, item.span.end, item.items, (inner) => this.item(inner));
      case 'Members':
        w.write(item.keyword);
        item.members.forEach((m, i) => {
          if (i > 0) {
            w.write(',');
            w.flush(m.span.start);
          }
          this.name(m.name);
          if (m.count) {
            w.space();
            w.write('x');
            w.space();
            this.exprs.expr(m.count);
          }
        });
        if (item.gate) {
          w.space();
          w.write('gate');
          w.space();
          this.exprs.expr(item.gate);
        }
        return;
      case 'Layers': {
        w.write('layers');
        w.space();
        this.exprs.expr(item.range);
        if (item.step) {
          w.space();
          w.write('step');
          w.space();
          this.exprs.expr(item.step);
        }
        return this.bindings((item.step ?? item.range).span.end, item.span.end, item.statements);
      }
    }
  }

  private bindings(after: number, end: number, entries: Binding[]): void {
    this.body(after, end, entries, (b) => {
      this.w.flush(b.name.span.start);
      this.w.write(b.name.text);
      this.assigned(b.value);
    });
  }

  /** ` = value`; a pipeline that breaks puts its `|` under the `=`, a `//` comment continues past it. */
  private assigned(value: Expr): void {
    this.w.space();
    const align = this.w.column;
    this.w.write('=');
    this.w.space();
    this.w.continuation = align;
    this.exprs.expr(value, undefined, align);
  }

  private name(n: Name): void {
    this.w.flush(n.span.start);
    this.w.space();
    this.w.write(n.text);
  }

  /**
   * `{`, one element per line, `}`. The source's `{` is the first token after `after`;
   * the `}` ends the construct at `end`.
   */
  private body<T extends { span: { start: number; end: number } }>(after: number, end: number, elements: readonly T[], print: (e: T) => void): void {
    const w = this.w;
    const open = this.nextToken(after);
    const close = end - 1;
    w.flush(open);
    w.space();
    if (elements.length === 0 && !this.commentBetween(open, close)) return w.write('{}');
    w.write('{');
    w.trailing(open + 1);
    w.indent += INDENT;
    elements.forEach((e, i) => {
      w.element(e.span.start, i === 0);
      w.continuation = w.indent + 2 * INDENT;
      print(e);
      w.finish(e.span.end);
    });
    w.closing(close, elements.length === 0);
    w.indent -= INDENT;
    w.write('}');
    w.trailing(end);
  }

  /** Offset of the first token at or after `from`, skipping whitespace and comments. */
  private nextToken(from: number): number {
    let at = from;
    for (;;) {
      while (at < this.source.length && /\s/.test(this.source[at]!)) at++;
      const comment = this.comments.find((c) => c.start === at);
      if (!comment) return at;
      at = comment.end;
    }
  }

  private commentBetween(from: number, to: number): boolean {
    return this.comments.some((c) => c.start > from && c.start < to);
  }
}
