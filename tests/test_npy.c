/*
 * The .npy reader and writer (tools/npy.c): round trips of every type and rank, hand-made files
 * of every header version, every refusal the reader promises, and the writer's atomicity.
 * Files are built byte by byte here so the reader is not only checked against its own writer.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tmpdir.h"
#include "npy.h"

/* ---- Fixture: a fresh temporary directory per test (Criterion runs each in its own process) */

static char tmp_dir[256];

static void make_tmp_dir(void) {
    test_tmpdir_make(tmp_dir, sizeof tmp_dir, "npy");
}

static void remove_tmp_dir(void) {
    test_tmpdir_remove(tmp_dir);
}

TestSuite(npy, .init = make_tmp_dir, .fini = remove_tmp_dir);

/* ---- Helpers ------------------------------------------------------------------------------- */

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            ++n;
    closedir(d);
    return n;
}

static void write_bytes(const char *path, const void *bytes, size_t size) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(bytes, 1, size, f), size);
    cr_assert_eq(fclose(f), 0);
}

/* Reads a whole file into a malloc'ed buffer. */
static unsigned char *read_bytes(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

/*
 * Writes a .npy file of the given version with header text dict (not padded: the reader must not
 * need numpy's padding) followed by data_size bytes of a counting pattern.
 */
static void write_npy_raw(const char *path, int major, const char *dict, size_t data_size) {
    const size_t dict_len = strlen(dict);
    const size_t len_bytes = major == 1 ? 2 : 4;
    const size_t total = 8 + len_bytes + dict_len + data_size;
    unsigned char *buf = malloc(total);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    for (size_t i = 0; i < len_bytes; ++i)
        buf[8 + i] = (unsigned char)(dict_len >> (8 * i));
    memcpy(buf + 8 + len_bytes, dict, dict_len);
    for (size_t i = 0; i < data_size; ++i)
        buf[8 + len_bytes + dict_len + i] = (unsigned char)i;
    write_bytes(path, buf, total);
    free(buf);
}

/* Asserts that reading path fails, leaves nothing to free, and names the file and the fault. */
static void expect_refusal(const char *path, const char *fragment) {
    npy_array a;
    memset(&a, 0xab, sizeof a);
    char err[512] = "";
    cr_assert_eq(npy_read(path, &a, err, sizeof err), -1, "%s was accepted", path);
    cr_assert_null(a.data, "a failed read left data behind");
    cr_assert_eq(a.count, 0);
    cr_assert_not_null(strstr(err, path), "message does not name the file: %s", err);
    cr_assert_not_null(strstr(err, fragment), "message lacks \"%s\": %s", fragment, err);
    npy_free(&a);
}

/* ---- Round trips --------------------------------------------------------------------------- */

static void round_trip(npy_type type, int ndim, const int64_t *shape) {
    size_t count = 1;
    for (int i = 0; i < ndim; ++i)
        count *= (size_t)shape[i];
    const size_t bytes = count * npy_type_size(type);
    unsigned char *data = malloc(bytes + 1);
    for (size_t i = 0; i < bytes; ++i)
        data[i] = (unsigned char)(i * 37 + 11);
    const char *path = test_tmp_path("rt.npy");
    char err[512] = "";
    cr_assert_eq(npy_write(path, type, ndim, shape, data, err, sizeof err), 0, "%s", err);

    /* numpy's layout: v1.0, data aligned to 64 bytes, header ending in '\n'. */
    size_t file_size = 0;
    unsigned char *file = read_bytes(path, &file_size);
    cr_assert_eq(memcmp(file, "\x93NUMPY\x01\x00", 8), 0);
    const size_t offset = 10 + (size_t)(file[8] | file[9] << 8);
    cr_assert_eq(offset % 64, 0, "data starts at %zu", offset);
    cr_assert_eq(file[offset - 1], '\n');
    cr_assert_eq(file_size, offset + bytes);
    cr_assert_eq(memcmp(file + offset, data, bytes), 0);
    free(file);

    npy_array a;
    cr_assert_eq(npy_read(path, &a, err, sizeof err), 0, "%s", err);
    cr_assert_eq(a.type, type);
    cr_assert_eq(a.ndim, ndim);
    for (int i = 0; i < ndim; ++i)
        cr_assert_eq(a.shape[i], shape[i], "dim %d", i);
    cr_assert_eq(a.count, count);
    cr_assert_not_null(a.data);
    cr_assert_eq(memcmp(a.data, data, bytes), 0);
    npy_free(&a);
    cr_assert_null(a.data);
    free(data);
    cr_assert_eq(count_entries(tmp_dir), 1, "temporary files were left behind");
}

Test(npy, round_trip_every_type_and_rank) {
    static const npy_type types[] = {NPY_F32, NPY_F64, NPY_F16, NPY_U16};
    static const int64_t shapes[][NPY_MAX_DIMS] = {
        {0}, {5}, {3, 4}, {2, 3, 7}, {1, 2, 1, 3, 1, 2, 1, 2}, {0, 3}, {4, 0, 2},
    };
    static const int ndims[] = {0, 1, 2, 3, 8, 2, 3};
    for (size_t t = 0; t < 4; ++t)
        for (size_t s = 0; s < sizeof ndims / sizeof ndims[0]; ++s)
            round_trip(types[t], ndims[s], shapes[s]);
}

Test(npy, header_text_is_what_numpy_writes) {
    const int64_t shape[2] = {3, 4};
    float data[12] = {0};
    const char *path = test_tmp_path("h.npy");
    char err[256];
    cr_assert_eq(npy_write(path, NPY_F32, 2, shape, data, err, sizeof err), 0, "%s", err);
    size_t size = 0;
    unsigned char *file = read_bytes(path, &size);
    const char expected[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }";
    cr_assert_eq(memcmp(file + 10, expected, strlen(expected)), 0);
    for (size_t i = 10 + strlen(expected); i < 63; ++i)
        cr_assert_eq(file[i], ' ', "byte %zu is not padding", i);
    free(file);
}

Test(npy, one_dimensional_shape_has_trailing_comma) {
    const int64_t shape[1] = {5};
    double data[5] = {0};
    const char *path = test_tmp_path("v.npy");
    char err[256];
    cr_assert_eq(npy_write(path, NPY_F64, 1, shape, data, err, sizeof err), 0, "%s", err);
    size_t size = 0;
    unsigned char *file = read_bytes(path, &size);
    cr_assert_not_null(strstr((const char *)file + 10, "'shape': (5,), }"));
    free(file);
}

/* ---- Hand-made headers --------------------------------------------------------------------- */

static void expect_shape(const char *path, npy_type type, int ndim, const int64_t *shape) {
    npy_array a;
    char err[512] = "";
    cr_assert_eq(npy_read(path, &a, err, sizeof err), 0, "%s", err);
    cr_assert_eq(a.type, type);
    cr_assert_eq(a.ndim, ndim);
    for (int i = 0; i < ndim; ++i)
        cr_assert_eq(a.shape[i], shape[i]);
    /* The data is the counting pattern write_npy_raw put there. */
    const unsigned char *d = a.data;
    for (size_t i = 0; i < a.count * npy_type_size(type); ++i)
        cr_assert_eq(d[i], (unsigned char)i);
    npy_free(&a);
}

Test(npy, version_1_any_key_order_and_whitespace) {
    const char *path = test_tmp_path("a.npy");
    const int64_t shape[2] = {2, 3};
    write_npy_raw(path, 1, "{ \"shape\" :(2 ,3 ) ,'descr':'<f4',\t'fortran_order' : False }  \n",
                  24);
    expect_shape(path, NPY_F32, 2, shape);
}

Test(npy, version_2_header) {
    const char *path = test_tmp_path("b.npy");
    const int64_t shape[1] = {3};
    write_npy_raw(path, 2, "{'descr': '<f2', 'fortran_order': False, 'shape': (3,), }\n", 6);
    expect_shape(path, NPY_F16, 1, shape);
}

Test(npy, version_3_header) {
    const char *path = test_tmp_path("c.npy");
    const int64_t shape[3] = {1, 2, 2};
    write_npy_raw(path, 3, "{'fortran_order': False, 'shape': (1, 2, 2), 'descr': '<u2'}", 8);
    expect_shape(path, NPY_U16, 3, shape);
}

Test(npy, scalar_and_python2_long_dims) {
    const char *path = test_tmp_path("d.npy");
    write_npy_raw(path, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", 8);
    expect_shape(path, NPY_F64, 0, NULL);
    const int64_t shape[2] = {2, 1};
    write_npy_raw(path, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 1L), }", 16);
    expect_shape(path, NPY_F64, 2, shape);
}

/* ---- Refusals ------------------------------------------------------------------------------ */

#define GOOD_KEYS "'fortran_order': False, 'shape': (3, 4)"

Test(npy, refuses_bad_magic) {
    const char *path = test_tmp_path("m.npy");
    write_bytes(path, "\x93NUMPX\x01\x00\x10\x00{}              ", 26);
    expect_refusal(path, "magic");
    write_bytes(path, "PK\x03\x04", 4);
    expect_refusal(path, "magic");
    write_bytes(path, "", 0);
    expect_refusal(path, "magic");
}

Test(npy, refuses_unknown_version) {
    const char *path = test_tmp_path("v.npy");
    write_npy_raw(path, 4, "{'descr': '<f4', " GOOD_KEYS "}", 48);
    expect_refusal(path, "version 4.0");
}

Test(npy, refuses_truncated_preamble_and_header) {
    const char *path = test_tmp_path("t.npy");
    write_bytes(path, "\x93NUMPY\x01\x00\x40", 9);
    expect_refusal(path, "preamble");
    write_bytes(path, "\x93NUMPY\x02\x00\x40\x00", 10);
    expect_refusal(path, "preamble");
    /* Header length says 0x40 bytes; only 10 follow. */
    write_bytes(path, "\x93NUMPY\x01\x00\x40\x00{'descr':", 19);
    expect_refusal(path, "past the end of the file");
}

Test(npy, refuses_header_length_beyond_file_size_v2) {
    const char *path = test_tmp_path("l.npy");
    write_bytes(path, "\x93NUMPY\x02\x00\xff\xff\xff\xff{}", 14);
    expect_refusal(path, "past the end of the file");
}

Test(npy, refuses_bad_dictionaries) {
    const char *path = test_tmp_path("d.npy");
    static const struct {
        const char *dict;
        const char *fragment;
    } cases[] = {
        {"'descr': '<f4', " GOOD_KEYS "}", "'{'"},
        {"{'descr': '<f4', " GOOD_KEYS, "',' or '}'"},
        {"{'descr': '<f4' " GOOD_KEYS "}", "',' or '}'"},
        {"{'descr' '<f4', " GOOD_KEYS "}", "':'"},
        {"{'descr': <f4, " GOOD_KEYS "}", "quoted string"},
        {"{'descr': '<f4}", "closing quote"},
        {"{descr: '<f4', " GOOD_KEYS "}", "quoted string"},
        {"{" GOOD_KEYS "}", "missing key 'descr'"},
        {"{'descr': '<f4', 'shape': (3, 4)}", "missing key 'fortran_order'"},
        {"{'descr': '<f4', 'fortran_order': False}", "missing key 'shape'"},
        {"{'descr': '<f4', 'extra': 1, " GOOD_KEYS "}", "unexpected key 'extra'"},
        {"{'descr': '<f4', 'descr': '<f4', " GOOD_KEYS "}", "appears twice"},
        {"{'descr': '<f4', 'fortran_order': false, 'shape': (3, 4)}", "True or False"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': [3, 4]}", "'('"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3 4)}", "',' or ')'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3, x)}", "dimension"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } x", "padding"},
        {"{'descr': '<f4', " GOOD_KEYS "}}", "padding"},
        {"", "'{'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        write_npy_raw(path, 1, cases[i].dict, 48);
        expect_refusal(path, cases[i].fragment);
    }
}

Test(npy, refuses_nul_in_header) {
    const char *path = test_tmp_path("z.npy");
    write_bytes(path, "\x93NUMPY\x01\x00\x03\x00{\0}", 13);
    expect_refusal(path, "NUL");
}

Test(npy, refuses_fortran_order) {
    const char *path = test_tmp_path("f.npy");
    write_npy_raw(path, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (3, 4), }", 48);
    expect_refusal(path, "Fortran");
}

Test(npy, refuses_big_endian) {
    const char *path = test_tmp_path("be.npy");
    write_npy_raw(path, 1, "{'descr': '>f4', " GOOD_KEYS "}", 48);
    expect_refusal(path, "big-endian");
}

Test(npy, refuses_unknown_descr) {
    const char *path = test_tmp_path("u.npy");
    static const char *const descrs[] = {"<i4", "<f16", "|u1", "f4", "<c8", "|b1"};
    for (size_t i = 0; i < sizeof descrs / sizeof descrs[0]; ++i) {
        char dict[128];
        snprintf(dict, sizeof dict, "{'descr': '%s', " GOOD_KEYS "}", descrs[i]);
        write_npy_raw(path, 1, dict, 48);
        expect_refusal(path, "unsupported data type");
    }
}

Test(npy, refuses_data_shorter_than_shape) {
    const char *path = test_tmp_path("x.npy");
    write_npy_raw(path, 1, "{'descr': '<f4', " GOOD_KEYS "}", 40);
    char expected[600];
    snprintf(expected, sizeof expected,
             "%s: header says shape (3, 4) with '<f4' = 48 bytes, but the file holds 40 bytes "
             "of data",
             path);
    npy_array a;
    char err[600] = "";
    cr_assert_eq(npy_read(path, &a, err, sizeof err), -1);
    cr_assert_str_eq(err, expected);
}

Test(npy, refuses_data_longer_than_shape) {
    const char *path = test_tmp_path("y.npy");
    write_npy_raw(path, 1, "{'descr': '<f4', " GOOD_KEYS "}", 49);
    expect_refusal(path, "holds 49 bytes of data");
    write_npy_raw(path, 1, "{'descr': '<f2', 'fortran_order': False, 'shape': (0,)}", 2);
    expect_refusal(path, "holds 2 bytes of data");
}

Test(npy, refuses_negative_and_absurd_dims) {
    const char *path = test_tmp_path("n.npy");
    write_npy_raw(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, -4)}", 48);
    expect_refusal(path, "negative");
    write_npy_raw(path, 1,
                  "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", 4);
    expect_refusal(path, "absurd");
    write_npy_raw(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1)}",
                  4);
    expect_refusal(path, "more than 8 dimensions");
}

