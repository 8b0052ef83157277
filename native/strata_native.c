// The few system calls Node cannot make, and the /dev/fuse request pump.
// Every function is synchronous and throws an Error with .code = "EXXX" on failure,
// except the hot-path ones (lstat, reply) which return -errno to avoid exceptions.
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef RENAME_WHITEOUT
#define RENAME_WHITEOUT (1 << 2)
#endif

// Passthrough ioctls (linux/fuse.h >= 7.40); defined here because build hosts
// may have older kernel headers than the kernel they run on.
struct strata_backing_map {
  int32_t fd;
  uint32_t flags;
  uint64_t padding;
};
#define STRATA_DEV_IOC_BACKING_OPEN _IOW(229, 1, struct strata_backing_map)
#define STRATA_DEV_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, NULL, "strata_native: N-API call failed"); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

static napi_value throw_errno(napi_env env, int err, const char *syscall) {
  char msg[256];
  const char *code = strerrorname_np(err);
  snprintf(msg, sizeof msg, "%s: %s", syscall, strerror(err));
  napi_value jmsg, jcode, jerr, jno, jsys;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &jmsg);
  napi_create_string_utf8(env, code ? code : "EIO", NAPI_AUTO_LENGTH, &jcode);
  napi_create_error(env, jcode, jmsg, &jerr);
  napi_create_int32(env, -err, &jno);
  napi_set_named_property(env, jerr, "errno", jno);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &jsys);
  napi_set_named_property(env, jerr, "syscall", jsys);
  napi_throw(env, jerr);
  return NULL;
}

// Paths arrive as Buffers (names are bytes) or strings; both become a NUL-terminated copy.
static char *get_path(napi_env env, napi_value v) {
  bool isbuf = false;
  napi_is_buffer(env, v, &isbuf);
  if (isbuf) {
    void *data;
    size_t len;
    napi_get_buffer_info(env, v, &data, &len);
    char *s = malloc(len + 1);
    if (!s) return NULL;
    memcpy(s, data, len);
    s[len] = 0;
    return s;
  }
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "path must be a string or Buffer");
    return NULL;
  }
  char *s = malloc(len + 1);
  if (!s) return NULL;
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

static int64_t get_i64(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_bigint) {
    int64_t r;
    bool lossless;
    napi_get_value_bigint_int64(env, v, &r, &lossless);
    return r;
  }
  int64_t r = 0;
  napi_get_value_int64(env, v, &r);
  return r;
}

static int32_t get_i32(napi_env env, napi_value v) {
  int32_t r = 0;
  napi_get_value_int32(env, v, &r);
  return r;
}

static napi_value make_i64(napi_env env, int64_t x) {
  napi_value r;
  napi_create_int64(env, x, &r);
  return r;
}

#define ARGS(n)                                           \
  size_t argc = n;                                        \
  napi_value argv[n];                                     \
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL)); \
  if (argc < n) {                                         \
    napi_throw_type_error(env, NULL, "missing arguments"); \
    return NULL;                                          \
  }

// ---- stat without allocating a Stats object per call ----
// lstat(path, Float64Array(16)) -> 0 | -errno
static void fill_stat(const struct stat *st, double *o) {
  o[0] = (double)(st->st_ino & 0xffffffffu);
  o[1] = (double)(st->st_ino >> 32);
  o[2] = (double)st->st_size;
  o[3] = (double)st->st_blocks;
  o[4] = (double)st->st_atim.tv_sec;
  o[5] = (double)st->st_atim.tv_nsec;
  o[6] = (double)st->st_mtim.tv_sec;
  o[7] = (double)st->st_mtim.tv_nsec;
  o[8] = (double)st->st_ctim.tv_sec;
  o[9] = (double)st->st_ctim.tv_nsec;
  o[10] = (double)st->st_mode;
  o[11] = (double)st->st_nlink;
  o[12] = (double)st->st_uid;
  o[13] = (double)st->st_gid;
  o[14] = (double)st->st_rdev;
  o[15] = (double)st->st_dev;
}

static double *get_f64(napi_env env, napi_value v, size_t need) {
  napi_typedarray_type type;
  size_t len;
  void *data;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &type, &len, &data, &ab, &off) != napi_ok ||
      type != napi_float64_array || len < need) {
    napi_throw_type_error(env, NULL, "expected Float64Array(16)");
    return NULL;
  }
  return data;
}

