// docker's --filter KEY=VALUE: values of one key are alternatives (any may match), different
// keys must all match. Each command names the keys it understands; others are refused.

export type Filters = Map<string, string[]>;

export function parseFilters(specs: string[], allowed: readonly string[]): Filters {
  const f: Filters = new Map();
  for (const s of specs) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new Error(`bad format of filter (expected name=value): ${s}`);
    const key = s.slice(0, eq).trim().toLowerCase();
    const value = s.slice(eq + 1);
    if (!allowed.includes(key)) throw new Error(`invalid filter '${key}' (this command filters by ${allowed.join(', ')})`);
    f.set(key, [...(f.get(key) ?? []), value]);
  }
  return f;
}

/** true when key is absent, or test holds for one of its values. */
export function anyOf(f: Filters, key: string, test: (value: string) => boolean): boolean {
  const vs = f.get(key);
  return !vs || vs.some(test);
}

export function boolFilter(f: Filters, key: string): boolean | null {
  const vs = f.get(key);
  if (!vs) return null;
  const v = vs[vs.length - 1].toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new Error(`invalid filter '${key}=${vs[vs.length - 1]}' (true or false)`);
}

/**
 * Go's path.Match, which docker's reference filter uses: '*' is any run of characters
 * other than '/', '?' one such character, [a-z] and [^a-z] classes, '\' quotes.
 */
export function pathMatch(pattern: string, name: string): boolean {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\') {
      i++;
      if (i >= pattern.length) throw new Error(`syntax error in pattern ${JSON.stringify(pattern)}`);
      re += escapeRe(pattern[i]);
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) throw new Error(`syntax error in pattern ${JSON.stringify(pattern)}`);
      let body = pattern.slice(i + 1, end);
      const neg = body.startsWith('^');
      if (neg) body = body.slice(1);
      re += `[${neg ? '^/' : ''}${body.replace(/[\]\\]/g, '\\$&')}]`;
      i = end;
    } else re += escapeRe(c);
  }
  return new RegExp(re + '$', 's').test(name);
}

const escapeRe = (c: string) => c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/**
 * docker's reference filter (reference.FamiliarMatch): the pattern against the familiar
 * "name:tag" ("ubuntu:22.04", "me/app:2"), and failing that against the familiar name.
 */
export function referenceMatch(pattern: string, familiarRepo: string, tag: string): boolean {
  return pathMatch(pattern, `${familiarRepo}:${tag}`) || pathMatch(pattern, familiarRepo);
}
