/* clconvt-tune's use of the tuning database (database.h). */
#include "database.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "file_output.h"

int tune_db_probe(const char *path) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISFIFO(st.st_mode))
        return 0; /* opening it now would end its reader's input; it is written at the end */
    clconvt_output out;
    char why[512];
    if (clconvt_output_begin(&out, path, why, sizeof why) != 0) {
        fprintf(stderr, TUNE_PROGRAM ": cannot write %s: %s\n", path, why);
        return -1;
    }
    clconvt_output_abort(&out);
    return 0;
}

int tune_db_has(const char *path, const clconvt_device *device, const char *shape_class) {
    clconvt_experimental_tuning_entry entry;
    int found = 0;
    if (clconvt_experimental_tuning_db_get(path, device, shape_class, &entry, &found) !=
        CLCONVT_SUCCESS) {
        fprintf(stderr,
                TUNE_PROGRAM ": cannot resume from %s: %s; move it away or choose another "
                             "--output\n",
                path, clconvt_last_error());
        return -1;
    }
    return found;
}

int tune_db_save(const char *path, const clconvt_device *device, const tune_row *row,
                 const tune_outcome *o) {
    clconvt_experimental_tuning_entry e = {
        .median_ms = o->median_ms,
        .default_ms = o->default_ms,
        .max_error = o->error,
        .batch = row->shape.batch,
        .length_in = row->shape.length_in,
        .tried = o->tried,
        .candidates = o->candidates,
        .complete = o->complete,
    };
    snprintf(e.plan, sizeof e.plan, "%s", o->plan);
    snprintf(e.default_plan, sizeof e.default_plan, "%s", o->default_plan);
    snprintf(e.shape, sizeof e.shape, "%s", row->shape.name);
    if (clconvt_experimental_tuning_db_put(path, device, row->shape_class, &e) != CLCONVT_SUCCESS) {
        fprintf(stderr, TUNE_PROGRAM ": not writing %s: %s\n", path, clconvt_last_error());
        return -1;
    }
    return 0;
}

void tune_db_print_table(const char *path, const clconvt_device *device, const tune_row *rows,
                         size_t count) {
    printf("%-22s %-40s %10s %10s %8s  %s\n", "row", "class", "default", "tuned", "speedup",
           "plan (measured on)");
    for (size_t i = 0; i < count; ++i) {
        const char *name = rows[i].shape.name, *klass = rows[i].shape_class;
        clconvt_experimental_tuning_entry e;
        int found = 0;
        if (clconvt_experimental_tuning_db_get(path, device, klass, &e, &found) !=
                CLCONVT_SUCCESS ||
            !found) {
            printf("%-22s %-40s %10s %10s %8s  (not tuned)\n", name, klass, "-", "-", "-");
            continue;
        }
        char dt[32] = "-", mt[32] = "-", sp[32] = "-";
        if (e.default_ms >= 0)
            snprintf(dt, sizeof dt, "%.3f ms", e.default_ms);
        if (e.median_ms >= 0)
            snprintf(mt, sizeof mt, "%.3f ms", e.median_ms);
        if (e.default_ms > 0 && e.median_ms > 0)
            snprintf(sp, sizeof sp, "%.2fx", e.default_ms / e.median_ms);
        printf("%-22s %-40s %10s %10s %8s  %s (%s)\n", name, klass, dt, mt, sp,
               e.plan[0] ? e.plan : "?", e.shape[0] ? e.shape : "?");
    }
}
