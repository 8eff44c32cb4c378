import { describe, expect, it } from 'vitest';
import { CODES } from '../src/diagnostics/codes.js';
import { renderHuman } from '../src/diagnostics/diagnostic.js';
import { check, type Found } from './helpers.js';

/**
 * Broken inputs, each with the exact diagnostics it must produce. `«CODE»` marks where a
 * diagnostic starts; the marker is removed before checking, and the test expects exactly
 * the marked diagnostics (code, line and column), no more.
 */
interface Parts {
  dims?: string;
  expert?: string;
  router?: string;
  members?: string;
  block?: string;
  layers?: string;
  extra?: string;
}

function model(p: Parts = {}): string {
  return `model m {
  dims { ${p.dims ?? 'hidden = 64, ffn = 128, experts = 8'} }
  ${p.expert ?? 'expert e = swiglu(hidden -> ffn -> hidden)'}
  block moe {
    router gate = ${p.router ?? 'linear(hidden -> experts) | softmax | topk(2)'}
    ${p.members ?? 'experts e x experts'}
    ${p.block ?? ''}
  }
  ${p.layers ?? 'layers 2 { x = x + moe(rmsnorm(x)) }'}
  ${p.extra ?? ''}
}
`;
}

const cases: [string, string][] = [
  // E00, E01: files and syntax
  ['unexpected character', model({ extra: '«E0101»$' })],
  ['unterminated string', model({ extra: 'dtype «E0102»"bf16' })],
  ['unterminated block comment', model({ extra: '«E0103»/* never closed' }).replace(/\}\n$/, '')],
  ['missing closing paren at end of line', model({ router: 'linear(hidden -> experts) | softmax | topk(2«E0104»' })],
  ['keyword where a declaration is expected', model({ extra: '«E0104»softmax' })],
  ['missing = in a binding', model({ dims: 'hidden «E0104»64, ffn = 128, experts = 8' })],
  ['two independent syntax errors', model({ router: 'linear(hidden -> experts) | softmax | topk(2«E0104»', layers: 'layers 2 { x = x + «E0104»}' })],
  ['file without a model', '«E0105»// nothing here\n'],
  ['stray text after the model', `${model()}«E0104»extra`],

  // E02: names
  ['unknown expert', model({ members: 'experts «E0201»ee x experts' })],
  ['unknown dim in a shape', model({ expert: 'expert e = swiglu(hidden -> «E0201»fnn -> hidden)' })],
  ['unknown router reference', model({ router: 'linear(hidden -> experts) | softmax | topk(2)', block: 'router «E0201»other' })],
  ['duplicate dim', model({ dims: 'hidden = 64, ffn = 128, experts = 8, «E0202»hidden = 32' })],
  ['dim and expert with one name', model({ extra: 'expert «E0202»ffn = relu(hidden -> ffn -> hidden)' })],
  ['router used as an expert', model({ members: 'experts «E0203»gate x experts' })],
  ['expert used as a number', model({ members: 'experts e x «E0203»e' })],
  ['cyclic dims', model({ dims: 'hidden = 64, ffn = 128, experts = 8, «E0204»a = b + 1, b = a * 2', layers: 'layers a { x = x + moe(x) }' })],
  ['two dtype lines', model({ extra: 'dtype bf16\n  «E0206»dtype f16' })],
  ['two topologies in a block', model({ block: 'topology standard\n    «E0206»topology standard' })],
  ['experts outside a block', model({ extra: '«E0207»experts e x 2' })],
  ['layers inside a block', model({ block: '«E0207»layers 2 { x = x }' })],

  // E03: values and arguments
  ['zero dim', model({ dims: 'hidden = 64, ffn = «E0301»0, experts = 8' })],
  ['negative expert count', model({ members: 'experts e x «E0301»-8' })],
  ['fractional dim', model({ dims: 'hidden = 64, ffn = «E0302»127.5, experts = 8' })],
  ['fractional top-k', model({ router: 'linear(hidden -> experts) | softmax | topk(«E0302»1.5)' })],
  ['division by zero', model({ dims: 'hidden = 64, ffn = 128 / «E0303»(experts - 8), experts = 8' })],
  ['a call where a number is needed', model({ dims: 'hidden = 64, ffn = «E0304»f(2), experts = 8' })],
  ['unknown dtype', model({ extra: 'dtype «E0305»fp16' })],
  ['int4 as compute dtype', model({ extra: 'dtype «E0306»int4' })],
  ['unit on a dim', model({ dims: 'hidden = 64 «E0307»KiB, ffn = 128, experts = 8' })],
  ['budget without a unit', model({ extra: 'offload { budget = «E0307»4096 }' })],
  ['budget with a bad unit', model({ extra: 'offload { budget = 4 «E0307»Gb }' })],
  ['unknown named argument', model({ router: 'linear(hidden -> experts) | softmax | topk(«E0308»n = 2)' })],
  ['missing argument', model({ router: 'linear(hidden -> experts) | softmax | «E0309»topk' })],
  ['too many arguments', model({ router: 'linear(hidden -> experts) | softmax(«E0310»1) | topk(2)' })],
  ['name where a list is needed', model({ router: 'fixed(experts, experts = «E0311»first)', members: 'experts e x experts' })],
  ['top_p threshold above 1', model({ router: 'linear(hidden -> experts) | softmax | top_p(«E0312»1.5, max = 2)' })],
  ['argument given twice', model({ router: 'linear(hidden -> experts) | softmax | topk(2, «E0313»k = 3)' })],
  ['a number too large', model({ extra: 'const { big = «E0314»1e400 }' })],
  ['an integer a double cannot hold exactly', model({ extra: 'const { odd = «E0314»9007199254740993 }' })],
  ['a product past 2^53', model({ extra: 'const { big = «E0314»2000000000 * 2000000000 * 2000000000 }' })],
  ['a scale that overflows', model({ router: 'linear(hidden -> experts) | softmax | topk(2) | scale(«E0314»1e308 * 10)' })],
  ['a budget past 2^53 bytes', model({ extra: 'offload { budget = «E0314»9000000 TiB }' })],
  ['a dim over the size limit', model({ dims: 'hidden = 64, ffn = 128, experts = «E0315»1e12' })],
  ['an expert count over the size limit', model({ members: 'experts e x «E0315»20000000' })],
  ['an expert width over the size limit', model({ expert: 'expert e = swiglu(hidden -> «E0315»ffn * 1000000 -> hidden)' })],
  ['stacked experts past the tensor limit', model({ dims: 'hidden = 16777216, ffn = 16777216, experts = 8', members: 'experts «E0316»e x experts' })],
  ['a model that unrolls too far', model({ block: 'topology chain(40000)', layers: 'layers 2 { x = x + moe(rmsnorm(x)) }' }).replace('model m', 'model «E0317»m')],
  ['a model past the parameter limit', `model «E0317»m {\n  dims { hidden = 16777216, ffn = 16777216 }\n  expert e = relu(hidden -> ffn -> hidden)\n  layers 8 { x = x + e(x) }\n}\n`],

  // E04: experts
  ['an unused block-local expert is still checked', model({ block: 'expert junk = «E0401»frobnicate(1)' })],
  ['an expert named like a built-in norm', model({ extra: 'expert «E0202»rmsnorm = relu(hidden -> ffn -> hidden)' })],
  ['unknown expert kind', model({ expert: 'expert e = «E0401»swiglu2(hidden -> ffn -> hidden)' })],
  ['expert shape with two parts', model({ expert: 'expert e = swiglu(«E0402»hidden -> ffn)' })],
  ['expert that changes width', model({ expert: 'expert e = swiglu(hidden -> ffn -> ffn)', members: 'experts «E0404»e x experts' })],
  ['int4 storage of an odd width', model({ dims: 'hidden = 64, ffn = 127, experts = 8', expert: 'expert «E0405»e = swiglu(hidden -> ffn -> hidden)', extra: 'weights int4' })],
  ['heterogeneous experts of different widths', model({ members: 'experts e x 4, «E0404»f x 4', extra: 'expert f = relu(ffn -> hidden -> ffn)' })],

  // E05: routers
  ['unknown router stage', model({ router: 'linear(hidden -> experts) | «E0501»softmaxx | topk(2)' })],
  ['router without a source', model({ router: '«E0502»softmax | topk(2)' })],
  ['router without selection', model({ router: 'linear(hidden -> experts) | «E0503»softmax' })],
  ['normalize before selection', model({ router: 'linear(hidden -> experts) | softmax | «E0504»normalize | topk(2)' })],
  ['a scoring stage after hash routing', model({ router: 'hash(experts) | «E0504»sigmoid' })],
  ['bias after selection', model({ router: 'linear(hidden -> experts) | sigmoid | topk(2) | «E0504»select_bias' })],
  ['rescoring after zero keys', model({ router: 'linear(hidden -> experts) | group_limit(groups = 2, keep = 1, dropped = zero) | «E0504»softmax | topk(2)' })],
  ['capacity with neither factor nor limit', model({ router: 'linear(hidden -> experts) | softmax | topk(2) | «E0309»capacity(drop = score)', block: 'scope batch' })],
  ['capacity with a factor and a limit', model({ router: 'linear(hidden -> experts) | softmax | topk(2) | capacity(1.5, limit = «E0313»4)', block: 'scope batch' })],
  ['router narrower than the expert list', model({ router: '«E0505»linear(hidden -> 8) | softmax | topk(2)', members: 'experts e x 16' })],
  ['router input is not the block width', model({ router: 'linear(«E0506»ffn -> experts) | softmax | topk(2)' })],
  ['k larger than the expert count', model({ router: 'linear(hidden -> experts) | softmax | topk(«E0507»9)' })],
  ['k larger than the kept groups hold', model({ router: 'linear(hidden -> experts) | softmax | group_limit(groups = 4, keep = 1) | topk(«E0507»3)' })],
  ['groups that do not divide the experts', model({ router: 'linear(hidden -> experts) | sigmoid | group_limit(groups = «E0508»3, keep = 1) | topk(2)' })],
  ['keep larger than groups', model({ router: 'linear(hidden -> experts) | sigmoid | group_limit(groups = 4, keep = «E0509»5) | topk(2)' })],
  ['two selection stages', model({ router: 'linear(hidden -> experts) | softmax | topk(2) | «E0510»topk(1)' })],

  // E06: blocks and topologies
  ['block without experts', model({ members: '', layers: 'layers 2 { x = x + moe(x) }' }).replace('block «', 'block «').replace('block moe', 'block «E0601»moe')],
  ['union expert k beyond the chosen groups', model({ router: 'linear(hidden -> experts) | softmax | topk(5)', block: 'router groups = linear(hidden -> 2) | softmax | topk(1)\n    topology union(group = groups, expert = gate)' }).replace('router gate = linear', 'router gate = «E0507»linear')],
  ['union with one router', model({ block: 'topology «E0602»union(group = gate, expert = gate)' })],
  ['unknown topology', model({ block: 'topology «E0603»ring(2)' })],
  ['union expert router that hashes', model({ router: 'hash(8)', block: 'router groups = linear(hidden -> 2) | softmax | topk(1)\n    topology union(group = groups, expert = gate)' }).replace('router gate = hash', 'router gate = «E0607»hash')],
  ['block of null experts only', model({ members: 'experts none x experts', extra: 'expert none = null' }).replace('block moe', 'block «E0601»moe').replace("expert e = swiglu(hidden -> ffn -> hidden)", "")],
  ['multihead heads that do not divide the width', model({ expert: 'expert e = swiglu(hidden -> ffn -> hidden)\n  expert same = identity', router: 'hash(experts)', members: 'experts same x 8\n    shared e', block: 'topology «E0312»multihead(heads = 3)' })],
  ['unknown scope', model({ block: 'scope «E0606»global' })],

  // E07: layers
  ['a layer count no model has', model({ layers: 'layers «E0701»130000 { x = x + moe(x) }' })],
  ['overlapping step ranges report the overlap only', model({ layers: 'layers 0..4 step 2 { x = x + moe(x) }\n  layers «E0702»0..4 { x = x + moe(x) }' })],
  ['empty layer range', model({ layers: 'layers «E0701»4..2 { x = x + moe(x) }' })],
  ['overlapping layer sections', model({ layers: 'layers 0..3 { x = x + moe(x) }\n  layers «E0702»2..4 { x = x + moe(x) }' })],
  ['gap between layer sections', model({ layers: 'layers 0..2 { x = x + moe(x) }\n  layers «E0703»3..4 { x = x + moe(x) }' })],
  ['calling a router in a layer', model({ extra: 'router r = linear(hidden -> experts) | softmax | topk(2)', layers: 'layers 2 { x = x + moe(x) + «E0704»r(x) }' })],
  ['undefined variable', model({ layers: 'layers 2 { x = x + moe(«E0705»h) }' })],
  ['dense expert of another width', model({ extra: 'expert wide = relu(ffn -> hidden -> ffn)', layers: 'layers 2 { x = x + moe(x) + «E0706»wide(x) }' })],
  ['model without layers', model({ layers: '' }).replace('model m', 'model «E0707»m')],
  ['block called with two tensors', model({ layers: 'layers 2 { x = x + «E0708»moe(x, x) }' })],
  ['a number in a tensor expression', model({ layers: 'layers 2 { x = x + moe(x) * «E0709»2 }' }).replace('x = x + moe(x) * «E0709»2', '«E0709»x = x + moe(x) * 2'.replace('«E0709»x = ', 'x = x + «E0709»').replace('x + «E0709»x + moe', 'x + «E0709»moe'))],

  // E08: offload
  ['unknown offload setting', model({ extra: 'offload { budget = 1 GiB, «E0801»evict = lru }' })],
  ['resident experts over budget', model({ extra: '«E0802»offload { budget = 1 KiB, resident = [e] }' })],
  ['a budget in a block', model({ block: 'offload { «E0804»budget = 1 GiB }' })],
  ['a cache policy in a block', model({ block: 'offload { precision = { e = int8 }, «E0804»cache = lfu }' })],
  ['unknown cache policy', model({ extra: 'offload { cache = «E0803»fifo }' })],
  ['unknown drop policy', model({ router: 'linear(hidden -> experts) | softmax | topk(2) | capacity(1.25, drop = «E0803»random)', block: 'scope request' })],

  // Warnings
  ['unused dim', model({ dims: 'hidden = 64, ffn = 128, experts = 8, «W0001»vocab = 32000' })],
  ['unused expert', model({ extra: 'expert «W0001»spare = relu(hidden -> ffn -> hidden)' })],
  ['expert choice without a scope', model({ router: '«W0002»linear(hidden -> experts) | softmax | expert_choice(capacity = 2)' })],
  ['scope without coupling', model({ block: '«W0003»scope request' })],
  ['normalize after top-1', model({ router: 'linear(hidden -> experts) | softmax | topk(1) | «W0004»normalize' })],
];

