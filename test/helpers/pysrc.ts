// Python is used for the syscalls Node lacks (xattrs, mknod, renameat2 flags,
// utimensat with ns/UTIME_NOW/UTIME_OMIT, SEEK_DATA/SEEK_HOLE, fallocate punch,
// telldir/seekdir) and to act as another uid through setpriv. One program, two
// modes: "serve" answers JSON requests line by line (paths as hex bytes, so
// non-UTF-8 names survive), "build" creates a layer directory from a JSON spec.
export const PY_SRC = String.raw`
import sys, os, json, errno, ctypes, hashlib, stat, socket, mmap, fcntl

libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2
RENAME_FLAGS = {"NOREPLACE": 1, "EXCHANGE": 2, "WHITEOUT": 4}
OPEN_FLAGS = {n: getattr(os, "O_" + n) for n in
              ["RDONLY", "WRONLY", "RDWR", "CREAT", "EXCL", "TRUNC", "APPEND",
               "NOFOLLOW", "DIRECTORY", "NOATIME", "NONBLOCK", "TMPFILE"]}
AT_SYMLINK_FOLLOW = 0x400
FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602

class timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]

class dirent(ctypes.Structure):
    _fields_ = [("d_ino", ctypes.c_uint64), ("d_off", ctypes.c_int64),
                ("d_reclen", ctypes.c_ushort), ("d_type", ctypes.c_ubyte),
                ("d_name", ctypes.c_char * 256)]

libc.opendir.restype = ctypes.c_void_p
libc.opendir.argtypes = [ctypes.c_char_p]
libc.readdir.restype = ctypes.POINTER(dirent)
libc.readdir.argtypes = [ctypes.c_void_p]
libc.telldir.restype = ctypes.c_long
libc.telldir.argtypes = [ctypes.c_void_p]
libc.seekdir.restype = None
libc.seekdir.argtypes = [ctypes.c_void_p, ctypes.c_long]
libc.closedir.argtypes = [ctypes.c_void_p]
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
libc.linkat.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
libc.utimensat.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]

def check(r):
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r

def H(x):
    return bytes.fromhex(x)

def flags_of(names, table):
    f = 0
    for n in names or []:
        f |= table[n]
    return f

KINDS = [(stat.S_ISREG, "file"), (stat.S_ISDIR, "dir"), (stat.S_ISLNK, "symlink"),
         (stat.S_ISCHR, "char"), (stat.S_ISBLK, "block"), (stat.S_ISFIFO, "fifo"),
         (stat.S_ISSOCK, "socket")]

def kind(m):
    for f, n in KINDS:
        if f(m):
            return n
    return "unknown"

def st_dict(st):
    d = {"type": kind(st.st_mode), "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid,
         "gid": st.st_gid, "nlink": st.st_nlink, "size": st.st_size, "ino": str(st.st_ino),
         "dev": str(st.st_dev), "blocks": st.st_blocks, "atime": str(st.st_atime_ns),
         "mtime": str(st.st_mtime_ns), "ctime": str(st.st_ctime_ns)}
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        d["rdev"] = [os.major(st.st_rdev), os.minor(st.st_rdev)]
    return d

def utimens(p, at, mt, nofollow):
    def ts(v):
        if v == "now":
            return timespec(0, UTIME_NOW)
        if v == "omit":
            return timespec(0, UTIME_OMIT)
        v = int(v)
        return timespec(v // 10**9, v % 10**9)
    arr = (timespec * 2)(ts(at), ts(mt))
    check(libc.utimensat(AT_FDCWD, p, ctypes.cast(arr, ctypes.c_void_p),
                         AT_SYMLINK_NOFOLLOW if nofollow else 0))

def seekmap(fd):
    out, off = [], 0
    end = os.fstat(fd).st_size
    while off < end:
        try:
            d = os.lseek(fd, off, os.SEEK_DATA)
        except OSError as e:
            if e.errno == errno.ENXIO:
                break
            raise
        h = os.lseek(fd, d, os.SEEK_HOLE)
        out.append([d, h])
        off = h
    return out

def content(p):
    fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        b = f.read() or b""
    if len(b) <= 4096:
        return {"size": len(b), "hex": b.hex()}
    return {"size": len(b), "sha256": hashlib.sha256(b).hexdigest()}

def scan_seek(p, samples):
    d = libc.opendir(p)
    if not d:
        check(-1)
    try:
        ents = []
        while True:
            pos = libc.telldir(d)
            ctypes.set_errno(0)
            e = libc.readdir(d)
            if not e:
                if ctypes.get_errno():
                    check(-1)
                break
            ents.append((pos, e.contents.d_name, e.contents.d_type))
        bad = []
        for i in samples:
            if i >= len(ents):
                continue
            libc.seekdir(d, ents[i][0])
            e = libc.readdir(d)
            got = e.contents.d_name if e else None
            if got != ents[i][1]:
                bad.append([i, ents[i][1].hex(), got.hex() if got is not None else None])
        # resuming in the middle must give exactly the rest of the listing
        mid = len(ents) // 2
        tail_ok = True
        if ents:
            libc.seekdir(d, ents[mid][0])
            rest = []
            while True:
                e = libc.readdir(d)
                if not e:
                    break
                rest.append(e.contents.d_name)
            tail_ok = rest == [x[1] for x in ents[mid:]]
        return {"names": [x[1].hex() for x in ents], "dtypes": [x[2] for x in ents],
                "badSeeks": bad, "tailOk": tail_ok}
    finally:
        libc.closedir(d)

fds = {}

# Paths of any length: a directory reached one name at a time (O_PATH, no symlink
# followed), and operations on names relative to it, as the *at calls do.
def deep_dir(base, parts):
    fd = os.open(base, os.O_PATH | os.O_DIRECTORY)
    try:
        for c in parts:
            nfd = os.open(c, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return fd

def label(name):
    # long names shortened in manifests (trailing padding dropped), kept distinct
    if len(name) <= 32:
        return name.decode("latin1")
    short = name.rstrip(b".")
    return short[:24].decode("latin1") + "~" + hashlib.sha1(name).hexdigest()[:6]

def deep_path(labels):
    # runs of "levelNNN~..." components (a chain of directories) shown as first..last
    out, i = [], 0
    while i < len(labels):
        j = i
        while j + 1 < len(labels) and labels[j + 1].startswith("level") and labels[i].startswith("level"):
            j += 1
        out.append(labels[i] if j == i else labels[i] + ".." + labels[j])
        i = j + 1
    return "/" + "/".join(out)

def obj_fd(d, n, st):
    if stat.S_ISDIR(st.st_mode):
        return os.open(n, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=d)
    if stat.S_ISREG(st.st_mode):
        return os.open(n, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=d)
    return None

SKIP_XATTRS = ("trusted.overlay.", "user.overlay.", "security.selinux")

def deep_line(d, n, st, shape):
    t = kind(st.st_mode)
    f = [t]
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        f.append("rdev=%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev)))
    if shape:
        return f
    f += ["mode=%04o" % stat.S_IMODE(st.st_mode), "uid=%d" % st.st_uid, "gid=%d" % st.st_gid]
    if stat.S_ISLNK(st.st_mode):
        f.append("target=" + os.readlink(n, dir_fd=d).hex())
    else:
        f.append("mtime=%d" % st.st_mtime_ns)
    fd = obj_fd(d, n, st)
    if fd is not None:
        try:
            if stat.S_ISREG(st.st_mode):
                h = hashlib.sha256()
                while True:
                    b = os.read(fd, 1 << 20)
                    if not b:
                        break
                    h.update(b)
                f += ["size=%d" % st.st_size, "sha256=" + h.hexdigest()[:16]]
            xs = sorted(x for x in os.listxattr(fd) if not x.startswith(SKIP_XATTRS))
            f.append("xattrs=" + (",".join(x + "=" + os.getxattr(fd, x).hex() for x in xs) or "-"))
        finally:
            os.close(fd)
    return f

def deep_manifest(d, prefix, out, shape):
    # prefix: the labels of the directories above
    rfd = os.open(".", os.O_RDONLY | os.O_DIRECTORY, dir_fd=d)
    try:
        names = sorted(os.fsencode(x) for x in os.listdir(rfd))
    finally:
        os.close(rfd)
    for n in names:
        st = os.stat(n, dir_fd=d, follow_symlinks=False)
        p = prefix + [label(n)]
        out.append(" ".join([deep_path(p)] + deep_line(d, n, st, shape)))
        if stat.S_ISDIR(st.st_mode):
            sub = os.open(n, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=d)
            try:
                deep_manifest(sub, p, out, shape)
            finally:
                os.close(sub)

def deep_op(r):
    d = deep_dir(H(r["p"]), [H(x) for x in r.get("parts", [])])
    d2 = None
    try:
        n = H(r["name"]) if "name" in r else None
        o = r["do"]
        if o == "lstat":
            return st_dict(os.stat(n, dir_fd=d, follow_symlinks=False))
        if o == "mkdir":
            os.mkdir(n, r.get("mode", 0o755), dir_fd=d)
            return None
        if o == "create":
            os.close(os.open(n, os.O_CREAT | os.O_WRONLY | os.O_NONBLOCK | flags_of(r.get("flags"), OPEN_FLAGS),
                             r.get("mode", 0o644), dir_fd=d))
            return None
        if o == "write":
            fd = os.open(n, os.O_WRONLY | flags_of(r.get("flags"), OPEN_FLAGS), 0o644, dir_fd=d)
            try:
                return os.write(fd, H(r["data"]))
            finally:
                os.close(fd)
        if o == "read":
            fd = os.open(n, os.O_RDONLY | os.O_NONBLOCK, dir_fd=d)
            try:
                return os.read(fd, 1 << 20).hex()
            finally:
                os.close(fd)
        if o == "unlink":
            os.unlink(n, dir_fd=d)
            return None
        if o == "rmdir":
            os.rmdir(n, dir_fd=d)
            return None
        if o == "symlink":
            os.symlink(H(r["target"]), n, dir_fd=d)
            return None
        if o == "mknod":
            os.mknod(n, stat.S_IFCHR | r.get("mode", 0), os.makedev(r.get("major", 0), r.get("minor", 0)), dir_fd=d)
            return None
        if o == "chmod":
            os.chmod(n, r["mode"], dir_fd=d)
            return None
        if o == "chown":
            os.chown(n, r["uid"], r["gid"], dir_fd=d, follow_symlinks=False)
            return None
        if o in ("rename", "link"):
            d2 = deep_dir(H(r["p"]), [H(x) for x in r.get("parts2", [])])
            if o == "link":
                os.link(n, H(r["name2"]), src_dir_fd=d, dst_dir_fd=d2, follow_symlinks=False)
            else:
                check(libc.renameat2(d, n, d2, H(r["name2"]), flags_of(r.get("flags"), RENAME_FLAGS)))
            return None
        if o == "setxattr":
            fd = os.open(n, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=d)
            try:
                os.setxattr(fd, r["xname"], H(r["value"]))
            finally:
                os.close(fd)
            return None
        if o == "readdir":
            fd = os.open(n if n is not None else ".", os.O_RDONLY | os.O_DIRECTORY, dir_fd=d)
            try:
                return sorted(os.fsencode(x).hex() for x in os.listdir(fd))
            finally:
                os.close(fd)
        if o == "manifest":
            out = []
            if n is not None:
                sub = os.open(n, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=d)
                try:
                    deep_manifest(sub, [], out, r.get("shape", False))
                finally:
                    os.close(sub)
            else:
                deep_manifest(d, [], out, r.get("shape", False))
            return out
        raise ValueError("unknown deep op " + o)
    finally:
        os.close(d)
        if d2 is not None:
            os.close(d2)

def op(r):
    o = r["op"]
    p = H(r["p"]) if "p" in r else None
    p2 = H(r["p2"]) if "p2" in r else None
    if o == "deep":
        return deep_op(r)
    if o == "id":
        return {"uid": os.getuid(), "gid": os.getgid(), "euid": os.geteuid(),
                "groups": os.getgroups()}
    if o == "lstat":
        return st_dict(os.lstat(p))
    if o == "stat":
        return st_dict(os.stat(p))
    if o == "exists":
        return os.path.lexists(p)
    if o == "access":
        return os.access(p, r.get("mode", 0))
    if o == "create":
        fd = os.open(p, os.O_CREAT | os.O_WRONLY | os.O_NONBLOCK | flags_of(r.get("flags"), OPEN_FLAGS),
                     r.get("mode", 0o644))
        os.close(fd)
        return None
    if o == "open":
        fd = os.open(p, flags_of(r.get("flags"), OPEN_FLAGS), r.get("mode", 0o644))
        fds[fd] = True
        return fd
    if o == "close":
        fds.pop(r["fd"], None)
        os.close(r["fd"])
        return None
    if o == "fwrite":
        data = H(r["data"])
        if "off" in r:
            return os.pwrite(r["fd"], data, r["off"])
        return os.write(r["fd"], data)
    if o == "fread":
        return os.pread(r["fd"], r["n"], r.get("off", 0)).hex()
    if o == "fstat":
        return st_dict(os.fstat(r["fd"]))
    if o == "fchmod":
        os.fchmod(r["fd"], r["mode"])
        return None
    if o == "ftruncate":
        os.ftruncate(r["fd"], r["n"])
        return None
    if o == "fsync":
        os.fsync(r["fd"])
        return None
    if o == "lseek":
        return os.lseek(r["fd"], r["off"], getattr(os, "SEEK_" + r["whence"]))
    if o == "fallocate":
        check(libc.fallocate(r["fd"], r.get("mode", 0), r["off"], r["len"]))
        return None
    if o == "seekmap":
        fd = os.open(p, os.O_RDONLY)
        try:
            return seekmap(fd)
        finally:
            os.close(fd)
    if o == "copy_file_range":
        return os.copy_file_range(r["fdIn"], r["fdOut"], r["n"], r.get("offIn"), r.get("offOut"))
    if o == "ioctl":
        return fcntl.ioctl(r["fd"], r["req"], bytes(r.get("len", 8))).hex()
    if o == "linkfd":
        # linkat(2) of an open file through its /proc link (what an O_TMPFILE user does)
        check(libc.linkat(AT_FDCWD, b"/proc/self/fd/%d" % r["fd"], AT_FDCWD, p, AT_SYMLINK_FOLLOW))
        return None
    if o == "getflags":
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
        try:
            return int.from_bytes(fcntl.ioctl(fd, FS_IOC_GETFLAGS, bytes(4)), "little")
        finally:
            os.close(fd)
    if o == "setflags":
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
        try:
            fcntl.ioctl(fd, FS_IOC_SETFLAGS, r["flags"].to_bytes(4, "little"))
            return None
        finally:
            os.close(fd)
    if o == "atime_probe":
        # Whether reads move atime: (1) atime older than mtime, (2) at once again, (3) atime
        # newer than mtime but older than a day; for files read(2), for dirs a listing
        import time
        DAY = 86400 * 10**9
        now = time.time_ns()
        def at(q):
            return os.stat(q).st_atime_ns
        def access(q):
            if os.path.isdir(q):
                os.listdir(q)
            else:
                with open(q, "rb") as f:
                    f.read()
        res = []
        for q in [H(x) for x in r["paths"]]:
            os.utime(q, ns=(now - 3 * DAY, now - 2 * DAY))
            a0 = at(q); access(q); a1 = at(q)
            time.sleep(0.02)
            access(q); a2 = at(q)
            os.utime(q, ns=(now - 2 * DAY, now - 3 * DAY))
            b0 = at(q); access(q); b1 = at(q)
            res.append([a1 != a0, a2 != a1, b1 != b0])
        return res
    if o == "mmap_times":
        # [mtime, ctime] by path and by fd: before, then after each write through a shared
        # mapping followed by msync (the first one after a sync moves the times), then after close
        import time
        fd = os.open(p, os.O_RDWR)
        out = []
        def snap():
            a, b = os.stat(p), os.fstat(fd)
            out.append([str(a.st_mtime_ns), str(a.st_ctime_ns), str(b.st_mtime_ns), str(b.st_ctime_ns)])
        try:
            m = mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            snap()
            for off in r["offs"]:
                time.sleep(0.03)
                m[off:off + 2] = b"MM"
                m.flush()
                snap()
            m.close()
        finally:
            os.close(fd)
        a = os.stat(p)
        out.append([str(a.st_mtime_ns), str(a.st_ctime_ns)] * 2)
        return out
    if o == "mmap_write":
        fd = os.open(p, os.O_RDWR)
        try:
            m = mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            data = H(r["data"])
            m[r["off"]:r["off"] + len(data)] = data
            m.flush()
            m.close()
        finally:
            os.close(fd)
        return None
    if o == "write":
        fd = os.open(p, os.O_WRONLY | os.O_NONBLOCK | flags_of(r.get("flags"), OPEN_FLAGS), 0o644)
        try:
            data = H(r["data"])
            if "off" in r:
                return os.pwrite(fd, data, r["off"])
            return os.write(fd, data)
        finally:
            os.close(fd)
    if o == "read":
        return content(p)
    if o == "truncate":
        os.truncate(p, r["n"])
        return None
    if o == "chmod":
        os.chmod(p, r["mode"], follow_symlinks=not r.get("nofollow", False))
        return None
    if o == "chown":
        os.chown(p, r["uid"], r["gid"], follow_symlinks=not r.get("nofollow", False))
        return None
    if o == "utimens":
        utimens(p, r["atime"], r["mtime"], r.get("nofollow", False))
        return None
    if o == "link":
        os.link(p, p2, follow_symlinks=False)
        return None
    if o == "symlink":
        os.symlink(H(r["target"]), p)
        return None
    if o == "readlink":
        return os.readlink(p).hex()
    if o == "rename":
        check(libc.renameat2(AT_FDCWD, p, AT_FDCWD, p2, flags_of(r.get("flags"), RENAME_FLAGS)))
        return None
    if o == "unlink":
        os.unlink(p)
        return None
    if o == "rmdir":
        os.rmdir(p)
        return None
    if o == "mkdir":
        os.mkdir(p, r.get("mode", 0o755))
        return None
    if o == "mknod":
        k = {"fifo": stat.S_IFIFO, "char": stat.S_IFCHR, "block": stat.S_IFBLK,
             "sock": stat.S_IFSOCK, "file": stat.S_IFREG}[r["kind"]]
        os.mknod(p, k | r.get("mode", 0o644), os.makedev(r.get("major", 0), r.get("minor", 0)))
        return None
    if o == "bindsock":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.bind(p)
        finally:
            s.close()
        return None
    if o == "setxattr":
        fl = {"CREATE": os.XATTR_CREATE, "REPLACE": os.XATTR_REPLACE}.get(r.get("flag"), 0)
        os.setxattr(p, r["name"], H(r["value"]), fl, follow_symlinks=not r.get("nofollow", False))
        return None
    if o == "getxattr":
        return os.getxattr(p, r["name"], follow_symlinks=not r.get("nofollow", False)).hex()
    if o == "listxattr":
        return sorted(os.listxattr(p, follow_symlinks=not r.get("nofollow", False)))
    if o == "removexattr":
        os.removexattr(p, r["name"], follow_symlinks=not r.get("nofollow", False))
        return None
    if o == "readdir":
        return sorted(n.hex() for n in os.listdir(p))
    if o == "readdir_raw":
        return [n.hex() for n in os.listdir(p)]
    if o == "scan_seek":
        return scan_seek(p, r.get("samples", []))
    if o == "statfs":
        s = os.statvfs(p)
        return {"bsize": s.f_bsize, "frsize": s.f_frsize, "blocks": s.f_blocks,
                "files": s.f_files, "namemax": s.f_namemax, "bfree": s.f_bfree,
                "flag": s.f_flag}
    raise ValueError("unknown op " + o)

def serve():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        r = json.loads(line)
        try:
            res = {"ok": True, "v": op(r)}
        except OSError as e:
            res = {"ok": False, "err": errno.errorcode.get(e.errno, str(e.errno))}
        sys.stdout.write(json.dumps(res) + "\n")
        sys.stdout.flush()

def block_pattern(i):
    # every 4 KiB block names its own offset, so misplaced data is detected
    return (("%016d" % (i * 4096)) * 256).encode()

def build(root, entries, default_mtime):
    root = H(root)
    made = []
    for e in entries:
        p = os.path.join(root, H(e["p"]))
        t = e["t"]
        par = os.path.dirname(p)
        if not os.path.isdir(par):
            os.makedirs(par, 0o755)
        if t == "dir":
            if not os.path.isdir(p):
                os.mkdir(p, 0o755)
            if e.get("opaque"):
                os.setxattr(p, "trusted.overlay.opaque", b"y")
        elif t == "file":
            with open(p, "wb") as f:
                f.write(H(e.get("data", "")))
                for i in range(e.get("blocks", 0)):
                    f.write(block_pattern(i))
                for off, hx in e.get("chunks", []):
                    f.seek(off)
                    f.write(H(hx))
                if "size" in e:
                    f.truncate(e["size"])
        elif t == "symlink":
            os.symlink(H(e["target"]), p)
        elif t == "link":
            os.link(os.path.join(root, H(e["target"])), p)
        elif t == "whiteout":
            os.mknod(p, stat.S_IFCHR | 0o000, os.makedev(0, 0))
        elif t == "fifo":
            os.mkfifo(p, 0o644)
        elif t in ("char", "block"):
            k = stat.S_IFCHR if t == "char" else stat.S_IFBLK
            os.mknod(p, k | 0o644, os.makedev(*e["rdev"]))
        else:
            raise ValueError("bad type " + t)
        if t not in ("link", "whiteout"):
            os.chown(p, e.get("uid", 0), e.get("gid", 0), follow_symlinks=False)
            if t != "symlink":
                os.chmod(p, e.get("mode", 0o755 if t == "dir" else 0o644))
            for k, v in sorted(e.get("xattrs", {}).items()):
                os.setxattr(p, k, H(v), follow_symlinks=False)
        made.append((p, e))
    os.chmod(root, 0o755)
    # children first so that setting their times does not disturb their parents'
    items = [(p, e.get("mtime", default_mtime), e.get("atime")) for p, e in made if e["t"] != "link"]
    items.append((root, default_mtime, None))
    dirs_seen = set()
    for p, mt, at in sorted(items, key=lambda x: -x[0].count(b"/")):
        if p in dirs_seen:
            continue
        dirs_seen.add(p)
        utimens(p, at if at is not None else mt, mt, True)
    # implicit parents made by makedirs get the default time too
    for dp, dns, fns in os.walk(root, topdown=False):
        if dp not in dirs_seen:
            utimens(dp, default_mtime, default_mtime, True)

if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve()
    elif sys.argv[1] == "build":
        spec = json.load(sys.stdin)
        build(spec["root"], spec["entries"], spec["mtime"])
`;
