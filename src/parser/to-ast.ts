import type { CstNode, IToken } from 'chevrotain';
import { joinSpans, type Span } from '../diagnostics/source.js';
import type * as A from './ast.js';

/**
 * CST to AST. The CST may be partial where the parser recovered from an error: every
 * accessor tolerates missing children, and items that contain a recovery are marked
 * `broken` so the checker does not pile further diagnostics on an error already reported.
 */
type Child = CstNode | IToken;

function isToken(c: Child): c is IToken {
  return (c as IToken).image !== undefined;
}

/** A token from the source, not one the parser invented while recovering. */
function isReal(t: IToken): boolean {
  return !t.isInsertedInRecovery && t.startOffset >= 0;
}

function nodes(n: CstNode, label: string): CstNode[] {
  return (n.children[label] ?? []).filter((c): c is CstNode => !isToken(c));
}
function node(n: CstNode, label: string): CstNode | undefined {
  return nodes(n, label)[0];
}
function tokens(n: CstNode, label: string): IToken[] {
  return (n.children[label] ?? []).filter(isToken).filter(isReal);
}
function token(n: CstNode, label: string): IToken | undefined {
  return tokens(n, label)[0];
}

export function tokenSpan(t: IToken): Span {
  return { start: t.startOffset, end: t.endOffset! + 1 };
}

/** Span of a CST node; falls back to its real tokens when location tracking gave up during recovery. */
function nodeSpan(n: CstNode): Span {
  const loc = n.location;
  if (loc && loc.startOffset >= 0 && loc.endOffset !== undefined && loc.endOffset >= loc.startOffset) {
    return { start: loc.startOffset, end: loc.endOffset + 1 };
  }
  let start = Infinity;
  let end = -Infinity;
  visitTokens(n, (t) => {
    start = Math.min(start, t.startOffset);
    end = Math.max(end, t.endOffset! + 1);
  });
  return start === Infinity ? { start: 0, end: 0 } : { start, end };
}

function visitTokens(n: CstNode, f: (t: IToken) => void): void {
  for (const list of Object.values(n.children)) {
    for (const c of list) {
      if (isToken(c)) {
        if (isReal(c)) f(c);
      } else visitTokens(c, f);
    }
  }
}

function isBroken(n: CstNode): boolean {
  if (n.recoveredNode) return true;
  for (const list of Object.values(n.children)) {
    for (const c of list) {
      if (isToken(c) ? c.isInsertedInRecovery === true : isBroken(c)) return true;
    }
  }
  return false;
}

function name(t: IToken | undefined, fallback: Span): A.Name {
  return t ? { kind: 'Name', text: t.image, span: tokenSpan(t) } : { kind: 'Name', text: '', span: fallback };
}

function keywordOf(n: CstNode): IToken | undefined {
  return (
    token(n, 'keyword') ??
    Object.values(n.children)
      .flat()
      .find((c): c is IToken => isToken(c))
  );
}

/** What toAst leaves out, for the caller to report. */
export interface Omissions {
  /** The deepest expression tree kept; a deeper one becomes an Error node. */
  maxDepth: number;
  /** Called once for each expression cut off (its span). */
  tooDeep: (span: Span) => void;
  /** Whether the parser recovered from an error anywhere in this CST (else no item is broken). */
  recovered: boolean;
}

const keepAll: Omissions = { maxDepth: Infinity, tooDeep: () => {}, recovered: true };

/** Expression depths while one toAst runs: a chain of n operators is n levels deep. */
let depths = new WeakMap<A.Expr, number>();
let limit = keepAll;

export function toAst(cst: CstNode, omissions: Omissions = keepAll): A.FileNode {
  depths = new WeakMap();
  limit = omissions;
  try {
    return { kind: 'File', models: nodes(cst, 'model').map(toModel), span: nodeSpan(cst) };
  } finally {
    limit = keepAll;
  }
}

function children(e: A.Expr): A.Expr[] {
  switch (e.kind) {
    case 'Binary':
      return [e.left, e.right];
    case 'Unary':
      return [e.operand];
    case 'Chain':
    case 'List':
      return e.items;
    case 'Call':
      return e.args.map((a) => a.value);
    case 'Record':
      return e.entries.map((b) => b.value);
    default:
      return [];
  }
}

/** Record `e`'s depth; past the limit, report it and stand in an Error node (depth 1). */
function measured(e: A.Expr): A.Expr {
  const depth = 1 + children(e).reduce((d, c) => Math.max(d, depths.get(c) ?? 1), 0);
  if (depth <= limit.maxDepth) {
    depths.set(e, depth);
    return e;
  }
  limit.tooDeep(e.span);
  return { kind: 'Error', span: e.span };
}

function toModel(n: CstNode): A.Model {
  const span = nodeSpan(n);
  return { kind: 'Model', name: name(token(n, 'name'), span), items: toBody(node(n, 'body')), span };
}

function toBody(n: CstNode | undefined): A.Item[] {
  if (!n) return [];
  return nodes(n, 'item').flatMap((item) => {
    const inner = Object.values(item.children).flat().find((c): c is CstNode => !isToken(c));
    return inner ? [toItem(inner)] : [];
  });
}

