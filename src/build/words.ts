// Docker's word processing for Dockerfile arguments (the rules of moby's shell lexer):
// quotes, the escape character, $VAR and ${VAR}, ${VAR:-word} ${VAR-word} ${VAR:+word}
// ${VAR+word} ${VAR:?message}. Used for every instruction docker expands (ADD, COPY, ENV,
// EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, ONBUILD); RUN, CMD and
// ENTRYPOINT are left to the shell.

export type Vars = ReadonlyMap<string, string>;

class Lexer {
  i = 0;
  constructor(readonly s: string, readonly vars: Vars, readonly esc: string) {}
  peek(): string {
    return this.s[this.i] ?? '';
  }
  next(): string {
    return this.s[this.i++] ?? '';
  }
  eof(): boolean {
    return this.i >= this.s.length;
  }

  /** One word up to unquoted whitespace (split) or to the end; quotes removed. */
  word(split: boolean, stopAt = ''): string {
    let out = '';
    while (!this.eof()) {
      const c = this.peek();
      if (stopAt && stopAt.includes(c)) break;
      if (split && /\s/.test(c)) break;
      this.i++;
      if (c === this.esc) {
        if (this.eof()) out += c;
        else out += this.next();
      } else if (c === "'") out += this.single();
      else if (c === '"') out += this.double();
      else if (c === '$') out += this.dollar();
      else out += c;
    }
    return out;
  }

  single(): string {
    let out = '';
    while (!this.eof()) {
      const c = this.next();
      if (c === "'") return out;
      out += c;
    }
    throw new Error(`unexpected end of statement while looking for matching single-quote in ${JSON.stringify(this.s)}`);
  }

  double(): string {
    let out = '';
    while (!this.eof()) {
      const c = this.next();
      if (c === '"') return out;
      if (c === '$') out += this.dollar();
      else if (c === this.esc) {
        const n = this.peek();
        if (n === '"' || n === '$' || n === this.esc) out += this.next();
        else out += c;
      } else out += c;
    }
    throw new Error(`unexpected end of statement while looking for matching double-quote in ${JSON.stringify(this.s)}`);
  }

  dollar(): string {
    const c = this.peek();
    if (c === '{') {
      this.i++;
      const name = this.name();
      const op = this.peek();
      if (op === '}') {
        this.i++;
        return this.vars.get(name) ?? '';
      }
      if (name === '') throw new Error(`bad substitution in ${JSON.stringify(this.s)}`);
      let mod = this.next();
      if (mod === ':') mod += this.next();
      if (![':-', '-', ':+', '+', ':?', '?'].includes(mod)) throw new Error(`unsupported modifier (${mod}) in substitution ${JSON.stringify(this.s)}`);
      const word = this.word(false, '}');
      if (this.next() !== '}') throw new Error(`missing '}' in ${JSON.stringify(this.s)}`);
      const v = this.vars.get(name);
      const colon = mod.startsWith(':');
      const set = colon ? v !== undefined && v !== '' : v !== undefined;
      switch (mod.slice(-1)) {
        case '-':
          return set ? (v as string) : word;
        case '+':
          return set ? word : '';
        default:
          if (!set) throw new Error(`${name}: ${word || 'is not allowed to be unset'}`);
          return v as string;
      }
    }
    const name = this.name();
    if (name === '') return '$';
    return this.vars.get(name) ?? '';
  }

  name(): string {
    let n = '';
    while (/[A-Za-z0-9_]/.test(this.peek())) n += this.next();
    return n;
  }
}

/** The whole string as one word: quotes removed, variables expanded. */
export function processWord(s: string, vars: Vars, esc = '\\'): string {
  return new Lexer(s, vars, esc).word(false);
}

/** Words split at unquoted whitespace, each processed. */
export function processWords(s: string, vars: Vars, esc = '\\'): string[] {
  const l = new Lexer(s, vars, esc);
  const out: string[] = [];
  for (;;) {
    while (!l.eof() && /\s/.test(l.peek())) l.i++;
    if (l.eof()) return out;
    const start = l.i;
    const w = l.word(true);
    // an empty quoted word ("") is still a word; an unset $X alone is not
    if (w !== '' || /["']/.test(s.slice(start, l.i))) out.push(w);
  }
}

/** KEY=VALUE pairs of ENV and LABEL (and ENV's legacy `KEY value with spaces`). */
export function keyValues(s: string, vars: Vars, esc: string, keyword: string): Array<[string, string]> {
  const trimmed = s.trim();
  const firstWord = trimmed.split(/\s/)[0] ?? '';
  if (keyword === 'ENV' && !firstWord.includes('=')) {
    const m = /^(\S+)\s+([\s\S]*)$/.exec(trimmed);
    if (!m) throw new Error('ENV requires two arguments (KEY value or KEY=VALUE)');
    return [[processWord(m[1], vars, esc), processWord(m[2], vars, esc)]];
  }
  const out: Array<[string, string]> = [];
  for (const w of processWordsRaw(trimmed, esc)) {
    const eq = w.indexOf('=');
    if (eq <= 0) throw new Error(`${keyword} ${JSON.stringify(w)}: syntax is KEY=VALUE`);
    const key = processWord(w.slice(0, eq), vars, esc);
    out.push([key, processWord(w.slice(eq + 1), vars, esc)]);
  }
  return out;
}

/** Splits at unquoted whitespace without processing (so each KEY=VALUE is processed once). */
export function processWordsRaw(s: string, esc: string): string[] {
  const out: string[] = [];
  let cur = '';
  let q: string | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === esc && q !== "'" && i + 1 < s.length) {
      cur += c + s[++i];
      continue;
    }
    if (q) {
      if (c === q) q = null;
      cur += c;
    } else if (c === '"' || c === "'") {
      q = c;
      cur += c;
    } else if (/\s/.test(c)) {
      if (cur) out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (q) throw new Error(`unmatched quote in ${JSON.stringify(s)}`);
  if (cur) out.push(cur);
  return out;
}

/** The exec form: a JSON array of strings, or null for the shell form. */
export function jsonArray(s: string): string[] | null {
  const t = s.trim();
  if (!t.startsWith('[')) return null;
  try {
    const v = JSON.parse(t) as unknown;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  } catch {
    /* shell form */
  }
  return null;
}
