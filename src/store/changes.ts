// What a container changed (strata diff) and where a path comes from (strata explain),
// both read straight from the upper and the layer dirs, mounted or not.
import * as fs from 'node:fs';
import { Store, ContainerRecord } from './store';
import { upperDir } from './containers';
import { bytesPath, examineLayer, isOpaque, LayerFinding, resolveLower } from '../image/lower';
import { isWhiteout, OverlayXattrs, USER_XATTRS } from '../union/format';

export interface Change {
  kind: 'A' | 'C' | 'D';
  path: string; // byte string, "/"-rooted
}

export function containerChanges(store: Store, c: ContainerRecord): Change[] {
  const upper = upperDir(store, c.id);
  const lowers = store.lowerDirs(c.layers);
  // a user's store marks the union with user.overlay.* (see Store.xattrs)
  try {
    return changesOf(upper, lowers, store.xattrs);
  } catch (e) {
    // a user's store: a directory a subordinate ID keeps to itself (0700) is read in the
    // user's namespace, where the user may read everything its range owns
    if ((e as NodeJS.ErrnoException).code !== 'EACCES' || !store.rootless) throw e;
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { inUserNamespace } = require('../userns') as typeof import('../userns');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
  const argv = inUserNamespace([process.execPath, __filename, JSON.stringify({ upper, lowers })]);
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'latin1', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`cannot read the changes of ${c.name} in your user namespace: ${(r.stderr || `exit ${r.status}`).trim().split('\n').pop()}`);
  return JSON.parse(r.stdout) as Change[];
}

/** The changes an upper makes to its lowers (top first), x: the union's marks. */
export function changesOf(upper: string, lowers: string[], x: OverlayXattrs): Change[] {
  const out: Change[] = [];
  const visit = (rel: string, lowerVisible: boolean) => {
    const names = (fs.readdirSync(bytesPath(upper, rel), { encoding: 'buffer' }) as Buffer[]).map((b) => b.toString('latin1'));
    for (const n of names) {
      const r = rel ? rel + '/' + n : n;
      const st = fs.lstatSync(bytesPath(upper, r), { bigint: true });
      const lower = lowerVisible ? resolveLower(lowers, r, x) : null;
      if (isWhiteout(st)) {
        if (lower) out.push({ kind: 'D', path: '/' + r });
        continue;
      }
      out.push({ kind: lower ? 'C' : 'A', path: '/' + r });
      if (st.isDirectory()) {
        const opaque = isOpaque(bytesPath(upper, r), x);
        if (opaque && lower && lower.st.isDirectory()) {
          // an opaque dir hides every lower child it does not recreate
          for (const ln of listMerged(lowers, r, x)) if (!fs.existsSync(bytesPath(upper, r + '/' + ln))) out.push({ kind: 'D', path: '/' + r + '/' + ln });
        }
        visit(r, lowerVisible && !opaque && !!lower && lower.st.isDirectory());
      }
    }
  };
  visit('', true);
  return out.sort((a, b) => Buffer.compare(Buffer.from(a.path, 'latin1'), Buffer.from(b.path, 'latin1')));
}

/** Names the lower layers show in directory rel. */
function listMerged(lowers: string[], rel: string, x: OverlayXattrs): string[] {
  const names = new Set<string>();
  for (const l of lowers) {
    const f = examineLayer(l, rel, x);
    if (f.kind !== 'present') {
      if (f.kind === 'absent') continue;
      break;
    }
    if (!f.st.isDirectory()) break;
    for (const b of fs.readdirSync(bytesPath(l, rel), { encoding: 'buffer' }) as Buffer[]) {
      const n = b.toString('latin1');
      if (names.has(n)) continue;
      if (resolveLower(lowers, rel ? rel + '/' + n : n, x)) names.add(n);
    }
    if (f.opaque) break;
  }
  return [...names];
}

export interface LayerExplanation {
  layer: string; // "upper" or chain id
  index: number | null; // 1-based layer number, bottom = 1
  diffId: string | null;
  createdBy: string | null;
  finding: LayerFinding['kind'];
  detail: string;
}

