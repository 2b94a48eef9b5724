/*
 * npy.c -- .npy reader and writer for the moeroute CLI (format: numpy's NEP 1 / numpy.lib.format).
 *
 * Layout of a .npy file: the magic "\x93NUMPY", a major and a minor version byte, the header length
 * (uint16 little-endian for version 1, uint32 for versions 2 and 3), the header -- a Python dict literal
 * {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } padded with spaces and ended by '\n' -- and
 * then the raw array data. The header is parsed by a small strict parser instead of anything resembling
 * eval, and nothing is allocated until the sizes it announces have been checked against the file.
 */
#define _POSIX_C_SOURCE 200809L

#include "npy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The data bytes go to the library as they are in the file, which is little-endian: a big-endian host
 * would need a byte swap on read and write that this file does not implement. */
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the moeroute CLI's .npy I/O assumes a little-endian host"
#endif

/* numpy refuses headers above 10000 bytes by default; a generous cap keeps a hostile length from making
 * us allocate gigabytes for a header. */
#define NPY_MAX_HEADER_LEN (1u << 20)

static const struct {
    npy_dtype dt;
    char kind;
    size_t size;
    const char *descr;
} NPY_TYPES[] = {
    {NPY_DT_F2, 'f', 2, "<f2"}, {NPY_DT_F4, 'f', 4, "<f4"}, {NPY_DT_I1, 'i', 1, "|i1"},
    {NPY_DT_I4, 'i', 4, "<i4"}, {NPY_DT_U2, 'u', 2, "<u2"}, {NPY_DT_I8, 'i', 8, "<i8"},
    {NPY_DT_B1, 'b', 1, "|b1"},
};
#define NPY_NTYPES (sizeof NPY_TYPES / sizeof NPY_TYPES[0])

const char *npy_dtype_descr(npy_dtype dt)
{
    for (size_t i = 0; i < NPY_NTYPES; i++)
        if (NPY_TYPES[i].dt == dt) return NPY_TYPES[i].descr;
    return "?";
}

static size_t npy_itemsize(npy_dtype dt)
{
    for (size_t i = 0; i < NPY_NTYPES; i++)
        if (NPY_TYPES[i].dt == dt) return NPY_TYPES[i].size;
    return 0;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- header parser ------------------------------------------------------------------------------------ */

typedef struct {
    const char *begin, *p, *end;
    const char *path;
    char *err;
    size_t errlen;
} cursor;

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static void skip_ws(cursor *c)
{
    while (c->p < c->end && is_ws(*c->p)) c->p++;
}

static int accept_char(cursor *c, char ch)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

static int peek_char(cursor *c)
{
    skip_ws(c);
    return c->p < c->end ? (unsigned char)*c->p : -1;
}

static npy_result malformed(cursor *c, const char *what)
{
    set_err(c->err, c->errlen, "%s: malformed .npy header: %s (at header byte %ld)", c->path, what,
            (long)(c->p - c->begin));
    return NPY_ERR_FORMAT;
}

/* A quoted string without escapes (numpy never writes any in these fields), printable ASCII only. */
static npy_result parse_string(cursor *c, char *buf, size_t cap)
{
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return malformed(c, "expected a quoted string");
    const char quote = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != quote) {
        const unsigned char ch = (unsigned char)*c->p;
        if (ch == '\\' || ch < 0x20 || ch > 0x7e) return malformed(c, "unsupported character in a string");
        if (n + 1 >= cap) return malformed(c, "string too long");
        buf[n++] = (char)ch;
        c->p++;
    }
    if (c->p >= c->end) return malformed(c, "unterminated string");
    c->p++;
    buf[n] = '\0';
    return NPY_OK;
}

static int word_at(cursor *c, const char *w)
{
    const size_t n = strlen(w);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0) return 0;
    /* "Falsey" is not False: the word must end here */
    if ((size_t)(c->end - c->p) > n) {
        const char nx = c->p[n];
        if ((nx >= 'a' && nx <= 'z') || (nx >= 'A' && nx <= 'Z') || (nx >= '0' && nx <= '9') || nx == '_') return 0;
    }
    c->p += n;
    return 1;
}

