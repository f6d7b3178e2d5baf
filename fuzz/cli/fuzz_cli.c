/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for v3vm's command-line parser (tools/v3vm/args.c), which
 * runs without opening a file or making a VM.  The input is split at NUL
 * bytes into argv[1..] (at most 64 arguments).  Invariants: no crash, no
 * sanitizer report; an error comes with a non-empty message; a successful
 * parse has a kernel, a memory size that is a non-zero multiple of 4 KiB
 * within the 52-bit space, and pointers into argv; an -initrd list either
 * splits into 1..16 modules whose paths are non-empty prefixes of their
 * elements, or is rejected with a message.
 *
 * With -DV3_FUZZ_MAIN it runs the files named on the command line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "args.h"

#define MAX_ARGS 64

static int in_argv(const char *p, char *const *argv, int argc)
{
    for (int i = 0; i < argc; i++)
        if (p >= argv[i] && p <= argv[i] + strlen(argv[i]))
            return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct v3vm_module_spec specs[V3VM_MAX_MODULES];
    char *buf = malloc(size + 1), *argv[MAX_ARGS + 1];
    struct v3vm_args a;
    char err[256];
    int argc = 1, rc;
    size_t start = 0;

    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    argv[0] = "v3vm";
    for (size_t i = 0; i <= size && argc < MAX_ARGS; i++) {
        if (buf[i] == 0) {
            argv[argc++] = buf + start;
            start = i + 1;
        }
    }
    argv[argc] = NULL;
    rc = v3vm_parse_args(argc, argv, &a, err, sizeof(err));
    if (rc == V3VM_ARGS_ERROR && (!err[0] || !memchr(err, 0, sizeof(err))))
        abort();                            /* an error without a message */
    if (rc == V3VM_ARGS_RUN) {
        if (!a.kernel || !in_argv(a.kernel, argv, argc) || !a.serial)
            abort();
        if (!a.mem || (a.mem & 0xfff) || a.mem > (1ull << 52))
            abort();
        if (a.real && !a.flat)
            abort();
        if (a.initrd) {
            unsigned n = 0;
            if (!in_argv(a.initrd, argv, argc))
                abort();
            if (v3vm_parse_initrd(a.initrd, specs, &n, err, sizeof(err)) == 0) {
                if (n == 0 || n > V3VM_MAX_MODULES)
                    abort();
                for (unsigned i = 0; i < n; i++) {
                    size_t pl = strlen(specs[i].path);
                    if (!pl || pl > V3VM_MAX_PATH || pl > specs[i].string_len ||
                        memcmp(specs[i].path, specs[i].string, pl) || !in_argv(specs[i].string, argv, argc))
                        abort();
                }
            } else if (!err[0]) {
                abort();
            }
        }
    }
    free(buf);
    return 0;
}

#ifdef V3_FUZZ_MAIN
int main(int argc, char **argv)
{
    static uint8_t buf[1 << 16];
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        size_t len;
        if (!f) {
            perror(argv[i]);
            return 1;
        }
        len = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, len);
    }
    printf("fuzz_cli replay: %d files\n", argc - 1);
    return 0;
}
#endif