Test(npy, refuses_shape_whose_size_overflows) {
    const char *path = test_tmp_path("o.npy");
    /* Each dimension is plausible; their product times 4 bytes is not addressable. */
    write_npy_raw(path, 1,
                  "{'descr': '<f4', 'fortran_order': False, "
                  "'shape': (4294967296, 4294967296, 2)}",
                  16);
    expect_refusal(path, "too large");
    write_npy_raw(path, 1,
                  "{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952,)}", 16);
    expect_refusal(path, "");
}

Test(npy, refuses_missing_file_and_directory) {
    expect_refusal(test_tmp_path("absent.npy"), "cannot open");
    expect_refusal(tmp_dir, "");
}

/* ---- Conversion ---------------------------------------------------------------------------- */

Test(npy, to_double_decodes_every_type_exactly) {
    const float f32[3] = {1.5f, -0.1f, 3.0e38f};
    const double f64[2] = {-1e300, 0.25};
    /* f16: 1, -2, 65504 (max), 2^-24 (smallest subnormal), -0, 0.333251953125 */
    const uint16_t f16[6] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000, 0x3555};
    const double f16_expected[6] = {1.0, -2.0, 65504.0, 0x1p-24, -0.0, 0.333251953125};
    /* bf16: 1, -3, 3.140625, 2^-133 (subnormal), largest finite */
    const uint16_t bf16[5] = {0x3f80, 0xc040, 0x4049, 0x0001, 0x7f7f};
    const double bf16_expected[5] = {1.0, -3.0, 3.140625, 0x1p-133, 0x1.fep127};
    double out[6];
    npy_array a = {.type = NPY_F32, .ndim = 1, .count = 3, .data = (void *)f32};
    npy_to_double(&a, out);
    for (int i = 0; i < 3; ++i)
        cr_assert_eq(out[i], (double)f32[i]);
    a = (npy_array){.type = NPY_F64, .ndim = 1, .count = 2, .data = (void *)f64};
    npy_to_double(&a, out);
    cr_assert_eq(out[0], f64[0]);
    cr_assert_eq(out[1], f64[1]);
    a = (npy_array){.type = NPY_F16, .ndim = 1, .count = 6, .data = (void *)f16};
    npy_to_double(&a, out);
    for (int i = 0; i < 6; ++i)
        cr_assert_eq(out[i], f16_expected[i], "f16 %d: %a", i, out[i]);
    cr_assert(signbit(out[4]), "f16 -0 lost its sign");
    a = (npy_array){.type = NPY_U16, .ndim = 1, .count = 5, .data = (void *)bf16};
    npy_to_double(&a, out);
    for (int i = 0; i < 5; ++i)
        cr_assert_eq(out[i], bf16_expected[i], "bf16 %d: %a", i, out[i]);
}