static napi_value n_lstat(napi_env env, napi_callback_info info) {
  ARGS(2);
  char *p = get_path(env, argv[0]);
  if (!p) return NULL;
  double *o = get_f64(env, argv[1], 16);
  if (!o) { free(p); return NULL; }
  struct stat st;
  int r = lstat(p, &st);
  int e = errno;
  free(p);
  if (r < 0) return make_i64(env, -e);
  fill_stat(&st, o);
  return make_i64(env, 0);
}

static napi_value n_fstat(napi_env env, napi_callback_info info) {
  ARGS(2);
  int fd = get_i32(env, argv[0]);
  double *o = get_f64(env, argv[1], 16);
  if (!o) return NULL;
  struct stat st;
  if (fstat(fd, &st) < 0) return make_i64(env, -errno);
  fill_stat(&st, o);
  return make_i64(env, 0);
}

// ---- directories: one getdents64 pass, packed as [u64 ino][u8 type][u16 len][name] ----
static napi_value n_readdir(napi_env env, napi_callback_info info) {
  ARGS(1);
  char *p = get_path(env, argv[0]);
  if (!p) return NULL;
  int fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
  if (fd < 0 && errno == EPERM) fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  int e = errno;
  free(p);
  if (fd < 0) return throw_errno(env, e, "opendir");
  size_t cap = 65536, used = 0;
  char *out = malloc(cap);
  char buf[32768];
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (n < 0) {
      e = errno;
      close(fd);
      free(out);
      return throw_errno(env, e, "getdents64");
    }
    if (n == 0) break;
    for (long pos = 0; pos < n;) {
      struct { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[]; } *d = (void *)(buf + pos);
      pos += d->reclen;
      size_t nl = strlen(d->name);
      if ((nl == 1 && d->name[0] == '.') || (nl == 2 && d->name[0] == '.' && d->name[1] == '.')) continue;
      if (used + 11 + nl > cap) {
        cap = cap * 2 + nl;
        out = realloc(out, cap);
      }
      memcpy(out + used, &d->ino, 8);
      out[used + 8] = (char)d->type;
      uint16_t l16 = (uint16_t)nl;
      memcpy(out + used + 9, &l16, 2);
      memcpy(out + used + 11, d->name, nl);
      used += 11 + nl;
    }
  }
  close(fd);
  napi_value res;
  void *dst;
  CHECK(napi_create_buffer_copy(env, used, out, &dst, &res));
  free(out);
  return res;
}

// ---- xattrs (never following symlinks) ----
static napi_value n_lgetxattr(napi_env env, napi_callback_info info) {
  ARGS(2);
  char *p = get_path(env, argv[0]);
  if (!p) return NULL;
  char *name = get_path(env, argv[1]);
  if (!name) { free(p); return NULL; }
  char stackbuf[256];
  ssize_t n = lgetxattr(p, name, stackbuf, sizeof stackbuf);
  char *heap = NULL;
  while (n < 0 && errno == ERANGE) {
    ssize_t want = lgetxattr(p, name, NULL, 0);
    if (want < 0) break;
    free(heap);
    heap = malloc(want + 1);
    n = lgetxattr(p, name, heap, want + 1);
  }
  int e = errno;
  free(p);
  free(name);
  if (n < 0) {
    free(heap);
    // absence is common (opaque/redirect probes): answer null, not an exception
    if (e == ENODATA || e == ENOTSUP) {
      napi_value nul;
      napi_get_null(env, &nul);
      return nul;
    }
    return throw_errno(env, e, "lgetxattr");
  }
  napi_value res;
  void *dst;
  CHECK(napi_create_buffer_copy(env, n, heap ? heap : stackbuf, &dst, &res));
  free(heap);
  return res;
}

static napi_value n_llistxattr(napi_env env, napi_callback_info info) {
  ARGS(1);
  char *p = get_path(env, argv[0]);
  if (!p) return NULL;
  ssize_t want = llistxattr(p, NULL, 0);
  char *buf = NULL;
  ssize_t n = want;
  while (want >= 0) {
    buf = realloc(buf, want + 1);
    n = llistxattr(p, buf, want + 1);
    if (n >= 0 || errno != ERANGE) break;
    want = llistxattr(p, NULL, 0);
  }
  int e = errno;
  free(p);
  if (want < 0 || n < 0) {
    free(buf);
    if (e == ENOTSUP) n = 0; else return throw_errno(env, e, "llistxattr");
  }
  napi_value res;
  void *dst;
  CHECK(napi_create_buffer_copy(env, n, buf ? buf : "", &dst, &res));
  free(buf);
  return res;
}

