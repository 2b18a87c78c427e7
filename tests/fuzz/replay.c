/* SPDX-License-Identifier: MIT */
/*
 * replay.c - plain driver for the fuzz harness (no libFuzzer needed): runs
 * every file named on the command line, or every file of every directory
 * named, once through LLVMFuzzerTestOneInput.  A violation aborts (non-zero
 * exit); otherwise prints how many inputs ran and exits 0.  Used by the test
 * suite to replay tests/fuzz/corpus as a regression test with any compiler.
 *
 *   fuzz_replay tests/fuzz/corpus [more files or directories...]
 *   NMR_FUZZ_TRACE=1 fuzz_replay crash-file     (trace every op and callback)
 */
#define _POSIX_C_SOURCE 200809L
#include "fuzz_ops.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    uint8_t *copy = malloc(n ? n : 1); /* exact size, so ASan sees overreads */
    if (copy == NULL)
        return -1;
    memcpy(copy, buf, n);
    LLVMFuzzerTestOneInput(copy, n);
    free(copy);
    return 0;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    int count = 0, errors = 0;
    LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            errors++;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            errors += run_file(argv[i]) != 0;
            count++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        if (d == NULL) {
            perror(argv[i]);
            errors++;
            continue;
        }
        char **names = NULL;
        size_t nn = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char **g = realloc(names, (nn + 1) * sizeof(*names));
            if (g == NULL)
                abort();
            names = g;
            size_t len = strlen(argv[i]) + strlen(e->d_name) + 2;
            names[nn] = malloc(len);
            if (names[nn] == NULL)
                abort();
            snprintf(names[nn], len, "%s/%s", argv[i], e->d_name);
            nn++;
        }
        closedir(d);
        if (nn > 0)
            qsort(names, nn, sizeof(*names), cmp); /* reproducible order */
        for (size_t k = 0; k < nn; k++) {
            if (stat(names[k], &st) == 0 && S_ISREG(st.st_mode)) {
                errors += run_file(names[k]) != 0;
                count++;
            }
            free(names[k]);
        }
        free(names);
    }
    printf("fuzz_replay: %d inputs replayed, %d unreadable\n", count, errors);
    return errors ? 1 : 0;
}
