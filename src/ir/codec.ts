/**
 * Two-way text codecs for IR attributes: each codec prints a value and parses the same text
 * back, so the printer and the parser (print.ts, parse.ts) cannot drift apart. Values read as
 *
 *   number      0.000001, -3, 1e-7, Infinity      string  silu, "layers.0.moe.gate.weight"
 *   boolean     true, false                        list    [1, 2, 3]
 *   record      {k = 8, score = top2}              tagged  topk(k = 8), softmax
 */
export class IrParseError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly col: number,
  ) {
    super(`${line}:${col}: ${message}`);
  }
}

export interface Token {
  kind: 'punct' | 'number' | 'string' | 'word';
  text: string;
  col: number;
}

const TOKEN = /\s*(?:(-?(?:\d+(?:\.\d+)?(?:e[+-]?\d+)?|Infinity))|("(?:[^"\\]|\\.)*")|([A-Za-z_][A-Za-z0-9_]*)|([{}[\](),=:%*+]))/y;

/** Tokens of one line of IR text, read front to back. */
export class Reader {
  private readonly tokens: Token[] = [];
  private pos = 0;

  constructor(
    readonly text: string,
    readonly line: number,
  ) {
    TOKEN.lastIndex = 0;
    while (/\S/.test(text.slice(TOKEN.lastIndex))) {
      const at = text.slice(TOKEN.lastIndex).search(/\S/) + TOKEN.lastIndex;
      const m = TOKEN.exec(text);
      if (!m) throw new IrParseError(`unexpected character '${text[at]}'`, line, at + 1);
      const kind = m[1] !== undefined ? 'number' : m[2] !== undefined ? 'string' : m[3] !== undefined ? 'word' : 'punct';
      const tokenText = m[1] ?? m[2] ?? m[3] ?? m[4]!;
      this.tokens.push({ kind, text: tokenText, col: TOKEN.lastIndex - tokenText.length + 1 });
    }
  }

  peek(): Token | undefined {
    return this.tokens[this.pos];
  }

  /** The token just read, for an error about it. */
  previous(): Token | undefined {
    return this.tokens[this.pos - 1];
  }

  atEnd(): boolean {
    return this.pos >= this.tokens.length;
  }

  next(what: string): Token {
    const t = this.tokens[this.pos];
    if (!t) this.fail(`expected ${what}, found the end of the line`);
    this.pos++;
    return t;
  }

  /** Consume `p` if it comes next. */
  tryPunct(p: string): boolean {
    const t = this.peek();
    if (t?.kind !== 'punct' || t.text !== p) return false;
    this.pos++;
    return true;
  }

  punct(p: string): void {
    if (!this.tryPunct(p)) this.fail(`expected '${p}'`);
  }

  word(what = 'a name'): string {
    const t = this.next(what);
    if (t.kind !== 'word') this.fail(`expected ${what}, found '${t.text}'`, t);
    return t.text;
  }

  number(): number {
    const t = this.next('a number');
    if (t.kind !== 'number') this.fail(`expected a number, found '${t.text}'`, t);
    return Number(t.text);
  }

  end(): void {
    const t = this.peek();
    if (t) this.fail(`unexpected '${t.text}' at the end of the line`, t);
  }

  fail(message: string, at = this.peek()): never {
    throw new IrParseError(message, this.line, at?.col ?? this.text.length + 1);
  }
}

export interface Codec<T> {
  print(v: T): string;
  parse(r: Reader): T;
  /** A record field that may be absent (printed only when set). */
  optional?: boolean;
}

export const num: Codec<number> = { print: (v) => String(v), parse: (r) => r.number() };

export const bool: Codec<boolean> = {
  print: (v) => String(v),
  parse: (r) => {
    const w = r.word('true or false');
    if (w !== 'true' && w !== 'false') r.fail(`expected true or false, found '${w}'`, r.previous());
    return w === 'true';
  },
};

const bare = (s: string) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(s) && !['true', 'false', 'Infinity'].includes(s);

