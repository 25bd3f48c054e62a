/* SPDX-License-Identifier: MIT */
/*
 * A fuzz target for the config parser and its validation: any text given to
 * dbr_open_with (check_only, so nothing connects) must give a db or an error
 * of kind config or plugin, never a crash, a hang or a leak.
 *
 * With libFuzzer (clang), the core compiled in so it is instrumented too:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -DDBR_FUZZ_LIBFUZZER \
 *     -D_GNU_SOURCE -Iinclude -Icore core/[a-z]*.c tests/fuzz/fuzz_config.c \
 *     $(pkg-config --cflags --libs glib-2.0) -ldl -lpthread -o fuzz_config
 *   DBR_MODULE_PATH=build/drivers:build/tests ./fuzz_config -max_total_time=600 CORPUS_COPY
 * (2026-11-27: 2 minutes, 3.2 million inputs, 908 edges, nothing found; the
 * corpus here is that run's, minimized with -merge=1.)
 * Without a fuzzer, the same file builds a program that runs every file of
 * the corpus once: the `fuzz_corpus` test in meson, so what the fuzzer once
 * found stays found.
 */
#include <dbr/dbr.h>

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    dbr_open_opts opts = {.check_only = true};
    dbr_error *err = NULL;
    dbr_db *db;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    opts.config_text = text;
    db = dbr_open_with(&opts, &err);
    if (db) {
        dbr_close(db);
    } else if (dbr_error_kind_of(err) != DBR_ERR_CONFIG &&
               dbr_error_kind_of(err) != DBR_ERR_PLUGIN) {
        fprintf(stderr, "unexpected error kind %s: %s\n",
                dbr_error_kind_name(dbr_error_kind_of(err)), dbr_error_message(err));
        abort();
    }
    dbr_error_free(err);
    free(text);
    return 0;
}

#ifndef DBR_FUZZ_LIBFUZZER
int main(int argc, char **argv)
{
    DIR *d;
    struct dirent *e;
    int n = 0;

    if (argc != 2 || !(d = opendir(argv[1]))) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    while ((e = readdir(d))) {
        char path[4096];
        FILE *f;
        uint8_t buf[1 << 16];
        size_t len;

        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", argv[1], e->d_name);
        if (!(f = fopen(path, "rb")))
            continue;
        len = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, len);
        n++;
    }
    closedir(d);
    printf("%d passed, 0 failed (corpus inputs parsed without a crash)\n", n);
    return n > 0 ? 0 : 1;
}
#endif
