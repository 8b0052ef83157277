// The node table under the union's inodes (src/union/nodetable.ts): slots, generations,
// the byte arena of names and the (parent, name) hash, checked against a plain Map model.
import test from 'ava';
import { Loc } from '../src/union/node';
import { NodeTable } from '../src/union/nodetable';

const ROOT = 1;

function child(t: NodeTable, parent: number, name: string): number {
  const s = t.alloc();
  t.pushLink(s, parent, name);
  t.childSet(parent, name, s);
  t.kids[parent]!++;
  return s;
}

function drop(t: NodeTable, s: number): void {
  for (const l of t.links(s)) {
    if (t.childGet(l.parent, l.name) === s) t.childDelete(l.parent, l.name);
    t.kids[l.parent]!--;
  }
  t.free(s);
}

test('the first slot is the root\'s (nodeid 1); a freed slot comes back with another generation, so another nodeid', (t) => {
  const nt = new NodeTable();
  t.is(nt.alloc(), ROOT);
  t.is(nt.idOf(ROOT), 1);
  const a = child(nt, ROOT, 'a');
  const idA = nt.idOf(a);
  t.is(nt.slotOf(idA), a);
  drop(nt, a);
  t.is(nt.slotOf(idA), 0, 'the old nodeid is stale');
  const b = child(nt, ROOT, 'b');
  t.is(b, a, 'the lowest free slot is reused');
  t.not(nt.idOf(b), idA);
  t.is(nt.slotOf(idA), 0);
  t.is(nt.slotOf(nt.idOf(b)), b);
  t.is(nt.childGet(ROOT, 'a'), 0);
  t.is(nt.childGet(ROOT, 'b'), b);
  t.is(nt.name(b), 'b');
  t.is(nt.slotOf(0), 0);
  t.is(nt.slotOf(12345), 0);
});

test('names of every byte value and of 255 bytes; one name differing in the last byte is another', (t) => {
  const nt = new NodeTable();
  nt.alloc();
  const long = 'x'.repeat(254);
  const a = child(nt, ROOT, long + 'a');
  const b = child(nt, ROOT, long + 'b');
  let all = '';
  for (let i = 1; i < 256; i++) if (i !== 0x2f) all += String.fromCharCode(i);
  all += 'z';
  t.is(all.length, 255);
  const c = child(nt, ROOT, all);
  t.is(nt.childGet(ROOT, long + 'a'), a);
  t.is(nt.childGet(ROOT, long + 'b'), b);
  t.is(nt.childGet(ROOT, long + 'c'), 0);
  t.is(nt.childGet(ROOT, all.slice(0, 254)), 0);
  t.is(nt.childGet(ROOT, all), c);
  t.is(nt.name(c), all);
  t.is(nt.name(a).length, 255);
  t.throws(() => child(nt, ROOT, 'y'.repeat(256)));
});

test('the same name under two parents is two entries; a hard link\'s second name is found and becomes the first when that goes', (t) => {
  const nt = new NodeTable();
  nt.alloc();
  const d1 = child(nt, ROOT, 'd1');
  const d2 = child(nt, ROOT, 'd2');
  const f1 = child(nt, d1, 'f');
  const f2 = child(nt, d2, 'f');
  t.not(f1, f2);
  t.is(nt.childGet(d1, 'f'), f1);
  t.is(nt.childGet(d2, 'f'), f2);
  // a second name for f1
  nt.pushLink(f1, d2, 'g');
  nt.childSet(d2, 'g', f1);
  t.is(nt.linkCount(f1), 2);
  t.is(nt.childGet(d2, 'g'), f1);
  // its first name goes: the second is found still, and is now its first
  nt.childDelete(d1, 'f');
  nt.removeLink(f1, 0);
  t.is(nt.childGet(d1, 'f'), 0);
  t.is(nt.childGet(d2, 'g'), f1);
  t.is(nt.parent[f1], d2);
  t.is(nt.name(f1), 'g');
  t.deepEqual(nt.links(f1), [{ parent: d2, name: 'g' }]);
});

test('a lower name equal to the first name survives that name\'s change; lower dirs are kept while named', (t) => {
  const nt = new NodeTable();
  nt.alloc();
  const layerRoot = new Loc(1, null, '');
  const dir = new Loc(1, layerRoot, 'd');
  const f = child(nt, ROOT, 'same');
  nt.setLower(f, dir, 'same');
  t.is(nt.lowName(f), 'same');
  nt.childDelete(ROOT, 'same');
  nt.setLink(f, 0, ROOT, 'renamed');
  nt.childSet(ROOT, 'renamed', f);
  t.is(nt.lowName(f), 'same');
  t.is(nt.name(f), 'renamed');
  t.is(nt.lowDir(f), dir);
  const g = child(nt, ROOT, 'g');
  nt.setLower(g, dir, 'other');
  t.is(nt.lowName(g), 'other');
  t.is(nt.lowDir(g), dir);
  nt.setLower(f, null, '');
  t.false(nt.hasLower(f));
  t.is(nt.lowDir(g), dir);
});

test('1,000,000 entries in one directory against a Map, half of them dropped and made again, then all dropped: the arrays shrink back', (t) => {
  const nt = new NodeTable();
  nt.alloc();
  const model = new Map<string, number>();
  const N = 1_000_000;
  for (let i = 0; i < N; i++) {
    const name = `e${i}`;
    model.set(name, child(nt, ROOT, name));
  }
  t.is(nt.count, N + 1);
  const big = nt.capacity;
  t.true(big >= N + 1);
  for (let i = 0; i < N; i += 2) {
    const name = `e${i}`;
    drop(nt, model.get(name)!);
    model.delete(name);
  }
  for (let i = 0; i < N; i += 4) {
    const name = `n${i}`;
    model.set(name, child(nt, ROOT, name));
  }
  let wrong = 0;
  for (const [name, s] of model) if (nt.childGet(ROOT, name) !== s || nt.name(s) !== name) wrong++;
  t.is(wrong, 0);
  let ghosts = 0;
  for (let i = 0; i < N; i += 2) if (nt.childGet(ROOT, `e${i}`) !== 0) ghosts++;
  t.is(ghosts, 0);
  t.is(nt.capacity, big, 'freed slots were reused: no growth');
  for (const s of model.values()) drop(nt, s);
  t.is(nt.count, 1);
  t.is(nt.kids[ROOT], 0);
  t.true(nt.capacity <= 1024, `capacity ${nt.capacity}`);
  t.true(nt.bytes < 200_000, `bytes ${nt.bytes}`);
});

test('names colliding in the hash: many parents, one name, found apart after deletions among them', (t) => {
  const nt = new NodeTable();
  nt.alloc();
  const dirs: number[] = [];
  for (let i = 0; i < 3000; i++) dirs.push(child(nt, ROOT, `d${i}`));
  const files = dirs.map((d) => child(nt, d, 'x'));
  for (let i = 0; i < dirs.length; i += 3) drop(nt, files[i]!);
  let wrong = 0;
  for (let i = 0; i < dirs.length; i++) {
    const want = i % 3 === 0 ? 0 : files[i]!;
    if (nt.childGet(dirs[i]!, 'x') !== want) wrong++;
  }
  t.is(wrong, 0);
});
