// The few system calls Node cannot make, and the /dev/fuse request pump.
// Every function is synchronous and throws an Error with .code = "EXXX" on failure,
// except the hot-path ones (statAt, openDirAt, writeFd) which return -errno instead.
//
// Objects are named relative to a directory descriptor, as the *at(2) calls do: (dirfd,
// name), where dirfd may be AT_FDCWD (then name is a whole path) and an empty name means
// the object dirfd itself refers to. Symbolic links are never followed.
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <stddef.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <linux/io_uring.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef RENAME_WHITEOUT
#define RENAME_WHITEOUT (1 << 2)
#endif

// System calls newer than the build host's headers may be (the numbers are the same on
// every architecture since 5.x's unified table).
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
#ifndef SYS_setxattrat
#define SYS_setxattrat 463
#define SYS_getxattrat 464
#define SYS_listxattrat 465
#define SYS_removexattrat 466
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
struct strata_mount_attr {
  uint64_t attr_set;
  uint64_t attr_clr;
  uint64_t propagation;
  uint64_t userns_fd;
};
#define STRATA_MOUNT_ATTR__ATIME 0x70

struct strata_xattr_args {
  uint64_t value;
  uint32_t size;
  uint32_t flags;
};

// Passthrough ioctls (linux/fuse.h >= 7.40); defined here because build hosts
// may have older kernel headers than the kernel they run on.
struct strata_backing_map {
  int32_t fd;
  uint32_t flags;
  uint64_t padding;
};
#define STRATA_DEV_IOC_BACKING_OPEN _IOW(229, 1, struct strata_backing_map)
#define STRATA_DEV_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

// The new mount API (5.2, mount_setattr 5.12): struct strata_mount_attr above.
#define STRATA_OPEN_TREE_CLONE 1
#define STRATA_AT_RECURSIVE 0x8000
#define STRATA_MOUNT_ATTR_RDONLY 0x1
#define STRATA_MOUNT_ATTR_NOATIME 0x10
#define STRATA_MOUNT_ATTR_NODIRATIME 0x80

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

#define I32(i) get_i32(env, argv[i])
#define I64(i) get_i64(env, argv[i])

// Names and paths are bytes: a Buffer, or a string of one char per byte (latin1, the
// form the union keeps names in). Copied NUL-terminated into a caller's buffer of
// NAME_BUF bytes, so no call allocates; longer ones get ENAMETOOLONG, as from the kernel.
#define NAME_BUF 4096

static bool get_bytes(napi_env env, napi_value v, char *out, size_t cap, bool utf8) {
  bool isbuf = false;
  napi_is_buffer(env, v, &isbuf);
  size_t len;
  if (isbuf) {
    void *data;
    napi_get_buffer_info(env, v, &data, &len);
    if (len >= cap) goto too_long;
    memcpy(out, data, len);
    out[len] = 0;
    return true;
  }
  napi_status s = utf8 ? napi_get_value_string_utf8(env, v, out, cap, &len) : napi_get_value_string_latin1(env, v, out, cap, &len);
  if (s != napi_ok) {
    napi_throw_type_error(env, NULL, "a name must be a string or Buffer");
    return false;
  }
  if (len < cap - 1) return true;
  // exactly full: it may have been cut; ask for the real length
  if (utf8) napi_get_value_string_utf8(env, v, NULL, 0, &len);
  else napi_get_value_string_latin1(env, v, NULL, 0, &len);
  if (len < cap) return true;
too_long:
  throw_errno(env, ENAMETOOLONG, "name");
  return false;
}

#define NAME(var, i)  \
  char var[NAME_BUF]; \
  if (!get_bytes(env, argv[i], var, NAME_BUF, false)) return NULL;

// Paths given by people (mount points, options) are strings in UTF-8, as Node's own are.
#define PATH(var, i)  \
  char var[NAME_BUF]; \
  if (!get_bytes(env, argv[i], var, NAME_BUF, true)) return NULL;

// AT_EMPTY_PATH for the empty name: the call is about dirfd itself.
static int at_flags(const char *name) {
  return AT_SYMLINK_NOFOLLOW | (name[0] ? 0 : AT_EMPTY_PATH);
}

// The one ending of every wrapper below: nothing (or the call's result, for calls that
// give a descriptor or a count), or an Error named by the errno saved right after the call.
static napi_value done(napi_env env, long r, int err, const char *what, bool value) {
  if (r < 0) return throw_errno(env, err, what);
  return value ? make_i64(env, r) : NULL;
}

#define CALL_RETURNING(value, what, call)      \
  do {                                         \
    long r_ = (long)(call);                    \
    int e_ = errno;                            \
    return done(env, r_, e_, what, value);     \
  } while (0)
#define RETURN_CALL(what, call) CALL_RETURNING(false, what, call)
#define RETURN_RESULT(what, call) CALL_RETURNING(true, what, call)

// ---- stat without allocating a Stats object per call ----
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

// statAt(dirfd, name, Float64Array(16)) -> 0 | -errno
static napi_value n_stat_at(napi_env env, napi_callback_info info) {
  ARGS(3);
  NAME(name, 1);
  double *o = get_f64(env, argv[2], 16);
  if (!o) return NULL;
  struct stat st;
  if (fstatat(I32(0), name, &st, at_flags(name)) < 0) return make_i64(env, -errno);
  fill_stat(&st, o);
  return make_i64(env, 0);
}

// ---- opening ----
static napi_value n_open_at(napi_env env, napi_callback_info info) {
  ARGS(4);
  NAME(name, 1);
  RETURN_RESULT("openat", openat(I32(0), name, I32(2) | O_CLOEXEC, (mode_t)I32(3)));
}

// A directory below dirfd, for walking a layer: never through a symlink (nor a magic
// link, nor out of dirfd with ".."), read without moving its atime where allowed.
// -> fd | -errno (ENOTDIR or ELOOP: not a real directory)
static int openat2_missing = 0;

static int open_dir_at(int dirfd, const char *name) {
  int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME;
  for (int attempt = 0; attempt < 2; attempt++) {
    int fd;
    // a whole path (AT_FDCWD) is not "beneath" anything: only its last component is checked
    if (!openat2_missing && dirfd != AT_FDCWD) {
      struct open_how how = {.flags = (uint64_t)flags, .mode = 0,
                             .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
      fd = (int)syscall(SYS_openat2, dirfd, name, &how, sizeof how);
      if (fd < 0 && errno == ENOSYS) {
        openat2_missing = 1;
        fd = openat(dirfd, name, flags);
      }
    } else {
      fd = openat(dirfd, name, flags);
    }
    if (fd >= 0) return fd;
    // O_NOATIME needs ownership or CAP_FOWNER
    if (errno != EPERM || !(flags & O_NOATIME)) return -errno;
    flags &= ~O_NOATIME;
  }
  return -EPERM;
}

static napi_value n_open_dir_at(napi_env env, napi_callback_info info) {
  ARGS(2);
  NAME(name, 1);
  return make_i64(env, open_dir_at(I32(0), name));
}

// ---- directories: one pass of getdents64 over an open directory (from its start if
// rewind), packed as [u64 ino][u8 type][u16 len][name] without . and .. ----
static napi_value n_readdir_fd(napi_env env, napi_callback_info info) {
  ARGS(2);
  int fd = I32(0);
  bool rewind = true;
  napi_get_value_bool(env, argv[1], &rewind);
  if (rewind && lseek(fd, 0, SEEK_SET) < 0) return throw_errno(env, errno, "lseek");
  size_t cap = 65536, used = 0;
  char *out = malloc(cap);
  char buf[32768];
  if (!out) return throw_errno(env, ENOMEM, "readdir");
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (n < 0) {
      int e = errno;
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
        char *grown = realloc(out, cap);
        if (!grown) {
          free(out);
          return throw_errno(env, ENOMEM, "readdir");
        }
        out = grown;
      }
      memcpy(out + used, &d->ino, 8);
      out[used + 8] = (char)d->type;
      uint16_t l16 = (uint16_t)nl;
      memcpy(out + used + 9, &l16, 2);
      memcpy(out + used + 11, d->name, nl);
      used += 11 + nl;
    }
  }
  napi_value res;
  void *dst;
  napi_status s = napi_create_buffer_copy(env, used, out, &dst, &res);
  free(out);
  CHECK(s);
  return res;
}

