/* The safetensors format, validated as strictly as the reference implementation: a file that
 * passes here has every tensor inside the data area, none overlapping, and no byte unaccounted
 * for. Numbers in the header go through cJSON, which keeps them as doubles: integers are accepted
 * only where a double holds them exactly (up to 2^53). */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "file_open.h"

/* The reference implementation refuses larger headers; so do we, before allocating one. */
#define MAX_HEADER_BYTES 100000000u

/* The largest integer a double (and so cJSON) represents exactly. */
#define MAX_EXACT_INTEGER 9007199254740992.0

/* Every dtype the format defines, with its size, so that a whole file validates even when it holds
 * tensors clconvt cannot use. */
static const struct {
    const char *name;
    size_t size;
    int supported;
    clconvt_dtype dtype;
} dtypes[] = {
    {"F32", 4, 1, CLCONVT_F32},     {"F16", 2, 1, CLCONVT_F16},     {"BF16", 2, 1, CLCONVT_BF16},
    {"F64", 8, 0, CLCONVT_F32},     {"I64", 8, 0, CLCONVT_F32},     {"U64", 8, 0, CLCONVT_F32},
    {"I32", 4, 0, CLCONVT_F32},     {"U32", 4, 0, CLCONVT_F32},     {"I16", 2, 0, CLCONVT_F32},
    {"U16", 2, 0, CLCONVT_F32},     {"I8", 1, 0, CLCONVT_F32},      {"U8", 1, 0, CLCONVT_F32},
    {"BOOL", 1, 0, CLCONVT_F32},    {"F8_E4M3", 1, 0, CLCONVT_F32}, {"F8_E5M2", 1, 0, CLCONVT_F32},
    {"F8_E8M0", 1, 0, CLCONVT_F32}, {"C64", 8, 0, CLCONVT_F32},
};

