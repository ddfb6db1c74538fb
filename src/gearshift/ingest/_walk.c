/* gearshift.ingest._walk -- the transcript listing of gearshift.ingest.discovery, in C.
 *
 * walk(top: str, skip: str) -> tuple[list[tuple[str, int, int, int, int]], list[str]]
 *
 * Returns (transcripts, sidecars) for the tree under the directory `top`:
 *
 * - Every directory under `top` is entered unless its name equals `skip` (e.g. "tool-results").
 *   A symlink is never entered, even one to a directory: "is a directory" is d_type DT_DIR, or
 *   with DT_UNKNOWN fstatat(..., AT_SYMLINK_NOFOLLOW) (an entry whose lstat fails with ENOENT
 *   counts as "not a directory", as os.DirEntry.is_dir says; any other failure drops it).
 * - transcripts: (path, st_size, st_mtime_ns, st_dev, st_ino) of every non-directory entry
 *   whose name ends with ".jsonl", stat taken following symlinks -- the values os.stat(path)
 *   gives, st_mtime_ns exactly (tv_sec * 10**9 + tv_nsec as a Python int, negative times
 *   included). An entry whose stat fails (broken symlink, vanished file) is left out.
 * - sidecars: the path of every non-directory entry whose name starts with "agent-" and ends
 *   with ".meta.json" (not stat'ed).
 * - path: `top`, then the names below it, joined by "/" (no second "/" after a `top` that ends
 *   with one), decoded like os.fsdecode (surrogateescape: undecodable names round-trip).
 * - A directory that cannot be opened or read (permissions, vanished mid-walk, ENOTDIR) is
 *   passed over silently -- all of it, as a failed os.scandir would be; if `top` cannot be
 *   opened the result is ([], []). The order of both lists is unspecified.
 *
 * The whole traversal runs with the GIL released (so a caller can walk on one thread and
 * import on another) and builds no Python object: results go to C buffers and the lists are
 * built once the GIL is back. Directories are opened relative to their parent's fd
 * (openat(O_NOFOLLOW | O_DIRECTORY), then read with getdents64 on Linux, fdopendir + readdir
 * elsewhere) and files stat'ed relative to their directory (fstatat), so no full path is ever
 * resolved and paths may exceed PATH_MAX. The walk
 * is depth first on an explicit stack of frames: a directory's entries are read completely, its
 * subdirectory names kept, and its fd closed as soon as its last subdirectory is opened; at
 * most MAX_OPEN_DIRS directory fds are held at once (beyond that the shallowest is closed and
 * reopened later from its nearest open ancestor, name by name). No static mutable state:
 * thread safe and reentrant.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

/* Linux: getdents64 straight into one buffer per walk (fdopendir/readdir cost a fstat and two
 * fcntl per directory on top of that, and a buffer each). Elsewhere: dup + fdopendir + readdir. */
#if defined(__linux__)
#include <sys/syscall.h>
#if defined(SYS_getdents64)
#define USE_GETDENTS 1
#define DENTS_SIZE 32768
#endif
#endif

/* No d_type: every entry is lstat'ed. */
#ifndef DT_UNKNOWN
#define DT_UNKNOWN 0
#define DT_DIR 4
#define DT_UNKNOWN_IS_FALLBACK 1
#endif

/* Directory fds held at once by one walk (the root's included), plus at most two transient. */
#define MAX_OPEN_DIRS 32

/* ------------------------------------------------------------------------------------------ */
/* Buffers (PyMem_Raw*: usable without the GIL)                                                 */

typedef struct {
    char *p;
    size_t len, cap; /* p[len] == '\0' whenever p != NULL */
} Buf;

