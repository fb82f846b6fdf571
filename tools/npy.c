/*
 * NumPy .npy reader and writer; see npy.h for the contract.
 *
 * The reader trusts nothing in the file: every length is checked against the file size before it
 * is used, every product against SIZE_MAX, and the header dictionary is parsed as the small Python
 * literal numpy writes (keys in any order, any whitespace) rather than matched as a fixed string.
 * The reader opens only regular files, without blocking on a FIFO (src/file_open.h). The writer
 * never touches a regular destination until a complete, synced copy exists beside it, and never
 * replaces a device or a FIFO (src/file_output.h says what it does with each kind of path).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "npy.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clconvt.h"
#include "file_open.h"
#include "file_output.h"

/* Magic string (6 bytes) + version (2 bytes); the header length follows. */
static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};
#define NPY_PREAMBLE 8
/* Data starts at a multiple of this, as numpy itself writes (it allows mmap of aligned data). */
#define NPY_ALIGN 64
/* A dimension larger than this cannot describe real data and is surely corruption. */
#define NPY_MAX_DIM_VALUE ((int64_t)1 << 48)

static void set_error(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(char *err, size_t err_size, const char *fmt, ...) {
    if (err == NULL || err_size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
}

size_t npy_type_size(npy_type type) {
    switch (type) {
    case NPY_F32: return 4;
    case NPY_F64: return 8;
    case NPY_F16:
    case NPY_U16: return 2;
    }
    return 0;
}

static const char *npy_type_descr(npy_type type) {
    switch (type) {
    case NPY_F32: return "<f4";
    case NPY_F64: return "<f8";
    case NPY_F16: return "<f2";
    case NPY_U16: return "<u2";
    }
    return NULL;
}

/* Formats a shape as Python does: "()", "(5,)", "(3, 4)". Truncates rather than overflows buf. */
static void format_shape(int ndim, const int64_t *shape, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = -1; i <= ndim && used < size; ++i) {
        int n;
        if (i < 0)
            n = snprintf(buf + used, size - used, "(");
        else if (i == ndim)
            n = snprintf(buf + used, size - used, "%s", ndim == 1 ? ",)" : ")");
        else
            n = snprintf(buf + used, size - used, "%s%" PRId64, i ? ", " : "", shape[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* count = product(shape) and bytes = count * item_size; -1 when a dim is negative or it overflows.
 */
static int shape_bytes(int ndim, const int64_t *shape, size_t item_size, size_t *count,
                       size_t *bytes) {
    size_t c = 1;
    for (int i = 0; i < ndim; ++i) {
        if (shape[i] < 0 || (uint64_t)shape[i] > SIZE_MAX)
            return -1;
        const size_t d = (size_t)shape[i];
        if (d != 0 && c > SIZE_MAX / d)
            return -1;
        c *= d;
    }
    if (item_size != 0 && c > SIZE_MAX / item_size)
        return -1;
    *count = c;
    *bytes = c * item_size;
    return 0;
}

/* ---- Header dictionary parsing ------------------------------------------------------------- */

/* What the header says; filled by parse_header. */
typedef struct header_info {
    npy_type type;
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
} header_info;

/* A cursor over the header text, with what to report on a syntax error. */
typedef struct cursor {
    const char *p;
    const char *end;
    const char *path;
    char *err;
    size_t err_size;
} cursor;

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_space(cursor *c) {
    while (c->p < c->end && is_space(*c->p))
        ++c->p;
}

/* Consumes ch after optional whitespace; 0 on success, -1 (no message) if it is not there. */
static int accept_char(cursor *c, char ch) {
    skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        ++c->p;
        return 0;
    }
    return -1;
}

static int syntax_error(cursor *c, const char *expected) {
    if (c->p >= c->end)
        set_error(c->err, c->err_size, "%s: malformed header: expected %s, found the end", c->path,
                  expected);
    else {
        /* Quote at most 10 bytes, never past the header (which need not be NUL-terminated). */
        const int shown = c->end - c->p < 10 ? (int)(c->end - c->p) : 10;
        set_error(c->err, c->err_size, "%s: malformed header: expected %s, found '%.*s'", c->path,
                  expected, shown, c->p);
    }
    return -1;
}

/* Parses a quoted Python string literal (no escapes: numpy never writes any) into buf. */
static int parse_string(cursor *c, char *buf, size_t size) {
    skip_space(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return syntax_error(c, "a quoted string");
    const char quote = *c->p++;
    const char *start = c->p;
    while (c->p < c->end && *c->p != quote) {
        if (*c->p == '\\' || *c->p == '\n')
            return syntax_error(c, "a simple string");
        ++c->p;
    }
    if (c->p >= c->end)
        return syntax_error(c, "a closing quote");
    const size_t len = (size_t)(c->p - start);
    ++c->p;
    if (len >= size) {
        set_error(c->err, c->err_size, "%s: malformed header: string '%.20s...' is too long",
                  c->path, start);
        return -1;
    }
    memcpy(buf, start, len);
    buf[len] = '\0';
    return 0;
}

static int parse_descr(cursor *c, npy_type *type) {
    char descr[32];
    if (parse_string(c, descr, sizeof descr) != 0)
        return -1;
    static const npy_type types[] = {NPY_F32, NPY_F64, NPY_F16, NPY_U16};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; ++i) {
        if (strcmp(descr, npy_type_descr(types[i])) == 0) {
            *type = types[i];
            return 0;
        }
    }
    if (descr[0] == '>')
        set_error(c->err, c->err_size,
                  "%s: data type '%s' is big-endian; only little-endian '<f4', '<f8', '<f2' and "
                  "'<u2' are supported",
                  c->path, descr);
    else
        set_error(c->err, c->err_size,
                  "%s: unsupported data type '%s'; supported: '<f4', '<f8', '<f2', '<u2'", c->path,
                  descr);
    return -1;
}

static int parse_fortran_order(cursor *c) {
    skip_space(c);
    const size_t left = (size_t)(c->end - c->p);
    if (left >= 5 && memcmp(c->p, "False", 5) == 0) {
        c->p += 5;
        return 0;
    }
    if (left >= 4 && memcmp(c->p, "True", 4) == 0) {
        set_error(c->err, c->err_size,
                  "%s: array is stored in Fortran (column-major) order; only C order is supported",
                  c->path);
        return -1;
    }
    return syntax_error(c, "True or False for 'fortran_order'");
}

/* Parses one non-negative decimal dimension (Python 2 files may append 'L'). */
static int parse_dim(cursor *c, int64_t *value) {
    skip_space(c);
    if (c->p < c->end && *c->p == '-') {
        set_error(c->err, c->err_size, "%s: shape has a negative dimension", c->path);
        return -1;
    }
    if (c->p >= c->end || *c->p < '0' || *c->p > '9')
        return syntax_error(c, "a dimension");
    int64_t v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        v = v * 10 + (*c->p++ - '0');
        if (v > NPY_MAX_DIM_VALUE) {
            set_error(c->err, c->err_size, "%s: shape has an absurd dimension (over %" PRId64 ")",
                      c->path, NPY_MAX_DIM_VALUE);
            return -1;
        }
    }
    if (c->p < c->end && *c->p == 'L')
        ++c->p;
    *value = v;
    return 0;
}

/* Parses a Python tuple of dimensions: "()", "(5,)", "(3, 4)", "(3, 4,)". */
static int parse_shape(cursor *c, header_info *info) {
    if (accept_char(c, '(') != 0)
        return syntax_error(c, "'(' opening 'shape'");
    info->ndim = 0;
    if (accept_char(c, ')') == 0)
        return 0;
    for (;;) {
        if (info->ndim == NPY_MAX_DIMS) {
            set_error(c->err, c->err_size, "%s: shape has more than %d dimensions", c->path,
                      NPY_MAX_DIMS);
            return -1;
        }
        if (parse_dim(c, &info->shape[info->ndim]) != 0)
            return -1;
        ++info->ndim;
        if (accept_char(c, ')') == 0)
            return 0;
        if (accept_char(c, ',') != 0)
            return syntax_error(c, "',' or ')' in 'shape'");
        if (accept_char(c, ')') == 0)
            return 0;
    }
}

enum { KEY_DESCR = 1, KEY_FORTRAN = 2, KEY_SHAPE = 4 };

/* Parses one "'key': value" entry; *seen accumulates which keys were present. */
static int parse_entry(cursor *c, header_info *info, int *seen) {
    char key[32];
    if (parse_string(c, key, sizeof key) != 0)
        return -1;
    int which = 0;
    if (strcmp(key, "descr") == 0)
        which = KEY_DESCR;
    else if (strcmp(key, "fortran_order") == 0)
        which = KEY_FORTRAN;
    else if (strcmp(key, "shape") == 0)
        which = KEY_SHAPE;
    if (which == 0) {
        set_error(c->err, c->err_size, "%s: malformed header: unexpected key '%s'", c->path, key);
        return -1;
    }
    if (*seen & which) {
        set_error(c->err, c->err_size, "%s: malformed header: key '%s' appears twice", c->path,
                  key);
        return -1;
    }
    *seen |= which;
    if (accept_char(c, ':') != 0)
        return syntax_error(c, "':' after a key");
    if (which == KEY_DESCR)
        return parse_descr(c, &info->type);
    if (which == KEY_FORTRAN)
        return parse_fortran_order(c);
    return parse_shape(c, info);
}

/* Parses the header dictionary text [text, text + len). */
static int parse_header(const char *text, size_t len, const char *path, header_info *info,
                        char *err, size_t err_size) {
    cursor c = {text, text + len, path, err, err_size};
    if (memchr(text, '\0', len) != NULL) {
        set_error(err, err_size, "%s: malformed header: it contains a NUL byte", path);
        return -1;
    }
    if (accept_char(&c, '{') != 0)
        return syntax_error(&c, "'{' opening the header dictionary");
    int seen = 0;
    while (accept_char(&c, '}') != 0) {
        if (parse_entry(&c, info, &seen) != 0)
            return -1;
        if (accept_char(&c, ',') != 0 && (skip_space(&c), c.p >= c.end || *c.p != '}'))
            return syntax_error(&c, "',' or '}' in the header dictionary");
    }
    skip_space(&c);
    if (c.p != c.end)
        return syntax_error(&c, "only padding after the header dictionary");
    if (seen != (KEY_DESCR | KEY_FORTRAN | KEY_SHAPE)) {
        set_error(err, err_size, "%s: malformed header: missing key '%s'", path,
                  !(seen & KEY_DESCR)     ? "descr"
                  : !(seen & KEY_FORTRAN) ? "fortran_order"
                                          : "shape");
        return -1;
    }
    return 0;
}

/* ---- Reading ------------------------------------------------------------------------------- */

static uint32_t read_le(const unsigned char *b, int bytes) {
    uint32_t v = 0;
    for (int i = bytes - 1; i >= 0; --i)
        v = (v << 8) | b[i];
    return v;
}

/*
 * Reads the magic, version and header length; on success *header_len is the length of the
 * dictionary text and *prefix the number of bytes before it.
 */
static int read_preamble(FILE *f, const char *path, uint64_t file_size, size_t *header_len,
                         size_t *prefix, char *err, size_t err_size) {
    unsigned char pre[NPY_PREAMBLE + 4];
    if (fread(pre, 1, NPY_PREAMBLE, f) != NPY_PREAMBLE || memcmp(pre, npy_magic, 6) != 0) {
        set_error(err, err_size, "%s: not a .npy file (no \\x93NUMPY magic at the start)", path);
        return -1;
    }
    const int major = pre[6], minor = pre[7];
    if (major < 1 || major > 3 || minor != 0) {
        set_error(err, err_size, "%s: unsupported .npy format version %d.%d (known: 1.0, 2.0, 3.0)",
                  path, major, minor);
        return -1;
    }
    /* Version 1.0 has a 2-byte header length; 2.0 and 3.0 a 4-byte one. */
    const int len_bytes = major == 1 ? 2 : 4;
    if (fread(pre + NPY_PREAMBLE, 1, (size_t)len_bytes, f) != (size_t)len_bytes) {
        set_error(err, err_size, "%s: file ends inside the .npy preamble", path);
        return -1;
    }
    const uint64_t len = read_le(pre + NPY_PREAMBLE, len_bytes);
    *prefix = NPY_PREAMBLE + (size_t)len_bytes;
    if (file_size < *prefix || len > file_size - *prefix) {
        set_error(err, err_size,
                  "%s: header length %" PRIu64 " runs past the end of the file (%" PRIu64 " bytes)",
                  path, len, file_size);
        return -1;
    }
    *header_len = (size_t)len;
    return 0;
}

/* Reads and parses the header; on success the stream is at the first data byte. */
static int read_header(FILE *f, const char *path, uint64_t file_size, header_info *info,
                       size_t *data_offset, char *err, size_t err_size) {
    size_t header_len = 0, prefix = 0;
    if (read_preamble(f, path, file_size, &header_len, &prefix, err, err_size) != 0)
        return -1;
    int rc = -1;
    char *text = malloc(header_len + 1);
    if (text == NULL) {
        set_error(err, err_size, "%s: out of memory reading a %zu-byte header", path, header_len);
        goto cleanup;
    }
    if (fread(text, 1, header_len, f) != header_len) {
        set_error(err, err_size, "%s: read error in the header: %s", path, strerror(errno));
        goto cleanup;
    }
    text[header_len] = '\0';
    if (parse_header(text, header_len, path, info, err, err_size) != 0)
        goto cleanup;
    *data_offset = prefix + header_len;
    rc = 0;
cleanup:
    free(text);
    return rc;
}

/* Checks the data length the header implies against what the file holds. */
static int check_data_size(const char *path, const header_info *info, uint64_t available,
                           size_t *count, size_t *bytes, char *err, size_t err_size) {
    char shape[NPY_MAX_DIMS * 24 + 8];
    format_shape(info->ndim, info->shape, shape, sizeof shape);
    const char *descr = npy_type_descr(info->type);
    if (shape_bytes(info->ndim, info->shape, npy_type_size(info->type), count, bytes) != 0) {
        set_error(err, err_size, "%s: shape %s with '%s' is too large to address", path, shape,
                  descr);
        return -1;
    }
    if ((uint64_t)*bytes != available) {
        set_error(err, err_size,
                  "%s: header says shape %s with '%s' = %zu bytes, but the file holds %" PRIu64
                  " bytes of data",
                  path, shape, descr, *bytes, available);
        return -1;
    }
    return 0;
}

int npy_read(const char *path, npy_array *out, char *err, size_t err_size) {
    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (path == NULL || out == NULL) {
        set_error(err, err_size, "npy_read: NULL path or output");
        return -1;
    }
    int rc = -1;
    void *data = NULL;
    struct stat st;
    char why[256];
    FILE *f = clconvt_fopen_regular(path, &st, why, sizeof why);
    if (f == NULL) {
        set_error(err, err_size, "%s: %s", path, why);
        goto cleanup;
    }
    const uint64_t file_size = (uint64_t)st.st_size;
    header_info info = {0};
    size_t offset = 0, count = 0, bytes = 0;
    if (read_header(f, path, file_size, &info, &offset, err, err_size) != 0)
        goto cleanup;
    if (check_data_size(path, &info, file_size - offset, &count, &bytes, err, err_size) != 0)
        goto cleanup;
    /* malloc(0) may return NULL; an empty array still gets a valid pointer. */
    data = malloc(bytes ? bytes : 1);
    if (data == NULL) {
        set_error(err, err_size, "%s: out of memory for %zu bytes of data", path, bytes);
        goto cleanup;
    }
    if (fread(data, 1, bytes, f) != bytes) {
        set_error(err, err_size, "%s: read error in the data: %s", path,
                  ferror(f) ? strerror(errno) : "file shrank while reading");
        goto cleanup;
    }
    out->type = info.type;
    out->ndim = info.ndim;
    memcpy(out->shape, info.shape, sizeof info.shape);
    out->count = count;
    out->data = data;
    data = NULL;
    rc = 0;
cleanup:
    free(data);
    if (f != NULL)
        fclose(f);
    return rc;
}

void npy_free(npy_array *array) {
    if (array == NULL)
        return;
    free(array->data);
    memset(array, 0, sizeof *array);
}

/* ---- Conversion ---------------------------------------------------------------------------- */

/* Decodes 2-byte floats through float32 (exact for both f16 and bf16), a chunk at a time. */
static void half_to_double(const uint16_t *src, clconvt_dtype dtype, size_t count, double *out) {
    float chunk[256];
    for (size_t done = 0; done < count;) {
        size_t n = count - done;
        if (n > sizeof chunk / sizeof chunk[0])
            n = sizeof chunk / sizeof chunk[0];
        /* Cannot fail: the dtypes are valid and the pointers are not NULL. */
        (void)clconvt_convert(src + done, dtype, chunk, CLCONVT_F32, n);
        for (size_t i = 0; i < n; ++i)
            out[done + i] = chunk[i];
        done += n;
    }
}

void npy_to_double(const npy_array *array, double *out) {
    if (array == NULL || out == NULL || array->count == 0)
        return;
    switch (array->type) {
    case NPY_F32: {
        const float *src = array->data;
        for (size_t i = 0; i < array->count; ++i)
            out[i] = src[i];
        break;
    }
    case NPY_F64: memcpy(out, array->data, array->count * sizeof *out); break;
    case NPY_F16: half_to_double(array->data, CLCONVT_F16, array->count, out); break;
    case NPY_U16: half_to_double(array->data, CLCONVT_BF16, array->count, out); break;
    }
}

/* ---- Writing ------------------------------------------------------------------------------- */

/*
 * Builds a version 1.0 header for the array in buf: preamble, dictionary, spaces and '\n' so that
 * the data starts at a multiple of NPY_ALIGN. Returns its length, or 0 if it does not fit.
 */
static size_t build_header(npy_type type, int ndim, const int64_t *shape, char *buf, size_t size) {
    char shape_text[NPY_MAX_DIMS * 24 + 8];
    format_shape(ndim, shape, shape_text, sizeof shape_text);
    const size_t prefix = NPY_PREAMBLE + 2;
    const int dict_len = snprintf(buf + prefix, size - prefix,
                                  "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                                  npy_type_descr(type), shape_text);
    if (dict_len < 0)
        return 0;
    size_t total = prefix + (size_t)dict_len + 1; /* + the final '\n' */
    total = (total + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
    if (total > size || total - prefix > 0xffff)
        return 0;
    memset(buf + prefix + dict_len, ' ', total - prefix - (size_t)dict_len - 1);
    buf[total - 1] = '\n';
    memcpy(buf, npy_magic, 6);
    buf[6] = 1;
    buf[7] = 0;
    const size_t header_len = total - prefix;
    buf[8] = (char)(header_len & 0xff);
    buf[9] = (char)(header_len >> 8);
    return total;
}

static int check_write_args(const char *path, npy_type type, int ndim, const int64_t *shape,
                            const void *data, size_t *bytes, char *err, size_t err_size) {
    size_t count = 0;
    if (path == NULL || *path == '\0') {
        set_error(err, err_size, "npy_write: no path given");
        return -1;
    }
    if (npy_type_descr(type) == NULL) {
        set_error(err, err_size, "%s: npy_write: unknown element type %d", path, (int)type);
        return -1;
    }
    if (ndim < 0 || ndim > NPY_MAX_DIMS || (ndim > 0 && shape == NULL)) {
        set_error(err, err_size, "%s: npy_write: ndim %d is not in [0, %d]", path, ndim,
                  NPY_MAX_DIMS);
        return -1;
    }
    if (shape_bytes(ndim, shape, npy_type_size(type), &count, bytes) != 0) {
        set_error(err, err_size, "%s: npy_write: shape has a negative dimension or is too large",
                  path);
        return -1;
    }
    if (*bytes != 0 && data == NULL) {
        set_error(err, err_size, "%s: npy_write: NULL data for %zu bytes", path, *bytes);
        return -1;
    }
    return 0;
}

int npy_write(const char *path, npy_type type, int ndim, const int64_t *shape, const void *data,
              char *err, size_t err_size) {
    size_t bytes = 0;
    if (check_write_args(path, type, ndim, shape, data, &bytes, err, err_size) != 0)
        return -1;
    char header[512];
    const size_t header_len = build_header(type, ndim, shape, header, sizeof header);
    if (header_len == 0) {
        set_error(err, err_size, "%s: npy_write: header does not fit", path);
        return -1;
    }
    clconvt_output out;
    char why[512];
    if (clconvt_output_begin(&out, path, why, sizeof why) != 0) {
        set_error(err, err_size, "%s: %s", path, why);
        return -1;
    }
    clconvt_output_write(&out, header, header_len);
    clconvt_output_write(&out, data, bytes);
    if (clconvt_output_commit(&out, why, sizeof why) != 0) {
        set_error(err, err_size, "%s: %s", path, why);
        return -1;
    }
    return 0;
}
