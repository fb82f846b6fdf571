/* The tuning database: shape classes, reading, checking, matching and writing (see tuning_db.h). */
#include "tuning_db.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "file_open.h"
#include "file_output.h"
#include "stride.h"

/* ---- Shape classes and identities ---------------------------------------------------------- */

/* The largest power of two <= n (1 for n < 1). */
static int64_t power_bucket(int64_t n) {
    int64_t b = 1;
    while (b <= n / 2)
        b *= 2;
    return b;
}

int clconvt_tuning_shape_class(const clconvt_params *p, char *text, size_t size) {
    if (size > 0)
        text[0] = '\0';
    if (p->groups < 1 || p->stride < 1 || p->dilation < 1 || p->kernel_length < 1)
        return -1;
    const int64_t cin_g = p->in_channels / p->groups, cout_g = p->out_channels / p->groups;
    const int64_t tap_step = p->stride / clconvt_gcd(p->stride, p->dilation);
    const int64_t taps = clconvt_ceil_div(p->kernel_length, tap_step);
    const int depthwise = p->groups > 1 && cin_g == 1 && cout_g == 1;
    char groups[32];
    if (depthwise)
        snprintf(groups, sizeof groups, "dw");
    else
        snprintf(groups, sizeof groups, "g%lld", (long long)power_bucket(p->groups));
    const int n =
        snprintf(text, size, "%s/%s/s%lld/cin%lld/cout%lld/taps%lld/%s",
                 p->layout == CLCONVT_LAYOUT_NCL ? "ncl" : "nlc", clconvt_dtype_name(p->dtype),
                 (long long)p->stride, (long long)power_bucket(cin_g),
                 (long long)power_bucket(cout_g), (long long)power_bucket(taps), groups);
    if (n < 0 || (size_t)n >= size) {
        if (size > 0)
            text[0] = '\0';
        return -1;
    }
    return 0;
}

const char *clconvt_tuning_device_type_name(cl_device_type type) {
    if (type & CL_DEVICE_TYPE_GPU)
        return "gpu";
    if (type & CL_DEVICE_TYPE_CPU)
        return "cpu";
    if (type & CL_DEVICE_TYPE_ACCELERATOR)
        return "accelerator";
    if (type & CL_DEVICE_TYPE_CUSTOM)
        return "custom";
    return "other";
}

void clconvt_tuning_identity_of(const clconvt_device *device, tuning_identity *identity) {
    identity->vendor = device->vendor ? device->vendor : "";
    identity->name = device->name ? device->name : "";
    identity->driver = device->driver_version ? device->driver_version : "";
    identity->type = clconvt_tuning_device_type_name(device->type);
}

/* ---- Checking ------------------------------------------------------------------------------ */

static int problem(char *reason, size_t size, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static int problem(char *reason, size_t size, const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(reason, size, format, args);
    va_end(args);
    return -1;
}

static const char *const IDENTITY_KEYS[] = {"vendor", "name", "driver", "type"};

/* A member that must be there and be a string. */
static int need_string(const cJSON *object, const char *key, const char *where, char *reason,
                       size_t size) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    if (item == NULL)
        return problem(reason, size, "%s has no \"%s\"", where, key);
    if (!cJSON_IsString(item))
        return problem(reason, size, "%s.%s is not a string", where, key);
    return 0;
}

/* A member that may be missing, or else must be a number >= 0. */
static int optional_time(const cJSON *object, const char *key, const char *where, char *reason,
                         size_t size) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    if (item != NULL && !cJSON_IsNull(item) && (!cJSON_IsNumber(item) || !(item->valuedouble >= 0)))
        return problem(reason, size, "%s.%s is not a number of milliseconds", where, key);
    return 0;
}

static int check_class(const cJSON *entry, const char *where, char *reason, size_t size) {
    if (!cJSON_IsObject(entry))
        return problem(reason, size, "%s is not an object", where);
    if (need_string(entry, "plan", where, reason, size) != 0)
        return -1;
    const char *plan_text = cJSON_GetObjectItemCaseSensitive(entry, "plan")->valuestring;
    if (plan_text[0] == '\0' || strlen(plan_text) >= TUNING_PLAN_MAX)
        return problem(reason, size, "%s.plan is empty or longer than %d bytes", where,
                       TUNING_PLAN_MAX - 1);
    const cJSON *default_plan = cJSON_GetObjectItemCaseSensitive(entry, "default_plan");
    if (default_plan != NULL && !cJSON_IsString(default_plan))
        return problem(reason, size, "%s.default_plan is not a string", where);
    if (optional_time(entry, "median_ms", where, reason, size) != 0 ||
        optional_time(entry, "default_ms", where, reason, size) != 0)
        return -1;
    const cJSON *complete = cJSON_GetObjectItemCaseSensitive(entry, "complete");
    if (complete != NULL && !cJSON_IsBool(complete))
        return problem(reason, size, "%s.complete is not true or false", where);
    return 0;
}