static int buf_append(Buf *b, const char *s, size_t n)
{
    size_t need, cap;
    char *p;
    if (n > SIZE_MAX - 1 - b->len)
        return -1;
    need = b->len + n + 1;
    if (need > b->cap) {
        cap = b->cap ? b->cap : 256;
        while (cap < need)
            cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        p = PyMem_RawRealloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

/* Room for one more element in *arr (n used of *cap). */
static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
    size_t c;
    void *p;
    if (n < *cap)
        return 0;
    c = *cap ? *cap * 2 : 64;
    if (c < *cap || c > SIZE_MAX / size)
        return -1;
    p = PyMem_RawRealloc(*arr, c * size);
    if (!p)
        return -1;
    *arr = p;
    *cap = c;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The walk (no GIL, no Python objects)                                                         */

typedef struct {
    size_t off, len; /* of the path in Walk.out */
    long long size, sec;
    long nsec;
    dev_t dev;
    ino_t ino;
} Transcript;

typedef struct {
    size_t off, len; /* of the path in Walk.out */
} Sidecar;

typedef struct {
    int fd;          /* -1: closed (done with, or over MAX_OPEN_DIRS: reopen before use) */
    size_t path_len; /* its path is Walk.path.p[:path_len] */
    size_t name_off; /* its own name in Walk.names (in its parent's region; unused for root) */
    size_t kids_begin, kids_next, kids_end; /* its subdirectories' names in Walk.names */
} Frame;

typedef struct {
    const char *top, *skip;
    size_t skip_len;
    Buf path;  /* the path of the deepest frame (the directory being read or last entered) */
    Buf names; /* NUL-terminated names of subdirectories to enter: one region per frame, LIFO */
    Buf out;   /* the result paths, back to back */
    Transcript *ts;
    size_t nts, cap_ts;
    Sidecar *sc;
    size_t nsc, cap_sc;
    Frame *frames;
    size_t nframes, cap_frames;
    size_t nopen; /* frames with fd >= 0 */
#ifdef USE_GETDENTS
    char *dents; /* DENTS_SIZE bytes */
#endif
    int oom;
} Walk;

static int open_dir(int at, const char *name, int flags)
{
    int fd;
    do
        fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | flags);
    while (fd < 0 && errno == EINTR);
    return fd;
}

static void close_frame(Walk *w, size_t i)
{
    close(w->frames[i].fd);
    w->frames[i].fd = -1;
    w->nopen--;
}

/* Close the shallowest open frames (never the root nor `keep`) down to MAX_OPEN_DIRS. */
static void evict(Walk *w, size_t keep)
{
    size_t k;
    for (k = 1; w->nopen > MAX_OPEN_DIRS && k < w->nframes; k++)
        if (k != keep && w->frames[k].fd >= 0)
            close_frame(w, k);
}

/* Open frame i again, by name from its nearest open ancestor (the root is always open); frames
 * on the way that still have subdirectories to enter stay open. -1: it is gone. */
static int reopen(Walk *w, size_t i)
{
    size_t j = i, k;
    int base, fd, temp = 0;
    while (w->frames[j - 1].fd < 0)
        j--;
    base = w->frames[j - 1].fd;
    for (k = j; k <= i; k++) {
        fd = open_dir(base, w->names.p + w->frames[k].name_off, O_NOFOLLOW);
        if (temp)
            close(base);
        if (fd < 0)
            return -1;
        temp = !(k == i || w->frames[k].kids_next < w->frames[k].kids_end);
        if (!temp) {
            w->frames[k].fd = fd;
            w->nopen++;
            evict(w, k);
        }
        base = fd;
    }
    return 0;
}

/* `name` (n bytes) joined to the current directory's path, appended to w->out. */
static int add_path(Walk *w, const char *name, size_t n, size_t *off, size_t *len)
{
    size_t start = w->out.len;
    int sep = w->path.len > 0 && w->path.p[w->path.len - 1] != '/';
    if (buf_append(&w->out, w->path.p, w->path.len) || (sep && buf_append(&w->out, "/", 1)) ||
        buf_append(&w->out, name, n)) {
        w->oom = 1;
        return -1;
    }
    *off = start;
    *len = w->out.len - start;
    return 0;
}

static int ends_with(const char *s, size_t n, const char *suffix, size_t m)
{
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static void set_mtime(Transcript *t, const struct stat *st)
{
    t->sec = (long long)st->st_mtime;
#if defined(HAVE_STAT_TV_NSEC)
    t->nsec = (long)st->st_mtim.tv_nsec;
#elif defined(HAVE_STAT_TV_NSEC2)
    t->nsec = (long)st->st_mtimespec.tv_nsec;
#elif defined(HAVE_STAT_NSEC)
    t->nsec = (long)st->st_mtime_nsec;
#else
    t->nsec = 0;
#endif
}

/* One entry of directory fd (whose path is w->path); type is its d_type (DT_UNKNOWN where the
 * platform has none). -1: out of memory. */
static int add_entry(Walk *w, int fd, const char *name, int type)
{
    size_t n;
    int is_dir;
    struct stat st;
    Transcript *t;
    Sidecar *s;

    if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
        return 0;
    n = strlen(name);
    if (type == DT_DIR)
        is_dir = 1;
    else if (type != DT_UNKNOWN)
        is_dir = 0;
    else if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        is_dir = S_ISDIR(st.st_mode);
    else if (errno == ENOENT)
        is_dir = 0; /* gone: os.DirEntry.is_dir says False */
    else
        return 0;

    if (is_dir) {
        if (!(n == w->skip_len && memcmp(name, w->skip, n) == 0) &&
            buf_append(&w->names, name, n + 1))
            return w->oom = 1, -1;
    }
    else if (ends_with(name, n, ".jsonl", 6)) {
        if (fstatat(fd, name, &st, 0) != 0)
            return 0;
        if (grow((void **)&w->ts, &w->cap_ts, w->nts, sizeof(Transcript)))
            return w->oom = 1, -1;
        t = &w->ts[w->nts];
        if (add_path(w, name, n, &t->off, &t->len))
            return -1;
        t->size = (long long)st.st_size;
        set_mtime(t, &st);
        t->dev = st.st_dev;
        t->ino = st.st_ino;
        w->nts++;
    }
    else if (n >= 16 && memcmp(name, "agent-", 6) == 0 && ends_with(name, n, ".meta.json", 10)) {
        if (grow((void **)&w->sc, &w->cap_sc, w->nsc, sizeof(Sidecar)))
            return w->oom = 1, -1;
        s = &w->sc[w->nsc];
        if (add_path(w, name, n, &s->off, &s->len))
            return -1;
        w->nsc++;
    }
    return 0;
}

#ifdef USE_GETDENTS
/* The kernel's record (struct dirent64 of glibc >= 2.30, spelled out for older ones and musl). */
struct dent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* All the entries of fd: 0, or -1 when it could not be read (errno). */
static int read_entries(Walk *w, int fd)
{
    long got, pos;
    struct dent64 *d;
    for (;;) {
        got = syscall(SYS_getdents64, fd, w->dents, (unsigned int)DENTS_SIZE);
        if (got == 0)
            return 0;
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        for (pos = 0; pos < got; pos += d->d_reclen) {
            d = (struct dent64 *)(void *)(w->dents + pos);
            if (add_entry(w, fd, d->d_name, d->d_type))
                return 0;
        }
    }
}
#else
static int read_entries(Walk *w, int fd)
{
    int dup_fd = dup(fd);
    DIR *d;
    struct dirent *e;
    if (dup_fd < 0)
        return -1;
    d = fdopendir(dup_fd);
    if (!d) {
        close(dup_fd);
        return -1;
    }
    for (;;) {
        errno = 0;
        e = readdir(d);
        if (!e) {
            int err = errno;
            closedir(d);
            errno = err;
            return err ? -1 : 0;
        }
#ifdef DT_UNKNOWN_IS_FALLBACK
        if (add_entry(w, fd, e->d_name, DT_UNKNOWN))
#else
        if (add_entry(w, fd, e->d_name, e->d_type))
#endif
        {
            closedir(d);
            return 0;
        }
    }
}
#endif

/* Read all the entries of frame i (its fd is open; w->path is its path): record its
 * transcripts and sidecars, and the names of its subdirectories as its kids. On a read error
 * nothing of it is kept, as a failed os.scandir would give nothing. */
static void read_dir(Walk *w, size_t i)
{
    size_t out_len = w->out.len, nts = w->nts, nsc = w->nsc, names_len = w->names.len;
    if (read_entries(w, w->frames[i].fd) && !w->oom) {
        w->out.len = out_len;
        w->nts = nts;
        w->nsc = nsc;
        w->names.len = names_len;
    }
    w->frames[i].kids_begin = w->frames[i].kids_next = names_len;
    w->frames[i].kids_end = w->names.len;
}

static int push_frame(Walk *w, int fd, size_t name_off)
{
    Frame *f;
    if (grow((void **)&w->frames, &w->cap_frames, w->nframes, sizeof(Frame))) {
        close(fd);
        w->oom = 1;
        return -1;
    }
    f = &w->frames[w->nframes++];
    f->fd = fd;
    f->path_len = w->path.len;
    f->name_off = name_off;
    f->kids_begin = f->kids_next = f->kids_end = w->names.len;
    w->nopen++;
    return 0;
}

static void walk_tree(Walk *w, size_t top_len)
{
    int fd = open_dir(AT_FDCWD, w->top, 0);
    Frame *f;
    size_t i, name_off, n;
    const char *name;

    if (fd < 0)
        return;
#ifdef USE_GETDENTS
    if (!(w->dents = PyMem_RawMalloc(DENTS_SIZE))) {
        close(fd);
        w->oom = 1;
        return;
    }
#endif
    if (buf_append(&w->path, w->top, top_len)) {
        close(fd);
        w->oom = 1;
        return;
    }
    if (push_frame(w, fd, 0))
        return;
    read_dir(w, 0);
    while (w->nframes && !w->oom) {
        i = w->nframes - 1;
        f = &w->frames[i];
        if (f->kids_next >= f->kids_end) { /* done with it: pop */
            if (f->fd >= 0)
                close_frame(w, i);
            w->names.len = f->kids_begin;
            w->nframes--;
            continue;
        }
        name_off = f->kids_next;
        name = w->names.p + name_off;
        n = strlen(name);
        f->kids_next += n + 1;
        if (f->fd < 0 && reopen(w, i)) {
            f->kids_next = f->kids_end;
            continue;
        }
        fd = open_dir(f->fd, name, O_NOFOLLOW);
        if (f->kids_next >= f->kids_end && i > 0) /* its last subdirectory: no more use for it */
            close_frame(w, i);
        if (fd < 0)
            continue;
        w->path.len = f->path_len;
        if (((w->path.len == 0 || w->path.p[w->path.len - 1] != '/') &&
             buf_append(&w->path, "/", 1)) ||
            buf_append(&w->path, name, n)) {
            close(fd);
            w->oom = 1;
            break;
        }
        if (push_frame(w, fd, name_off))
            break;
        evict(w, w->nframes - 1);
        read_dir(w, w->nframes - 1);
    }
    for (i = 0; i < w->nframes; i++) /* after an allocation failure */
        if (w->frames[i].fd >= 0)
            close_frame(w, i);
}

static void walk_free(Walk *w)
{
#ifdef USE_GETDENTS
    PyMem_RawFree(w->dents);
#endif
    PyMem_RawFree(w->path.p);
    PyMem_RawFree(w->names.p);
    PyMem_RawFree(w->out.p);
    PyMem_RawFree(w->ts);
    PyMem_RawFree(w->sc);
    PyMem_RawFree(w->frames);
}

/* ------------------------------------------------------------------------------------------ */
/* Python objects (GIL held)                                                                   */

/* tv_sec * 10**9 + tv_nsec, exactly, as os.stat's st_mtime_ns. */
static PyObject *mtime_ns(long long sec, long nsec)
{
    PyObject *s, *billion, *prod, *frac, *total;
    if (sec >= -9223372035LL && sec <= 9223372035LL) /* no long long overflow */
        return PyLong_FromLongLong(sec * 1000000000LL + nsec);
    s = PyLong_FromLongLong(sec);
    billion = PyLong_FromLong(1000000000L);
    frac = PyLong_FromLong(nsec);
    prod = s && billion ? PyNumber_Multiply(s, billion) : NULL;
    total = prod && frac ? PyNumber_Add(prod, frac) : NULL;
    Py_XDECREF(s);
    Py_XDECREF(billion);
    Py_XDECREF(frac);
    Py_XDECREF(prod);
    return total;
}

/* st_dev as os.stat gives it (a signed long long before 3.13; unsigned since, NODEV -1). */
static PyObject *device(dev_t dev)
{
#if PY_VERSION_HEX >= 0x030D0000
    if (dev == (dev_t)-1)
        return PyLong_FromLong(-1);
    return PyLong_FromUnsignedLongLong((unsigned long long)dev);
#else
    return PyLong_FromLongLong((long long)dev);
#endif
}

/* (path, st_size, st_mtime_ns, st_dev, st_ino), and `under` last when it is not NULL. */
static PyObject *transcript_tuple(const Walk *w, const Transcript *t, PyObject *under)
{
    PyObject *tup = PyTuple_New(under ? 6 : 5), *item;
    int k;
    if (!tup)
        return NULL;
    if (under)
        PyTuple_SET_ITEM(tup, 5, Py_NewRef(under));
    for (k = 0; k < 5; k++) {
        switch (k) {
        case 0:
            item = PyUnicode_DecodeFSDefaultAndSize(w->out.p + t->off, (Py_ssize_t)t->len);
            break;
        case 1:
            item = PyLong_FromLongLong(t->size);
            break;
        case 2:
            item = mtime_ns(t->sec, t->nsec);
            break;
        case 3:
            item = device(t->dev);
            break;
        default:
            item = PyLong_FromUnsignedLongLong((unsigned long long)t->ino);
            break;
        }
        if (!item) {
            Py_DECREF(tup);
            return NULL;
        }
        PyTuple_SET_ITEM(tup, k, item);
    }
    return tup;
}

static PyObject *build(const Walk *w)
{
    PyObject *ts = NULL, *sc = NULL, *item, *res;
    size_t k;
    if (w->nts > (size_t)PY_SSIZE_T_MAX || w->nsc > (size_t)PY_SSIZE_T_MAX)
        return PyErr_NoMemory();
    ts = PyList_New((Py_ssize_t)w->nts);
    sc = PyList_New((Py_ssize_t)w->nsc);
    if (!ts || !sc)
        goto fail;
    for (k = 0; k < w->nts; k++) {
        if (!(item = transcript_tuple(w, &w->ts[k], NULL)))
            goto fail;
        PyList_SET_ITEM(ts, (Py_ssize_t)k, item);
    }
    for (k = 0; k < w->nsc; k++) {
        item = PyUnicode_DecodeFSDefaultAndSize(w->out.p + w->sc[k].off, (Py_ssize_t)w->sc[k].len);
        if (!item)
            goto fail;
        PyList_SET_ITEM(sc, (Py_ssize_t)k, item);
    }
    res = PyTuple_Pack(2, ts, sc);
    Py_DECREF(ts);
    Py_DECREF(sc);
    return res;
fail:
    Py_XDECREF(ts);
    Py_XDECREF(sc);
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* listing(): the walk in path order (no GIL for the sorting)                                  */

/* Whether s[:n] is well-formed UTF-8, exactly as Python's strict decoder has it (no overlong
 * forms, no surrogates, nothing above U+10FFFF): then byte order is str order. */
static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80)
                return 0;
            i += 2;
        }
        else if (c >= 0xE0 && c <= 0xEF) {
            unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
            if (i + 2 >= n || s[i + 1] < lo || s[i + 1] > hi || (s[i + 2] & 0xC0) != 0x80)
                return 0;
            i += 3;
        }
        else if (c >= 0xF0 && c <= 0xF4) {
            unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
            if (i + 3 >= n || s[i + 1] < lo || s[i + 1] > hi || (s[i + 2] & 0xC0) != 0x80 ||
                (s[i + 3] & 0xC0) != 0x80)
                return 0;
            i += 4;
        }
        else
            return 0;
    }
    return 1;
}

