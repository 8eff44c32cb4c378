import type { Code } from '../diagnostics/codes.js';
import type { Fields } from '../ir/codec.js';
import type { GraphBuilder, Node } from '../ir/graph.js';
import type { RouterSpec } from '../ir/ops.js';
import type { StageSignature } from '../language/signatures.js';

/**
 * A router stage after the source, everything about it in one definition: its signature in
 * the language, how the checker resolves its arguments, how its attributes read in the
 * textual IR, how many experts it selects, how it lowers onto primitive ops, and its
 * reference semantics. The table (table.ts) registers one per stage; the checker, the IR
 * text, lower-routers and the CPU reference dispatch through it, so a new stage is one
 * definition (plus its primitive ops, if it needs new ones).
 *
 * Each part talks to its layer through a small interface below, so this module depends on
 * no layer's internals and the layers never depend on each other through it.
 */
export interface StageDef<S extends { op: string }> {
  signature: StageSignature & { name: S['op'] };
  /** The resolved stage from its arguments, or undefined after reporting why not. */
  resolve(args: StageArgs): S | undefined;
  /** Attribute codecs for the textual IR (the op name is the tag). */
  fields: Fields<Omit<S, 'op'>>;
  /** Selection stages: how many experts a token gets. */
  selects?(s: S, width: number): Selections;
  /** Weighting stages that may drop a token's experts (capacity). */
  drops?: boolean;
  /** Group limits: the entries a later selection can still choose from. */
  narrows?(s: S, width: number, selectable: number): number;
  lower(s: S, l: StageLowering): void;
  apply(s: S, rows: StageRows): void;
}

export interface Selections {
  /** The fewest and most experts one token gets. */
  min: number;
  max: number;
  /** Slots per token in the route: the most a token can get. */
  slots: number;
  /** Experts each token asks for: the k of a capacity limit. */
  asks: number;
}

/** What a stage reads from its call (checker/routers.ts adapts its bound call to this). */
export interface StageArgs {
  /** Whether the call gives the argument (for optional parameters). */
  has(name: string): boolean;
  int(name: string): number | undefined;
  number(name: string): number | undefined;
  choice(name: string): string | undefined;
  /** Report a diagnostic at an argument (at the call when omitted); a resolve may return it. */
  report(code: Code, message: string, param?: string): undefined;
  /** The router's width, and the entries a selection can choose from (fewer after a group limit). */
  width: number;
  selectable: number;
  /** Whether a group limit came before (for messages). */
  limited: boolean;
}

/** E0507 when `k` exceeds what the router leaves to choose from. */
export function tooMany(args: StageArgs, k: number, param: string, what: string, limited = args.limited): boolean {
  if (k <= args.selectable) return false;
  args.report('E0507', `${what} is ${k}, but ${limited ? 'the kept groups hold' : 'the router scores'} only ${args.selectable} experts`, param);
  return true;
}

/**
 * The lowering's state of one router (passes/lower-router-stages.ts): scores, the live set
 * (-inf exactly at the entries out of play), the key, and after selection ids and weights.
 */
export interface StageLowering {
  readonly b: GraphBuilder;
  readonly router: RouterSpec;
  /** Request ids per row, when coupling stages are scoped to a request. */
  readonly requests: Node | undefined;
  /** The experts each token asks for (the k of a capacity limit). */
  readonly perToken: number;
  /** The selection key: scores plus the selection bias, -inf outside the live set. */
  key(): Node;
  /** The scores (entries out of play hold anything: nothing reads them). */
  scores(): Node;
  /** The scores with -inf outside the live set. */
  liveScores(): Node;
  /** New scores; `masked` when they are -inf wherever the live set is. */
  setScores(s: Node, masked: boolean): void;
  /** `restricted` is the key with -inf at every entry now out of play: the new live set. */
  restrict(restricted: Node): void;
  /** A new key for the selection only, the live set unchanged (no scoring stage may follow: E0504). */
  setKey(key: Node): void;
  /** A selection: null experts leave, weights gather `weights` (1 without). */
  select(chosen: Node, weights?: Node): void;
  /** The ids and weights after selection; undefined before it. */
  selected(): { ids: Node; w: Node } | undefined;
  setSelected(ids: Node, w: Node): void;
}

/** One row's state in the reference router (runtime/reference/router.ts), values f32-rounded. */
export interface RowState {
  s: Float64Array;
  live: Uint8Array;
  /** Live entries whose key is 0 from here on (a group limit's dropped groups with `dropped = zero`). */
  zeroKey?: Uint8Array;
  /** Selected entries in selection order; null before the selection stage. */
  sel: number[] | null;
  w: Float64Array;
}

/** The reference router's rows, for a stage's exact semantics (docs/language.md, "Router stages"). */
export interface StageRows {
  readonly state: RowState[];
  /** Router width, and the experts each token asks for (the k of a capacity limit). */
  readonly E: number;
  readonly k: number;
  /** Request id per row for coupling stages (all rows one request without). */
  readonly requests: Int32Array | undefined;
  /** Scores plus the selection bias. */
  key(st: RowState, e: number): number;
  /** Live entries, in index order. */
  liveEntries(st: RowState): number[];
  /** Live entries by key, descending, ties to the lower index. */
  ranked(st: RowState): number[];
  /** Make `picked` the selection; null experts leave it, weights start as the scores. */
  select(st: RowState, picked: readonly number[]): void;
}