void clconvt_safetensors_format_shape(const safetensors_tensor *t, char *buf, size_t size) {
    size_t used = 0;
    const int kept =
        t->ndim < CLCONVT_SAFETENSORS_MAX_DIMS ? t->ndim : CLCONVT_SAFETENSORS_MAX_DIMS;
    buf[0] = '\0';
    for (int i = -1; i <= kept && used < size; ++i) {
        int n;
        if (i < 0)
            n = snprintf(buf + used, size - used, "(");
        else if (i == kept)
            n = snprintf(buf + used, size - used, "%s",
                         t->ndim > kept ? ", ...)"
                         : t->ndim == 1 ? ",)"
                                        : ")");
        else
            n = snprintf(buf + used, size - used, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* Reads exactly size bytes at offset; a short file is an error, not a partial read. */
static clconvt_status read_at(const safetensors_file *f, void *buf, size_t size, uint64_t offset,
                              const char *what) {
    char *p = buf;
    while (size > 0) {
        const ssize_t n = pread(f->fd, p, size, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return clconvt_fail(CLCONVT_ERROR_FILE, "%s: cannot read %s: %s", f->path, what,
                                strerror(errno));
        if (n == 0)
            return clconvt_fail(CLCONVT_ERROR_FILE,
                                "%s: the file ended while reading %s (was it truncated?)", f->path,
                                what);
        p += n;
        size -= (size_t)n;
        offset += (uint64_t)n;
    }
    return CLCONVT_SUCCESS;
}

/* A JSON number that is a non-negative integer a double holds exactly. */
static int json_uint(const cJSON *item, uint64_t *out) {
    if (!cJSON_IsNumber(item))
        return 0;
    const double d = item->valuedouble;
    if (!(d >= 0.0) || d > MAX_EXACT_INTEGER || d != floor(d))
        return 0;
    *out = (uint64_t)d;
    return 1;
}

/* The JSON type of an item, for messages. */
static const char *json_type(const cJSON *item) {
    if (cJSON_IsObject(item))
        return "an object";
    if (cJSON_IsArray(item))
        return "an array";
    if (cJSON_IsString(item))
        return "a string";
    if (cJSON_IsNumber(item))
        return "a number";
    if (cJSON_IsBool(item))
        return "a boolean";
    if (cJSON_IsNull(item))
        return "null";
    return "not JSON";
}

static clconvt_status parse_dtype(const safetensors_file *f, const cJSON *entry,
                                  safetensors_tensor *t, size_t *size) {
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    if (!cJSON_IsString(dtype))
        return clconvt_fail(CLCONVT_ERROR_FILE, "%s: tensor '%s' has no \"dtype\" string%s%s",
                            f->path, t->name, dtype ? ", it is " : "",
                            dtype ? json_type(dtype) : "");
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; ++i) {
        if (strcmp(dtype->valuestring, dtypes[i].name) == 0) {
            t->dtype_name = dtypes[i].name;
            t->supported = dtypes[i].supported;
            t->dtype = dtypes[i].dtype;
            *size = dtypes[i].size;
            return CLCONVT_SUCCESS;
        }
    }
    return clconvt_fail(CLCONVT_ERROR_FILE,
                        "%s: tensor '%s' has dtype \"%.40s\", which is not a safetensors dtype",
                        f->path, t->name, dtype->valuestring);
}

static clconvt_status parse_shape(const safetensors_file *f, const cJSON *entry,
                                  safetensors_tensor *t) {
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    if (!cJSON_IsArray(shape))
        return clconvt_fail(CLCONVT_ERROR_FILE, "%s: tensor '%s' has no \"shape\" array%s%s",
                            f->path, t->name, shape ? ", it is " : "",
                            shape ? json_type(shape) : "");
    const cJSON *dim;
    int i = 0;
    t->count = 1;
    cJSON_ArrayForEach(dim, shape) {
        uint64_t n;
        if (!json_uint(dim, &n))
            return clconvt_fail(CLCONVT_ERROR_FILE,
                                "%s: tensor '%s': shape[%d] is %s, not a non-negative integer "
                                "below 2^53",
                                f->path, t->name, i, json_type(dim));
        if (n != 0 && t->count > UINT64_MAX / n)
            return clconvt_fail(CLCONVT_ERROR_FILE,
                                "%s: tensor '%s': the product of its shape overflows 64 bits",
                                f->path, t->name);
        t->count *= n;
        if (i < CLCONVT_SAFETENSORS_MAX_DIMS)
            t->shape[i] = (int64_t)n;
        if (i == 1000)
            return clconvt_fail(CLCONVT_ERROR_FILE, "%s: tensor '%s' has over 1000 dimensions",
                                f->path, t->name);
        ++i;
    }
    t->ndim = i;
    return CLCONVT_SUCCESS;
}

static clconvt_status parse_offsets(const safetensors_file *f, const cJSON *entry,
                                    safetensors_tensor *t, size_t dtype_size) {
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 ||
        !json_uint(cJSON_GetArrayItem(offsets, 0), &t->begin) ||
        !json_uint(cJSON_GetArrayItem(offsets, 1), &t->end))
        return clconvt_fail(CLCONVT_ERROR_FILE,
                            "%s: tensor '%s' has no \"data_offsets\" [begin, end] of two "
                            "non-negative integers",
                            f->path, t->name);
    if (t->begin > t->end)
        return clconvt_fail(
            CLCONVT_ERROR_FILE, "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin",
            f->path, t->name, (unsigned long long)t->begin, (unsigned long long)t->end);
    if (t->end > f->data_size)
        return clconvt_fail(CLCONVT_ERROR_FILE,
                            "%s: tensor '%s': data_offsets [%llu, %llu] reach past the end of the "
                            "%llu-byte data area",
                            f->path, t->name, (unsigned long long)t->begin,
                            (unsigned long long)t->end, (unsigned long long)f->data_size);
    char shape[128];
    clconvt_safetensors_format_shape(t, shape, sizeof shape);
    if (t->count > UINT64_MAX / dtype_size || t->count * dtype_size != t->end - t->begin)
        return clconvt_fail(CLCONVT_ERROR_FILE,
                            "%s: tensor '%s': shape %s of %s needs %llu x %zu bytes, but "
                            "data_offsets [%llu, %llu] span %llu bytes",
                            f->path, t->name, shape, t->dtype_name, (unsigned long long)t->count,
                            dtype_size, (unsigned long long)t->begin, (unsigned long long)t->end,
                            (unsigned long long)(t->end - t->begin));
    return CLCONVT_SUCCESS;
}

static clconvt_status parse_entry(const safetensors_file *f, const cJSON *entry,
                                  safetensors_tensor *t) {
    *t = (safetensors_tensor){.name = entry->string};
    if (!cJSON_IsObject(entry))
        return clconvt_fail(CLCONVT_ERROR_FILE,
                            "%s: tensor '%s': its header entry is %s, not an object with dtype, "
                            "shape and data_offsets",
                            f->path, t->name, json_type(entry));
    size_t dtype_size = 0;
    clconvt_status status = parse_dtype(f, entry, t, &dtype_size);
    if (status == CLCONVT_SUCCESS)
        status = parse_shape(f, entry, t);
    if (status == CLCONVT_SUCCESS)
        status = parse_offsets(f, entry, t, dtype_size);
    return status;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const safetensors_tensor *)a)->name, ((const safetensors_tensor *)b)->name);
}