static int check_device(const cJSON *device, int index, char *reason, size_t size) {
    char where[96];
    snprintf(where, sizeof where, "devices[%d]", index);
    if (!cJSON_IsObject(device))
        return problem(reason, size, "%s is not an object", where);
    const cJSON *identity = cJSON_GetObjectItemCaseSensitive(device, "identity");
    if (!cJSON_IsObject(identity))
        return problem(reason, size, "%s.identity is missing or not an object", where);
    char identity_where[112];
    snprintf(identity_where, sizeof identity_where, "%s.identity", where);
    for (size_t k = 0; k < sizeof IDENTITY_KEYS / sizeof IDENTITY_KEYS[0]; ++k)
        if (need_string(identity, IDENTITY_KEYS[k], identity_where, reason, size) != 0)
            return -1;
    const cJSON *updated = cJSON_GetObjectItemCaseSensitive(device, "updated");
    if (updated != NULL && !cJSON_IsString(updated))
        return problem(reason, size, "%s.updated is not a string", where);
    const cJSON *classes = cJSON_GetObjectItemCaseSensitive(device, "classes");
    if (!cJSON_IsObject(classes))
        return problem(reason, size, "%s.classes is missing or not an object", where);
    const cJSON *entry;
    cJSON_ArrayForEach(entry, classes) {
        char entry_where[TUNING_CLASS_MAX + 160];
        snprintf(entry_where, sizeof entry_where, "%s.classes[\"%.*s\"]", where, TUNING_CLASS_MAX,
                 entry->string ? entry->string : "");
        if (check_class(entry, entry_where, reason, size) != 0)
            return -1;
    }
    return 0;
}

int clconvt_tuning_db_validate(const cJSON *root, char *reason, size_t size) {
    if (!cJSON_IsObject(root))
        return problem(reason, size, "it is not a JSON object");
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(root, "format");
    if (!cJSON_IsString(format) || strcmp(format->valuestring, TUNING_DB_FORMAT) != 0)
        return problem(reason, size, "it is not a clconvt tuning database (no \"format\": \"%s\")",
                       TUNING_DB_FORMAT);
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (!cJSON_IsNumber(version))
        return problem(reason, size, "\"version\" is missing or not a number");
    if (version->valuedouble != TUNING_DB_VERSION)
        return problem(reason, size, "it is version %g; this clconvt reads version %d",
                       version->valuedouble, TUNING_DB_VERSION);
    const cJSON *devices = cJSON_GetObjectItemCaseSensitive(root, "devices");
    if (!cJSON_IsArray(devices))
        return problem(reason, size, "\"devices\" is missing or not an array");
    int index = 0;
    const cJSON *device;
    cJSON_ArrayForEach(device, devices) {
        if (check_device(device, index++, reason, size) != 0)
            return -1;
    }
    return 0;
}

/* ---- Reading and writing ------------------------------------------------------------------- */

/* Line and column (from 1) of offset in text, for a parse error. */
static void line_column(const char *text, size_t offset, int *line, int *column) {
    *line = 1;
    *column = 1;
    for (size_t i = 0; i < offset; ++i) {
        if (text[i] == '\n') {
            ++*line;
            *column = 1;
        } else {
            ++*column;
        }
    }
}

int clconvt_tuning_db_read(const char *path, cJSON **root, char *reason, size_t size) {
    int rc = -1;
    char *text = NULL;
    cJSON *json = NULL;
    *root = NULL;
    struct stat st;
    char why[256];
    /* Never a blocking open: a FIFO named by CLCONVT_TUNING_DB would hang every layer creation. */
    FILE *file = clconvt_fopen_regular(path, &st, why, sizeof why);
    if (file == NULL) {
        rc = errno == ENOENT ? 1 : -1;
        problem(reason, size, "%s", rc == 1 ? "it does not exist" : why);
        goto cleanup;
    }
    if (st.st_size > TUNING_DB_MAX_BYTES) {
        problem(reason, size, "it is larger than %ld bytes", TUNING_DB_MAX_BYTES);
        goto cleanup;
    }
    size_t capacity = (size_t)st.st_size + 1, length = 0;
    if ((text = malloc(capacity + 1)) == NULL) {
        problem(reason, size, "out of host memory for %zu bytes", capacity + 1);
        goto cleanup;
    }
    /* Read to the end, in case the file grew since fstat; never past the limit. */
    for (;;) {
        length += fread(text + length, 1, capacity - length, file);
        if (ferror(file)) {
            problem(reason, size, "reading it failed: %s", strerror(errno));
            goto cleanup;
        }
        if (feof(file))
            break;
        if (capacity > (size_t)TUNING_DB_MAX_BYTES) {
            problem(reason, size, "it is larger than %ld bytes", TUNING_DB_MAX_BYTES);
            goto cleanup;
        }
        char *larger = realloc(text, 2 * capacity + 1);
        if (larger == NULL) {
            problem(reason, size, "out of host memory for %zu bytes", 2 * capacity + 1);
            goto cleanup;
        }
        text = larger;
        capacity *= 2;
    }
    text[length] = '\0';
    const char *end = NULL;
    json = cJSON_ParseWithLengthOpts(text, length, &end, 0);
    if (json == NULL) {
        int line, column;
        const size_t offset = end != NULL && end >= text ? (size_t)(end - text) : 0;
        line_column(text, offset < length ? offset : length, &line, &column);
        problem(reason, size, "it is not valid JSON (line %d, column %d)", line, column);
        goto cleanup;
    }
    if (clconvt_tuning_db_validate(json, reason, size) != 0)
        goto cleanup;
    *root = json;
    json = NULL;
    rc = 0;
cleanup:
    cJSON_Delete(json);
    free(text);
    if (file != NULL)
        fclose(file);
    return rc;
}

