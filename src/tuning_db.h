/*
 * The tuning database: for each device identity and shape class, the plan string clconvt-tune
 * measured fastest. It stores and returns plan strings and knows nothing of plans: the chooser
 * (src/plan_choice.h) consults it between CLCONVT_PLAN and the built-in default, and parses what
 * it returns; clconvt-tune writes it. A JSON file (cJSON):
 *
 *   {"format": "clconvt-tuning", "version": 1, "devices": [
 *     {"identity": {"vendor": "...", "name": "...", "driver": "...", "type": "cpu"},
 *      "platform": "...", "updated": "2025-01-31T12:00:00Z",
 *      "classes": {"ncl/f32/s8/cin512/cout256/taps2/g1":
 *                    {"plan": "phase_pos:vec=16,p=32,c=12,lp=2,lc=8", "median_ms": 1.9,
 *                     "default_plan": "...", "default_ms": 2.4, ...}}}]}
 *
 * Which file: CLCONVT_TUNING_DB when set (that file only; "off": none), else the user cache file
 * ($XDG_CACHE_HOME/clconvt/tuning.json, else $HOME/.cache/clconvt/tuning.json). Within the file:
 * the entry of this exact device (vendor, name, driver, type), else one of the same vendor, name
 * and type, else one of the same vendor and type (the most recently updated first), else nothing.
 * A file that cannot be read or is not a valid database, and a plan the layer cannot use, cost one
 * warning on stderr per file and process, and the built-in default: never a failure.
 */
#ifndef CLCONVT_TUNING_DB_H
#define CLCONVT_TUNING_DB_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "clconvt.h"
#include "device.h"

#define TUNING_DB_FORMAT "clconvt-tuning"
#define TUNING_DB_VERSION 1
#define TUNING_CLASS_MAX 96 /* bytes of a shape class, NUL included */
#define TUNING_PLAN_MAX 256 /* bytes of a plan string, NUL included */
#define TUNING_DB_MAX_BYTES (64L << 20)

/* Who a device is, as the database records it. The strings are borrowed. */
typedef struct tuning_identity {
    const char *vendor, *name, *driver, *type;
} tuning_identity;

/*
 * The shape class of a layer: what matters to the choice of kernel, never a length or a batch.
 * "LAYOUT/DTYPE/sSTRIDE/cinA/coutB/tapsT/G": A and B are Cin/groups and Cout/groups, T the taps
 * of one stride phase (ceil(K / (stride / gcd(stride, dilation)))), each rounded down to a power
 * of two (1, 2-3, 4-7, ... share a class); G is "dw" for depthwise layers (groups > 1 with one
 * input and one output channel per group), else "g" and the groups rounded the same way, e.g.
 * "ncl/f32/s8/cin512/cout256/taps2/g1". Returns 0, or -1 when text[size] is too small (then text
 * holds "" when size > 0).
 */
int clconvt_tuning_shape_class(const clconvt_params *params, char *text, size_t size);

/* "cpu", "gpu", "accelerator", "custom" or "other", from a CL_DEVICE_TYPE. */
const char *clconvt_tuning_device_type_name(cl_device_type type);

/* The identity of an open device (borrowing its strings). */
void clconvt_tuning_identity_of(const clconvt_device *device, tuning_identity *identity);

/*
 * The plan string the database holds for this device identity and shape class: 1 with it in
 * plan[plan_size] and the database file in path[path_size], else 0 (no database, none for this
 * class, the database turned off), after the warning described above when the file was wrong.
 * Thread-safe; each file is read and checked once per process.
 */
int clconvt_tuning_db_lookup(const tuning_identity *identity, const char *shape_class, char *plan,
                             size_t plan_size, char *path, size_t path_size);

/* Say on stderr, once per file and process, that the plan string of database path for shape_class
 * cannot be used for reason (the planner refused it). */
void clconvt_tuning_db_ignore(const char *path, const char *shape_class, const char *reason);

/* Say on stderr, once per process, that the database's plan_text for this layer failed on its
 * device for reason (the layer then takes the built-in plan): re-running clconvt-tune fixes it. */
void clconvt_tuning_db_plan_failed(const clconvt_params *params, const char *plan_text,
                                   const char *reason);

/* Turn the database off (0) or on (1, the start state) for this process: clconvt-tune measures
 * the built-in default with it off. */
void clconvt_tuning_db_set_enabled(int enabled);

/* The file clconvt_tuning_db_lookup reads now, into path[size]: 1 when CLCONVT_TUNING_DB names it,
 * 0 for the user cache file, -1 when there is none (CLCONVT_TUNING_DB=off, no HOME) or it does not
 * fit. */
int clconvt_tuning_db_path(char *path, size_t size);

/* ---- Files (the library and clconvt-tune) -----------------------------------------------------
 */

/*
 * Read and check a database. Returns 0 with *root owned by the caller, 1 when the file does not
 * exist (*root NULL, reason says so), -1 when it cannot be read or is not a valid database
 * (*root NULL, reason says why in a few words, e.g. "version is 2; this clconvt reads version 1").
 */
int clconvt_tuning_db_read(const char *path, cJSON **root, char *reason, size_t size);

/* Check a parsed database: 0, or -1 with the first problem in reason. */
int clconvt_tuning_db_validate(const cJSON *root, char *reason, size_t size);

/* A new, empty database (NULL when out of memory). */
cJSON *clconvt_tuning_db_new(void);

/*
 * The class entry of the best matching device for a shape class (see above for the order), or
 * NULL. *rank, when not NULL, gets 3 for the exact device, 2 for the same vendor, name and type,
 * 1 for the same vendor and type. root must have passed clconvt_tuning_db_validate.
 */
const cJSON *clconvt_tuning_db_find(const cJSON *root, const tuning_identity *identity,
                                    const char *shape_class, int *rank);

/* The entry of exactly this device; with create, a new one is added when there is none (NULL
 * only when out of memory). */
cJSON *clconvt_tuning_db_device_entry(cJSON *root, const tuning_identity *identity, int create);

/* Write a database atomically: a temporary file beside path, flushed, then renamed over it (a
 * device or FIFO is written in place, a read-only file refused: src/file_output.h). Returns 0, or
 * -1 with reason (nothing is left behind). */
int clconvt_tuning_db_write(const char *path, const cJSON *root, char *reason, size_t size);

#endif