static napi_value n_lsetxattr(napi_env env, napi_callback_info info) {
  ARGS(4);
  char *p = get_path(env, argv[0]);
  if (!p) return NULL;
  char *name = get_path(env, argv[1]);
  if (!name) { free(p); return NULL; }
  void *val;
  size_t len;
  napi_get_buffer_info(env, argv[2], &val, &len);
  int flags = get_i32(env, argv[3]);
  int r = lsetxattr(p, name, val, len, flags);
  int e = errno;
  free(p);
  free(name);
  if (r < 0) return throw_errno(env, e, "lsetxattr");
  return NULL;
}

static napi_value n_lremovexattr(napi_env env, napi_callback_info info) {
  ARGS(2);
  char *p = get_path(env, argv[0]);
  if (!p) return NULL;
  char *name = get_path(env, argv[1]);
  if (!name) { free(p); return NULL; }
  int r = lremovexattr(p, name);
  int e = errno;
  free(p);
  free(name);
  if (r < 0) return throw_errno(env, e, "lremovexattr");
  return NULL;
}

// ---- node creation and rename ----
static napi_value n_mknod(napi_env env, napi_callback_info info) {
  ARGS(3);
  char *p = get_path(env, argv[0]);
  if (!p) return NULL;
  mode_t mode = (mode_t)get_i64(env, argv[1]);
  dev_t dev = (dev_t)get_i64(env, argv[2]);
  int r = mknod(p, mode, dev);
  int e = errno;
  free(p);
  if (r < 0) return throw_errno(env, e, "mknod");
  return NULL;
}

static napi_value n_renameat2(napi_env env, napi_callback_info info) {
  ARGS(3);
  char *a = get_path(env, argv[0]);
  if (!a) return NULL;
  char *b = get_path(env, argv[1]);
  if (!b) { free(a); return NULL; }
  unsigned flags = (unsigned)get_i32(env, argv[2]);
  int r = syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, flags);
  int e = errno;
  free(a);
  free(b);
  if (r < 0) return throw_errno(env, e, "renameat2");
  return NULL;
}

// utimensat(path, asec, ansec, msec, mnsec, nofollow); nsec may be UTIME_NOW / UTIME_OMIT
static napi_value n_utimensat(napi_env env, napi_callback_info info) {
  ARGS(6);
  char *p = get_path(env, argv[0]);
  if (!p) return NULL;
  struct timespec ts[2];
  ts[0].tv_sec = get_i64(env, argv[1]);
  ts[0].tv_nsec = get_i64(env, argv[2]);
  ts[1].tv_sec = get_i64(env, argv[3]);
  ts[1].tv_nsec = get_i64(env, argv[4]);
  bool nofollow = false;
  napi_get_value_bool(env, argv[5], &nofollow);
  int r = utimensat(AT_FDCWD, p, ts, nofollow ? AT_SYMLINK_NOFOLLOW : 0);
  int e = errno;
  free(p);
  if (r < 0) return throw_errno(env, e, "utimensat");
  return NULL;
}

static napi_value n_futimens(napi_env env, napi_callback_info info) {
  ARGS(5);
  int fd = get_i32(env, argv[0]);
  struct timespec ts[2];
  ts[0].tv_sec = get_i64(env, argv[1]);
  ts[0].tv_nsec = get_i64(env, argv[2]);
  ts[1].tv_sec = get_i64(env, argv[3]);
  ts[1].tv_nsec = get_i64(env, argv[4]);
  if (futimens(fd, ts) < 0) return throw_errno(env, errno, "futimens");
  return NULL;
}

// ---- file data ----
static napi_value n_fallocate(napi_env env, napi_callback_info info) {
  ARGS(4);
  int fd = get_i32(env, argv[0]);
  int mode = get_i32(env, argv[1]);
  off_t off = get_i64(env, argv[2]);
  off_t len = get_i64(env, argv[3]);
  if (fallocate(fd, mode, off, len) < 0) return throw_errno(env, errno, "fallocate");
  return NULL;
}

static napi_value n_lseek(napi_env env, napi_callback_info info) {
  ARGS(3);
  int fd = get_i32(env, argv[0]);
  off_t off = get_i64(env, argv[1]);
  int whence = get_i32(env, argv[2]);
  off_t r = lseek(fd, off, whence);
  if (r < 0) return throw_errno(env, errno, "lseek");
  return make_i64(env, r);
}