static npy_result parse_bool(cursor *c, int *out)
{
    skip_ws(c);
    if (word_at(c, "True")) *out = 1;
    else if (word_at(c, "False")) *out = 0;
    else return malformed(c, "fortran_order must be True or False");
    return NPY_OK;
}

/* A tuple of non-negative integers: (), (n,), (a, b), (a, b,). Python 2 writers may add an 'L' suffix. */
static npy_result parse_shape(cursor *c, int64_t *shape, int *ndim)
{
    if (!accept_char(c, '(')) return malformed(c, "shape must be a tuple");
    int n = 0, commas = 0;
    if (accept_char(c, ')')) {
        *ndim = 0;
        return NPY_OK;
    }
    for (;;) {
        skip_ws(c);
        if (c->p < c->end && *c->p == '-') return malformed(c, "negative dimension in shape");
        if (c->p >= c->end || *c->p < '0' || *c->p > '9') return malformed(c, "shape entries must be integers");
        int64_t v = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            const int d = *c->p - '0';
            if (v > (INT64_MAX - d) / 10) return malformed(c, "dimension does not fit in 64 bits");
            v = v * 10 + d;
            c->p++;
        }
        if (c->p < c->end && (*c->p == 'L' || *c->p == 'l')) c->p++;
        if (n == NPY_MAX_NDIM) return malformed(c, "more than 64 dimensions");
        shape[n++] = v;
        if (accept_char(c, ',')) {
            commas++;
            if (accept_char(c, ')')) break;
            continue;
        }
        if (accept_char(c, ')')) break;
        return malformed(c, "expected ',' or ')' in shape");
    }
    /* (3) is the integer 3 in Python, not a tuple; numpy rejects it too */
    if (n == 1 && commas == 0) return malformed(c, "shape (n) is not a tuple; a 1-D shape is written (n,)");
    *ndim = n;
    return NPY_OK;
}

/* descr -> supported dtype, with a message for each way it can be unacceptable. */
static npy_result interpret_descr(const char *path, const char *descr, npy_dtype *dt, char *err, size_t errlen)
{
    const char *d = descr;
    char order = 0;
    if (*d == '<' || *d == '>' || *d == '|' || *d == '=') order = *d++;
    const char kind = *d;
    size_t size = 0;
    const char *q = kind ? d + 1 : d;
    int digits = 0;
    while (*q >= '0' && *q <= '9' && digits < 6) {
        size = size * 10 + (size_t)(*q - '0');
        q++;
        digits++;
    }
    if (kind == 'O') {
        set_err(err, errlen, "%s: dtype '%s' is an object array (pickled Python objects); not supported", path, descr);
        return NPY_ERR_DTYPE;
    }
    int found = -1;
    if (*q == '\0' && digits > 0)
        for (size_t i = 0; i < NPY_NTYPES; i++)
            if (NPY_TYPES[i].kind == kind && NPY_TYPES[i].size == size) found = (int)i;
    if (found < 0) {
        set_err(err, errlen,
                "%s: dtype '%s' is not supported (supported: '<f2' float16, '<f4' float32, '|i1' int8, '<i4' int32, "
                "'<u2' uint16 = raw bfloat16 bits, '<i8' int64, '|b1' bool)",
                path, descr);
        return NPY_ERR_DTYPE;
    }
    if (size > 1 && order == '>') {
        set_err(err, errlen,
                "%s: dtype '%s' is big-endian; only little-endian data is supported "
                "(convert with a.astype(a.dtype.newbyteorder('<')))",
                path, descr);
        return NPY_ERR_DTYPE;
    }
    /* '=' is native order, little-endian on every host this file compiles for; a multi-byte type
     * without any order character is ambiguous */
    if (size > 1 && order != '<' && order != '=') {
        set_err(err, errlen, "%s: dtype '%s' has no byte order ('<' expected)", path, descr);
        return NPY_ERR_FORMAT;
    }
    *dt = NPY_TYPES[found].dt;
    return NPY_OK;
}