static int by_offsets(const void *a, const void *b) {
    const safetensors_tensor *x = *(const safetensors_tensor *const *)a;
    const safetensors_tensor *y = *(const safetensors_tensor *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Tensors must tile the data area exactly: no overlap (two tensors sharing bytes), no hole. */
static clconvt_status check_layout(const safetensors_file *f) {
    clconvt_status status = CLCONVT_SUCCESS;
    const safetensors_tensor **order = malloc((f->count ? f->count : 1) * sizeof *order);
    if (order == NULL)
        return clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY, "out of host memory reading %s",
                            f->path);
    for (size_t i = 0; i < f->count; ++i)
        order[i] = &f->tensors[i];
    qsort(order, f->count, sizeof *order, by_offsets);
    uint64_t covered = 0;
    for (size_t i = 0; i < f->count && status == CLCONVT_SUCCESS; ++i) {
        const safetensors_tensor *t = order[i];
        if (t->begin < covered)
            status =
                clconvt_fail(CLCONVT_ERROR_FILE,
                             "%s: tensors '%s' (bytes %llu to %llu) and '%s' (bytes %llu to "
                             "%llu) overlap",
                             f->path, order[i - 1]->name, (unsigned long long)order[i - 1]->begin,
                             (unsigned long long)order[i - 1]->end, t->name,
                             (unsigned long long)t->begin, (unsigned long long)t->end);
        else if (t->begin > covered)
            status =
                clconvt_fail(CLCONVT_ERROR_FILE,
                             "%s: bytes %llu to %llu of the data area belong to no tensor "
                             "(tensor '%s' starts at %llu)",
                             f->path, (unsigned long long)covered, (unsigned long long)t->begin,
                             t->name, (unsigned long long)t->begin);
        covered = t->end;
    }
    if (status == CLCONVT_SUCCESS && covered != f->data_size)
        status =
            clconvt_fail(CLCONVT_ERROR_FILE,
                         "%s: the data area holds %llu bytes but its tensors end at byte %llu",
                         f->path, (unsigned long long)f->data_size, (unsigned long long)covered);
    free(order);
    return status;
}

/* Every entry but __metadata__ (free-form, ignored) becomes a tensor; names must be unique. */
static clconvt_status collect_tensors(safetensors_file *f, const cJSON *root) {
    const cJSON *entry;
    size_t n = 0;
    cJSON_ArrayForEach(entry, root)++ n;
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    if (f->tensors == NULL)
        return clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY,
                            "out of host memory for the %zu tensors of %s", n, f->path);
    cJSON_ArrayForEach(entry, root) {
        if (strcmp(entry->string, "__metadata__") == 0)
            continue;
        clconvt_status status = parse_entry(f, entry, &f->tensors[f->count]);
        if (status != CLCONVT_SUCCESS)
            return status;
        ++f->count;
    }
    qsort(f->tensors, f->count, sizeof *f->tensors, by_name);
    for (size_t i = 1; i < f->count; ++i)
        if (strcmp(f->tensors[i - 1].name, f->tensors[i].name) == 0)
            return clconvt_fail(CLCONVT_ERROR_FILE,
                                "%s: tensor name '%s' appears more than once in the header",
                                f->path, f->tensors[i].name);
    return check_layout(f);
}

/*
 * The offset of the first JSON string in text that holds an escaped NUL ("\u0000"), or size if
 * none; *is_key says whether that string is an object key. cJSON keeps strings as C strings, so
 * such a name would be cut short ("l.weight\u0000junk" read as "l.weight"). Escapes are skipped
 * whole, so "\\u0000" (a backslash, then "u0000") is no NUL. text is valid JSON here.
 */