// ---- names: create, remove, move, link ----
static napi_value n_mkdir_at(napi_env env, napi_callback_info info) {
  ARGS(3);
  NAME(name, 1);
  RETURN_CALL("mkdirat", mkdirat(I32(0), name, (mode_t)I32(2)));
}

static napi_value n_mknod_at(napi_env env, napi_callback_info info) {
  ARGS(4);
  NAME(name, 1);
  RETURN_CALL("mknodat", mknodat(I32(0), name, (mode_t)I64(2), (dev_t)I64(3)));
}

// symlinkAt(target, dirfd, name)
static napi_value n_symlink_at(napi_env env, napi_callback_info info) {
  ARGS(3);
  NAME(target, 0);
  NAME(name, 2);
  RETURN_CALL("symlinkat", symlinkat(target, I32(1), name));
}

static napi_value n_unlink_at(napi_env env, napi_callback_info info) {
  ARGS(3);
  NAME(name, 1);
  RETURN_CALL("unlinkat", unlinkat(I32(0), name, I32(2)));
}

// renameAt2(olddirfd, old, newdirfd, new, flags)
static napi_value n_rename_at2(napi_env env, napi_callback_info info) {
  ARGS(5);
  NAME(from, 1);
  NAME(to, 3);
  RETURN_CALL("renameat2", syscall(SYS_renameat2, I32(0), from, I32(2), to, (unsigned)I32(4)));
}

// linkAt(olddirfd, old, newdirfd, new): the name itself, never a symlink's target; an
// empty old name links the open file olddirfd itself (an O_TMPFILE file, say)
static napi_value n_link_at(napi_env env, napi_callback_info info) {
  ARGS(4);
  NAME(from, 1);
  NAME(to, 3);
  RETURN_CALL("linkat", linkat(I32(0), from, I32(2), to, from[0] ? 0 : AT_EMPTY_PATH));
}

static napi_value n_readlink_at(napi_env env, napi_callback_info info) {
  ARGS(2);
  NAME(name, 1);
  char buf[NAME_BUF];
  ssize_t n = readlinkat(I32(0), name, buf, sizeof buf);
  if (n < 0) return throw_errno(env, errno, "readlinkat");
  napi_value res;
  void *dst;
  CHECK(napi_create_buffer_copy(env, (size_t)n, buf, &dst, &res));
  return res;
}

// ---- attributes ----
static napi_value n_chown_at(napi_env env, napi_callback_info info) {
  ARGS(4);
  NAME(name, 1);
  RETURN_CALL("fchownat", fchownat(I32(0), name, (uid_t)I32(2), (gid_t)I32(3), at_flags(name)));
}

// Mode bits of a non-symlink. fchmodat(2) cannot refuse to follow a symlink; fchmodat2
// (Linux 6.6) can, and where it is missing the object is reached through an O_PATH
// descriptor, which never follows one.
static int fchmodat2_missing = 0;

static int chmod_at(int dirfd, const char *name, mode_t mode) {
  if (!name[0]) return fchmod(dirfd, mode);
  if (!fchmodat2_missing) {
    int r = (int)syscall(SYS_fchmodat2, dirfd, name, mode, AT_SYMLINK_NOFOLLOW);
    if (r == 0 || errno != ENOSYS) return r;
    fchmodat2_missing = 1;
  }
  int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -1;
  char proc[32];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  struct stat st;
  int r = fstat(fd, &st);
  if (r == 0 && S_ISLNK(st.st_mode)) {
    errno = EOPNOTSUPP;
    r = -1;
  }
  if (r == 0) r = chmod(proc, mode);
  int e = errno;
  close(fd);
  errno = e;
  return r;
}

static napi_value n_chmod_at(napi_env env, napi_callback_info info) {
  ARGS(3);
  NAME(name, 1);
  RETURN_CALL("fchmodat", chmod_at(I32(0), name, (mode_t)I32(2)));
}

// utimensAt(dirfd, name, asec, ansec, msec, mnsec); nsec may be UTIME_NOW / UTIME_OMIT
static napi_value n_utimens_at(napi_env env, napi_callback_info info) {
  ARGS(6);
  NAME(name, 1);
  struct timespec ts[2] = {{I64(2), I64(3)}, {I64(4), I64(5)}};
  int fd = I32(0);
  RETURN_CALL("utimensat", name[0] ? utimensat(fd, name, ts, AT_SYMLINK_NOFOLLOW) : futimens(fd, ts));
}

// ---- xattrs: the *xattrat calls of Linux 6.13, or where they are missing, the path
// calls on the whole path (AT_FDCWD) or on /proc/self/fd/N of an O_PATH descriptor (N
// is the object itself there, a symlink included: the magic link is not followed further) ----
static int xattrat_missing = 0;

typedef struct {
  char path[NAME_BUF];
  int fd;       // O_PATH descriptor to close, or -1
  bool follow;  // path is a /proc magic link: use the following calls
} xattr_target;

static int xattr_target_open(int dirfd, const char *name, xattr_target *t) {
  t->fd = -1;
  t->follow = true;
  if (dirfd == AT_FDCWD) {
    snprintf(t->path, sizeof t->path, "%s", name);
    t->follow = false;
    return 0;
  }
  int fd = dirfd;
  if (name[0]) {
    fd = t->fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -1;
  }
  snprintf(t->path, sizeof t->path, "/proc/self/fd/%d", fd);
  return 0;
}

static void xattr_target_close(xattr_target *t) {
  int e = errno;
  if (t->fd >= 0) close(t->fd);
  errno = e;
}

static ssize_t get_xattr(int dirfd, const char *name, const char *xname, void *buf, size_t size) {
  if (!xattrat_missing) {
    struct strata_xattr_args a = {(uint64_t)(uintptr_t)buf, (uint32_t)size, 0};
    ssize_t r = syscall(SYS_getxattrat, dirfd, name, at_flags(name), xname, &a, sizeof a);
    if (r >= 0 || errno != ENOSYS) return r;
    xattrat_missing = 1;
  }
  xattr_target t;
  if (xattr_target_open(dirfd, name, &t) < 0) return -1;
  ssize_t r = t.follow ? getxattr(t.path, xname, buf, size) : lgetxattr(t.path, xname, buf, size);
  xattr_target_close(&t);
  return r;
}

static ssize_t list_xattr(int dirfd, const char *name, char *buf, size_t size) {
  if (!xattrat_missing) {
    ssize_t r = syscall(SYS_listxattrat, dirfd, name, at_flags(name), buf, size);
    if (r >= 0 || errno != ENOSYS) return r;
    xattrat_missing = 1;
  }
  xattr_target t;
  if (xattr_target_open(dirfd, name, &t) < 0) return -1;
  ssize_t r = t.follow ? listxattr(t.path, buf, size) : llistxattr(t.path, buf, size);
  xattr_target_close(&t);
  return r;
}

