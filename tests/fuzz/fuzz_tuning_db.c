/*
 * Fuzz target: the tuning database (src/tuning_db.c). The input is the database file.
 *
 * Properties checked besides "no crash, no sanitizer report":
 * - clconvt_tuning_db_read either accepts the file (and then clconvt_tuning_db_validate accepts
 * what it returns) or refuses it with a reason and nothing to free;
 * - clconvt_tuning_db_find, for the identities and shape classes the file itself names and for a
 * few layers' own classes, returns NULL or a class entry whose "plan" is a non-empty string shorter
 *   than TUNING_PLAN_MAX, with a rank of 1 to 3; clconvt_plan_parse (as the chooser
 * (src/plan_choice.c) calls it) accepts such a plan or refuses it with a message, and an accepted
 * plan formats back to itself;
 * - adding this device's entry (clconvt_tuning_db_device_entry) keeps the database valid, and
 *   clconvt_tuning_db_write + clconvt_tuning_db_read give back a valid database with the same
 * entries;
 * - clconvt_tuning_shape_class fits TUNING_CLASS_MAX for every layer clconvt_layer_create accepts.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "plan_choice.h"
#include "tuning_db.h"

/* Layers whose classes and plans are looked up: NCL, NLC, depthwise. */
static void layer(int which, clconvt_params *p) {
    switch (which) {
    case 0:
        clconvt_params_init(p, 512, 256, 16);
        p->stride = 8;
        p->layout = CLCONVT_LAYOUT_NCL;
        break;
    case 1: clconvt_params_init(p, 64, 32, 4); break;
    default:
        clconvt_params_init(p, 32, 32, 7);
        p->groups = 32;
        break;
    }
}

static void check_entry(const cJSON *entry, int rank, const clconvt_params *params,
                        const clconvt_device *device) {
    if (entry == NULL) {
        FUZZ_CHECK(rank == 0, "no entry but rank %d", rank);
        return;
    }
    FUZZ_CHECK(rank >= 1 && rank <= 3, "rank %d", rank);
    const cJSON *plan_item = cJSON_GetObjectItemCaseSensitive(entry, "plan");
    FUZZ_CHECK(cJSON_IsString(plan_item), "an entry without a plan string");
    const char *text = plan_item->valuestring;
    FUZZ_CHECK(text[0] != '\0' && strlen(text) < TUNING_PLAN_MAX, "plan of %zu bytes",
               strlen(text));
    plan p;
    const clconvt_status st = clconvt_plan_parse_for_device(device, params, "its plan", text, &p);
    if (st != CLCONVT_SUCCESS) {
        FUZZ_CHECK(clconvt_last_error()[0] != '\0', "plan refused without a message");
        return;
    }
    char again[TUNING_PLAN_MAX + 64];
    clconvt_plan_format(&p, again, sizeof again);
    plan q;
    FUZZ_CHECK(clconvt_plan_parse_for_device(device, params, "its plan", again, &q) ==
                       CLCONVT_SUCCESS &&
                   clconvt_plan_equal(&p, &q),
               "plan \"%s\" formats as \"%s\", which does not parse back to it", text, again);
}

/* Everything the database offers for an identity: the file's own class names and the layers'. */
static void look_up(const cJSON *root, const tuning_identity *id, const clconvt_device *device) {
    const cJSON *dev;
    cJSON_ArrayForEach(dev, cJSON_GetObjectItemCaseSensitive(root, "devices")) {
        const cJSON *entry;
        cJSON_ArrayForEach(entry, cJSON_GetObjectItemCaseSensitive(dev, "classes")) {
            int rank = -1;
            const cJSON *found = clconvt_tuning_db_find(root, id, entry->string, &rank);
            clconvt_params params;
            layer((int)(strlen(entry->string) % 3), &params);
            check_entry(found, rank, &params, device);
        }
    }
    for (int which = 0; which < 3; ++which) {
        clconvt_params params;
        layer(which, &params);
        char shape_class[TUNING_CLASS_MAX];
        FUZZ_CHECK(clconvt_tuning_shape_class(&params, shape_class, sizeof shape_class) == 0,
                   "no class for layer %d", which);
        int rank = -1;
        const cJSON *found = clconvt_tuning_db_find(root, id, shape_class, &rank);
        check_entry(found, rank, &params, device);
    }
}