function toItem(n: CstNode): A.Item {
  const span = nodeSpan(n);
  const kw = keywordOf(n);
  const base = { span, keywordSpan: kw ? tokenSpan(kw) : span, broken: limit.recovered && isBroken(n) };
  const keyword = kw?.image ?? '';
  const value = (label: string): A.Expr => toExprOr(node(n, label), span);
  switch (n.name) {
    case 'section':
      return { ...base, kind: 'Section', keyword: keyword as A.SectionKeyword, entries: toBindings(node(n, 'bindings')) };
    case 'setting':
      return { ...base, kind: 'Setting', keyword: keyword as A.SettingKeyword, value: value('value') };
    case 'decl': {
      const v = node(n, 'value');
      return {
        ...base,
        kind: 'Decl',
        keyword: keyword as A.DeclKeyword,
        name: name(token(n, 'name'), span),
        ...(v ? { value: toExpr(v) } : {}),
      };
    }
    case 'block':
      return { ...base, kind: 'Block', name: name(token(n, 'name'), span), items: toBody(node(n, 'body')) };
    case 'members': {
      const gate = node(n, 'gate');
      return {
        ...base,
        kind: 'Members',
        keyword: keyword as A.MembersKeyword,
        members: nodes(n, 'member').map(toMember),
        ...(gate ? { gate: toExpr(gate) } : {}),
      };
    }
    case 'layers': {
      const step = node(n, 'step');
      return {
        ...base,
        kind: 'Layers',
        range: value('range'),
        ...(step ? { step: toExpr(step) } : {}),
        statements: toBindings(node(n, 'bindings')),
      };
    }
    default:
      throw new Error(`internal: unknown item rule ${n.name}`);
  }
}

function toMember(n: CstNode): A.Member {
  const span = nodeSpan(n);
  const count = node(n, 'count');
  return { name: name(token(n, 'name'), span), ...(count ? { count: toExpr(count) } : {}), span };
}

function toBindings(n: CstNode | undefined): A.Binding[] {
  return n ? nodes(n, 'binding').map(toBinding) : [];
}

function toBinding(n: CstNode): A.Binding {
  const span = nodeSpan(n);
  return { kind: 'Binding', name: name(token(n, 'name'), span), value: toExprOr(node(n, 'value'), span), span };
}

function toExprOr(n: CstNode | undefined, fallback: Span): A.Expr {
  return n ? toExpr(n) : { kind: 'Error', span: fallback };
}

function toExpr(n: CstNode): A.Expr {
  return measured(toExprOf(n));
}

/** Binary levels share one shape: operands interleaved with operators. */
function toExprOf(n: CstNode): A.Expr {
  const span = nodeSpan(n);
  switch (n.name) {
    case 'expr':
    case 'shape': {
      const items = nodes(n, 'operands').map(toExpr);
      if (items.length === 1) return items[0]!;
      if (items.length === 0) return { kind: 'Error', span };
      return { kind: 'Chain', op: n.name === 'expr' ? '|' : '->', items, span };
    }
    case 'range':
    case 'sum':
    case 'product': {
      const operands = nodes(n, 'operands');
      const ops = tokens(n, 'operators');
      if (operands.length === 0) return { kind: 'Error', span };
      let acc = toExpr(operands[0]!);
      for (let i = 1; i < operands.length; i++) {
        const right = toExpr(operands[i]!);
        const op = (ops[i - 1]?.image ?? '+') as A.BinaryOp;
        acc = { kind: 'Binary', op, left: acc, right, span: joinSpans(acc.span, right.span) };
        // A long chain is cut once, as a whole, not again every maxDepth operators.
        if (i < operands.length - 1 && measured(acc).kind === 'Error') return { kind: 'Error', span };
      }
      return acc;
    }
    case 'unary': {
      const operand = toExprOr(node(n, 'operand'), span);
      return token(n, 'minus') ? { kind: 'Unary', op: '-', operand, span } : operand;
    }
    case 'primary':
      return toPrimary(n, span);
    default:
      return { kind: 'Error', span };
  }
}

function toPrimary(n: CstNode, span: Span): A.Expr {
  const num = token(n, 'number');
  if (num) {
    const unit = token(n, 'unit');
    return {
      kind: 'Number',
      value: Number(num.image.replace(/_/g, '')),
      raw: num.image,
      ...(unit ? { unit: name(unit, span) } : {}),
      span,
    };
  }
  const str = token(n, 'string');
  if (str) {
    // An unterminated string is reported by the scanner; its value is not trustworthy.
    return str.tokenType.name === 'StringLiteral' ? { kind: 'String', value: unquote(str.image), span } : { kind: 'Error', span };
  }
  const id = token(n, 'name');
  if (id) {
    const callee = name(id, span);
    if (!n.children['call']) return { kind: 'NameRef', name: callee, span };
    const args = nodes(n, 'args').map((a): A.Arg => {
      const argName = token(a, 'name');
      return {
        ...(argName ? { name: name(argName, span) } : {}),
        value: toExprOr(node(a, 'value'), nodeSpan(a)),
        span: nodeSpan(a),
      };
    });
    return { kind: 'Call', callee, args, span };
  }
  const paren = node(n, 'paren');
  if (paren) {
    const inner = toExpr(paren);
    return inner.kind === 'Error' ? inner : { ...inner, span };
  }
  if (n.children['list']) return { kind: 'List', items: nodes(n, 'items').map(toExpr), span };
  const record = node(n, 'record');
  if (record) return { kind: 'Record', entries: toBindings(record), span };
  return { kind: 'Error', span };
}

function unquote(image: string): string {
  try {
    return JSON.parse(image) as string;
  } catch {
    return image.slice(1, -1);
  }
}
