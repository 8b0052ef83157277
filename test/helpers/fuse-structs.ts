// The FUSE structs as include/uapi/linux/fuse.h (protocol 7.40) declares them, field by
// field with their C types, laid out by the C rules (each field at a multiple of its
// alignment, the struct padded to its largest one). Written from the header, not from
// src/fuse/protocol.ts: the wire tests build requests and read replies with these, so a
// wrong offset in protocol.ts shows as a test failure, not as an agreement with itself.

export type Scalar = 'u16' | 'u32' | 'i32' | 'u64' | 'i64';
/** a scalar, an array of scalars, or a nested struct by name */
export type FieldType = Scalar | [Scalar, number] | { struct: string };
export type Field = [name: string, type: FieldType];

export const STRUCTS: Record<string, Field[]> = {
  fuse_in_header: [['len', 'u32'], ['opcode', 'u32'], ['unique', 'u64'], ['nodeid', 'u64'], ['uid', 'u32'], ['gid', 'u32'], ['pid', 'u32'], ['total_extlen', 'u16'], ['padding', 'u16']],
  fuse_out_header: [['len', 'u32'], ['error', 'i32'], ['unique', 'u64']],
  fuse_attr: [
    ['ino', 'u64'], ['size', 'u64'], ['blocks', 'u64'], ['atime', 'u64'], ['mtime', 'u64'], ['ctime', 'u64'],
    ['atimensec', 'u32'], ['mtimensec', 'u32'], ['ctimensec', 'u32'], ['mode', 'u32'], ['nlink', 'u32'], ['uid', 'u32'],
    ['gid', 'u32'], ['rdev', 'u32'], ['blksize', 'u32'], ['flags', 'u32'],
  ],
  fuse_entry_out: [
    ['nodeid', 'u64'], ['generation', 'u64'], ['entry_valid', 'u64'], ['attr_valid', 'u64'],
    ['entry_valid_nsec', 'u32'], ['attr_valid_nsec', 'u32'], ['attr', { struct: 'fuse_attr' }],
  ],
  fuse_attr_out: [['attr_valid', 'u64'], ['attr_valid_nsec', 'u32'], ['dummy', 'u32'], ['attr', { struct: 'fuse_attr' }]],
  fuse_forget_in: [['nlookup', 'u64']],
  fuse_forget_one: [['nodeid', 'u64'], ['nlookup', 'u64']],
  fuse_batch_forget_in: [['count', 'u32'], ['dummy', 'u32']],
  fuse_getattr_in: [['getattr_flags', 'u32'], ['dummy', 'u32'], ['fh', 'u64']],
  fuse_setattr_in: [
    ['valid', 'u32'], ['padding', 'u32'], ['fh', 'u64'], ['size', 'u64'], ['lock_owner', 'u64'], ['atime', 'u64'],
    ['mtime', 'u64'], ['ctime', 'u64'], ['atimensec', 'u32'], ['mtimensec', 'u32'], ['ctimensec', 'u32'], ['mode', 'u32'],
    ['unused4', 'u32'], ['uid', 'u32'], ['gid', 'u32'], ['unused5', 'u32'],
  ],
  fuse_mknod_in: [['mode', 'u32'], ['rdev', 'u32'], ['umask', 'u32'], ['padding', 'u32']],
  fuse_mkdir_in: [['mode', 'u32'], ['umask', 'u32']],
  fuse_rename_in: [['newdir', 'u64']],
  fuse_rename2_in: [['newdir', 'u64'], ['flags', 'u32'], ['padding', 'u32']],
  fuse_link_in: [['oldnodeid', 'u64']],
  fuse_open_in: [['flags', 'u32'], ['open_flags', 'u32']],
  fuse_create_in: [['flags', 'u32'], ['mode', 'u32'], ['umask', 'u32'], ['open_flags', 'u32']],
  fuse_open_out: [['fh', 'u64'], ['open_flags', 'u32'], ['backing_id', 'i32']],
  fuse_release_in: [['fh', 'u64'], ['flags', 'u32'], ['release_flags', 'u32'], ['lock_owner', 'u64']],
  fuse_read_in: [['fh', 'u64'], ['offset', 'u64'], ['size', 'u32'], ['read_flags', 'u32'], ['lock_owner', 'u64'], ['flags', 'u32'], ['padding', 'u32']],
  fuse_write_in: [['fh', 'u64'], ['offset', 'u64'], ['size', 'u32'], ['write_flags', 'u32'], ['lock_owner', 'u64'], ['flags', 'u32'], ['padding', 'u32']],
  fuse_write_out: [['size', 'u32'], ['padding', 'u32']],
  fuse_kstatfs: [
    ['blocks', 'u64'], ['bfree', 'u64'], ['bavail', 'u64'], ['files', 'u64'], ['ffree', 'u64'], ['bsize', 'u32'],
    ['namelen', 'u32'], ['frsize', 'u32'], ['padding', 'u32'], ['spare', ['u32', 6]],
  ],
  fuse_fsync_in: [['fh', 'u64'], ['fsync_flags', 'u32'], ['padding', 'u32']],
  fuse_setxattr_in: [['size', 'u32'], ['flags', 'u32'], ['setxattr_flags', 'u32'], ['padding', 'u32']],
  fuse_getxattr_in: [['size', 'u32'], ['padding', 'u32']],
  fuse_getxattr_out: [['size', 'u32'], ['padding', 'u32']],
  fuse_init_in: [['major', 'u32'], ['minor', 'u32'], ['max_readahead', 'u32'], ['flags', 'u32'], ['flags2', 'u32'], ['unused', ['u32', 11]]],
  fuse_init_out: [
    ['major', 'u32'], ['minor', 'u32'], ['max_readahead', 'u32'], ['flags', 'u32'], ['max_background', 'u16'],
    ['congestion_threshold', 'u16'], ['max_write', 'u32'], ['time_gran', 'u32'], ['max_pages', 'u16'],
    ['map_alignment', 'u16'], ['flags2', 'u32'], ['max_stack_depth', 'u32'], ['unused', ['u32', 6]],
  ],
  fuse_fallocate_in: [['fh', 'u64'], ['offset', 'u64'], ['length', 'u64'], ['mode', 'u32'], ['padding', 'u32']],
  fuse_ioctl_in: [['fh', 'u64'], ['flags', 'u32'], ['cmd', 'u32'], ['arg', 'u64'], ['in_size', 'u32'], ['out_size', 'u32']],
  fuse_ioctl_out: [['result', 'i32'], ['flags', 'u32'], ['in_iovs', 'u32'], ['out_iovs', 'u32']],
  fuse_lseek_in: [['fh', 'u64'], ['offset', 'u64'], ['whence', 'u32'], ['padding', 'u32']],
  fuse_lseek_out: [['offset', 'u64']],
  fuse_copy_file_range_in: [['fh_in', 'u64'], ['off_in', 'u64'], ['nodeid_out', 'u64'], ['fh_out', 'u64'], ['off_out', 'u64'], ['len', 'u64'], ['flags', 'u64']],
  // char name[] follows; FUSE_NAME_OFFSET is sizeof(struct fuse_dirent)
  fuse_dirent: [['ino', 'u64'], ['off', 'u64'], ['namelen', 'u32'], ['type', 'u32']],
  fuse_direntplus: [['entry_out', { struct: 'fuse_entry_out' }], ['dirent', { struct: 'fuse_dirent' }]],
  fuse_notify_inval_inode_out: [['ino', 'u64'], ['off', 'i64'], ['len', 'i64']],
};