static int set_xattr(int dirfd, const char *name, const char *xname, const void *val, size_t len, int flags) {
  if (!xattrat_missing) {
    struct strata_xattr_args a = {(uint64_t)(uintptr_t)val, (uint32_t)len, (uint32_t)flags};
    int r = (int)syscall(SYS_setxattrat, dirfd, name, at_flags(name), xname, &a, sizeof a);
    if (r >= 0 || errno != ENOSYS) return r;
    xattrat_missing = 1;
  }
  xattr_target t;
  if (xattr_target_open(dirfd, name, &t) < 0) return -1;
  int r = t.follow ? setxattr(t.path, xname, val, len, flags) : lsetxattr(t.path, xname, val, len, flags);
  xattr_target_close(&t);
  return r;
}

static int remove_xattr(int dirfd, const char *name, const char *xname) {
  if (!xattrat_missing) {
    int r = (int)syscall(SYS_removexattrat, dirfd, name, at_flags(name), xname);
    if (r >= 0 || errno != ENOSYS) return r;
    xattrat_missing = 1;
  }
  xattr_target t;
  if (xattr_target_open(dirfd, name, &t) < 0) return -1;
  int r = t.follow ? removexattr(t.path, xname) : lremovexattr(t.path, xname);
  xattr_target_close(&t);
  return r;
}

// getxattrAt(dirfd, name, xname) -> Buffer | null (absent, or no xattrs on that filesystem)
static napi_value n_getxattr_at(napi_env env, napi_callback_info info) {
  ARGS(3);
  NAME(name, 1);
  NAME(xname, 2);
  int dirfd = I32(0);
  char small[256];
  char *heap = NULL;
  ssize_t n = get_xattr(dirfd, name, xname, small, sizeof small);
  while (n < 0 && errno == ERANGE) {
    ssize_t want = get_xattr(dirfd, name, xname, NULL, 0);
    if (want < 0) break;
    free(heap);
    heap = malloc((size_t)want + 1);
    if (!heap) {
      errno = ENOMEM;
      break;
    }
    n = get_xattr(dirfd, name, xname, heap, (size_t)want + 1);
  }
  int e = errno;
  if (n < 0) {
    free(heap);
    // absence is common (opaque/redirect probes): answer null, not an exception
    if (e == ENODATA || e == ENOTSUP) {
      napi_value nul;
      napi_get_null(env, &nul);
      return nul;
    }
    return throw_errno(env, e, "getxattr");
  }
  napi_value res;
  void *dst;
  napi_status s = napi_create_buffer_copy(env, (size_t)n, heap ? heap : small, &dst, &res);
  free(heap);
  CHECK(s);
  return res;
}

// listxattrAt(dirfd, name) -> the NUL-separated names (empty where xattrs are unsupported)
static napi_value n_listxattr_at(napi_env env, napi_callback_info info) {
  ARGS(2);
  NAME(name, 1);
  int dirfd = I32(0);
  char small[256];
  char *heap = NULL;
  ssize_t n = list_xattr(dirfd, name, small, sizeof small);
  while (n < 0 && errno == ERANGE) {
    ssize_t want = list_xattr(dirfd, name, NULL, 0);
    if (want < 0) break;
    free(heap);
    heap = malloc((size_t)want + 1);
    if (!heap) {
      errno = ENOMEM;
      break;
    }
    n = list_xattr(dirfd, name, heap, (size_t)want + 1);
  }
  int e = errno;
  if (n < 0) {
    free(heap);
    if (e != ENOTSUP) return throw_errno(env, e, "listxattr");
    n = 0;
  }
  napi_value res;
  void *dst;
  napi_status s = napi_create_buffer_copy(env, (size_t)n, heap ? heap : small, &dst, &res);
  free(heap);
  CHECK(s);
  return res;
}

// setxattrAt(dirfd, name, xname, value, flags)
static napi_value n_setxattr_at(napi_env env, napi_callback_info info) {
  ARGS(5);
  NAME(name, 1);
  NAME(xname, 2);
  void *val;
  size_t len;
  napi_get_buffer_info(env, argv[3], &val, &len);
  RETURN_CALL("setxattr", set_xattr(I32(0), name, xname, val, len, I32(4)));
}

static napi_value n_removexattr_at(napi_env env, napi_callback_info info) {
  ARGS(3);
  NAME(name, 1);
  NAME(xname, 2);
  RETURN_CALL("removexattr", remove_xattr(I32(0), name, xname));
}

// ---- file data ----
static napi_value n_fallocate(napi_env env, napi_callback_info info) {
  ARGS(4);
  RETURN_CALL("fallocate", fallocate(I32(0), I32(1), I64(2), I64(3)));
}

// A detached mount of dirfd's directory (open_tree OPEN_TREE_CLONE, AT_RECURSIVE when
// asked) carrying attr_set/attr_clr -> its fd, or -errno (the fd closed).
static int detached_mount(int dirfd, bool recursive, uint64_t attr_set, uint64_t attr_clr) {
  unsigned rec = recursive ? STRATA_AT_RECURSIVE : 0;
  int fd = (int)syscall(SYS_open_tree, dirfd, "", STRATA_OPEN_TREE_CLONE | O_CLOEXEC | rec | AT_EMPTY_PATH);
  if (fd < 0) return -errno;
  struct strata_mount_attr attr = {.attr_set = attr_set, .attr_clr = attr_clr};
  if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | rec, &attr, sizeof attr) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

// cloneMountAt(dirfd, atimeAttrs): a detached mount of dirfd's directory (open_tree
// OPEN_TREE_CLONE), its atime attributes (MOUNT_ATTR_NOATIME, _STRICTATIME, _NODIRATIME;
// 0 is relatime) set -> [the mount's own (O_PATH) fd, its root directory opened] (the
// mount lives while the first is open; open_by_handle_at takes no O_PATH fd)
static napi_value n_clone_mount_at(napi_env env, napi_callback_info info) {
  ARGS(2);
  int fd = detached_mount(I32(0), false, (uint64_t)I64(1), STRATA_MOUNT_ATTR__ATIME | STRATA_MOUNT_ATTR_NODIRATIME);
  if (fd < 0) return throw_errno(env, -fd, "open_tree/mount_setattr");
  int dir = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "openat");
  }
  napi_value res;
  CHECK(napi_create_array_with_length(env, 2, &res));
  CHECK(napi_set_element(env, res, 0, make_i64(env, fd)));
  CHECK(napi_set_element(env, res, 1, make_i64(env, dir)));
  return res;
}

// reopenIn(mountfd, fd, flags): the file fd has open, opened anew through the mount
// mountfd (by its file handle) with open(2) flags -> the new fd
static napi_value n_reopen_in(napi_env env, napi_callback_info info) {
  ARGS(3);
  union {
    struct file_handle fh;
    char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
  } h;
  h.fh.handle_bytes = MAX_HANDLE_SZ;
  int mount_id;
  if (name_to_handle_at(I32(1), "", &h.fh, &mount_id, AT_EMPTY_PATH) < 0) return throw_errno(env, errno, "name_to_handle_at");
  RETURN_RESULT("open_by_handle_at", open_by_handle_at(I32(0), &h.fh, I32(2) | O_CLOEXEC));
}

// ioctlBuf(fd, cmd, buf): an ioctl whose argument points to buf (read and/or written by
// the kernel, as cmd says) -> its result
static napi_value n_ioctl_buf(napi_env env, napi_callback_info info) {
  ARGS(3);
  void *data;
  size_t len;
  CHECK(napi_get_buffer_info(env, argv[2], &data, &len));
  RETURN_RESULT("ioctl", ioctl(I32(0), (unsigned long)(uint32_t)I64(1), data));
}

static napi_value n_lseek(napi_env env, napi_callback_info info) {
  ARGS(3);
  RETURN_RESULT("lseek", lseek(I32(0), I64(1), I32(2)));
}

