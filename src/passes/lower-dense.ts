import type { GraphBuilder, Node } from '../ir/graph.js';
import type { OpAttrs } from '../ir/ops.js';
import { rewriteGraph } from '../ir/rewrite.js';
import { actParams, expertStructure } from '../model/expert-structure.js';
import type { Pass } from './pass.js';

/**
 * lower-dense: a dense expert call (`ffn`: an expert called in a layer body, or a shared
 * expert fold-shared could not fold into its block's moe) becomes the expert's steps
 * (src/model/expert-structure.ts) as `matmul` (`add` of a bias), `act` and `mul`. A shared expert's weights are
 * stacked: it first takes its own slice with `index`.
 *
 *   %y = ffn(%x, %Wg, %Wu, %Wd) {expert = ffn(name = e, gated = true, act = silu, ...), index = 1}
 * becomes
 *   %g = act(matmul(%x, index(%Wg) {i = 1})) {fn = silu}
 *   %h = mul(%g, matmul(%x, index(%Wu) {i = 1})); %y = matmul(%h, index(%Wd) {i = 1})
 */
export const lowerDense: Pass = {
  name: 'lower-dense',
  summary: 'dense expert calls (ffn) to matmul, act and mul',
  run: (g) => rewriteGraph(g, (n, src, b) => (n.op === 'ffn' ? lowerFfn(b, n.attrs, src) : undefined)),
};

function lowerFfn(b: GraphBuilder, { expert, index }: Readonly<OpAttrs['ffn']>, [x, ...weights]: Node[]): Node {
  const weight = (i: number) => (index === undefined ? weights[i]! : b.add('index', [weights[i]!], { i: index }));
  const values: Node[] = [x!];
  for (const s of expertStructure(expert).steps) {
    if (s.op === 'matmul') {
      const y = b.add('matmul', [values[s.src]!, weight(s.weight)], {});
      values.push(s.bias === undefined ? y : b.add('add', [y, weight(s.bias)], {}));
    } else if (s.op === 'act') values.push(b.add('act', [values[s.src]!], actParams(s)));
    else values.push(b.add('mul', [values[s.src[0]]!, values[s.src[1]]!], {}));
  }
  return values[values.length - 1]!;
}
