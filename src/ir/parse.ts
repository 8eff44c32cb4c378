import { ATTRS, initCodec } from './attrs.js';
import { IrParseError, Reader, str, type Codec } from './codec.js';
import { GraphBuilder, type Graph, type Node } from './graph.js';
import type { BodyOp, KernelNode, OpAttrs } from './ops.js';
import { DTYPE_BYTES, dimOf, type DType, type Dim, type TensorType } from './types.js';

export { IrParseError };

/**
 * Read the textual IR (print.ts) back into a graph: params with their init, inputs, every
 * node with its attributes and stated type, fused kernels with their bodies, the output.
 * Types are taken as written; run verifyGraph on the result to check them. `//` lines are
 * comments (`moec compile --print-after` writes one before each graph).
 */
export function parseGraph(text: string): Graph {
  return new GraphParser(text).parse();
}

const isBodyOp = (op: string): op is BodyOp => Object.hasOwn(ATTRS, op);

class GraphParser {
  private readonly lines: { text: string; line: number }[];
  private next = 0;
  private readonly b = new GraphBuilder();
  private readonly values = new Map<number, Node>();
  private readonly params = new Set<string>();

  constructor(text: string) {
    this.lines = text
      .split('\n')
      .map((t, i) => ({ text: t, line: i + 1 }))
      .filter((l) => l.text.trim() && !l.text.trim().startsWith('//'));
  }

  parse(): Graph {
    const head = this.reader();
    if (head.word("'graph'") !== 'graph') head.fail("expected 'graph'", head.previous());
    const name = str.parse(head);
    head.punct('{');
    head.end();
    for (;;) {
      const r = this.reader();
      if (r.peek()?.text === 'return') {
        r.word();
        const output = this.operand(r);
        r.end();
        const close = this.reader();
        close.punct('}');
        close.end();
        if (this.next < this.lines.length) this.reader().fail('text after the graph');
        return this.b.finish(name, output);
      }
      this.node(r);
    }
  }

  private reader(): Reader {
    const l = this.lines[this.next++];
    if (!l) throw new IrParseError("unexpected end of the text; expected 'return' and '}'", (this.lines[this.lines.length - 1]?.line ?? 0) + 1, 1);
    return new Reader(l.text, l.line);
  }

  /** `%id = op ...` */
  private node(r: Reader): void {
    r.punct('%');
    const idAt = r.peek();
    const id = r.number();
    if (this.values.has(id)) r.fail(`%${id} is defined twice`, idAt);
    r.punct('=');
    const op = r.word('an op');
    let node: Node;
    if (op === 'input' || op === 'param') {
      const name = str.parse(r);
      if (op === 'input') node = this.b.addStated('input', [], { name }, this.typeEnd(r));
      else {
        if (this.params.has(name)) r.fail(`param "${name}" is declared twice`, r.previous());
        this.params.add(name);
        r.punct('{');
        if (r.word("'init'") !== 'init') r.fail("expected 'init'", r.previous());
        r.punct('=');
        const init = initCodec.parse(r);
        r.punct('}');
        node = this.b.param(name, this.typeEnd(r), init);
      }
    } else if (op === 'kernel') {
      node = this.kernel(r);
    } else {
      if (!isBodyOp(op)) r.fail(`unknown op '${op}'`, r.previous());
      const src = this.operands(r, () => this.operand(r));
      const attrs = parseAttrs(op, r);
      node = this.b.addStated(op, src, attrs, this.typeEnd(r));
    }
    this.values.set(id, node);
  }

  /** `kernel NAME(%a, %b) : type {`, body lines, `}`. */
  private kernel(r: Reader): Node {
    const name = str.parse(r);
    const inputs = this.operands(r, () => this.operand(r));
    r.punct(':');
    const type = parseType(r);
    r.punct('{');
    r.end();
    const index = new Map(inputs.map((n, i) => [n.id, i]));
    const body: KernelNode[] = [];
    for (;;) {
      const line: Reader = this.reader();
      if (line.tryPunct('}')) {
        line.end();
        break;
      }
      line.punct('%');
      if (line.word(`k${body.length}`) !== `k${body.length}`) line.fail(`expected %k${body.length}`, line.previous());
      line.punct('=');
      const op = line.word('an op');
      if (!isBodyOp(op)) line.fail(`'${op}' cannot be in a kernel body`, line.previous());
      const src = this.operands(line, () => {
        line.punct('%');
        const t = line.next('an operand');
        const i = t.kind === 'number' ? index.get(Number(t.text)) : /^k\d+$/.test(t.text) && Number(t.text.slice(1)) < body.length ? inputs.length + Number(t.text.slice(1)) : undefined;
        return i ?? line.fail(`%${t.text} is neither a kernel input nor an earlier body value`, t);
      });
      const attrs = parseAttrs(op, line);
      body.push({ op, src, attrs, type: this.typeEnd(line) } as KernelNode);
    }
    return this.b.addStated('kernel', inputs, { name, body }, type);
  }

  private operands<T>(r: Reader, one: () => T): T[] {
    r.punct('(');
    const out: T[] = [];
    while (!r.tryPunct(')')) {
      if (out.length) r.punct(',');
      out.push(one());
    }
    return out;
  }

  private operand(r: Reader): Node {
    r.punct('%');
    const at = r.peek();
    const id = r.number();
    return this.values.get(id) ?? r.fail(`%${id} is not defined before use`, at);
  }

  /** `: type` and the end of the line. */
  private typeEnd(r: Reader): TensorType {
    r.punct(':');
    const t = parseType(r);
    r.end();
    return t;
  }
}

/** The attributes of `op`: `{...}` when written, else none (an op that needs some says which). */
function parseAttrs<O extends BodyOp>(op: O, r: Reader): OpAttrs[O] {
  const codec: Codec<OpAttrs[O]> = ATTRS[op];
  return codec.parse(r.peek()?.text === '{' ? r : new Reader('{}', r.line));
}

/** `dtype[d, ...]` with dims a number or `T`, `T*a`, `T+b`, `T*a+b`. */
function parseType(r: Reader): TensorType {
  const dtype = r.word('a dtype');
  if (!Object.hasOwn(DTYPE_BYTES, dtype)) r.fail(`unknown dtype '${dtype}'`, r.previous());
  r.punct('[');
  const shape: Dim[] = [];
  while (!r.tryPunct(']')) {
    if (shape.length) r.punct(',');
    if (r.peek()?.kind === 'number') {
      shape.push(r.number());
      continue;
    }
    if (r.word('a dim') !== 'T') r.fail('a dim is a number or affine in T', r.previous());
    const a = r.tryPunct('*') ? r.number() : 1;
    const b = r.tryPunct('+') ? r.number() : 0;
    shape.push(dimOf({ a, b }));
  }
  return { dtype: dtype as DType, shape };
}