static napi_value n_copy_file_range(napi_env env, napi_callback_info info) {
  ARGS(5);
  loff_t oin = I64(1), oout = I64(3);
  RETURN_RESULT("copy_file_range", copy_file_range(I32(0), &oin, I32(2), &oout, (size_t)I64(4), 0));
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
  int in = I32(0);
  int out = I32(1);
  off_t size = I64(2);
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

// cloneFile(fdIn, fdOut) -> 0 | -errno: fdOut (empty) shares all of fdIn's extents
// (FICLONE: btrfs, XFS, bcachefs); EXDEV, EOPNOTSUPP, EINVAL where that cannot be.
#ifndef FICLONE
#define FICLONE _IOW(0x94, 9, int)
#endif
static napi_value n_clone_file(napi_env env, napi_callback_info info) {
  ARGS(2);
  int r = ioctl(I32(1), FICLONE, I32(0));
  return make_i64(env, r < 0 ? -errno : 0);
}

// ---- the process ----
// The soft RLIMIT_NOFILE raised to the hard one; -> the soft limit now in force
static napi_value n_raise_nofile(napi_env env, napi_callback_info info) {
  (void)info;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return throw_errno(env, errno, "getrlimit");
  if (rl.rlim_cur < rl.rlim_max) {
    rlim_t want = rl.rlim_max;
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) getrlimit(RLIMIT_NOFILE, &rl);
  }
  return make_i64(env, rl.rlim_cur == RLIM_INFINITY ? INT32_MAX : (int64_t)rl.rlim_cur);
}

// ---- mounting ----
static napi_value n_mount(napi_env env, napi_callback_info info) {
  ARGS(5);
  PATH(src, 0);
  PATH(tgt, 1);
  PATH(type, 2);
  // overlay's options name every layer: room for more than a path
  char *data = malloc(65536);
  if (!data) return throw_errno(env, ENOMEM, "mount");
  if (!get_bytes(env, argv[4], data, 65536, true)) {
    free(data);
    return NULL;
  }
  int r = mount(src, tgt, type, (unsigned long)I64(3), data);
  int e = errno;
  free(data);
  return done(env, r, e, "mount", false);
}

static napi_value n_umount2(napi_env env, napi_callback_info info) {
  ARGS(2);
  PATH(tgt, 0);
  RETURN_CALL("umount2", umount2(tgt, I32(1)));
}

// A detached copy of the mount tree at dirfd, read-only and noatime: files opened through
// it can never be written and reading them never moves their atime, whoever opens them
// (the kernel opens a passthrough file's backing file on the registered fd's path, its
// mount included, but not with its O_NOATIME). -> an O_PATH fd on its root; the mount
// lives while that fd is open (and while anything opened through it is).
static int open_tree_missing = 0;

static napi_value n_open_tree_noatime(napi_env env, napi_callback_info info) {
  ARGS(1);
  if (open_tree_missing) return throw_errno(env, ENOSYS, "open_tree");
  int fd = detached_mount(I32(0), true, STRATA_MOUNT_ATTR_RDONLY | STRATA_MOUNT_ATTR_NOATIME, STRATA_MOUNT_ATTR__ATIME);
  if (fd < 0) return throw_errno(env, -fd, "open_tree/mount_setattr");
  return make_i64(env, fd);
}

static napi_value n_backing_open(napi_env env, napi_callback_info info) {
  ARGS(2);
  struct strata_backing_map map = {.fd = I32(1), .flags = 0, .padding = 0};
  RETURN_RESULT("FUSE_DEV_IOC_BACKING_OPEN", ioctl(I32(0), STRATA_DEV_IOC_BACKING_OPEN, &map));
}