static napi_value n_copy_file_range(napi_env env, napi_callback_info info) {
  ARGS(5);
  int fin = get_i32(env, argv[0]);
  loff_t oin = get_i64(env, argv[1]);
  int fout = get_i32(env, argv[2]);
  loff_t oout = get_i64(env, argv[3]);
  size_t len = (size_t)get_i64(env, argv[4]);
  ssize_t r = copy_file_range(fin, &oin, fout, &oout, len, 0);
  if (r < 0) return throw_errno(env, errno, "copy_file_range");
  return make_i64(env, r);
}

// Copy a whole file keeping holes: data extents by SEEK_DATA/SEEK_HOLE, each with
// copy_file_range (reflink or in-kernel copy), read/write where that is refused.
static int copy_extent(int in, int out, off_t off, off_t end) {
  while (off < end) {
    loff_t a = off, b = off;
    ssize_t n = copy_file_range(in, &a, out, &b, (size_t)(end - off), 0);
    if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
      static __thread char buf[1 << 17];
      ssize_t got = pread(in, buf, sizeof buf < (size_t)(end - off) ? sizeof buf : (size_t)(end - off), off);
      if (got < 0) return -errno;
      if (got == 0) return 0;
      for (ssize_t w = 0; w < got;) {
        ssize_t k = pwrite(out, buf + w, got - w, off + w);
        if (k < 0) return -errno;
        w += k;
      }
      n = got;
    } else if (n < 0) {
      return -errno;
    }
    if (n == 0) return 0;
    off += n;
  }
  return 0;
}

static napi_value n_copy_sparse(napi_env env, napi_callback_info info) {
  ARGS(3);
  int in = get_i32(env, argv[0]);
  int out = get_i32(env, argv[1]);
  off_t size = get_i64(env, argv[2]);
  off_t off = 0;
  int r = 0;
  while (off < size) {
    off_t data = lseek(in, off, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // only a hole remains
      if (errno == EINVAL || errno == EOPNOTSUPP) { r = copy_extent(in, out, off, size); off = size; break; }
      r = -errno;
      break;
    }
    off_t hole = lseek(in, data, SEEK_HOLE);
    if (hole < 0) hole = size;
    if (hole > size) hole = size;
    r = copy_extent(in, out, data, hole);
    if (r < 0) break;
    off = hole;
  }
  if (r == 0 && ftruncate(out, size) < 0) r = -errno;
  if (r < 0) return throw_errno(env, -r, "copy-up");
  return NULL;
}

// ---- mounting ----
static napi_value n_mount(napi_env env, napi_callback_info info) {
  ARGS(5);
  char *src = get_path(env, argv[0]);
  char *tgt = get_path(env, argv[1]);
  char *type = get_path(env, argv[2]);
  unsigned long flags = (unsigned long)get_i64(env, argv[3]);
  char *data = get_path(env, argv[4]);
  int r = (src && tgt && type && data) ? mount(src, tgt, type, flags, data) : -1;
  int e = errno;
  free(src);
  free(tgt);
  free(type);
  free(data);
  if (r < 0) return throw_errno(env, e, "mount");
  return NULL;
}

static napi_value n_umount2(napi_env env, napi_callback_info info) {
  ARGS(2);
  char *tgt = get_path(env, argv[0]);
  if (!tgt) return NULL;
  int flags = get_i32(env, argv[1]);
  int r = umount2(tgt, flags);
  int e = errno;
  free(tgt);
  if (r < 0) return throw_errno(env, e, "umount2");
  return NULL;
}

static napi_value n_backing_open(napi_env env, napi_callback_info info) {
  ARGS(2);
  int devfd = get_i32(env, argv[0]);
  struct strata_backing_map map = {.fd = get_i32(env, argv[1]), .flags = 0, .padding = 0};
  int id = ioctl(devfd, STRATA_DEV_IOC_BACKING_OPEN, &map);
  if (id < 0) return throw_errno(env, errno, "FUSE_DEV_IOC_BACKING_OPEN");
  return make_i64(env, id);
}

static napi_value n_backing_close(napi_env env, napi_callback_info info) {
  ARGS(2);
  int devfd = get_i32(env, argv[0]);
  uint32_t id = (uint32_t)get_i32(env, argv[1]);
  if (ioctl(devfd, STRATA_DEV_IOC_BACKING_CLOSE, &id) < 0) return throw_errno(env, errno, "FUSE_DEV_IOC_BACKING_CLOSE");
  return NULL;
}