static npy_result parse_header(cursor *c, npy_array *a)
{
    int have_descr = 0, have_order = 0, have_shape = 0;
    if (!accept_char(c, '{')) return malformed(c, "header is not a dict literal (expected '{')");
    if (!accept_char(c, '}')) {
        for (;;) {
            char key[32];
            npy_result r = parse_string(c, key, sizeof key);
            if (r != NPY_OK) return r;
            if (!accept_char(c, ':')) return malformed(c, "expected ':' after a key");
            if (!strcmp(key, "descr")) {
                if (have_descr) return malformed(c, "duplicate key 'descr'");
                if (peek_char(c) == '[') {
                    set_err(c->err, c->errlen, "%s: structured dtype (a list descr) is not supported", c->path);
                    return NPY_ERR_DTYPE;
                }
                r = parse_string(c, a->descr, sizeof a->descr);
                have_descr = 1;
            } else if (!strcmp(key, "fortran_order")) {
                if (have_order) return malformed(c, "duplicate key 'fortran_order'");
                r = parse_bool(c, &a->fortran_order);
                have_order = 1;
            } else if (!strcmp(key, "shape")) {
                if (have_shape) return malformed(c, "duplicate key 'shape'");
                r = parse_shape(c, a->shape, &a->ndim);
                have_shape = 1;
            } else {
                return malformed(c, "unexpected key (only 'descr', 'fortran_order' and 'shape' are allowed)");
            }
            if (r != NPY_OK) return r;
            if (accept_char(c, ',')) {
                if (accept_char(c, '}')) break;
                continue;
            }
            if (accept_char(c, '}')) break;
            return malformed(c, "expected ',' or '}'");
        }
    }
    skip_ws(c);
    if (c->p != c->end) return malformed(c, "unexpected characters after the header dict");
    if (!have_descr || !have_order || !have_shape) {
        set_err(c->err, c->errlen, "%s: malformed .npy header: missing key '%s'", c->path,
                !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");
        return NPY_ERR_FORMAT;
    }
    return NPY_OK;
}

/* ---- reading -------------------------------------------------------------------------------------------- */

static void shape_str(const npy_array *a, char *buf, size_t cap)
{
    size_t n = 0;
    n += (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < a->ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, i ? ", %lld" : "%lld", (long long)a->shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, a->ndim == 1 ? ",)" : ")");
}

static npy_result read_exact(FILE *f, void *buf, size_t n, size_t *got)
{
    *got = fread(buf, 1, n, f);
    return *got == n ? NPY_OK : (ferror(f) ? NPY_ERR_IO : NPY_ERR_FORMAT);
}

static npy_result npy_read_file(FILE *f, const char *path, npy_array *out, char *err, size_t errlen, char **hdrbuf)
{
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        set_err(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
        return NPY_ERR_IO;
    }
    if (S_ISDIR(st.st_mode)) {
        set_err(err, errlen, "%s: is a directory, not a .npy file", path);
        return NPY_ERR_IO;
    }
    const int regular = S_ISREG(st.st_mode) != 0;

    unsigned char pre[12];
    size_t got;
    npy_result r = read_exact(f, pre, 8, &got);
    if (r == NPY_ERR_IO) {
        set_err(err, errlen, "%s: read error: %s", path, strerror(errno));
        return r;
    }
    if (got < 6 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        set_err(err, errlen, "%s: not a .npy file (it does not start with the magic \\x93NUMPY)", path);
        return NPY_ERR_FORMAT;
    }
    if (r != NPY_OK) {
        set_err(err, errlen, "%s: truncated .npy file (ends inside the version field)", path);
        return r;
    }
    const unsigned major = pre[6], minor = pre[7];
    if ((major != 1 && major != 2 && major != 3) || minor != 0) {
        set_err(err, errlen, "%s: unsupported .npy format version %u.%u (1.0, 2.0 and 3.0 are read)", path, major,
                minor);
        return NPY_ERR_FORMAT;
    }
    const size_t lenbytes = major == 1 ? 2 : 4;
    r = read_exact(f, pre + 8, lenbytes, &got);
    if (r != NPY_OK) {
        if (r == NPY_ERR_IO) set_err(err, errlen, "%s: read error: %s", path, strerror(errno));
        else set_err(err, errlen, "%s: truncated .npy file (ends inside the header length)", path);
        return r;
    }
    uint32_t hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8;
    if (lenbytes == 4) hlen |= (uint32_t)pre[10] << 16 | (uint32_t)pre[11] << 24;
    if (hlen > NPY_MAX_HEADER_LEN) {
        set_err(err, errlen, "%s: malformed .npy header: header length %lu is larger than the %u bytes accepted", path,
                (unsigned long)hlen, NPY_MAX_HEADER_LEN);
        return NPY_ERR_FORMAT;
    }
    const size_t data_off = 8 + lenbytes + (size_t)hlen;
    if (regular && (uintmax_t)st.st_size < data_off) {
        set_err(err, errlen, "%s: truncated .npy file (the header needs %zu bytes, the file has %lld)", path, data_off,
                (long long)st.st_size);
        return NPY_ERR_FORMAT;
    }
    *hdrbuf = malloc(hlen ? hlen : 1);
    if (!*hdrbuf) {
        set_err(err, errlen, "%s: out of memory reading the header", path);
        return NPY_ERR_NOMEM;
    }
    r = read_exact(f, *hdrbuf, hlen, &got);
    if (r != NPY_OK) {
        if (r == NPY_ERR_IO) set_err(err, errlen, "%s: read error: %s", path, strerror(errno));
        else set_err(err, errlen, "%s: truncated .npy file (ends inside the header)", path);
        return r;
    }

    cursor c = {*hdrbuf, *hdrbuf, *hdrbuf + hlen, path, err, errlen};
    r = parse_header(&c, out);
    if (r != NPY_OK) return r;
    r = interpret_descr(path, out->descr, &out->dtype, err, errlen);
    if (r != NPY_OK) return r;
    out->itemsize = npy_itemsize(out->dtype);

    /* element count and byte size, overflow-checked; a zero dimension makes the array empty whatever
     * the others say */
    size_t count = 1;
    int empty = 0;
    for (int i = 0; i < out->ndim; i++)
        if (out->shape[i] == 0) empty = 1;
    for (int i = 0; i < out->ndim && !empty; i++) {
        const uint64_t d = (uint64_t)out->shape[i];
        if (d > SIZE_MAX || count > SIZE_MAX / (size_t)d) {
            char s[256];
            shape_str(out, s, sizeof s);
            set_err(err, errlen, "%s: shape %s has more elements than this machine can address", path, s);
            return NPY_ERR_FORMAT;
        }
        count *= (size_t)d;
    }
    if (empty) count = 0;
    if (count > SIZE_MAX / out->itemsize) {
        set_err(err, errlen, "%s: data size overflows (%zu elements of %zu bytes)", path, count, out->itemsize);
        return NPY_ERR_FORMAT;
    }
    out->count = count;
    out->nbytes = count * out->itemsize;

    if (regular) {
        const uintmax_t have = (uintmax_t)st.st_size - data_off;
        if (have != out->nbytes) {
            char s[256];
            shape_str(out, s, sizeof s);
            if (have < out->nbytes)
                set_err(err, errlen,
                        "%s: truncated .npy file: shape %s of '%s' needs %zu data bytes, the file has %ju", path, s,
                        out->descr, out->nbytes, have);
            else
                set_err(err, errlen, "%s: %ju unexpected bytes after the data of shape %s of '%s'", path,
                        have - out->nbytes, s, out->descr);
            return NPY_ERR_FORMAT;
        }
    }

    out->data = malloc(out->nbytes ? out->nbytes : 1);
    if (!out->data) {
        set_err(err, errlen, "%s: out of memory (%zu bytes of data)", path, out->nbytes);
        return NPY_ERR_NOMEM;
    }
    r = read_exact(f, out->data, out->nbytes, &got);
    if (r != NPY_OK) {
        if (r == NPY_ERR_IO) set_err(err, errlen, "%s: read error: %s", path, strerror(errno));
        else
            set_err(err, errlen, "%s: truncated .npy file: %zu data bytes expected, %zu present", path, out->nbytes,
                    got);
        return r;
    }
    /* pipes and other non-regular files could not be size-checked up front */
    if (!regular && fgetc(f) != EOF) {
        set_err(err, errlen, "%s: unexpected bytes after the array data", path);
        return NPY_ERR_FORMAT;
    }
    return NPY_OK;
}

npy_result npy_read(const char *path, npy_array *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NPY_ERR_IO;
    }
    char *hdr = NULL;
    npy_result r = npy_read_file(f, path, out, err, errlen, &hdr);
    free(hdr);
    fclose(f);
    if (r != NPY_OK) {
        free(out->data);
        memset(out, 0, sizeof *out);
    }
    return r;
}