static napi_value n_backing_close(napi_env env, napi_callback_info info) {
  ARGS(2);
  uint32_t id = (uint32_t)I32(1);
  RETURN_CALL("FUSE_DEV_IOC_BACKING_CLOSE", ioctl(I32(0), STRATA_DEV_IOC_BACKING_CLOSE, &id));
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

typedef struct ring_ent ring_ent;
static void ring_commit(ring_ent *e, const char *out, uint32_t outlen);

// A reply of outlen bytes whose payload (if any) is in place after the header in out:
// written to /dev/fuse, or committed through the io_uring entry (via) the request came in.
static void send_reply(int devfd, ring_ent *via, char *out, uint64_t unique, int32_t error, uint32_t outlen) {
  struct fuse_out_header oh = {.len = outlen, .error = error, .unique = unique};
  memcpy(out, &oh, sizeof oh);
  if (via) ring_commit(via, out, outlen);
  else if (write(devfd, out, outlen) < 0) { /* ENOENT: interrupted; the kernel dropped it */ }
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
static void call_js(napi_env env, napi_ref cbref, size_t argc, napi_value *argv) {
  napi_value cb, recv, result;
  napi_get_reference_value(env, cbref, &cb);
  napi_get_undefined(env, &recv);
  if (napi_call_function(env, recv, cb, argc, argv, &result) == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    fprintf(stderr, "strata-fs: uncaught exception in request handler\n");
  }
}

static void poller_call(poller_t *p, napi_value arg) {
  call_js(p->env, p->cb, 1, &arg);
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
// Requests come over io_uring (see below): /dev/fuse carries only FORGET, INTERRUPT and
// the like, not worth waiting for.
static int ring_serving = 0;

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
// (Files not handed to the kernel for passthrough: lower files where no noatime mount of
// their layer could be made, see n_open_tree_noatime. Their data still never crosses
// into JavaScript.)
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
static int serve_read(int devfd, ring_ent *via, const struct fuse_in_header *h, const char *req, size_t len, char *out, size_t outcap) {
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
  send_reply(devfd, via, out, h->unique, err, (uint32_t)(err ? at : at + got));
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
static int serve_xattr(int devfd, ring_ent *via, const struct fuse_in_header *h, const char *req, size_t len, char *out) {
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
        send_reply(devfd, via, out, h->unique, -ENODATA, at);
      } else if (in.size == 0) {
        struct fuse_getxattr_out need = {.size = 0}; // the empty list needs 0 bytes
        memcpy(out + at, &need, sizeof need);
        send_reply(devfd, via, out, h->unique, 0, at + sizeof need);
      } else {
        send_reply(devfd, via, out, h->unique, 0, at); // the empty list
      }
      return 1;
    }
    default:
      return 0;
  }
}

// Requests read from /dev/fuse, by opcode, whoever answered them (here or JavaScript):
// what the kernel asked of the daemon, for tests and the bench.
#define COUNTED_OPCODES 64
static double request_counts[COUNTED_OPCODES];

// requestCounts() -> Float64Array: [opcode] -> requests read so far (the last entry: others)
static napi_value n_request_counts(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value ab, arr;
  void *data;
  CHECK(napi_create_arraybuffer(env, sizeof request_counts, &data, &ab));
  memcpy(data, request_counts, sizeof request_counts);
  CHECK(napi_create_typedarray(env, napi_float64_array, COUNTED_OPCODES, ab, 0, &arr));
  return arr;
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
          if (waited < spin_ns && !ring_serving) { i--; continue; }
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
        request_counts[hdr.opcode < COUNTED_OPCODES - 1 ? hdr.opcode : COUNTED_OPCODES - 1]++;
        if (serve_read(p->fd, NULL, &hdr, p->buf, (size_t)n, p->out, p->bufsize)) continue;
        if (serve_xattr(p->fd, NULL, &hdr, p->buf, (size_t)n, p->out)) continue;
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

// ---- FUSE over io_uring (Linux 6.14): each request arrives in a buffer registered with
// the kernel, and one submission both commits its reply and waits for the next request
// in that buffer. The ring is polled by the JavaScript thread's event loop, as /dev/fuse
// is; FORGET, INTERRUPT and notifications still go through /dev/fuse. ----

// include/uapi/linux/fuse.h of 6.14, mirrored as above.
struct fuse_uring_ent_in_out {
  uint64_t flags;
  uint64_t commit_id;   // names the request in its commit (its unique)
  uint32_t payload_sz;  // bytes of the payload buffer in use, either way
  uint32_t padding;
  uint64_t reserved;
};

#define FUSE_URING_IN_OUT_HEADER_SZ 128
#define FUSE_URING_OP_IN_OUT_SZ 128

struct fuse_uring_req_header {
  char in_out[FUSE_URING_IN_OUT_HEADER_SZ];  // fuse_in_header; the fuse_out_header back
  char op_in[FUSE_URING_OP_IN_OUT_SZ];       // the opcode's own struct (fuse_read_in, ...), if any
  struct fuse_uring_ent_in_out ring_ent_in_out;
};

enum fuse_uring_cmd {
  FUSE_IO_URING_CMD_REGISTER = 1,
  FUSE_IO_URING_CMD_COMMIT_AND_FETCH = 2,
};

// in the command area of the SQE
struct fuse_uring_cmd_req {
  uint64_t flags;
  uint64_t commit_id;
  uint16_t qid;
  uint8_t padding[6];
};

// io_uring (include/uapi/linux/io_uring.h): a 128-byte SQE (IORING_SETUP_SQE128, 5.19)
// for IORING_OP_URING_CMD, whose command starts at byte 48. Setup and completions use
// the system header's structs, which are older than that.
struct strata_sqe128 {
  uint8_t opcode;
  uint8_t flags;
  uint16_t ioprio;
  int32_t fd;
  uint32_t cmd_op;
  uint32_t pad1;
  uint64_t addr;
  uint32_t len;
  uint32_t uring_cmd_flags;
  uint64_t user_data;
  uint16_t buf_index;
  uint16_t personality;
  int32_t splice_fd_in;
  unsigned char cmd[80];
};
#define STRATA_IORING_SETUP_SQE128 (1U << 10)
#define STRATA_IORING_OP_URING_CMD 46

_Static_assert(sizeof(struct fuse_uring_ent_in_out) == 32, "fuse_uring_ent_in_out is 32 bytes");
_Static_assert(sizeof(struct fuse_uring_req_header) == 288, "fuse_uring_req_header is 288 bytes");
_Static_assert(sizeof(struct fuse_uring_cmd_req) == 24, "fuse_uring_cmd_req is 24 bytes");
_Static_assert(sizeof(struct strata_sqe128) == 128, "an SQE128 is 128 bytes");
_Static_assert(offsetof(struct strata_sqe128, cmd) == 48, "the SQE's command is at byte 48");

// Before each entry's payload buffer: room to rebuild its request as /dev/fuse gives one
// (fuse_in_header, the opcode's struct, then the payload), and the reply's header.
#define RING_HEAD_ROOM 4096

struct ring_ent {
  struct fuse_uring_req_header hdr;
  struct iovec iov[2];   // the header and the payload buffer, as REGISTER hands them over
  char *payload;
  uint16_t qid;
  bool replied;          // the request it holds has its commit queued
  bool dead;             // ended (the connection is gone), or failed too often
  int failures;          // commits refused in a row
};

typedef struct {
  int fd;
  int devfd;
  unsigned *sq_tail, *sq_mask, *sq_array;
  unsigned *cq_head, *cq_tail, *cq_mask;
  struct io_uring_cqe *cqes;
  struct strata_sqe128 *sqes;
  void *sq_map, *cq_map;
  size_t sq_map_len, cq_map_len, sqes_len;
  unsigned queued;       // SQEs filled since the last submission
  ring_ent *ents;
  unsigned nents, nqueues;
  char *area;            // per entry: RING_HEAD_ROOM bytes, then its payload buffer
  size_t stride, payload_size;
  ring_ent *current;     // the entry whose request JavaScript is answering
  unsigned live;         // entries not ended
  bool serving;          // a request has come over the ring: the kernel has switched to it
  int end_err;           // why the ring ended, for JavaScript
  bool polling;
  bool in_callback;      // on_ring_ready is running: it ends the async context
  uv_poll_t poll;
  napi_env env;
  napi_ref cb;
  napi_async_context actx;
} fuse_ring;

// One ring per process: the fast paths' tables above are per process too.
static fuse_ring *the_ring;
static double ring_requests;

static int ring_enter(fuse_ring *r, unsigned to_submit, unsigned flags) {
  return (int)syscall(__NR_io_uring_enter, r->fd, to_submit, 0, flags, NULL, 0);
}

static struct strata_sqe128 *ring_sqe(fuse_ring *r, ring_ent *e, uint32_t cmd_op) {
  unsigned tail = *r->sq_tail;
  unsigned idx = tail & *r->sq_mask;
  struct strata_sqe128 *sqe = &r->sqes[idx];
  memset(sqe, 0, sizeof *sqe);
  sqe->opcode = STRATA_IORING_OP_URING_CMD;
  sqe->fd = r->devfd;
  sqe->cmd_op = cmd_op;
  sqe->user_data = (uint64_t)(e - r->ents);
  struct fuse_uring_cmd_req req = {.qid = e->qid};
  if (cmd_op == FUSE_IO_URING_CMD_COMMIT_AND_FETCH) req.commit_id = e->hdr.ring_ent_in_out.commit_id;
  memcpy(sqe->cmd, &req, sizeof req);
  r->sq_array[idx] = idx;
  __atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
  r->queued++;
  return sqe;
}

static void ring_register(fuse_ring *r, ring_ent *e) {
  struct strata_sqe128 *sqe = ring_sqe(r, e, FUSE_IO_URING_CMD_REGISTER);
  sqe->addr = (uint64_t)(uintptr_t)e->iov;
  sqe->len = 2;
}

static void ring_submit(fuse_ring *r) {
  while (r->queued > 0) {
    int n = ring_enter(r, r->queued, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      break; // EAGAIN/EBUSY: they stay in the ring for the next submission
    }
    r->queued -= (unsigned)n;
    if (n == 0) break;
  }
}

// The reply (header and payload, as for /dev/fuse) into the entry's buffers, and its
// commit queued: submitted with the others of the batch (ring_submit).
static void ring_commit(ring_ent *e, const char *out, uint32_t outlen) {
  fuse_ring *r = the_ring;
  if (!r || e->replied || outlen < sizeof(struct fuse_out_header)) return;
  uint32_t n = outlen - (uint32_t)sizeof(struct fuse_out_header);
  memcpy(e->hdr.in_out, out, sizeof(struct fuse_out_header));
  if (n > r->payload_size) {
    struct fuse_out_header oh;
    memcpy(&oh, out, sizeof oh);
    oh.error = -EIO;
    memcpy(e->hdr.in_out, &oh, sizeof oh);
    n = 0;
  }
  const char *from = out + sizeof(struct fuse_out_header);
  if (n && from != e->payload) memmove(e->payload, from, n);
  e->hdr.ring_ent_in_out.payload_sz = n;
  e->replied = true;
  ring_sqe(r, e, FUSE_IO_URING_CMD_COMMIT_AND_FETCH);
}

static void ring_free(fuse_ring *r) {
  if (r->sqes) munmap(r->sqes, r->sqes_len);
  if (r->cq_map && r->cq_map != r->sq_map) munmap(r->cq_map, r->cq_map_len);
  if (r->sq_map) munmap(r->sq_map, r->sq_map_len);
  if (r->fd >= 0) close(r->fd);
  free(r->ents);
  // r->area stays: JavaScript holds it as the request buffer (freed with it)
  free(r);
}

static void ring_closed(uv_handle_t *h) {
  ring_free(h->data);
}

// Ends the ring; JavaScript hears why (once) if it was started.
static void ring_end(fuse_ring *r, int err) {
  if (the_ring != r) return;
  the_ring = NULL;
  ring_serving = 0;
  if (!r->polling) {
    ring_free(r);
    return;
  }
  uv_poll_stop(&r->poll);
  napi_value arg[2];
  napi_create_int64(r->env, -err, &arg[0]);
  napi_create_int64(r->env, 0, &arg[1]);
  call_js(r->env, r->cb, 2, arg);
  napi_delete_reference(r->env, r->cb);
  if (!r->in_callback) napi_async_destroy(r->env, r->actx);
  uv_close((uv_handle_t *)&r->poll, ring_closed);
}

static bool connection_gone(int err) {
  return err == ENOTCONN || err == ECONNABORTED || err == ECANCELED || err == ENODEV;
}

// One completion: a request in entry e, or the end of its command.
static void ring_complete(fuse_ring *r, ring_ent *e, int res) {
  if (res < 0) {
    int err = -res;
    if (!r->serving && !connection_gone(err)) {
      // A refused REGISTER: the kernel has gone back to /dev/fuse for good.
      ring_end(r, err);
      return;
    }
    if (!connection_gone(err) && ++e->failures < 3) {
      // A refused commit leaves the entry idle: hand it over again, or its queue would
      // be one entry short for as long as the mount lives.
      ring_register(r, e);
      return;
    }
    e->dead = true;
    if (!connection_gone(err)) r->end_err = err;
    if (--r->live == 0) ring_end(r, r->end_err ? r->end_err : err);
    return;
  }
  e->failures = 0;
  r->serving = true;
  ring_serving = 1;
  ring_requests++;
  e->replied = false;
  struct fuse_in_header h;
  memcpy(&h, e->hdr.in_out, sizeof h);
  uint32_t payload = e->hdr.ring_ent_in_out.payload_sz;
  char *out = e->payload - sizeof(struct fuse_out_header);
  // the opcode's struct is what the length leaves beside the header and the payload
  size_t op = (size_t)h.len - sizeof h - payload;
  if (h.len < sizeof h + payload || op > FUSE_URING_OP_IN_OUT_SZ || payload > r->payload_size) {
    send_reply(r->devfd, e, out, h.unique, -EIO, sizeof(struct fuse_out_header));
    return;
  }
  char *req = e->payload - op - sizeof h;
  memcpy(req, &h, sizeof h);
  memcpy(req + sizeof h, e->hdr.op_in, op);
  request_counts[h.opcode < COUNTED_OPCODES - 1 ? h.opcode : COUNTED_OPCODES - 1]++;
  if (serve_read(r->devfd, e, &h, req, h.len, out, r->payload_size + sizeof(struct fuse_out_header))) return;
  if (serve_xattr(r->devfd, e, &h, req, h.len, out)) return;
  r->current = e;
  napi_handle_scope inner;
  napi_open_handle_scope(r->env, &inner);
  napi_value arg[2];
  napi_create_int64(r->env, h.len, &arg[0]);
  napi_create_int64(r->env, (int64_t)(req - r->area), &arg[1]);
  call_js(r->env, r->cb, 2, arg);
  napi_close_handle_scope(r->env, inner);
  if (the_ring != r) return; // ended from JavaScript (uringClose)
  r->current = NULL;
  // every request over the ring wants a reply, or the entry would never come back
  if (!e->replied) send_reply(r->devfd, e, out, h.unique, -EIO, sizeof(struct fuse_out_header));
}

// The completions there are now; how many.
static unsigned ring_reap(fuse_ring *r) {
  unsigned done = 0;
  for (;;) {
    unsigned head = *r->cq_head;
    if (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE)) return done;
    struct io_uring_cqe cqe = r->cqes[head & *r->cq_mask];
    __atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
    done++;
    if (cqe.user_data < r->nents) ring_complete(r, &r->ents[cqe.user_data], cqe.res);
    if (the_ring != r) return done;
  }
}

static void on_ring_ready(uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  fuse_ring *r = h->data;
  napi_env env = r->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value resource;
  napi_create_object(env, &resource);
  napi_async_context actx = r->actx;
  napi_callback_scope cscope;
  napi_open_callback_scope(env, resource, actx, &cscope);
  r->in_callback = true;
  struct timespec idle_since = {0, 0};
  for (int i = 0; i < 256 && the_ring == r; i++) {
    unsigned n = ring_reap(r);
    if (the_ring != r) break;
    ring_submit(r);
    if (n > 0) {
      idle_since.tv_sec = idle_since.tv_nsec = 0;
      continue;
    }
    // as on /dev/fuse: the next request usually comes within microseconds
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (idle_since.tv_sec == 0 && idle_since.tv_nsec == 0) idle_since = now;
    long waited = (now.tv_sec - idle_since.tv_sec) * 1000000000L + (now.tv_nsec - idle_since.tv_nsec);
    if (waited >= spin_ns) break;
    // runs the task work that copies a request in and posts its completion
    ring_enter(r, 0, IORING_ENTER_GETEVENTS);
    i--;
  }
  bool ended = the_ring != r;
  if (!ended) r->in_callback = false;
  napi_close_callback_scope(env, cscope);
  if (ended) napi_async_destroy(env, actx);
  napi_close_handle_scope(env, scope);
}

// How many CPUs the kernel may ever run: it has one queue per possible CPU, and a request
// waits on the queue of the CPU its caller runs on.
static unsigned possible_cpus(void) {
  char buf[256];
  int fd = open("/sys/devices/system/cpu/possible", O_RDONLY | O_CLOEXEC);
  ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
  if (fd >= 0) close(fd);
  if (n <= 0) return (unsigned)sysconf(_SC_NPROCESSORS_CONF);
  buf[n] = 0;
  unsigned count = 0;
  for (char *p = buf; *p && *p != '\n';) {
    char *end;
    unsigned long a = strtoul(p, &end, 10), b = a;
    if (end == p) break;
    if (*end == '-') b = strtoul(end + 1, &end, 10);
    count += (unsigned)(b - a + 1);
    p = *end == ',' ? end + 1 : end;
  }
  return count ? count : 1;
}

static void free_area(napi_env env, void *data, void *hint) {
  (void)env;
  munmap(data, (size_t)(uintptr_t)hint);
}

// uringSetup(depth, payloadSize) -> the Buffer requests arrive in (see uringStart).
// A ring with depth entries per possible CPU, not yet handed to the kernel.
static napi_value n_uring_setup(napi_env env, napi_callback_info info) {
  ARGS(2);
  if (the_ring) return throw_errno(env, EBUSY, "io_uring (one per process)");
  unsigned depth = (unsigned)I32(0);
  size_t payload = ((size_t)I64(1) + 4095) & ~(size_t)4095;
  if (depth < 1 || depth > 64 || payload < 8192) return throw_errno(env, EINVAL, "uringSetup");
  fuse_ring *r = calloc(1, sizeof *r);
  if (!r) return throw_errno(env, ENOMEM, "uringSetup");
  r->fd = -1;
  r->nqueues = possible_cpus();
  r->nents = r->nqueues * depth;
  r->payload_size = payload;
  r->stride = RING_HEAD_ROOM + payload;
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  p.flags = STRATA_IORING_SETUP_SQE128;
  r->fd = (int)syscall(__NR_io_uring_setup, r->nents, &p);
  int err = errno;
  if (r->fd < 0) {
    ring_free(r);
    return throw_errno(env, err, "io_uring_setup");
  }
  r->sq_map_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  r->cq_map_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  bool single = (p.features & IORING_FEAT_SINGLE_MMAP) != 0;
  if (single && r->cq_map_len > r->sq_map_len) r->sq_map_len = r->cq_map_len;
  r->sq_map = mmap(NULL, r->sq_map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
  if (r->sq_map == MAP_FAILED) r->sq_map = NULL;
  r->cq_map = single ? r->sq_map
                     : mmap(NULL, r->cq_map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
  if (r->cq_map == MAP_FAILED) r->cq_map = NULL;
  r->sqes_len = p.sq_entries * sizeof(struct strata_sqe128);
  r->sqes = mmap(NULL, r->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
  if (r->sqes == MAP_FAILED) r->sqes = NULL;
  r->ents = calloc(r->nents, sizeof *r->ents);
  // payload pages are only touched as requests need them
  r->area = mmap(NULL, r->nents * r->stride, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (r->area == MAP_FAILED) r->area = NULL;
  if (!r->sq_map || !r->cq_map || !r->sqes || !r->ents || !r->area || p.sq_entries < r->nents) {
    err = errno ? errno : ENOMEM;
    if (r->area) munmap(r->area, r->nents * r->stride);
    ring_free(r);
    return throw_errno(env, err, "io_uring mmap");
  }
  char *sq = r->sq_map, *cq = r->cq_map;
  r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
  r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
  r->sq_array = (unsigned *)(sq + p.sq_off.array);
  r->cq_head = (unsigned *)(cq + p.cq_off.head);
  r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
  r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
  r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
  for (unsigned i = 0; i < r->nents; i++) {
    ring_ent *e = &r->ents[i];
    e->qid = (uint16_t)(i / depth);
    e->payload = r->area + (size_t)i * r->stride + RING_HEAD_ROOM;
    e->iov[0] = (struct iovec){.iov_base = &e->hdr, .iov_len = sizeof e->hdr};
    e->iov[1] = (struct iovec){.iov_base = e->payload, .iov_len = r->payload_size};
  }
  napi_value buf;
  size_t area_len = r->nents * r->stride;
  if (napi_create_external_buffer(env, area_len, r->area, free_area, (void *)(uintptr_t)area_len, &buf) != napi_ok) {
    munmap(r->area, area_len);
    ring_free(r);
    napi_throw_error(env, NULL, "strata_native: N-API call failed");
    return NULL;
  }
  the_ring = r;
  return buf;
}

// uringStart(fuseFd, onRequest(length | -errno, offset)): hands every entry to the kernel
// (after INIT is answered: the kernel sizes the ring by it) and serves the ring from the
// event loop. A request is at offset in uringSetup's buffer, laid out as from /dev/fuse;
// its reply goes through fuseWrite before onRequest returns. -errno: the ring has ended
// (ENOTCONN: unmounted; others: the kernel refused it and is back on /dev/fuse).
static napi_value n_uring_start(napi_env env, napi_callback_info info) {
  ARGS(2);
  fuse_ring *r = the_ring;
  if (!r || r->polling) return throw_errno(env, EINVAL, "uringStart");
  r->devfd = I32(0);
  r->env = env;
  CHECK(napi_create_reference(env, argv[1], 1, &r->cb));
  napi_value name;
  napi_create_string_utf8(env, "strata-fuse-uring", NAPI_AUTO_LENGTH, &name);
  CHECK(napi_async_init(env, NULL, name, &r->actx));
  struct uv_loop_s *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  if (uv_poll_init(loop, &r->poll, r->fd) != 0) return throw_errno(env, EINVAL, "uv_poll_init");
  r->poll.data = r;
  r->polling = true;
  r->live = r->nents;
  for (unsigned i = 0; i < r->nents; i++) ring_register(r, &r->ents[i]);
  ring_submit(r);
  if (uv_poll_start(&r->poll, UV_READABLE, on_ring_ready) != 0) return throw_errno(env, EINVAL, "uv_poll_start");
  return NULL;
}

// uringClose(): the ring ends (unused, or the session is over)
static napi_value n_uring_close(napi_env env, napi_callback_info info) {
  (void)info;
  if (the_ring) ring_end(the_ring, ENOTCONN);
  return NULL;
}

// uringInfo() -> [queues, entries per queue, requests served over the ring]
static napi_value n_uring_info(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out, v;
  napi_create_array_with_length(env, 3, &out);
  napi_create_int64(env, the_ring ? the_ring->nqueues : 0, &v);
  napi_set_element(env, out, 0, v);
  napi_create_int64(env, the_ring ? the_ring->nents / the_ring->nqueues : 0, &v);
  napi_set_element(env, out, 1, v);
  napi_create_double(env, ring_requests, &v);
  napi_set_element(env, out, 2, v);
  return out;
}

// fuseWrite(fd, Buffer, length) -> bytes | -errno: a reply or notification. The reply to
// the request JavaScript is answering from the ring goes back through the ring.
static napi_value n_fuse_write(napi_env env, napi_callback_info info) {
  ARGS(3);
  void *data;
  size_t len;
  napi_get_buffer_info(env, argv[1], &data, &len);
  int64_t want = I64(2);
  if (want >= 0 && (size_t)want < len) len = (size_t)want;
  fuse_ring *r = the_ring;
  if (r && r->current && len >= sizeof(struct fuse_out_header)) {
    struct fuse_out_header oh;
    memcpy(&oh, data, sizeof oh);
    struct fuse_in_header h;
    memcpy(&h, r->current->hdr.in_out, sizeof h);
    if (oh.unique == h.unique && oh.unique != 0) {
      if (r->current->replied) return make_i64(env, -EINVAL);
      ring_commit(r->current, data, (uint32_t)len);
      return make_i64(env, (int64_t)len);
    }
  }
  ssize_t n = write(I32(0), data, len);
  return make_i64(env, n < 0 ? -errno : n);
}

static napi_value n_open_fuse(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "open /dev/fuse");
  return make_i64(env, fd);
}

// After many nodes are forgotten their tables' memory is free but glibc keeps it: a
// buffer freed from the middle of the heap (or one that grew past the mmap threshold,
// which then rises) stays resident. malloc_trim gives the free pages back.
static napi_value n_trim_memory(napi_env env, napi_callback_info info) {
  (void)env;
  (void)info;
#ifdef __GLIBC__
  malloc_trim(0);
#endif
  return NULL;
}

#define EXPORT(name, fn)                                              \
  do {                                                                \
    napi_value f;                                                     \
    CHECK(napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &f)); \
    CHECK(napi_set_named_property(env, exports, name, f));            \
  } while (0)

static void register_runtime(napi_env env, napi_value exports);

static napi_value init(napi_env env, napi_value exports) {
  register_runtime(env, exports);
  // A test hook: behave as on kernels without openat2, fchmodat2, the *xattrat calls and
  // open_tree/mount_setattr (before 5.6, 6.6, 6.13 and 5.12), to exercise the ways around them.
  if (getenv("STRATA_OLD_KERNEL_CALLS")) openat2_missing = fchmodat2_missing = xattrat_missing = open_tree_missing = 1;
  EXPORT("statAt", n_stat_at);
  EXPORT("openAt", n_open_at);
  EXPORT("openDirAt", n_open_dir_at);
  EXPORT("readdirFd", n_readdir_fd);
  EXPORT("mkdirAt", n_mkdir_at);
  EXPORT("mknodAt", n_mknod_at);
  EXPORT("symlinkAt", n_symlink_at);
  EXPORT("unlinkAt", n_unlink_at);
  EXPORT("renameAt2", n_rename_at2);
  EXPORT("linkAt", n_link_at);
  EXPORT("readlinkAt", n_readlink_at);
  EXPORT("chownAt", n_chown_at);
  EXPORT("chmodAt", n_chmod_at);
  EXPORT("utimensAt", n_utimens_at);
  EXPORT("getxattrAt", n_getxattr_at);
  EXPORT("listxattrAt", n_listxattr_at);
  EXPORT("setxattrAt", n_setxattr_at);
  EXPORT("removexattrAt", n_removexattr_at);
  EXPORT("fallocate", n_fallocate);
  EXPORT("lseek", n_lseek);
  EXPORT("ioctlBuf", n_ioctl_buf);
  EXPORT("cloneMountAt", n_clone_mount_at);
  EXPORT("reopenIn", n_reopen_in);
  EXPORT("copyFileRange", n_copy_file_range);
  EXPORT("copySparse", n_copy_sparse);
  EXPORT("cloneFile", n_clone_file);
  EXPORT("raiseNofileLimit", n_raise_nofile);
  EXPORT("mount", n_mount);
  EXPORT("umount2", n_umount2);
  EXPORT("openTreeNoatime", n_open_tree_noatime);
  EXPORT("requestCounts", n_request_counts);
  EXPORT("backingOpen", n_backing_open);
  EXPORT("backingClose", n_backing_close);
  EXPORT("markXattrFree", n_mark_xattr_free);
  EXPORT("startPoll", n_start_poll);
  EXPORT("serveReads", n_serve_reads);
  EXPORT("stopServingReads", n_stop_serving_reads);
  EXPORT("writeFd", n_write_fd);
  EXPORT("fuseWrite", n_fuse_write);
  EXPORT("uringSetup", n_uring_setup);
  EXPORT("uringStart", n_uring_start);
  EXPORT("uringClose", n_uring_close);
  EXPORT("uringInfo", n_uring_info);
  EXPORT("openFuse", n_open_fuse);
  EXPORT("trimMemory", n_trim_memory);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

// ---- container runtime helpers (src/runtime/): what a process supervisor needs ----
// runc hands a container's pty master over a unix socket (--console-socket, SCM_RIGHTS),
// the supervisor must reap the container's init after runc has exited (a subreaper), and
// window sizes are set with an ioctl. Node can do none of these.
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

// One message from sock with one fd in it: the fd, -ECONNRESET when the peer closed
// without sending one, else -errno.
static int recv_fd(int sock) {
  char byte[256];
  struct iovec iov = {.iov_base = byte, .iov_len = sizeof byte};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } ctl;
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
  ssize_t n;
  do n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC); while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  struct cmsghdr *h = CMSG_FIRSTHDR(&m);
  if (!h || h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) return -ECONNRESET;
  int fd;
  memcpy(&fd, CMSG_DATA(h), sizeof fd);
  return fd;
}

// consoleListen(path) -> listening unix socket fd
static napi_value n_console_listen(napi_env env, napi_callback_info info) {
  ARGS(1);
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  size_t len;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok || len >= sizeof path - 1) return throw_errno(env, ENAMETOOLONG, "consoleListen");
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket");
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  memcpy(a.sun_path, path, len + 1);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 1) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "bind");
  }
  return make_i64(env, fd);
}