// ---- the request loop: /dev/fuse is polled by the event loop of the JavaScript thread,
// so a request reaches its handler without a hop between threads ----

// The part of the FUSE protocol (include/uapi/linux/fuse.h) this loop reads and writes
// itself; the rest is src/fuse/protocol.ts. Mirrors of the kernel's structs, named as
// there, because build hosts may have older kernel headers than the kernel they run on.
enum fuse_opcode {
  FUSE_FORGET = 2,
  FUSE_READ = 15,
  FUSE_SETXATTR = 21,
  FUSE_GETXATTR = 22,
  FUSE_LISTXATTR = 23,
  FUSE_REMOVEXATTR = 24,
  FUSE_BATCH_FORGET = 42,
};

struct fuse_in_header {
  uint32_t len;
  uint32_t opcode;
  uint64_t unique;
  uint64_t nodeid;
  uint32_t uid;
  uint32_t gid;
  uint32_t pid;
  uint16_t total_extlen;
  uint16_t padding;
};

struct fuse_out_header {
  uint32_t len;
  int32_t error;
  uint64_t unique;
};

struct fuse_read_in {
  uint64_t fh;
  uint64_t offset;
  uint32_t size;
  uint32_t read_flags;
  uint64_t lock_owner;
  uint32_t flags;
  uint32_t padding;
};

// GETXATTR (the name follows it) and LISTXATTR
struct fuse_getxattr_in {
  uint32_t size;
  uint32_t padding;
};

// the reply to a GETXATTR/LISTXATTR of size 0: how many bytes the value or list needs
struct fuse_getxattr_out {
  uint32_t size;
  uint32_t padding;
};

// count fuse_forget_one follow it
struct fuse_batch_forget_in {
  uint32_t count;
  uint32_t dummy;
};

struct fuse_forget_one {
  uint64_t nodeid;
  uint64_t nlookup;
};

_Static_assert(sizeof(struct fuse_in_header) == 40, "fuse_in_header is 40 bytes");
_Static_assert(sizeof(struct fuse_out_header) == 16, "fuse_out_header is 16 bytes");
_Static_assert(sizeof(struct fuse_read_in) == 40, "fuse_read_in is 40 bytes");
_Static_assert(sizeof(struct fuse_getxattr_in) == 8, "fuse_getxattr_in is 8 bytes");
_Static_assert(sizeof(struct fuse_getxattr_out) == 8, "fuse_getxattr_out is 8 bytes");
_Static_assert(sizeof(struct fuse_batch_forget_in) == 8, "fuse_batch_forget_in is 8 bytes");
_Static_assert(sizeof(struct fuse_forget_one) == 16, "fuse_forget_one is 16 bytes");

// A request's body, the struct after its header, copied out of the request buffer (no
// alignment or aliasing assumptions about it). 0 if the request is too short for it.
static int request_body(const char *req, size_t len, void *body, size_t size) {
  if (len < sizeof(struct fuse_in_header) + size) return 0;
  memcpy(body, req + sizeof(struct fuse_in_header), size);
  return 1;
}

// A reply of outlen bytes whose payload (if any) is in place after the header in out.
static void send_reply(int devfd, char *out, uint64_t unique, int32_t error, uint32_t outlen) {
  struct fuse_out_header oh = {.len = outlen, .error = error, .unique = unique};
  memcpy(out, &oh, sizeof oh);
  if (write(devfd, out, outlen) < 0) { /* ENOENT: interrupted; the kernel dropped it */ }
}

typedef struct {
  uv_poll_t poll;
  int fd;
  napi_env env;
  napi_ref cb;
  napi_async_context actx;
  char *buf;
  char *out;
  size_t bufsize;
  int closed;
} poller_t;

static void poller_closed(uv_handle_t *h) {
  poller_t *p = h->data;
  // p->buf stays: JavaScript holds it as the request buffer
  free(p->out);
  free(p);
}

// Called inside a callback scope opened by the caller (see on_readable).
static void poller_call(poller_t *p, napi_value arg) {
  napi_value cb, recv, result;
  napi_get_reference_value(p->env, p->cb, &cb);
  napi_get_undefined(p->env, &recv);
  if (napi_call_function(p->env, recv, cb, 1, &arg, &result) == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(p->env, &exc);
    fprintf(stderr, "strata-fs: uncaught exception in request handler\n");
  }
}