export interface Explanation {
  path: string;
  visible: boolean;
  providedBy: string | null;
  copiedUp: boolean;
  type: string | null;
  /** when not visible: which layer's whiteout/opaque dir/non-dir parent hides it */
  hiddenBy: string | null;
  layers: LayerExplanation[];
}

function typeName(st: fs.BigIntStats): string {
  if (st.isDirectory()) return 'directory';
  if (st.isFile()) return 'file';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char device';
  if (st.isBlockDevice()) return 'block device';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}

export function explainPath(store: Store, c: ContainerRecord, rel: string, history: Array<string | null>, diffIds: string[]): Explanation {
  const dirs = [{ name: 'upper', dir: upperDir(store, c.id), index: null as number | null }];
  for (let i = c.layers.length - 1; i >= 0; i--) dirs.push({ name: c.layers[i], dir: store.layerDir(c.layers[i]), index: i + 1 });
  const layers: LayerExplanation[] = [];
  let provider: string | null = null;
  let type: string | null = null;
  let blocked: string | null = null;
  let mergeDirs = true;
  for (const d of dirs) {
    const f = examineLayer(d.dir, rel, store.xattrs);
    let detail: string;
    switch (f.kind) {
      case 'present':
        detail = `has it: ${typeName(f.st)}, mode ${(Number(f.st.mode) & 0o7777).toString(8).padStart(4, '0')}, uid ${f.st.uid}, gid ${f.st.gid}${f.st.isFile() ? `, ${f.st.size} bytes` : ''}${f.opaque ? ', OPAQUE (hides what the layers below have in this directory)' : ''}`;
        break;
      case 'whiteout':
        detail = 'has a WHITEOUT (char device 0:0): the path is deleted here; layers below are hidden';
        break;
      case 'hidden-by-parent':
        detail = f.why === 'opaque' ? `does not have it, and its parent /${f.parent} is OPAQUE here: layers below are hidden` : f.why === 'whiteout' ? `has a WHITEOUT of the parent /${f.parent}: everything below is deleted` : `has /${f.parent} as a non-directory: everything below is hidden`;
        break;
      default:
        detail = 'does not have it';
    }
    if (blocked !== null) detail = `(hidden by ${blocked}) ` + detail;
    layers.push({ layer: d.name, index: d.index, diffId: d.index ? diffIds[d.index - 1] ?? null : null, createdBy: d.index ? history[d.index - 1] ?? null : null, finding: f.kind, detail });
    if (blocked !== null) continue;
    const label = d.index === null ? 'the container upper' : `layer ${d.index}`;
    if (f.kind === 'present') {
      if (provider === null) {
        provider = d.name;
        type = typeName(f.st);
      }
      if (!f.st.isDirectory() || f.opaque || !mergeDirs) blocked = label;
      continue;
    }
    if (f.kind === 'whiteout' || f.kind === 'hidden-by-parent') blocked = label;
  }
  // copied up: the image (layers without the upper) shows the path too
  const copiedUp = provider === 'upper' && resolveLower(store.lowerDirs(c.layers), rel, store.xattrs) !== null;
  return { path: '/' + rel, visible: provider !== null, providedBy: provider, copiedUp, type, hiddenBy: provider === null ? blocked : null, layers };
}

export function layerHistory(store: Store, configDigest: string): { createdBy: Array<string | null>; diffIds: string[] } {
  const cfg = JSON.parse(store.readBlob(configDigest).toString('utf8')) as { history?: Array<{ created_by?: string; empty_layer?: boolean }>; rootfs: { diff_ids: string[] } };
  const createdBy: Array<string | null> = [];
  for (const h of cfg.history ?? []) if (!h.empty_layer) createdBy.push(h.created_by ?? null);
  return { createdBy, diffIds: cfg.rootfs.diff_ids };
}

// the child of containerChanges in a user's store: root of the user's namespace
if (require.main === module) {
  const job = JSON.parse(process.argv[2]!) as { upper: string; lowers: string[] };
  // latin1 both ways: names are byte strings here
  process.stdout.write(Buffer.from(JSON.stringify(changesOf(job.upper, job.lowers, USER_XATTRS)), 'latin1'));
}