// consoleReceive(listenFd, timeoutMs) -> the received fd, or -EAGAIN when nobody connected in time
static napi_value n_console_receive(napi_env env, napi_callback_info info) {
  ARGS(2);
  int lfd = get_i32(env, argv[0]);
  struct pollfd p = {.fd = lfd, .events = POLLIN};
  int r = poll(&p, 1, get_i32(env, argv[1]));
  if (r < 0) return throw_errno(env, errno, "poll");
  if (r == 0) return make_i64(env, -EAGAIN);
  int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0) return throw_errno(env, errno, "accept");
  int fd = recv_fd(c);
  close(c);
  if (fd == -ECONNRESET) return throw_errno(env, EBADMSG, "recvmsg (no fd)");
  if (fd < 0) return throw_errno(env, -fd, "recvmsg");
  return make_i64(env, fd);
}

// [a, b] as a JavaScript array
static napi_value int_pair(napi_env env, int a, int b) {
  napi_value out, x, y;
  napi_create_array_with_length(env, 2, &out);
  napi_create_int32(env, a, &x);
  napi_create_int32(env, b, &y);
  napi_set_element(env, out, 0, x);
  napi_set_element(env, out, 1, y);
  return out;
}

// socketPair() -> [fd, fd]: a connected unix stream pair, close-on-exec (a child gets
// one end as an inherited stdio slot)
static napi_value n_socket_pair(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) return throw_errno(env, errno, "socketpair");
  return int_pair(env, fds[0], fds[1]);
}