Test(npy, to_double_handles_more_than_one_chunk) {
    /* Longer than any plausible internal chunk, so chunk boundaries are crossed. */
    enum { N = 1000 };
    uint16_t bits[N];
    double out[N];
    for (int i = 0; i < N; ++i)
        bits[i] = (uint16_t)(0x3c00 + i); /* f16 values 1 + i/1024 for i < 1024 */
    npy_array a = {.type = NPY_F16, .ndim = 1, .count = N, .data = bits};
    npy_to_double(&a, out);
    for (int i = 0; i < N; ++i)
        cr_assert_eq(out[i], 1.0 + i / 1024.0, "element %d", i);
}

Test(npy, free_is_safe_on_zeroed_struct) {
    npy_array a;
    memset(&a, 0, sizeof a);
    npy_free(&a);
    npy_free(NULL);
}

/* ---- Atomic writing ------------------------------------------------------------------------ */

static const int64_t small_shape[2] = {2, 3};
static const float small_data[6] = {1, 2, 3, 4, 5, 6};

Test(npy, write_into_missing_directory_fails_cleanly) {
    char path[512];
    snprintf(path, sizeof path, "%s/no/such/dir/out.npy", tmp_dir);
    char err[512] = "";
    cr_assert_eq(npy_write(path, NPY_F32, 2, small_shape, small_data, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, path), "%s", err);
    cr_assert_eq(count_entries(tmp_dir), 0);
}