void npy_free(npy_array *a)
{
    if (!a) return;
    free(a->data);
    a->data = NULL;
}

/* ---- writing -------------------------------------------------------------------------------------------- */

npy_result npy_write_new(const char *path, npy_dtype dt, int ndim, const int64_t *shape, const void *data, char *err,
                         size_t errlen)
{
    const size_t itemsize = npy_itemsize(dt);
    if (!itemsize || ndim < 0 || ndim > 8) {
        set_err(err, errlen, "%s: internal error: bad dtype or rank for writing", path);
        return NPY_ERR_FORMAT;
    }
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (uint64_t)shape[i] > SIZE_MAX || (shape[i] && count > SIZE_MAX / (size_t)shape[i])) {
            set_err(err, errlen, "%s: internal error: bad shape for writing", path);
            return NPY_ERR_FORMAT;
        }
        count *= (size_t)shape[i];
    }
    if (count > SIZE_MAX / itemsize) {
        set_err(err, errlen, "%s: internal error: data size overflows", path);
        return NPY_ERR_FORMAT;
    }
    const size_t nbytes = count * itemsize;

    /* The header as numpy writes it: the dict, spaces, '\n', so that magic + header is a multiple of 64. */
    char dims[8 * 24 + 8];
    size_t dn = 0;
    dims[0] = '\0';
    for (int i = 0; i < ndim; i++)
        dn += (size_t)snprintf(dims + dn, sizeof dims - dn, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (ndim == 1) snprintf(dims + dn, sizeof dims - dn, ",");
    char hdr[512];
    int hn = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                      npy_dtype_descr(dt), dims);
    if (hn < 0 || (size_t)hn + 64 >= sizeof hdr) {
        set_err(err, errlen, "%s: internal error: header too long", path);
        return NPY_ERR_FORMAT;
    }
    size_t hlen = (size_t)hn + 1;
    const size_t pad = (64 - (10 + hlen) % 64) % 64;
    memset(hdr + hn, ' ', pad);
    hdr[hn + (int)pad] = '\n';
    hlen += pad;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                             (unsigned char)(hlen >> 8)};

    /* created with O_EXCL and mode 0666, so the umask applies as for any new file and nothing existing is
     * overwritten */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (fd < 0) {
        set_err(err, errlen, "%s: cannot create: %s", path, strerror(errno));
        return NPY_ERR_IO;
    }
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return NPY_ERR_IO;
    }
    int ok = fwrite(pre, 1, sizeof pre, f) == sizeof pre && fwrite(hdr, 1, hlen, f) == hlen &&
             (nbytes == 0 || fwrite(data, 1, nbytes, f) == nbytes) && fflush(f) == 0;
    int saved = errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        saved = errno;
    }
    if (!ok) {
        set_err(err, errlen, "%s: write failed: %s", path, strerror(saved));
        unlink(path);
        return NPY_ERR_IO;
    }
    return NPY_OK;
}

npy_result npy_write(const char *path, npy_dtype dt, int ndim, const int64_t *shape, const void *data, char *err,
                     size_t errlen)
{
    /* a temporary file next to the target, renamed over it only once everything is written */
    const size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp) {
        set_err(err, errlen, "%s: out of memory", path);
        return NPY_ERR_NOMEM;
    }
    snprintf(tmp, plen + 32, "%s.tmp%ld", path, (long)getpid());
    npy_result r = npy_write_new(tmp, dt, ndim, shape, data, err, errlen);
    if (r == NPY_OK && rename(tmp, path) != 0) {
        set_err(err, errlen, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
        unlink(tmp);
        r = NPY_ERR_IO;
    }
    free(tmp);
    return r;
}