/** enum fuse_opcode (and COPY_FILE_RANGE_64 of 7.45, which the kernel tries first) */
export const OPCODES: Record<string, number> = {
  LOOKUP: 1, FORGET: 2, GETATTR: 3, SETATTR: 4, READLINK: 5, SYMLINK: 6, MKNOD: 8, MKDIR: 9, UNLINK: 10,
  RMDIR: 11, RENAME: 12, LINK: 13, OPEN: 14, READ: 15, WRITE: 16, STATFS: 17, RELEASE: 18, FSYNC: 20,
  SETXATTR: 21, GETXATTR: 22, LISTXATTR: 23, REMOVEXATTR: 24, FLUSH: 25, INIT: 26, OPENDIR: 27, READDIR: 28,
  RELEASEDIR: 29, FSYNCDIR: 30, GETLK: 31, SETLK: 32, SETLKW: 33, ACCESS: 34, CREATE: 35, INTERRUPT: 36,
  BMAP: 37, DESTROY: 38, IOCTL: 39, POLL: 40, NOTIFY_REPLY: 41, BATCH_FORGET: 42, FALLOCATE: 43,
  READDIRPLUS: 44, RENAME2: 45, LSEEK: 46, COPY_FILE_RANGE: 47, SETUPMAPPING: 48, REMOVEMAPPING: 49,
  SYNCFS: 50, TMPFILE: 51, STATX: 52, COPY_FILE_RANGE_64: 53,
};