cJSON *clconvt_tuning_db_new(void) {
    cJSON *root = cJSON_CreateObject();
    if (root == NULL || cJSON_AddStringToObject(root, "format", TUNING_DB_FORMAT) == NULL ||
        cJSON_AddNumberToObject(root, "version", TUNING_DB_VERSION) == NULL ||
        cJSON_AddArrayToObject(root, "devices") == NULL) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

static const char *string_member(const cJSON *object, const char *key) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    return cJSON_IsString(item) ? item->valuestring : "";
}

/* 3: the same device and driver; 2: the same vendor, name and type; 1: the same vendor and
 * type; 0: another device. */
static int identity_rank(const cJSON *recorded, const tuning_identity *id) {
    if (strcmp(string_member(recorded, "vendor"), id->vendor) != 0 ||
        strcmp(string_member(recorded, "type"), id->type) != 0)
        return 0;
    if (strcmp(string_member(recorded, "name"), id->name) != 0)
        return 1;
    return strcmp(string_member(recorded, "driver"), id->driver) == 0 ? 3 : 2;
}

const cJSON *clconvt_tuning_db_find(const cJSON *root, const tuning_identity *identity,
                                    const char *shape_class, int *rank) {
    const cJSON *best = NULL, *device;
    int best_rank = 0;
    const char *best_updated = "";
    cJSON_ArrayForEach(device, cJSON_GetObjectItemCaseSensitive(root, "devices")) {
        const int r = identity_rank(cJSON_GetObjectItemCaseSensitive(device, "identity"), identity);
        const cJSON *entry = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(device, "classes"), shape_class);
        if (r == 0 || entry == NULL)
            continue;
        const char *updated = string_member(device, "updated");
        /* ISO 8601 UTC times compare as strings; on a tie the later entry of the file wins. */
        if (r > best_rank || (r == best_rank && strcmp(updated, best_updated) >= 0)) {
            best = entry;
            best_rank = r;
            best_updated = updated;
        }
    }
    if (rank != NULL)
        *rank = best_rank;
    return best;
}

cJSON *clconvt_tuning_db_device_entry(cJSON *root, const tuning_identity *identity, int create) {
    cJSON *devices = cJSON_GetObjectItemCaseSensitive(root, "devices"), *device;
    cJSON_ArrayForEach(device, devices) {
        if (identity_rank(cJSON_GetObjectItemCaseSensitive(device, "identity"), identity) == 3)
            return device;
    }
    if (!create)
        return NULL;
    device = cJSON_CreateObject();
    cJSON *id = device ? cJSON_AddObjectToObject(device, "identity") : NULL;
    if (id == NULL || cJSON_AddStringToObject(id, "vendor", identity->vendor) == NULL ||
        cJSON_AddStringToObject(id, "name", identity->name) == NULL ||
        cJSON_AddStringToObject(id, "driver", identity->driver) == NULL ||
        cJSON_AddStringToObject(id, "type", identity->type) == NULL ||
        cJSON_AddStringToObject(device, "platform", "") == NULL ||
        cJSON_AddStringToObject(device, "updated", "") == NULL ||
        cJSON_AddObjectToObject(device, "classes") == NULL ||
        !cJSON_AddItemToArray(devices, device)) {
        cJSON_Delete(device);
        return NULL;
    }
    return device;
}

int clconvt_tuning_db_write(const char *path, const cJSON *root, char *reason, size_t size) {
    char *text = cJSON_Print(root);
    if (text == NULL)
        return problem(reason, size, "out of host memory");
    /* Atomic for a file, in place for a device or FIFO, never over a read-only file. */
    clconvt_output out;
    int rc = clconvt_output_begin(&out, path, reason, size);
    if (rc == 0) {
        clconvt_output_write(&out, text, strlen(text));
        clconvt_output_write(&out, "\n", 1);
        rc = clconvt_output_commit(&out, reason, size);
    }
    cJSON_free(text);
    return rc;
}