static void poller_end(poller_t *p, int err) {
  if (p->closed) return;
  p->closed = 1;
  uv_poll_stop(&p->poll);
  napi_value arg;
  napi_create_int64(p->env, -err, &arg);
  poller_call(p, arg);
  napi_delete_reference(p->env, p->cb);
  uv_close((uv_handle_t *)&p->poll, poller_closed);
}

static long spin_ns = 0;

typedef struct u64_entry {
  uint64_t key;
  int value;
  struct u64_entry *next;
} u64_entry;

// A small chained hash table from u64 keys (file handles, inode numbers) to ints.
typedef struct {
  u64_entry **buckets;
  size_t nbuckets;
} u64_map;

static u64_entry **map_slot(u64_map *m, uint64_t key) {
  if (!m->buckets) m->buckets = calloc(m->nbuckets, sizeof *m->buckets);
  return m->buckets ? &m->buckets[key % m->nbuckets] : NULL;
}

/** The value for key, or -1. */
static int map_get(u64_map *m, uint64_t key) {
  u64_entry **slot = map_slot(m, key);
  for (u64_entry *e = slot ? *slot : NULL; e; e = e->next)
    if (e->key == key) return e->value;
  return -1;
}

static void map_del(u64_map *m, uint64_t key) {
  u64_entry **pp = map_slot(m, key);
  while (pp && *pp) {
    if ((*pp)->key == key) {
      u64_entry *dead = *pp;
      *pp = dead->next;
      free(dead);
      return;
    }
    pp = &(*pp)->next;
  }
}

static void map_put(u64_map *m, uint64_t key, int value) {
  map_del(m, key);
  u64_entry **slot = map_slot(m, key);
  u64_entry *e = slot ? malloc(sizeof *e) : NULL;
  if (!e) return; // both maps are shortcuts: a missing entry sends the request to JavaScript
  e->key = key;
  e->value = value;
  e->next = *slot;
  *slot = e;
}

static void map_clear(u64_map *m) {
  for (size_t i = 0; m->buckets && i < m->nbuckets; i++) {
    while (m->buckets[i]) {
      u64_entry *dead = m->buckets[i];
      m->buckets[i] = dead->next;
      free(dead);
    }
  }
}

// Files whose READ requests are answered right here, without JavaScript: fh -> fd.
// (Lower files are never handed to the kernel for passthrough: its backing file would be
// opened without O_NOATIME. Their data still never crosses into JavaScript.)
static u64_map read_fds = {NULL, 4096};

static napi_value n_serve_reads(napi_env env, napi_callback_info info) {
  ARGS(2);
  uint64_t fh = (uint64_t)get_i64(env, argv[0]);
  int fd = get_i32(env, argv[1]);
  map_put(&read_fds, fh, fd);
  return NULL;
}

static napi_value n_stop_serving_reads(napi_env env, napi_callback_info info) {
  ARGS(1);
  map_del(&read_fds, (uint64_t)get_i64(env, argv[0]));
  return NULL;
}

// A FUSE_READ for a registered fh: pread into the reply and write it. Returns 1 if served.
static int serve_read(int devfd, const struct fuse_in_header *h, const char *req, size_t len, char *out, size_t outcap) {
  struct fuse_read_in in;
  if (h->opcode != FUSE_READ || !request_body(req, len, &in, sizeof in)) return 0;
  int fd = map_get(&read_fds, in.fh);
  if (fd < 0) return 0;
  const size_t at = sizeof(struct fuse_out_header); // the data follows the header
  uint32_t size = in.size;
  if (size > outcap - at) size = (uint32_t)(outcap - at);
  size_t got = 0;
  int32_t err = 0;
  while (got < size) {
    ssize_t r = pread(fd, out + at + got, size - got, (off_t)(in.offset + got));
    if (r < 0) {
      if (errno == EINTR) continue;
      err = -errno;
      break;
    }
    if (r == 0) break;
    got += (size_t)r;
  }
  send_reply(devfd, out, h->unique, err, (uint32_t)(err ? at : at + got));
  return 1;
}

// Inodes with no extended attribute anyone could see through the mount: their GETXATTR
// and LISTXATTR are answered here. The kernel asks for security.capability before every
// write and ls -l asks for security.selinux of each file it lists; with nothing to find,
// that need not cross into JavaScript. JavaScript adds an inode once it has checked it;
// any SETXATTR or REMOVEXATTR empties the set (an object can have more than one inode
// number for a moment, see UnionFs.detach), and FORGET takes an inode out.
static u64_map xattr_free = {NULL, 65536};