/** A string: bare when it reads as a name, else JSON-quoted. */
export const str: Codec<string> = {
  print: (v) => (bare(v) ? v : JSON.stringify(v)),
  parse: (r) => {
    const t = r.next('a string');
    if (t.kind === 'word') return t.text;
    if (t.kind === 'string') return JSON.parse(t.text) as string;
    return r.fail(`expected a string, found '${t.text}'`, t);
  },
};

/** One of a fixed set of names. */
export function oneOf<T extends string>(...values: readonly T[]): Codec<T> {
  return {
    print: (v) => v,
    parse: (r) => {
      const w = r.word(values.join(' or '));
      if (!(values as readonly string[]).includes(w)) r.fail(`expected ${values.join(' or ')}, found '${w}'`, r.previous());
      return w as T;
    },
  };
}

export function list<T>(item: Codec<T>): Codec<T[]> {
  return {
    print: (v) => `[${v.map((x) => item.print(x)).join(', ')}]`,
    parse: (r) => {
      r.punct('[');
      const out: T[] = [];
      while (!r.tryPunct(']')) {
        if (out.length) r.punct(',');
        out.push(item.parse(r));
      }
      return out;
    },
  };
}

export function opt<T>(c: Codec<T>): Codec<T | undefined> {
  return { print: (v) => c.print(v!), parse: (r) => c.parse(r), optional: true };
}

export type Fields<T> = { readonly [K in keyof T]-?: Codec<T[K]> };

function printFields<T extends object>(fields: Fields<T>, v: T): string {
  const parts: string[] = [];
  for (const k of Object.keys(fields) as (keyof T & string)[]) if (v[k] !== undefined) parts.push(`${k} = ${fields[k].print(v[k])}`);
  return parts.join(', ');
}

/** `k = v` pairs up to `close` (none without it), in any order; every field that is not optional must appear. */
function parseFields<T extends object>(r: Reader, fields: Fields<T>, close?: string): T {
  const out: Record<string, unknown> = {};
  const known = fields as Record<string, Codec<unknown>>;
  while (close !== undefined && !r.tryPunct(close)) {
    if (Object.keys(out).length) r.punct(',');
    const key = r.word('an attribute name');
    const codec = known[key];
    if (!codec) r.fail(`unknown attribute '${key}'; expected one of ${Object.keys(known).join(', ') || 'none'}`, r.previous());
    if (key in out) r.fail(`attribute '${key}' given twice`, r.previous());
    r.punct('=');
    out[key] = codec.parse(r);
  }
  const missing = Object.keys(known).filter((k) => !(k in out) && !known[k]!.optional);
  if (missing.length) r.fail(`missing attribute${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
  return out as T;
}

/** `{k = v, ...}` with the fields in this order. */
export function record<T extends object>(fields: Fields<T>): Codec<T> {
  return {
    print: (v) => `{${printFields(fields, v)}}`,
    parse: (r) => {
      r.punct('{');
      return parseFields(r, fields, '}');
    },
  };
}

export type Cases<T, K extends keyof T> = { readonly [Tag in T[K] & string]: Fields<Omit<Extract<T, Record<K, Tag>>, K>> };

/** A union told apart by `key`: `tag(k = v, ...)`, or the bare tag when nothing else is set. */
export function tagged<T extends object, K extends keyof T & string>(key: K, cases: Cases<T, K>): Codec<T> {
  const table = cases as unknown as Record<string, Fields<Record<string, unknown>>>;
  return {
    print: (v) => {
      const tag = v[key] as string;
      const inner = printFields(table[tag]!, v as Record<string, unknown>);
      return inner ? `${tag}(${inner})` : tag;
    },
    parse: (r) => {
      const tag = r.word(Object.keys(table).join(' or '));
      const fields = table[tag];
      if (!fields) r.fail(`expected ${Object.keys(table).join(' or ')}, found '${tag}'`, r.previous());
      const rest = parseFields(r, fields, r.tryPunct('(') ? ')' : undefined);
      return { [key]: tag, ...rest } as T;
    },
  };
}