/* ---- The planner's view: one read per file and process ------------------------------------- */

typedef struct db_file {
    struct db_file *next;
    char *path;
    cJSON *root;       /* NULL: missing, unreadable or invalid */
    atomic_int warned; /* the one warning for this file was given */
} db_file;

static pthread_mutex_t files_lock = PTHREAD_MUTEX_INITIALIZER;
static db_file *files; /* kept for the life of the process */
static atomic_int db_enabled = 1;

void clconvt_tuning_db_set_enabled(int enabled) {
    atomic_store(&db_enabled, enabled != 0);
}

int clconvt_tuning_db_path(char *path, size_t size) {
    const char *explicit_path = getenv("CLCONVT_TUNING_DB");
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n;
    if (explicit_path != NULL && strcmp(explicit_path, "off") == 0)
        return -1;
    if (explicit_path != NULL && explicit_path[0] != '\0')
        return (size_t)snprintf(path, size, "%s", explicit_path) < size ? 1 : -1;
    if (xdg != NULL && xdg[0] == '/') /* the XDG spec: a relative value is ignored */
        n = snprintf(path, size, "%s/clconvt/tuning.json", xdg);
    else if (home != NULL && home[0] != '\0')
        n = snprintf(path, size, "%s/.cache/clconvt/tuning.json", home);
    else
        return -1;
    return n >= 0 && (size_t)n < size ? 0 : -1;
}

/* The cached file for path, read (and warned about) on first use; NULL when out of memory.
 * Called with files_lock held. */
static db_file *file_for(const char *path, int explicit_path) {
    for (db_file *f = files; f != NULL; f = f->next)
        if (strcmp(f->path, path) == 0)
            return f;
    db_file *f = calloc(1, sizeof *f);
    if (f == NULL || (f->path = strdup(path)) == NULL) {
        free(f);
        return NULL;
    }
    atomic_init(&f->warned, 0);
    char reason[512];
    const int rc = clconvt_tuning_db_read(path, &f->root, reason, sizeof reason);
    /* A missing user cache file is the usual case; a missing CLCONVT_TUNING_DB is a mistake. */
    if (rc < 0 || (rc == 1 && explicit_path))
        clconvt_warn_once(&f->warned, "ignoring tuning database %s%s: %s", path,
                          explicit_path ? " (CLCONVT_TUNING_DB)" : "", reason);
    f->next = files;
    files = f;
    return f;
}

void clconvt_tuning_db_plan_failed(const clconvt_params *params, const char *plan_text,
                                   const char *reason) {
    static atomic_int warned;
    char path[4096], shape_class[TUNING_CLASS_MAX];
    if (clconvt_tuning_db_path(path, sizeof path) < 0)
        snprintf(path, sizeof path, "(unknown)");
    if (clconvt_tuning_shape_class(params, shape_class, sizeof shape_class) != 0)
        snprintf(shape_class, sizeof shape_class, "(unknown)");
    clconvt_warn_once(&warned,
                      "the plan %s of tuning database %s for class %s fails on this device: %s; "
                      "using the built-in plan instead (run clconvt-tune again to replace it)",
                      plan_text, path, shape_class, reason);
}

int clconvt_tuning_db_lookup(const tuning_identity *identity, const char *shape_class, char *plan,
                             size_t plan_size, char *path, size_t path_size) {
    if (plan_size > 0)
        plan[0] = '\0';
    if (!atomic_load(&db_enabled))
        return 0;
    const int explicit_path = clconvt_tuning_db_path(path, path_size);
    if (explicit_path < 0)
        return 0;
    pthread_mutex_lock(&files_lock);
    db_file *file = file_for(path, explicit_path);
    const cJSON *entry =
        file && file->root ? clconvt_tuning_db_find(file->root, identity, shape_class, NULL) : NULL;
    if (entry != NULL)
        snprintf(plan, plan_size, "%s", string_member(entry, "plan"));
    pthread_mutex_unlock(&files_lock);
    return plan_size > 0 && plan[0] != '\0';
}

void clconvt_tuning_db_ignore(const char *path, const char *shape_class, const char *reason) {
    pthread_mutex_lock(&files_lock);
    db_file *file = NULL;
    for (db_file *f = files; f != NULL && file == NULL; f = f->next)
        if (strcmp(f->path, path) == 0)
            file = f;
    pthread_mutex_unlock(&files_lock);
    static atomic_int warned_unknown; /* a path never read: no file to warn once for */
    clconvt_warn_once(file ? &file->warned : &warned_unknown,
                      "ignoring tuning database %s for class %s: %s", path, shape_class, reason);
}