static size_t find_escaped_nul(const char *text, size_t size, int *is_key) {
    size_t start = 0;
    int in_string = 0, has_nul = 0;
    for (size_t i = 0; i < size; ++i) {
        if (!in_string) {
            if (text[i] == '"') {
                in_string = 1;
                has_nul = 0;
                start = i;
            }
        } else if (text[i] == '\\') {
            has_nul |= i + 5 < size && memcmp(text + i + 1, "u0000", 5) == 0;
            ++i; /* the escaped character; the hex digits of \uXXXX are ordinary characters */
        } else if (text[i] == '"') {
            in_string = 0;
            if (!has_nul)
                continue;
            size_t next = i + 1;
            while (next < size && (text[next] == ' ' || text[next] == '\t' || text[next] == '\n' ||
                                   text[next] == '\r'))
                ++next;
            *is_key = next < size && text[next] == ':';
            return start;
        }
    }
    return size;
}

/* Parses the header text (not NUL-terminated) into f. */
static clconvt_status parse_header(safetensors_file *f, const char *text, size_t size) {
    if (text[0] != '{')
        return clconvt_fail(CLCONVT_ERROR_FILE,
                            "%s: the header does not start with '{' (a safetensors header is a "
                            "JSON object; is this a safetensors file?)",
                            f->path);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, size, &end, 0);
    if (root == NULL) {
        const size_t at = end != NULL && end >= text ? (size_t)(end - text) : 0;
        return clconvt_fail(CLCONVT_ERROR_FILE,
                            "%s: the %zu-byte header is not valid JSON (error near byte %zu)",
                            f->path, size, at);
    }
    f->header = root;
    int is_key = 0;
    const size_t json_size = (size_t)(end - text);
    const size_t nul = find_escaped_nul(text, json_size, &is_key);
    if (nul < json_size)
        return clconvt_fail(CLCONVT_ERROR_FILE,
                            "%s: a %s in the header holds a NUL character (\\u0000), at byte %zu; "
                            "clconvt cannot represent it",
                            f->path, is_key ? "name" : "string", nul);
    /* The writer may pad the header with spaces for alignment; anything else is garbage. */
    for (const char *p = end; p < text + size; ++p)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            return clconvt_fail(CLCONVT_ERROR_FILE,
                                "%s: the header has data after its JSON object, at byte %zu",
                                f->path, (size_t)(p - text));
    if (!cJSON_IsObject(root))
        return clconvt_fail(CLCONVT_ERROR_FILE, "%s: the header is %s, not a JSON object", f->path,
                            json_type(root));
    return collect_tensors(f, root);
}

/* Reads and checks the 8-byte header length, then the header. */
static clconvt_status read_header(safetensors_file *f, uint64_t file_size) {
    unsigned char length_bytes[8];
    if (file_size < 8)
        return clconvt_fail(CLCONVT_ERROR_FILE,
                            "%s: the file is %llu bytes long, too short for a safetensors file "
                            "(an 8-byte header length, then the header)",
                            f->path, (unsigned long long)file_size);
    clconvt_status status = read_at(f, length_bytes, 8, 0, "the header length");
    if (status != CLCONVT_SUCCESS)
        return status;
    uint64_t length = 0;
    for (int i = 7; i >= 0; --i) /* little-endian, whatever the host */
        length = length << 8 | length_bytes[i];
    if (length > file_size - 8)
        return clconvt_fail(CLCONVT_ERROR_FILE,
                            "%s: the header length field says %llu bytes, but only %llu bytes "
                            "follow it (truncated, or not a safetensors file)",
                            f->path, (unsigned long long)length,
                            (unsigned long long)(file_size - 8));
    if (length > MAX_HEADER_BYTES)
        return clconvt_fail(CLCONVT_ERROR_FILE,
                            "%s: the header length %llu exceeds the format's limit of %u bytes",
                            f->path, (unsigned long long)length, MAX_HEADER_BYTES);
    if (length < 2)
        return clconvt_fail(CLCONVT_ERROR_FILE,
                            "%s: the header length %llu is too short for a JSON object", f->path,
                            (unsigned long long)length);
    f->data_start = 8 + length;
    f->data_size = file_size - f->data_start;
    char *text = malloc((size_t)length);
    if (text == NULL)
        return clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY,
                            "out of host memory for the %llu-byte header of %s",
                            (unsigned long long)length, f->path);
    status = read_at(f, text, (size_t)length, 8, "the header");
    if (status == CLCONVT_SUCCESS)
        status = parse_header(f, text, (size_t)length);
    free(text);
    return status;
}