function expected(marked: string): { text: string; want: Found[] } {
  const want: Found[] = [];
  let text = '';
  let line = 1;
  let col = 1;
  for (let i = 0; i < marked.length; ) {
    const m = /^«(\w+)»/.exec(marked.slice(i));
    if (m) {
      want.push({ code: m[1]!, line, col });
      i += m[0].length;
      continue;
    }
    const ch = marked[i]!;
    text += ch;
    if (ch === '\n') {
      line++;
      col = 1;
    } else col++;
    i++;
  }
  return { text, want };
}

describe('diagnostics', () => {
  it.each(cases)('%s', (_name, marked) => {
    const { text, want } = expected(marked);
    expect(want.length).toBeGreaterThan(0);
    const { found } = check(text);
    expect(found).toEqual(want);
  });

  it('covers every diagnostic code with at least one broken input', () => {
    const covered = new Set(cases.flatMap(([, marked]) => expected(marked).want.map((w) => w.code)));
    covered.add('E0001'); // unreadable files: covered by the CLI tests
    covered.add('E0205'); // --set of an unknown name: covered below
    expect([...Object.keys(CODES)].filter((c) => !covered.has(c))).toEqual([]);
  });

  it('does not crash on thousands of nested parentheses or signs', () => {
    expect(check(`model m { const { a = ${'('.repeat(3000)}1${')'.repeat(3000)} } }`).found.map((f) => f.code)).toEqual(['E0104']);
    expect(check(`model m { const { a = ${'-'.repeat(30000)}1 } }`).found.map((f) => f.code)).toEqual(['E0104']);
  });

  it('reports a stray character once, accepts a byte order mark', () => {
    expect(check(model({ dims: 'hidden = 6é4, ffn = 128, experts = 8' })).found.map((f) => f.code)).toEqual(['E0101']);
    expect(check(`\uFEFF${model()}`).found).toEqual([]);
  });

  it('two models may not share a name; overrides apply to the models that declare the name', () => {
    const two = `${model()}\nmodel m2 {\n  expert d = relu(2 -> 4 -> 2)\n  layers 1 { x = x + d(x) }\n}\n`;
    expect(check(two, { hidden: 32 }).found).toEqual([]);
    expect(check(two, { nope: 1 }).found.map((f) => f.code)).toEqual(['E0205']);
    expect(check(`${model()}\n${model()}`).found.map((f) => [f.code, f.line])).toEqual([['E0202', 13]]);
  });

  it('keeps tabs in the caret line so the caret sits under the span', () => {
    const { result, file } = check(model().replace('    experts e x experts', '\t\texperts ee x experts'));
    const caret = renderHuman(file, result.diagnostics[0]!).split('\n')[3]!;
    expect(caret).toBe('  | \t\t        ^^');
  });

  it('reports an override of an unknown name', () => {
    const { found } = check(model(), { hiden: 32 });
    expect(found).toEqual([{ code: 'E0205', line: 1, col: 7 }]);
  });

  it('re-validates after an override', () => {
    expect(check(model(), { experts: 16 }).found).toEqual([]);
    expect(check(model(), { ffn: 0 }).found.map((f) => f.code)).toEqual(['E0301']);
  });

  it('reports one mistake once, and every independent mistake', () => {
    const text = model({
      router: 'linear(hidden -> experts) | softmax | topk(9)',
      members: 'experts zz x experts',
      extra: 'offload { budget = 4 Gb }',
    });
    expect(check(text).found.map((f) => f.code)).toEqual(['E0507', 'E0201', 'E0307']);
  });

  it.each([
    ['a misspelt model keyword', 'modle t {\n  layers 1 { x = x }\n}\n', [[1, 1, "expected 'model' but found 'modle'; did you mean 'model'? Everything in a file lives inside 'model NAME { ... }'"]]],
    ['a misspelt item keyword', 'model m {\n  dimz { hidden = 64 }\n  layers 1 { x = x }\n}\n', [[2, 3, "expected a declaration or '}' but found 'dimz'; did you mean 'dims'?"]]],
    ['a misspelt declaration', 'model m {\n  routr gate = linear(8 -> 8) | softmax | topk(2)\n  layers 1 { x = x }\n}\n', [[2, 3, "expected a declaration or '}' but found 'routr'; did you mean 'router'?"]]],
    ['a constant without braces', 'model m {\n  const a = b + 1\n  layers 1 { x = x }\n}\n', [[2, 9, "expected '{' but found 'a'"]]],
    ['an unclosed dims section', 'model m {\n  dims {\n    hidden = 64\n  expert e = relu(hidden -> 8 -> hidden)\n  layers 1 { x = x + e(x) }\n}\n', [[4, 3, "expected a binding 'name = value' or '}' but found 'expert'; is the '}' that closes this section missing?"]]],
  ] as [string, string, [number, number, string][]][])('recovers from %s with one diagnostic that says what to do', (_what, text, want) => {
    const { result, file } = check(text);
    expect(result.diagnostics.map((d) => [file.position(d.span.start).line, file.position(d.span.start).col, d.message])).toEqual(want);
  });
});