Test(npy, overwrite_replaces_whole_file_and_leaves_no_temporaries) {
    const char *path = test_tmp_path("out.npy");
    /* A longer old file: a non-atomic writer that forgot O_TRUNC would leave its tail. */
    static char junk[4096];
    memset(junk, 'J', sizeof junk);
    write_bytes(path, junk, sizeof junk);
    char err[512] = "";
    cr_assert_eq(npy_write(path, NPY_F32, 2, small_shape, small_data, err, sizeof err), 0, "%s",
                 err);
    npy_array a;
    cr_assert_eq(npy_read(path, &a, err, sizeof err), 0, "%s", err);
    cr_assert_eq(memcmp(a.data, small_data, sizeof small_data), 0);
    npy_free(&a);
    cr_assert_eq(count_entries(tmp_dir), 1);
}

/* Asserts path still holds exactly the junk it was given. */
static void expect_unchanged(const char *path, const char *junk, size_t size) {
    size_t now = 0;
    unsigned char *bytes = read_bytes(path, &now);
    cr_assert_eq(now, size, "existing file changed size");
    cr_assert_eq(memcmp(bytes, junk, size), 0, "existing file was modified");
    free(bytes);
}

Test(npy, failed_write_leaves_existing_file_untouched) {
    const char *path = test_tmp_path("keep.npy");
    const char junk[] = "precious";
    write_bytes(path, junk, sizeof junk);
    char err[512] = "";
    /* Exceeding the file-size limit makes the data write itself fail, midway. */
    signal(SIGXFSZ, SIG_IGN);
    const struct rlimit limit = {.rlim_cur = 1000, .rlim_max = RLIM_INFINITY};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &limit), 0);
    static float big[4096];
    const int64_t shape[1] = {4096};
    cr_assert_eq(npy_write(path, NPY_F32, 1, shape, big, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "write failed"), "%s", err);
    expect_unchanged(path, junk, sizeof junk);
    cr_assert_eq(count_entries(tmp_dir), 1, "the temporary file was not removed");
}

