import { CODES, type Code } from './codes.js';

const sections: [string, string][] = [
  ['E00', 'Files'],
  ['E01', 'Syntax'],
  ['E02', 'Names'],
  ['E03', 'Values and arguments'],
  ['E04', 'Experts'],
  ['E05', 'Routers'],
  ['E06', 'Blocks and topologies'],
  ['E07', 'Layers'],
  ['E08', 'Offload'],
  ['W', 'Warnings'],
];

/** docs/diagnostics.md, generated from the code table so the two cannot drift apart. */
export function diagnosticsDoc(): string {
  const out = [
    '# Diagnostics',
    '',
    '<!-- Generated from src/diagnostics/codes.ts by scripts/gen-diagnostics-doc.ts; do not edit. -->',
    '',
    'Every diagnostic has a stable code, a severity, a span and a message that says what to do.',
    '`moec check` prints them as `FILE:LINE:COL: error[CODE]: message` followed by the source line',
    'and a caret, or as JSON with `--format json`. Errors make `moec` exit with status 1; warnings',
    'alone do not. test/diagnostics.test.ts holds at least one broken input for every code.',
    '',
    'Output stays bounded whatever the input: runs of unexpected characters (E0101) and unterminated',
    'strings (E0102) are listed up to 100 each, then counted in one more diagnostic, and the parser',
    'stops after 100 syntax errors (E0104); at most 50 diagnostics of a file are printed, then one',
    'line counts the others (the summary line counts all of them, and `--format json` lists all); a',
    'source line longer than 120 characters is shown as a window around the caret, with control',
    'characters shown as `?`; the language server publishes at most 100 per document.',
    '',
  ];
  for (const [prefix, title] of sections) {
    out.push(`## ${title}`, '');
    for (const code of Object.keys(CODES) as Code[]) {
      if (!code.startsWith(prefix)) continue;
      const info = CODES[code];
      out.push(`### ${code}: ${info.title} (${info.severity})`, '', info.help, '');
    }
  }
  return `${out.join('\n').trimEnd()}\n`;
}
