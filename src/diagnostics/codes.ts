/**
 * Every diagnostic moec reports, by stable code. The table is the single source of
 * docs/diagnostics.md (scripts/gen-diagnostics-doc.ts writes it; a test keeps it in sync).
 *
 * Ranges: E00 files, E01 syntax, E02 names, E03 values and arguments, E04 experts, E05 routers,
 * E06 blocks and topologies, E07 layers, E08 offload, W warnings.
 */
export type Severity = 'error' | 'warning';

export interface CodeInfo {
  severity: Severity;
  /** A short title, used as the heading in docs. */
  title: string;
  /** What the diagnostic means and how to fix it (docs only). */
  help: string;
}

function e(title: string, help: string): CodeInfo {
  return { severity: 'error', title, help };
}
function w(title: string, help: string): CodeInfo {
  return { severity: 'warning', title, help };
}

export const CODES = {
  E0001: e('cannot read file', 'The file does not exist, is a directory, or is not readable.'),

  E0101: e('unexpected character', 'The lexer met a character that starts no token. Remove it, or quote it inside a string.'),
  E0102: e('unterminated string', 'A string literal has no closing `"` on its line. Close it.'),
  E0103: e('unterminated comment', 'A `/*` comment has no matching `*/`. Close it.'),
  E0104: e('syntax error', 'The parser expected something else here; the message names what it expected, and a misspelt keyword gets a suggestion. Only the first error of a broken construct is reported, the parser then resumes at the next declaration. Whatever the input, parsing stays bounded: it stops after 100 syntax errors, brackets and minus signs may nest at most 64 levels deep, and an expression at most 256 operations deep (a longer chain such as `a + b + ...` is reported; split it into named constants).'),
  E0105: e('no model', 'A `.moe` file must declare at least one `model NAME { ... }`.'),

  E0201: e('unknown name', 'The name is not declared in any enclosing scope (block, then model). Declare it or fix the spelling; the message suggests a close match when there is one.'),
  E0202: e('duplicate declaration', 'Two declarations in the same scope share a name. Rename one. The note points at the first.'),
  E0203: e('wrong kind of name', 'The name is declared, but as something else (for example a router where an expert is needed).'),
  E0204: e('cyclic definition', 'Constants are defined in terms of each other in a cycle. Break the cycle with a literal value.'),
  E0205: e('unknown override', 'A `--set NAME=VALUE` names no dim or constant of the model.'),
  E0207: e('misplaced item', 'The item is valid, but not here: `experts`, `shared`, `topology` and `scope` belong in a block; `dims`, `const`, `dtype`, `weights`, `block` and `layers` belong in the model.'),
  E0206: e('duplicate item', 'A block or model states the same item twice (two `topology` lines, two `dtype` lines, two `offload` sections). Keep one.'),

  E0301: e('non-positive size', 'Dims, counts, k, groups, heads and ranks must be at least 1.'),
  E0302: e('not an integer', 'A dim, count or other integer parameter evaluated to a fractional number. Dims declared in `dims { }` must be integers; fractional numbers belong in `const { }`.'),
  E0303: e('division by zero', '`/` and `%` must not divide by zero.'),
  E0304: e('not a constant expression', 'Only numbers, names of dims and constants, `+ - * / %` and parentheses may appear where a number is expected.'),
  E0305: e('unknown dtype', 'Compute dtypes are f32, f16 and bf16; stored weights may also be int8 or int4.'),
  E0306: e('dtype not allowed here', 'int8 and int4 are storage formats for weights (`weights int4`, offload `precision`), not compute dtypes.'),
  E0307: e('bad or missing unit', 'Memory sizes need a unit: B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024). Units are case-sensitive.'),
  E0308: e('unknown parameter', 'The call has a named argument it does not accept. The message lists the parameters it does accept.'),
  E0309: e('missing argument', 'A required parameter was not given.'),
  E0310: e('too many arguments', 'More positional arguments than the callee accepts.'),
  E0311: e('wrong argument type', 'The argument has the wrong type: for example a name where a number is required, or a number where a choice like `lru` is.'),
  E0312: e('value out of range', 'The value is outside the range the parameter allows; the message gives the range.'),
  E0313: e('duplicate argument', 'The same parameter is given twice, or a list names the same expert twice (fixed(experts = [...])).'),
  E0314: e('number not exact', 'A literal, a constant or an intermediate result of `+ - * / %` exceeds 2^53 - 1 (9,007,199,254,740,991) in magnitude, or overflows. Beyond it a double cannot hold every integer, so moec rejects the value instead of rounding it. docs/language.md, Limits.'),
  E0315: e('size over the limit', 'A dim or an integer size (expert count, k, groups, heads, rank, iterations, an expert\'s widths) exceeds 16,777,216 (2^24), the largest size moec accepts. docs/language.md, Limits.'),
  E0316: e('tensor too large', 'The experts of one `experts` or `shared` entry are stacked into one weight tensor per matrix, which must hold at most 2^48 elements. Use fewer or smaller experts.'),
  E0317: e('model too large', 'The model has more than 2^50 weight elements over all its layers (counted as `moec inspect` counts parameters), or unrolls to more than 65,536 steps (over all layers: the chain iterations and shared expert instances of every block application, and every dense expert or norm call). Use fewer layers, iterations, shared experts or smaller sizes.'),

  E0401: e('unknown expert kind', 'Expert kinds are swiglu, geglu, geglu_tanh, relu, gelu, gelu_tanh, silu, identity and null.'),
  E0402: e('bad expert shape', 'FFN experts take a shape `in -> hidden -> out`, for example `swiglu(hidden -> ffn -> hidden)`.'),
  E0405: e('int4 needs even widths', 'int4 weights pack two values per byte along each matrix\'s output dim, so those dims (the hidden size, the output width, the rank or latent width) must be even. Use int8, or an even size.'),
  E0404: e('expert width mismatch', 'Every expert of a block must take and return the block width (the model width; for `multihead(heads = h)` blocks, the width divided by h).'),

  E0501: e('unknown router stage', 'The router pipeline names a stage that does not exist. docs/language.md lists the stages.'),
  E0502: e('router has no source', 'A router pipeline starts with a source stage: `linear(in -> experts)`, `hash(...)` or `fixed(...)`.'),
  E0503: e('router selects nothing', 'A router needs exactly one selection stage: topk, top_p or expert_choice (hash and fixed select by themselves).'),
  E0504: e('stage out of order', 'Stages run left to right: source, scoring (softmax, sigmoid, select_bias, group_limit), selection, then weighting (normalize, scale, softmax over the selected, capacity). The message says which stage must move.'),
  E0505: e('router width mismatch', 'The router scores one entry per expert of its block (null experts included; for union topologies, one per group for the group router). Make the widths agree.'),
  E0506: e('router input mismatch', 'The router reads the block input, so its `linear(in -> ...)` input must equal the block width.'),
  E0507: e('k too large', 'topk(k), top_p(max = ...) and hash(k = ...) cannot select more experts than the router scores, than the kept groups contain, or (in a union) than the chosen groups hold. An index out of range in fixed(experts = [...]) is E0312.'),
  E0508: e('groups do not divide experts', 'group_limit(groups) and union topologies split the experts into equal, contiguous groups, so the group count must divide the expert count.'),
  E0509: e('bad group limit', '`keep` must be between 1 and `groups`.'),
  E0510: e('duplicate stage', 'A router has two source stages or two selection stages.'),

  E0601: e('block has no experts', 'A block needs at least one `experts` line with an expert that computes (not only null experts).'),
  E0602: e('wrong router count', 'Standard, chain and multihead blocks have exactly one router; union blocks have two (group and expert router).'),
  E0603: e('unknown topology', 'Topologies are standard, chain(iterations), union(group, expert) and multihead(heads).'),
  E0607: e('union expert router must score', 'A union\'s expert router runs inside the groups the group router chose, so it must score experts: start it with linear(in -> experts), not hash or fixed.'),
  E0606: e('unknown scope', 'Isolation scopes are `request` (tokens only couple within their own request) and `batch` (tokens of different requests may affect each other).'),

  E0701: e('bad layer range', 'Layer ranges are half-open `a..b` with 0 <= a < b <= 10000, or a count `n` meaning `0..n`; `step` must be at least 1.'),
  E0702: e('layer defined twice', 'Two `layers` sections cover the same layer index. The note points at the other section.'),
  E0703: e('missing layers', 'The `layers` sections must cover 0..n-1 without gaps.'),
  E0704: e('not callable', 'In a layer body, calls are to blocks, experts (used as dense FFNs), rmsnorm and layernorm.'),
  E0705: e('undefined variable', 'A layer body reads a variable that is not assigned before. `x` (the layer input) is always defined.'),
  E0706: e('stream width mismatch', 'Every block and expert applied in the layer stream must have the model width; the first one used sets it.'),
  E0707: e('no layers', 'A model needs at least one `layers` section.'),
  E0708: e('wrong call arity', 'Blocks, experts and norms take exactly one tensor argument.'),
  E0709: e('not a tensor expression', 'Layer statements combine tensors with calls and `+` only.'),

  E0801: e('unknown offload setting', 'Offload settings are budget, resident, cache, prefetch, on_miss and precision.'),
  E0802: e('budget too small', 'The resident experts alone need more memory than the device budget.'),
  E0804: e('model-wide setting', 'The memory budget, the expert cache and the prefetch schedule are shared by every block: set `budget`, `cache` and `prefetch` in the model\'s offload section, not in a block\'s.'),
  E0803: e('unknown choice', 'The setting accepts a fixed set of values; the message lists them.'),

  W0001: w('unused declaration', 'The declaration is never used. Remove it, or use it.'),
  W0002: w('coupling router without scope', 'expert_choice and capacity make one token\'s result depend on the other tokens of the batch. Declare `scope request` (couple only within a request) or `scope batch` (accept cross-request coupling, which leaks information between users) in the block.'),
  W0003: w('scope without coupling', 'The block declares an isolation scope but its routers never couple tokens; the scope has no effect.'),
  W0004: w('normalize after top-1', 'Renormalising a single selected weight always gives 1.0, which discards the router probability.'),
} as const satisfies Record<string, CodeInfo>;

export type Code = keyof typeof CODES;
