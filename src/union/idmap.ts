// Owners as the mount shows them and as the layers keep them, fuse-overlayfs's way
// (uidmapping=, gidmapping=, squash_to_root, squash_to_uid=, squash_to_gid=, same names
// and formats), which containers-storage passes to its mount program for a container
// with its own ID mapping: the layers keep the image's IDs, the mount shows the host's.
//
// uidmapping=A:B:N[:A2:B2:N2...]: an owner A+i (i < N) on disk is shown as B+i, and a
// shown B+i is written to disk as A+i; an owner on disk outside every range is shown as
// the overflow ID (65534), and so is one written outside (a file made by such a caller is
// owned by 65534 on disk). squash_*: every
// object is shown as owned by that ID; owners are still written (mapped) where the
// filesystem lets us, and a refusal is ignored.

export const OVERFLOW_ID = 65534;

export interface IdRange {
  disk: number;
  shown: number;
  count: number;
}

export class IdMap {
  constructor(readonly ranges: IdRange[] | null, readonly squash: number | null) {}

  static readonly IDENTITY = new IdMap(null, null);

  get identity(): boolean {
    return this.ranges === null && this.squash === null;
  }

  /** The owner the mount shows for one on disk. */
  shown(disk: number): number {
    if (this.squash !== null) return this.squash;
    if (this.ranges === null) return disk;
    for (const r of this.ranges) if (disk >= r.disk && disk < r.disk + r.count) return r.shown + (disk - r.disk);
    return OVERFLOW_ID;
  }

  /** The owner to write for one given through the mount. */
  disk(shown: number): number {
    if (this.ranges === null) return shown;
    for (const r of this.ranges) if (shown >= r.shown && shown < r.shown + r.count) return r.disk + (shown - r.shown);
    return OVERFLOW_ID;
  }
}

/** Parses fuse-overlayfs's A:B:N[:A:B:N...] (colons throughout; commas, as containers-storage
 *  never writes but people might, accepted between triples too). */
export function parseIdRanges(what: string, s: string): IdRange[] {
  const nums = s.split(/[:,]/);
  if (s === '' || nums.length % 3 !== 0 || nums.some((n) => !/^\d+$/.test(n) || Number(n) > 0xffffffff)) {
    throw new Error(`bad value for ${what}: '${s}' (CONTAINER:HOST:COUNT[:CONTAINER:HOST:COUNT...], numbers)`);
  }
  const out: IdRange[] = [];
  for (let i = 0; i < nums.length; i += 3) {
    const r = { disk: Number(nums[i]), shown: Number(nums[i + 1]), count: Number(nums[i + 2]) };
    if (r.count === 0) throw new Error(`bad value for ${what}: '${s}' (a range of 0 IDs)`);
    out.push(r);
  }
  return out;
}