static const char *string_or(const cJSON *object, const char *key, const char *fallback) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    return cJSON_IsString(item) ? item->valuestring : fallback;
}

static void round_trip(cJSON *root) {
    static char path[8192];
    if (path[0] == '\0')
        snprintf(path, sizeof path, "%s/tuning.json", fuzz_temp_dir());
    char reason[512] = "";
    FUZZ_CHECK(clconvt_tuning_db_write(path, root, reason, sizeof reason) == 0, "write: %s",
               reason);
    cJSON *again = NULL;
    FUZZ_CHECK(clconvt_tuning_db_read(path, &again, reason, sizeof reason) == 0,
               "what clconvt_tuning_db_write wrote does not read back: %s", reason);
    /* As text, not cJSON_Compare: that looks members up by name, so an object with a key given
     * twice (which cJSON keeps, and the reader accepts: the first one counts) never compares
     * equal, not even to itself. */
    char *before = cJSON_PrintUnformatted(root), *after = cJSON_PrintUnformatted(again);
    FUZZ_CHECK(before != NULL && after != NULL, "out of memory");
    FUZZ_CHECK(strcmp(before, after) == 0,
               "the database changed in a write and read:\n%.400s\n%.400s", before, after);
    cJSON_free(before);
    cJSON_free(after);
    cJSON_Delete(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_memfile(data, size);
    cJSON *root = (cJSON *)1;
    char reason[512];
    memset(reason, 0, sizeof reason);
    const int rc = clconvt_tuning_db_read(path, &root, reason, sizeof reason);
    if (rc != 0) {
        FUZZ_CHECK(rc == -1, "an existing file read as %d", rc);
        FUZZ_CHECK(root == NULL, "a refused file left a tree");
        FUZZ_CHECK(reason[0] != '\0', "a refused file without a reason");
        return 0;
    }
    FUZZ_CHECK(root != NULL, "an accepted file without a tree");
    FUZZ_CHECK(clconvt_tuning_db_validate(root, reason, sizeof reason) == 0,
               "clconvt_tuning_db_read returned what clconvt_tuning_db_validate refuses: %s",
               reason);

    clconvt_device device;
    memset(&device, 0, sizeof device);
    device.type = CL_DEVICE_TYPE_CPU;
    device.max_work_group_size = 4096;

    /* The identities the file names (exactly, and with another driver or name), and a stranger. */
    const cJSON *dev;
    int looked = 0;
    cJSON_ArrayForEach(dev, cJSON_GetObjectItemCaseSensitive(root, "devices")) {
        const cJSON *identity = cJSON_GetObjectItemCaseSensitive(dev, "identity");
        tuning_identity id = {string_or(identity, "vendor", ""), string_or(identity, "name", ""),
                              string_or(identity, "driver", ""), string_or(identity, "type", "")};
        look_up(root, &id, &device);
        id.driver = "another driver";
        look_up(root, &id, &device);
        id.name = "another device";
        look_up(root, &id, &device);
        if (++looked == 4)
            break;
    }
    const tuning_identity stranger = {"nobody", "nothing", "0", "cpu"};
    look_up(root, &stranger, &device);

    /* A new device entry keeps the database valid, and it survives a write and a read. */
    if (clconvt_tuning_db_device_entry(root, &stranger, 1) != NULL)
        FUZZ_CHECK(clconvt_tuning_db_validate(root, reason, sizeof reason) == 0,
                   "adding a device entry made the database invalid: %s", reason);
    round_trip(root);
    cJSON_Delete(root);
    return 0;
}