static napi_value n_mark_xattr_free(napi_env env, napi_callback_info info) {
  ARGS(1);
  map_put(&xattr_free, (uint64_t)get_i64(env, argv[0]), 1);
  return NULL;
}

// Keeps the set right for the request about to be handled; answers GETXATTR/LISTXATTR
// of an inode in it. Returns 1 if it answered.
static int serve_xattr(int devfd, const struct fuse_in_header *h, const char *req, size_t len, char *out) {
  switch (h->opcode) {
    case FUSE_SETXATTR:
    case FUSE_REMOVEXATTR:
      map_clear(&xattr_free);
      return 0;
    case FUSE_FORGET:
      map_del(&xattr_free, h->nodeid);
      return 0;
    case FUSE_BATCH_FORGET: {
      struct fuse_batch_forget_in in;
      if (!request_body(req, len, &in, sizeof in)) return 0;
      const size_t first = sizeof(struct fuse_in_header) + sizeof in;
      for (uint32_t i = 0; i < in.count && first + (size_t)(i + 1) * sizeof(struct fuse_forget_one) <= len; i++) {
        struct fuse_forget_one one;
        memcpy(&one, req + first + (size_t)i * sizeof one, sizeof one);
        map_del(&xattr_free, one.nodeid);
      }
      return 0;
    }
    case FUSE_GETXATTR:
    case FUSE_LISTXATTR: {
      struct fuse_getxattr_in in;
      if (!request_body(req, len, &in, sizeof in) || map_get(&xattr_free, h->nodeid) < 0) return 0;
      const uint32_t at = sizeof(struct fuse_out_header);
      if (h->opcode == FUSE_GETXATTR) {
        send_reply(devfd, out, h->unique, -ENODATA, at);
      } else if (in.size == 0) {
        struct fuse_getxattr_out need = {.size = 0}; // the empty list needs 0 bytes
        memcpy(out + at, &need, sizeof need);
        send_reply(devfd, out, h->unique, 0, at + sizeof need);
      } else {
        send_reply(devfd, out, h->unique, 0, at); // the empty list
      }
      return 1;
    }
    default:
      return 0;
  }
}

static void on_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  poller_t *p = h->data;
  napi_handle_scope scope;
  napi_open_handle_scope(p->env, &scope);
  // One callback scope for the whole batch: Node's per-callback bookkeeping (async hooks,
  // the tick queue) runs once per wake-up instead of once per request.
  napi_value resource;
  napi_create_object(p->env, &resource);
  napi_callback_scope cscope;
  napi_open_callback_scope(p->env, resource, p->actx, &cscope);
  (void)status; // an error on the device shows in read() as ENODEV
  {
    // drain what is queued, a bounded batch at a time so timers and signals still run
    struct timespec idle_since = {0, 0};
    for (int i = 0; i < 256 && !p->closed; i++) {
      ssize_t n = read(p->fd, p->buf, p->bufsize);
      if (n < 0) {
        if (errno == EAGAIN) {
          // A caller waiting on our reply usually sends its next request within
          // microseconds: waiting for it here is cheaper than a trip through epoll.
          struct timespec now;
          clock_gettime(CLOCK_MONOTONIC, &now);
          if (idle_since.tv_sec == 0 && idle_since.tv_nsec == 0) idle_since = now;
          long waited = (now.tv_sec - idle_since.tv_sec) * 1000000000L + (now.tv_nsec - idle_since.tv_nsec);
          if (waited < spin_ns) { i--; continue; }
          break;
        }
        if (errno == EINTR || errno == ENOENT) continue;
        poller_end(p, errno);
        break;
      }
      if (n == 0) {
        poller_end(p, ENODEV);
        break;
      }
      idle_since.tv_sec = 0;
      idle_since.tv_nsec = 0;
      struct fuse_in_header hdr;
      if ((size_t)n >= sizeof hdr) {
        memcpy(&hdr, p->buf, sizeof hdr);
        if (serve_read(p->fd, &hdr, p->buf, (size_t)n, p->out, p->bufsize)) continue;
        if (serve_xattr(p->fd, &hdr, p->buf, (size_t)n, p->out)) continue;
      }
      // The request stays in p->buf, which JavaScript sees as the buffer startPoll
      // returned; it is handled (and answered) before the next read overwrites it.
      napi_handle_scope inner;
      napi_open_handle_scope(p->env, &inner);
      napi_value arg;
      napi_create_int64(p->env, n, &arg);
      poller_call(p, arg);
      napi_close_handle_scope(p->env, inner);
    }
  }
  napi_close_callback_scope(p->env, cscope);
  // the async context outlives the callback scope that used it
  if (p->closed) napi_async_destroy(p->env, p->actx);
  napi_close_handle_scope(p->env, scope);
}