/* A directory is refused before anything is written (it used to fail at the rename). */
Test(npy, directory_output_is_refused_and_leaves_no_temporaries) {
    const char *path = test_tmp_path("isdir.npy");
    cr_assert_eq(mkdir(path, 0755), 0);
    char inner[600];
    snprintf(inner, sizeof inner, "%s/child", path);
    write_bytes(inner, "x", 1);
    char err[512] = "";
    cr_assert_eq(npy_write(path, NPY_F32, 2, small_shape, small_data, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "isdir.npy: is a directory; an output must be"), "%s", err);
    cr_assert_eq(count_entries(tmp_dir), 1);
    cr_assert_eq(count_entries(path), 1);
}

Test(npy, invalid_arguments_are_refused_before_touching_anything) {
    const char *path = test_tmp_path("keep.npy");
    const char junk[] = "precious";
    write_bytes(path, junk, sizeof junk);
    char err[512] = "";
    const int64_t negative[2] = {2, -3};
    const int64_t huge[3] = {INT64_C(1) << 40, INT64_C(1) << 40, 1 << 20};
    const int64_t shape9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    cr_assert_eq(npy_write(path, NPY_F32, 2, negative, small_data, err, sizeof err), -1);
    cr_assert_eq(npy_write(path, NPY_F32, 3, huge, small_data, err, sizeof err), -1);
    cr_assert_eq(npy_write(path, NPY_F32, 9, shape9, small_data, err, sizeof err), -1);
    cr_assert_eq(npy_write(path, NPY_F32, -1, small_shape, small_data, err, sizeof err), -1);
    cr_assert_eq(npy_write(path, (npy_type)9, 2, small_shape, small_data, err, sizeof err), -1);
    cr_assert_eq(npy_write(path, NPY_F32, 2, small_shape, NULL, err, sizeof err), -1);
    cr_assert_eq(npy_write(NULL, NPY_F32, 2, small_shape, small_data, err, sizeof err), -1);
    expect_unchanged(path, junk, sizeof junk);
    cr_assert_eq(count_entries(tmp_dir), 1);
}

Test(npy, new_file_gets_umask_mode_not_mkstemp_0600) {
    umask(022);
    const char *path = test_tmp_path("mode.npy");
    char err[512] = "";
    cr_assert_eq(npy_write(path, NPY_F32, 2, small_shape, small_data, err, sizeof err), 0, "%s",
                 err);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0644, "mode %o", (unsigned)(st.st_mode & 0777));
}

Test(npy, relative_path_in_current_directory) {
    cr_assert_eq(chdir(tmp_dir), 0);
    char err[512] = "";
    cr_assert_eq(npy_write("rel.npy", NPY_F32, 2, small_shape, small_data, err, sizeof err), 0,
                 "%s", err);
    npy_array a;
    cr_assert_eq(npy_read("rel.npy", &a, err, sizeof err), 0, "%s", err);
    npy_free(&a);
    cr_assert_eq(count_entries("."), 1);
}
