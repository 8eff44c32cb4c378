import type { Span } from '../diagnostics/source.js';

/**
 * The syntax tree of a .moe file. Every node has a span. The tree mirrors the generic
 * grammar: the checker gives items and expressions their meaning by keyword and context.
 */
export interface Name {
  kind: 'Name';
  text: string;
  span: Span;
}

export type Expr =
  | NumberExpr
  | StringExpr
  | NameExpr
  | CallExpr
  | UnaryExpr
  | BinaryExpr
  | ChainExpr
  | ListExpr
  | RecordExpr
  | ErrorExpr;

export interface NumberExpr {
  kind: 'Number';
  value: number;
  /** The literal as written, for the formatter. */
  raw: string;
  unit?: Name;
  span: Span;
}

export interface StringExpr {
  kind: 'String';
  value: string;
  span: Span;
}

export interface NameExpr {
  kind: 'NameRef';
  name: Name;
  span: Span;
}

export interface Arg {
  /** Present for named arguments `name = value`. */
  name?: Name;
  value: Expr;
  span: Span;
}

export interface CallExpr {
  kind: 'Call';
  callee: Name;
  args: Arg[];
  span: Span;
}

export interface UnaryExpr {
  kind: 'Unary';
  op: '-';
  operand: Expr;
  span: Span;
}

export type BinaryOp = '+' | '-' | '*' | '/' | '%' | '..';

export interface BinaryExpr {
  kind: 'Binary';
  op: BinaryOp;
  left: Expr;
  right: Expr;
  span: Span;
}

/** An n-ary chain: a router pipeline `a | b | c` or a shape `a -> b -> c`. */
export interface ChainExpr {
  kind: 'Chain';
  op: '|' | '->';
  items: Expr[];
  span: Span;
}

export interface ListExpr {
  kind: 'List';
  items: Expr[];
  span: Span;
}

export interface RecordExpr {
  kind: 'Record';
  entries: Binding[];
  span: Span;
}

/** Stands in for an expression the parser could not read; already reported. */
export interface ErrorExpr {
  kind: 'Error';
  span: Span;
}

export interface Binding {
  kind: 'Binding';
  name: Name;
  value: Expr;
  span: Span;
}

export type SectionKeyword = 'dims' | 'const' | 'offload';
export type SettingKeyword = 'dtype' | 'weights' | 'topology' | 'scope';
export type DeclKeyword = 'expert' | 'router';
export type MembersKeyword = 'experts' | 'shared';

interface ItemBase {
  span: Span;
  /** The span of the item's leading keyword. */
  keywordSpan: Span;
  /** True when the parser recovered from a syntax error inside the item. */
  broken: boolean;
}

export interface SectionItem extends ItemBase {
  kind: 'Section';
  keyword: SectionKeyword;
  entries: Binding[];
}

export interface SettingItem extends ItemBase {
  kind: 'Setting';
  keyword: SettingKeyword;
  value: Expr;
}

export interface DeclItem extends ItemBase {
  kind: 'Decl';
  keyword: DeclKeyword;
  name: Name;
  value?: Expr;
}

export interface BlockItem extends ItemBase {
  kind: 'Block';
  name: Name;
  items: Item[];
}

export interface Member {
  name: Name;
  count?: Expr;
  span: Span;
}

export interface MembersItem extends ItemBase {
  kind: 'Members';
  keyword: MembersKeyword;
  members: Member[];
  gate?: Expr;
}

export interface LayersItem extends ItemBase {
  kind: 'Layers';
  range: Expr;
  step?: Expr;
  statements: Binding[];
}

export type Item = SectionItem | SettingItem | DeclItem | BlockItem | MembersItem | LayersItem;

export interface Model {
  kind: 'Model';
  name: Name;
  items: Item[];
  span: Span;
}

export interface FileNode {
  kind: 'File';
  models: Model[];
  span: Span;
}