typedef struct {
    const char *p;
    size_t len, idx;
} PathKey;

typedef struct {
    dev_t dev;
    ino_t ino;
    size_t pos;
} FileKey;

static int path_cmp(const void *a, const void *b)
{
    const PathKey *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, n);
    if (c)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

static int file_cmp(const void *a, const void *b)
{
    const FileKey *x = a, *y = b;
    if (x->dev != y->dev)
        return x->dev < y->dev ? -1 : 1;
    if (x->ino != y->ino)
        return x->ino < y->ino ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

typedef struct {
    size_t *ts, *sc; /* indexes into Walk.ts / Walk.sc, in the order to list them */
    size_t nts, nsc;
    int ordered;     /* sorted by path, each (st_dev, st_ino) once: the first in that order */
} Order;

/* The indexes of the n items of `items` (structs of `stride` bytes that start with the
 * `size_t off, len` of a path in w->out: Transcript, Sidecar) in path order; NULL when out of
 * memory. */
static size_t *sorted_paths(const Walk *w, const void *items, size_t n, size_t stride)
{
    PathKey *keys = PyMem_RawMalloc(n ? n * sizeof(PathKey) : 1);
    size_t *idx = PyMem_RawMalloc(n ? n * sizeof(size_t) : 1), k;
    if (!keys || !idx) {
        PyMem_RawFree(keys);
        PyMem_RawFree(idx);
        return NULL;
    }
    for (k = 0; k < n; k++) {
        const size_t *at = (const size_t *)((const char *)items + k * stride);
        keys[k].p = w->out.p + at[0];
        keys[k].len = at[1];
        keys[k].idx = k;
    }
    qsort(keys, n, sizeof(PathKey), path_cmp);
    for (k = 0; k < n; k++)
        idx[k] = keys[k].idx;
    PyMem_RawFree(keys);
    return idx;
}

/* Fill o (0), or -1 when out of memory. Ordered only when `utf8` (the filesystem encoding is
 * UTF-8 with surrogateescape) and every path is valid UTF-8: byte order is then str order. */
static int order_walk(const Walk *w, int utf8, Order *o)
{
    size_t k, m;
    FileKey *files;
    char *drop;

    memset(o, 0, sizeof *o);
    o->ordered = utf8;
    for (k = 0; o->ordered && k < w->nts; k++)
        o->ordered = utf8_valid((const unsigned char *)w->out.p + w->ts[k].off, w->ts[k].len);
    for (k = 0; o->ordered && k < w->nsc; k++)
        o->ordered = utf8_valid((const unsigned char *)w->out.p + w->sc[k].off, w->sc[k].len);
    if (!o->ordered) { /* as walked: the caller sorts and deduplicates */
        o->ts = PyMem_RawMalloc(w->nts ? w->nts * sizeof(size_t) : 1);
        o->sc = PyMem_RawMalloc(w->nsc ? w->nsc * sizeof(size_t) : 1);
        if (!o->ts || !o->sc)
            return -1;
        for (k = 0; k < w->nts; k++)
            o->ts[k] = k;
        for (k = 0; k < w->nsc; k++)
            o->sc[k] = k;
        o->nts = w->nts;
        o->nsc = w->nsc;
        return 0;
    }
    o->ts = sorted_paths(w, w->ts, w->nts, sizeof(Transcript));
    o->sc = sorted_paths(w, w->sc, w->nsc, sizeof(Sidecar));
    if (!o->ts || !o->sc)
        return -1;
    o->nsc = w->nsc;
    files = PyMem_RawMalloc(w->nts ? w->nts * sizeof(FileKey) : 1);
    drop = PyMem_RawCalloc(w->nts ? w->nts : 1, 1);
    if (!files || !drop) {
        PyMem_RawFree(files);
        PyMem_RawFree(drop);
        return -1;
    }
    for (k = 0; k < w->nts; k++) {
        files[k].dev = w->ts[o->ts[k]].dev;
        files[k].ino = w->ts[o->ts[k]].ino;
        files[k].pos = k;
    }
    qsort(files, w->nts, sizeof(FileKey), file_cmp);
    for (k = 1; k < w->nts; k++)
        if (files[k].dev == files[k - 1].dev && files[k].ino == files[k - 1].ino)
            drop[files[k].pos] = 1; /* a later path to a file already listed */
    for (k = m = 0; k < w->nts; k++)
        if (!drop[k])
            o->ts[m++] = o->ts[k];
    o->nts = m;
    PyMem_RawFree(files);
    PyMem_RawFree(drop);
    return 0;
}

static void order_free(Order *o)
{
    PyMem_RawFree(o->ts);
    PyMem_RawFree(o->sc);
}

static PyObject *build_listing(const Walk *w, const Order *o, PyObject *under)
{
    PyObject *ts = NULL, *sc = NULL, *item = NULL, *id = NULL, *path = NULL, *res;
    size_t k;
    if (o->nts > (size_t)PY_SSIZE_T_MAX || o->nsc > (size_t)PY_SSIZE_T_MAX)
        return PyErr_NoMemory();
    ts = PyList_New((Py_ssize_t)o->nts);
    sc = PyList_New((Py_ssize_t)o->nsc);
    if (!ts || !sc)
        goto fail;
    for (k = 0; k < o->nts; k++) {
        if (!(item = transcript_tuple(w, &w->ts[o->ts[k]], under)))
            goto fail;
        PyList_SET_ITEM(ts, (Py_ssize_t)k, item);
    }
    for (k = 0; k < o->nsc; k++) {
        const Sidecar *c = &w->sc[o->sc[k]];
        const char *p = w->out.p + c->off, *name = p + c->len;
        while (name > p && name[-1] != '/')
            name--;
        /* "agent-<id>.meta.json": the id between */
        id = PyUnicode_DecodeFSDefaultAndSize(name + 6, (Py_ssize_t)(p + c->len - name) - 16);
        path = PyUnicode_DecodeFSDefaultAndSize(p, (Py_ssize_t)c->len);
        if (!id || !path)
            goto fail;
        item = PyTuple_Pack(2, id, path);
        Py_CLEAR(id);
        Py_CLEAR(path);
        if (!item)
            goto fail;
        PyList_SET_ITEM(sc, (Py_ssize_t)k, item);
    }
    res = Py_BuildValue("(NNO)", ts, sc, o->ordered ? Py_True : Py_False);
    return res;
fail:
    Py_XDECREF(id);
    Py_XDECREF(path);
    Py_XDECREF(ts);
    Py_XDECREF(sc);
    return NULL;
}

/* w cleared and set to walk `top` skipping `skip` (str, converted as os.fsencode does into
 * *top_b and *skip_b, which the caller releases): 0, or -1 with an exception set. */
static int walk_setup(Walk *w, PyObject *top, PyObject *skip, PyObject **top_b, PyObject **skip_b)
{
    *top_b = *skip_b = NULL;
    if (!PyUnicode_FSConverter(top, top_b))
        return -1;
    if (!PyUnicode_FSConverter(skip, skip_b)) {
        Py_CLEAR(*top_b);
        return -1;
    }
    memset(w, 0, sizeof *w);
    w->top = PyBytes_AS_STRING(*top_b);
    w->skip = PyBytes_AS_STRING(*skip_b);
    w->skip_len = (size_t)PyBytes_GET_SIZE(*skip_b);
    return 0;
}

static PyObject *mod_listing(PyObject *mod, PyObject *args)
{
    PyObject *top, *skip, *under, *top_b, *skip_b, *res = NULL;
    int utf8, failed = 0;
    Walk w;
    Order o;
    (void)mod;
    if (!PyArg_ParseTuple(args, "UUO!p:listing", &top, &skip, &PyLong_Type, &under, &utf8))
        return NULL;
    if (walk_setup(&w, top, skip, &top_b, &skip_b) < 0)
        return NULL;
    memset(&o, 0, sizeof o);
    Py_BEGIN_ALLOW_THREADS
    walk_tree(&w, (size_t)PyBytes_GET_SIZE(top_b));
    if (!w.oom)
        failed = order_walk(&w, utf8, &o);
    Py_END_ALLOW_THREADS
    if (w.oom || failed)
        PyErr_NoMemory();
    else
        res = build_listing(&w, &o, under);
    order_free(&o);
    walk_free(&w);
    Py_DECREF(top_b);
    Py_DECREF(skip_b);
    return res;
}

static PyObject *mod_walk(PyObject *mod, PyObject *args)
{
    PyObject *top, *skip, *top_b, *skip_b, *res = NULL;
    Walk w;
    (void)mod;
    if (!PyArg_ParseTuple(args, "UU:walk", &top, &skip))
        return NULL;
    if (walk_setup(&w, top, skip, &top_b, &skip_b) < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    walk_tree(&w, (size_t)PyBytes_GET_SIZE(top_b));
    Py_END_ALLOW_THREADS
    if (w.oom)
        PyErr_NoMemory();
    else
        res = build(&w);
    walk_free(&w);
    Py_DECREF(top_b);
    Py_DECREF(skip_b);
    return res;
}

#define WALK_SPEC                                                                                  \
    "walk(top: str, skip: str) -> tuple[list[tuple[str, int, int, int, int]], list[str]]\n"        \
    "\n"                                                                                           \
    "(transcripts, sidecars) under the directory top, walked with the GIL released.\n"           \
    "\n"                                                                                           \
    "- Every directory under top is entered unless its name equals skip; a symlink never is,\n"   \
    "  even one to a directory (lstat / d_type DT_DIR decides).\n"                                \
    "- transcripts: (path, st_size, st_mtime_ns, st_dev, st_ino) of every non-directory entry\n"  \
    "  named *.jsonl, stat following symlinks, exactly as os.stat(path) gives them; an entry\n"    \
    "  whose stat fails (broken symlink, vanished file) is left out.\n"                           \
    "- sidecars: the path of every non-directory entry named agent-*.meta.json.\n"                \
    "- path: top and the names below it joined by '/' (not doubled after a top ending in '/'),\n" \
    "  names decoded as os.fsdecode does (undecodable bytes round-trip).\n"                       \
    "- A directory that cannot be opened or read is passed over silently; a top that cannot be\n" \
    "  opened gives ([], []). The order of both lists is unspecified.\n"

PyDoc_STRVAR(walk_doc, WALK_SPEC);

#define LISTING_SPEC                                                                               \
    "listing(top: str, skip: str, under: int, utf8: bool) -> tuple[list[tuple[str, int, int,\n"  \
    "    int, int, int]], list[tuple[str, str]], bool]\n"                                        \
    "\n"                                                                                          \
    "walk() as gearshift.ingest.discovery lists a root: (entries, sidecars, ordered).\n"          \
    "- entries: (path, st_size, st_mtime_ns, st_dev, st_ino, under) of each transcript.\n"       \
    "- sidecars: (agent id, path) of each agent-<id>.meta.json.\n"                              \
    "- ordered: both lists are sorted by path, and entries hold each (st_dev, st_ino) once\n"    \
    "  (under the first of its paths). So when utf8 (the filesystem encoding is UTF-8 with\n"    \
    "  surrogateescape) and every path is valid UTF-8, where byte order is str order; else\n"   \
    "  both lists are as walked, every path listed, and the caller sorts them.\n"

PyDoc_STRVAR(listing_doc, LISTING_SPEC);

static PyMethodDef module_methods[] = {
    {"walk", mod_walk, METH_VARARGS, walk_doc},
    {"listing", mod_listing, METH_VARARGS, listing_doc},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot module_slots[] = {
    {0, NULL},
};

static struct PyModuleDef walk_module = {
    PyModuleDef_HEAD_INIT, "_walk",
    PyDoc_STR("Native transcript listing of gearshift.ingest.discovery (see _walk.c).\n\n"
              WALK_SPEC),
    0, module_methods, module_slots, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__walk(void)
{
    return PyModuleDef_Init(&walk_module);
}
