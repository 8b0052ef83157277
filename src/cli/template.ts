// docker's --format: a small subset of Go's text/template over one row object at a time.
// Supported: literal text, {{.Field}}, {{.A.B}}, {{.}}, function calls with arguments
// ({{json .}}, {{join .Names ","}}, {{index .Labels "k"}}, {{upper .X}}, {{lower .X}},
// {{title .X}}, {{truncate .X 5}}, {{pad .X 1 1}}, {{split .X ","}}, {{println .X}}),
// pipes ({{.X | json}}), {{- and -}} trimming, and the words docker gives the flag:
// "table ..." (a header row and aligned columns), "table" alone and "json" (a JSON
// object per line). \t and \n in the format are a tab and a newline, as docker reads them.
// Actions strata does not implement (if, range, with, define, variables) are refused
// with a one-line error rather than printed literally.

export type Row = Record<string, unknown>;

type Arg = { kind: 'field'; path: string[] } | { kind: 'string'; value: string } | { kind: 'number'; value: number } | { kind: 'call'; name: string; args: Arg[] };
type Node = { kind: 'text'; text: string } | { kind: 'action'; pipeline: Arg[]; source: string };

const FUNCS: Record<string, (...a: unknown[]) => unknown> = {
  json: (v) => JSON.stringify(v ?? null),
  join: (v, sep) => (Array.isArray(v) ? v.map(show).join(String(sep ?? '')) : show(v)),
  index: (v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[String(k)] : undefined),
  upper: (v) => show(v).toUpperCase(),
  lower: (v) => show(v).toLowerCase(),
  title: (v) => show(v).replace(/\b\w/g, (c) => c.toUpperCase()),
  split: (v, sep) => show(v).split(String(sep)),
  truncate: (v, n) => [...show(v)].slice(0, Number(n)).join(''),
  pad: (v, l, r) => ' '.repeat(Number(l)) + show(v) + ' '.repeat(Number(r)),
  println: (...v) => v.map(show).join(' ') + '\n',
};

const UNSUPPORTED = new Set(['if', 'else', 'end', 'range', 'with', 'define', 'template', 'block']);

/** A value as Go's template prints it: slices as [a b], maps as map[k:v]. */
function show(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (Array.isArray(v)) return '[' + v.map(show).join(' ') + ']';
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return 'map[' + Object.keys(o).sort().map((k) => `${k}:${show(o[k])}`).join(' ') + ']';
  }
  return String(v);
}

function tokenizeArgs(src: string, where: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < src.length) {
    const ch = src[i];
    if (/\s/.test(ch)) {
      i++;
    } else if (ch === '"' || ch === '`') {
      let j = i + 1;
      while (j < src.length && src[j] !== ch) j += ch === '"' && src[j] === '\\' ? 2 : 1;
      if (j >= src.length) throw new Error(`format: unterminated string in ${where}`);
      out.push(src.slice(i, j + 1));
      i = j + 1;
    } else if (ch === '|' || ch === '(' || ch === ')') {
      out.push(ch);
      i++;
    } else {
      let j = i;
      while (j < src.length && !/[\s|()]/.test(src[j])) j++;
      out.push(src.slice(i, j));
      i = j;
    }
  }
  return out;
}

function parseOperand(tok: string, where: string): Arg {
  if (tok === '.') return { kind: 'field', path: [] };
  if (tok.startsWith('.')) {
    const path = tok.slice(1).split('.');
    if (path.some((p) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(p))) throw new Error(`format: bad field ${tok} in ${where}`);
    return { kind: 'field', path };
  }
  if (tok.startsWith('"')) return { kind: 'string', value: JSON.parse(tok) as string };
  if (tok.startsWith('`')) return { kind: 'string', value: tok.slice(1, -1) };
  if (/^-?\d+(\.\d+)?$/.test(tok)) return { kind: 'number', value: Number(tok) };
  if (tok.startsWith('$')) throw new Error(`format: variables are not supported (${where})`);
  if (UNSUPPORTED.has(tok)) throw new Error(`format: "${tok}" is not supported (${where}): only fields, functions and pipes`);
  if (FUNCS[tok]) return { kind: 'call', name: tok, args: [] };
  throw new Error(`format: function "${tok}" not defined (${where})`);
}

/** One command of a pipeline: an operand, or a function applied to operands. */
function parseCommand(toks: string[], where: string): Arg {
  if (toks.length === 0) throw new Error(`format: missing value in ${where}`);
  const parts: Arg[] = [];
  for (let i = 0; i < toks.length; i++) {
    if (toks[i] === '(') {
      let depth = 1;
      let j = i + 1;
      for (; j < toks.length && depth > 0; j++) depth += toks[j] === '(' ? 1 : toks[j] === ')' ? -1 : 0;
      if (depth !== 0) throw new Error(`format: unbalanced parentheses in ${where}`);
      parts.push(parsePipeline(toks.slice(i + 1, j - 1), where));
      i = j - 1;
    } else if (toks[i] === ')') throw new Error(`format: unbalanced parentheses in ${where}`);
    else parts.push(parseOperand(toks[i], where));
  }
  const [head, ...rest] = parts;
  if (head.kind === 'call' && head.args.length === 0) return { kind: 'call', name: head.name, args: rest };
  if (rest.length) throw new Error(`format: ${where}: only a function takes arguments`);
  return head;
}