const SCALAR_SIZE: Record<Scalar, number> = { u16: 2, u32: 4, i32: 4, u64: 8, i64: 8 };

export interface Placed {
  name: string;
  type: FieldType;
  offset: number;
  size: number;
}

export interface Layout {
  size: number;
  align: number;
  fields: Placed[];
}

export function layout(struct: string): Layout {
  const fields = STRUCTS[struct];
  if (!fields) throw new Error(`no struct ${struct}`);
  let at = 0;
  let align = 1;
  const placed: Placed[] = [];
  for (const [name, type] of fields) {
    const { size, align: a } = sizeOf(type);
    at = Math.ceil(at / a) * a;
    placed.push({ name, type, offset: at, size });
    at += size;
    align = Math.max(align, a);
  }
  return { size: Math.ceil(at / align) * align, align, fields: placed };
}

function sizeOf(t: FieldType): { size: number; align: number } {
  if (typeof t === 'string') return { size: SCALAR_SIZE[t], align: SCALAR_SIZE[t] };
  if (Array.isArray(t)) return { size: SCALAR_SIZE[t[0]] * t[1], align: SCALAR_SIZE[t[0]] };
  const l = layout(t.struct);
  return { size: l.size, align: l.align };
}

/** The byte offset of a field, with "a.b" for a field of a nested struct. */
export function offsetOf(struct: string, path: string): number {
  const [head, ...rest] = path.split('.');
  const f = layout(struct).fields.find((x) => x.name === head);
  if (!f) throw new Error(`${struct} has no field ${head}`);
  if (rest.length === 0) return f.offset;
  if (typeof f.type !== 'object' || Array.isArray(f.type)) throw new Error(`${struct}.${head} is not a struct`);
  return f.offset + offsetOf(f.type.struct, rest.join('.'));
}

export interface Values { [field: string]: number | bigint | Values }

/** sizeof(struct) bytes with the given fields set (the rest zero). */
export function pack(struct: string, values: Values): Buffer {
  const l = layout(struct);
  const b = Buffer.alloc(l.size);
  packInto(b, 0, struct, values);
  return b;
}

function packInto(b: Buffer, at: number, struct: string, values: Values): void {
  for (const f of layout(struct).fields) {
    const v = values[f.name];
    if (v === undefined) continue;
    if (typeof f.type === 'object' && !Array.isArray(f.type)) {
      packInto(b, at + f.offset, f.type.struct, v as Values);
      continue;
    }
    const scalar = Array.isArray(f.type) ? f.type[0] : f.type;
    writeScalar(b, at + f.offset, scalar, v as number | bigint);
  }
}

function writeScalar(b: Buffer, at: number, t: Scalar, v: number | bigint): void {
  switch (t) {
    case 'u16': b.writeUInt16LE(Number(v), at); return;
    case 'u32': b.writeUInt32LE(Number(v), at); return;
    case 'i32': b.writeInt32LE(Number(v), at); return;
    case 'u64': b.writeBigUInt64LE(BigInt(v), at); return;
    case 'i64': b.writeBigInt64LE(BigInt(v), at); return;
  }
}

export type Decoded = { [name: string]: number | Decoded };

/** The fields of the struct at `at`: u64/i64 as numbers (the tests keep them below
 *  2^53), nested structs as objects; arrays (reserved space) are left out. */
export function unpack(struct: string, b: Buffer, at = 0): Decoded {
  const l = layout(struct);
  if (at + l.size > b.length) throw new Error(`${struct} needs ${l.size} bytes at ${at}, have ${b.length - at}`);
  const out: Decoded = {};
  for (const f of l.fields) {
    const p = at + f.offset;
    if (Array.isArray(f.type)) continue;
    if (typeof f.type === 'object') {
      out[f.name] = unpack(f.type.struct, b, p);
      continue;
    }
    switch (f.type) {
      case 'u16': out[f.name] = b.readUInt16LE(p); break;
      case 'u32': out[f.name] = b.readUInt32LE(p); break;
      case 'i32': out[f.name] = b.readInt32LE(p); break;
      case 'u64': out[f.name] = Number(b.readBigUInt64LE(p)); break;
      case 'i64': out[f.name] = Number(b.readBigInt64LE(p)); break;
    }
  }
  return out;
}