clconvt_status clconvt_safetensors_open(const char *path, safetensors_file *out) {
    safetensors_file f = {.fd = -1};
    clconvt_status status = CLCONVT_SUCCESS;
    struct stat st;
    if ((f.path = strdup(path)) == NULL) {
        status = clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto cleanup;
    }
    char why[256];
    if ((f.fd = clconvt_open_regular(path, &st, why, sizeof why)) < 0) {
        status = clconvt_fail(CLCONVT_ERROR_FILE, "%s: %s", path, why);
        goto cleanup;
    }
    status = read_header(&f, (uint64_t)st.st_size);
cleanup:
    if (status != CLCONVT_SUCCESS) {
        clconvt_safetensors_close(&f);
        return status;
    }
    *out = f;
    return CLCONVT_SUCCESS;
}

void clconvt_safetensors_close(safetensors_file *f) {
    if (f->fd >= 0)
        close(f->fd);
    cJSON_Delete(f->header);
    free(f->tensors);
    free(f->path);
    *f = (safetensors_file){.fd = -1};
}

const safetensors_tensor *clconvt_safetensors_find(const safetensors_file *f, const char *name) {
    const safetensors_tensor key = {.name = name};
    if (f->count == 0)
        return NULL;
    return bsearch(&key, f->tensors, f->count, sizeof key, by_name);
}

clconvt_status clconvt_safetensors_check_dtype(const safetensors_file *f,
                                               const safetensors_tensor *t) {
    if (!t->supported)
        return clconvt_fail(CLCONVT_ERROR_UNSUPPORTED,
                            "%s: tensor '%s' has dtype %s; clconvt reads F32, F16 and BF16 "
                            "tensors",
                            f->path, t->name, t->dtype_name);
    if (t->ndim > CLCONVT_SAFETENSORS_MAX_DIMS)
        return clconvt_fail(CLCONVT_ERROR_UNSUPPORTED,
                            "%s: tensor '%s' has %d dimensions; clconvt handles at most %d",
                            f->path, t->name, t->ndim, CLCONVT_SAFETENSORS_MAX_DIMS);
    return CLCONVT_SUCCESS;
}

static int host_is_little_endian(void) {
    const uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

clconvt_status clconvt_safetensors_read_f32(const safetensors_file *f, const safetensors_tensor *t,
                                            float *out) {
    clconvt_status status = clconvt_safetensors_check_dtype(f, t);
    if (status != CLCONVT_SUCCESS)
        return status;
    if (!host_is_little_endian())
        return clconvt_fail(CLCONVT_ERROR_UNSUPPORTED,
                            "%s: safetensors data is little-endian; this host is not", f->path);
    const uint64_t bytes = t->end - t->begin;
    if (bytes > SIZE_MAX)
        return clconvt_fail(CLCONVT_ERROR_TOO_LARGE, "%s: tensor '%s' (%llu bytes) is too large",
                            f->path, t->name, (unsigned long long)bytes);
    char what[300];
    snprintf(what, sizeof what, "tensor '%.200s'", t->name);
    if (t->dtype == CLCONVT_F32) /* straight into place: no second copy of a large tensor */
        return read_at(f, out, (size_t)bytes, f->data_start + t->begin, what);
    void *raw = malloc(bytes ? (size_t)bytes : 1);
    if (raw == NULL)
        return clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY,
                            "out of host memory for tensor '%s' (%llu bytes) of %s", t->name,
                            (unsigned long long)bytes, f->path);
    status = read_at(f, raw, (size_t)bytes, f->data_start + t->begin, what);
    if (status == CLCONVT_SUCCESS)
        status = clconvt_convert(raw, t->dtype, out, CLCONVT_F32, (size_t)t->count);
    free(raw);
    return status;
}