function parsePipeline(toks: string[], where: string): Arg {
  const cmds: string[][] = [[]];
  let depth = 0;
  for (const t of toks) {
    if (t === '(') depth++;
    if (t === ')') depth--;
    if (t === '|' && depth === 0) cmds.push([]);
    else cmds[cmds.length - 1].push(t);
  }
  // a | f b is f b a, as in Go: the piped value is the last argument
  let acc = parseCommand(cmds[0], where);
  for (const c of cmds.slice(1)) {
    const fn = parseCommand(c, where);
    if (fn.kind !== 'call') throw new Error(`format: ${where}: only a function can follow |`);
    acc = { kind: 'call', name: fn.name, args: [...fn.args, acc] };
  }
  return acc;
}

function parse(format: string): Node[] {
  const nodes: Node[] = [];
  let i = 0;
  while (i < format.length) {
    const open = format.indexOf('{{', i);
    if (open < 0) {
      nodes.push({ kind: 'text', text: format.slice(i) });
      break;
    }
    let text = format.slice(i, open);
    const close = format.indexOf('}}', open + 2);
    if (close < 0) throw new Error(`format: unclosed action at offset ${open}`);
    let inner = format.slice(open + 2, close);
    let next = close + 2;
    if (/^-\s/.test(inner)) {
      text = text.replace(/\s+$/, '');
      inner = inner.slice(1);
    }
    if (/\s-$/.test(inner)) {
      inner = inner.slice(0, -1);
      while (next < format.length && /\s/.test(format[next])) next++;
    }
    if (text) nodes.push({ kind: 'text', text });
    const source = `{{${format.slice(open + 2, close)}}}`;
    const trimmed = inner.trim();
    if (trimmed.startsWith('/*')) {
      i = next;
      continue; // a comment
    }
    nodes.push({ kind: 'action', pipeline: [parsePipeline(tokenizeArgs(trimmed, source), source)], source });
    i = next;
  }
  return nodes;
}

function evaluate(a: Arg, row: Row, where: string): unknown {
  switch (a.kind) {
    case 'string':
    case 'number':
      return a.value;
    case 'field': {
      let v: unknown = row;
      for (const p of a.path) {
        if (v === null || typeof v !== 'object' || !(p in (v as object))) {
          const fields = v !== null && typeof v === 'object' ? Object.keys(v as object) : [];
          throw new Error(`format: ${where}: no field ${p}${fields.length ? ` (fields: ${fields.join(', ')})` : ''}`);
        }
        v = (v as Record<string, unknown>)[p];
      }
      return v;
    }
    case 'call':
      return FUNCS[a.name](...a.args.map((x) => evaluate(x, row, where)));
  }
}

export interface Template {
  /** "table ...": a header row, and columns aligned by tab */
  table: boolean;
  render(rows: Row[], headers?: Record<string, string>): string;
}

/** Lines of tab-separated cells aligned as docker's tabwriter does (min width 10, padding 3). */
export function alignTabs(text: string): string {
  const lines = text.split('\n');
  const cells = lines.map((l) => l.split('\t'));
  const width: number[] = [];
  for (const c of cells) c.slice(0, -1).forEach((s, i) => (width[i] = Math.max(width[i] ?? 0, [...s].length)));
  return cells.map((c) => c.map((s, i) => (i === c.length - 1 ? s : s + ' '.repeat(Math.max(10, width[i] + 3) - [...s].length))).join('')).join('\n');
}

/**
 * Compiles a --format value. defaultTable: the command's own table format, used for
 * "table" alone; headers map a field name to its column title (docker's, e.g. ID ->
 * "IMAGE ID"), for the header row of "table ..." formats.
 */
export function compile(format: string, defaultTable = ''): Template {
  let f = format;
  if (f === 'json') f = '{{json .}}';
  let isTable = false;
  if (f === 'table' || f.startsWith('table ')) {
    isTable = true;
    f = f === 'table' ? defaultTable : f.slice(6);
  }
  f = f.trim().replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  const nodes = parse(f);
  const renderOne = (row: Row) => nodes.map((n) => (n.kind === 'text' ? n.text : show(evaluate(n.pipeline[0], row, n.source)))).join('');
  return {
    table: isTable,
    render(rows, headers = {}) {
      const body = rows.map((r) => renderOne(r) + '\n').join('');
      if (!isTable) return body;
      // the header: each field action becomes its column title
      const head = nodes
        .map((n) => {
          if (n.kind === 'text') return n.text;
          const a = n.pipeline[0];
          const fld = a.kind === 'field' ? a : a.kind === 'call' ? a.args.find((x) => x.kind === 'field') : undefined;
          const name = fld && fld.kind === 'field' ? fld.path.join('.') : '';
          return headers[name] ?? name.toUpperCase();
        })
        .join('');
      return alignTabs(head + '\n' + body).replace(/ +$/gm, '');
    },
  };
}

/** Prints rows with a --format value; each command passes its rows in docker's field names. */
export function formatRows(format: string, rows: Row[], headers: Record<string, string>, defaultTable: string): string {
  return compile(format, defaultTable).render(rows, headers);
}