// receiveFd(sock, timeoutMs) -> the fd the peer sent (SCM_RIGHTS), -EAGAIN when none came
// in time, -ECONNRESET when the peer closed without sending one
static napi_value n_receive_fd(napi_env env, napi_callback_info info) {
  ARGS(2);
  struct pollfd p = {.fd = get_i32(env, argv[0]), .events = POLLIN};
  int r;
  do r = poll(&p, 1, get_i32(env, argv[1])); while (r < 0 && errno == EINTR);
  if (r < 0) return throw_errno(env, errno, "poll");
  if (r == 0) return make_i64(env, -EAGAIN);
  return make_i64(env, recv_fd(p.fd));
}

// setWinsize(fd, rows, cols)
static napi_value n_set_winsize(napi_env env, napi_callback_info info) {
  ARGS(3);
  struct winsize w = {.ws_row = (unsigned short)get_i32(env, argv[1]), .ws_col = (unsigned short)get_i32(env, argv[2])};
  if (ioctl(get_i32(env, argv[0]), TIOCSWINSZ, &w) < 0) return throw_errno(env, errno, "TIOCSWINSZ");
  return NULL;
}

// rawOutput(fd): no output processing (OPOST off), which libuv's raw mode keeps on
static napi_value n_raw_output(napi_env env, napi_callback_info info) {
  ARGS(1);
  int fd = get_i32(env, argv[0]);
  struct termios t;
  if (tcgetattr(fd, &t) < 0) return throw_errno(env, errno, "tcgetattr");
  t.c_oflag &= ~(tcflag_t)OPOST;
  if (tcsetattr(fd, TCSANOW, &t) < 0) return throw_errno(env, errno, "tcsetattr");
  return NULL;
}