// startPoll(fd, bufsize, onRequest(length | -errno)) -> the Buffer each request is read into
static napi_value n_start_poll(napi_env env, napi_callback_info info) {
  ARGS(3);
  poller_t *p = calloc(1, sizeof *p);
  p->fd = get_i32(env, argv[0]);
  p->bufsize = (size_t)get_i64(env, argv[1]);
  p->buf = malloc(p->bufsize);
  p->out = malloc(p->bufsize);
  p->env = env;
  const char *spin = getenv("STRATA_SPIN_US");
  spin_ns = (spin ? atol(spin) : 20) * 1000L;
  int fl = fcntl(p->fd, F_GETFL);
  if (fl < 0 || fcntl(p->fd, F_SETFL, fl | O_NONBLOCK) < 0) return throw_errno(env, errno, "fcntl");
  CHECK(napi_create_reference(env, argv[2], 1, &p->cb));
  napi_value name;
  napi_create_string_utf8(env, "strata-fuse", NAPI_AUTO_LENGTH, &name);
  CHECK(napi_async_init(env, NULL, name, &p->actx));
  struct uv_loop_s *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  if (uv_poll_init(loop, &p->poll, p->fd) != 0) return throw_errno(env, EINVAL, "uv_poll_init");
  p->poll.data = p;
  if (uv_poll_start(&p->poll, UV_READABLE, on_readable) != 0) return throw_errno(env, EINVAL, "uv_poll_start");
  // p->buf is never freed (see poller_closed): this Buffer may outlive the poller.
  napi_value reqbuf;
  CHECK(napi_create_external_buffer(env, p->bufsize, p->buf, NULL, NULL, &reqbuf));
  return reqbuf;
}

// writeFd(fd, Buffer[, length]) -> bytes written | -errno; for /dev/fuse, ENOENT means the
// request was interrupted, which is fine
static napi_value n_write_fd(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int fd = get_i32(env, argv[0]);
  void *data;
  size_t len;
  napi_get_buffer_info(env, argv[1], &data, &len);
  if (argc > 2) {
    int64_t want = get_i64(env, argv[2]);
    if (want >= 0 && (size_t)want < len) len = (size_t)want;
  }
  ssize_t n = write(fd, data, len);
  return make_i64(env, n < 0 ? -errno : n);
}

static napi_value n_open_fuse(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "open /dev/fuse");
  return make_i64(env, fd);
}

#define EXPORT(name, fn)                                              \
  do {                                                                \
    napi_value f;                                                     \
    CHECK(napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &f)); \
    CHECK(napi_set_named_property(env, exports, name, f));            \
  } while (0)

static napi_value init(napi_env env, napi_value exports) {
  EXPORT("lstat", n_lstat);
  EXPORT("markXattrFree", n_mark_xattr_free);
  EXPORT("fstat", n_fstat);
  EXPORT("readdir", n_readdir);
  EXPORT("lgetxattr", n_lgetxattr);
  EXPORT("llistxattr", n_llistxattr);
  EXPORT("lsetxattr", n_lsetxattr);
  EXPORT("lremovexattr", n_lremovexattr);
  EXPORT("mknod", n_mknod);
  EXPORT("renameat2", n_renameat2);
  EXPORT("utimensat", n_utimensat);
  EXPORT("futimens", n_futimens);
  EXPORT("fallocate", n_fallocate);
  EXPORT("lseek", n_lseek);
  EXPORT("copyFileRange", n_copy_file_range);
  EXPORT("copySparse", n_copy_sparse);
  EXPORT("mount", n_mount);
  EXPORT("umount2", n_umount2);
  EXPORT("backingOpen", n_backing_open);
  EXPORT("backingClose", n_backing_close);
  EXPORT("startPoll", n_start_poll);
  EXPORT("serveReads", n_serve_reads);
  EXPORT("stopServingReads", n_stop_serving_reads);
  EXPORT("writeFd", n_write_fd);
  EXPORT("openFuse", n_open_fuse);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