// becomeSubreaper(): orphaned descendants (a container's init once runc has exited) become our children
static napi_value n_become_subreaper(napi_env env, napi_callback_info info) {
  (void)info;
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) return throw_errno(env, errno, "prctl");
  return NULL;
}

// reap(pid) -> null while it runs, else [exitCode, signal] (one of them -1); throws ECHILD if not ours
static napi_value n_reap(napi_env env, napi_callback_info info) {
  ARGS(1);
  int st;
  pid_t r;
  do r = waitpid(get_i32(env, argv[0]), &st, WNOHANG); while (r < 0 && errno == EINTR);
  if (r < 0) return throw_errno(env, errno, "waitpid");
  napi_value out;
  if (r == 0) {
    napi_get_null(env, &out);
    return out;
  }
  return int_pair(env, WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? WTERMSIG(st) : -1);
}

// pipe() -> [readFd, writeFd], close-on-exec: a container's stdio must be pipes, not the
// socketpairs Node makes for 'pipe' (open("/dev/stdout") fails on a socket)
static napi_value n_pipe(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return throw_errno(env, errno, "pipe2");
  return int_pair(env, fds[0], fds[1]);
}

static void register_runtime(napi_env env, napi_value exports) {
  napi_value f;
  struct { const char *name; napi_callback fn; } fns[] = {
    {"consoleListen", n_console_listen}, {"consoleReceive", n_console_receive}, {"setWinsize", n_set_winsize}, {"rawOutput", n_raw_output},
    {"becomeSubreaper", n_become_subreaper}, {"reap", n_reap}, {"pipe", n_pipe},
    {"socketPair", n_socket_pair}, {"receiveFd", n_receive_fd},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f) == napi_ok) napi_set_named_property(env, exports, fns[i].name, f);
  }
}
