/* SPDX-License-Identifier: MIT */
/*
 * Replay build of the emulator fuzz target (fuzz/emu/fuzz_emu.c) for
 * compilers without libFuzzer: runs N inputs made from a seed.  Half of them
 * carry an instruction from the differential-test generator with a few bytes
 * mutated, half carry random bytes; headers (mode, region kinds, registers)
 * are random.  Any invariant violation aborts (the test then fails).
 *
 *   emulate_fuzz_replay [--cases N] [--seed S] [--write-corpus DIR]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fuzz_emu.h"
#include "gen.h"

static uint8_t cur[FUZZ_EMU_HDR + 32];
static size_t cur_len;
static long cur_k;

/* A hung input: print it (hex, for a libFuzzer reproducer file) and fail. */
static void watchdog(int sig)
{
    (void)sig;
    char line[16];
    static const char hx[] = "0123456789abcdef";
    int n = snprintf(line, sizeof(line), "%ld\n", cur_k);
    (void)!write(2, "emulate_fuzz_replay: input hangs (index, then bytes):\n", 55);
    (void)!write(2, line, (size_t)n);
    for (size_t i = 0; i < cur_len; i++) {
        char b[3] = { hx[cur[i] >> 4], hx[cur[i] & 15], i % 32 == 31 ? '\n' : ' ' };
        (void)!write(2, b, 3);
    }
    (void)!write(2, "\n", 1);
    abort();
}

int main(int argc, char **argv)
{
    long n = 200000;
    uint64_t seed = 0xf022e3u;
    const char *corpus = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--cases") && i + 1 < argc)
            n = strtol(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--write-corpus") && i + 1 < argc)
            corpus = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--cases N] [--seed S] [--write-corpus DIR]\n", argv[0]);
            return 2;
        }
    }
    static const struct layout lays[3] = {
        { 16, 0x8000, 0x4000 }, { 32, 0x10000000, 0x20000000 }, { 64, 0x10000000, 0x20000000 },
    };
    struct rng r = { seed ? seed : 1 };
    static struct tcase c;
    uint8_t buf[FUZZ_EMU_HDR + 32];
    if (corpus)
        mkdir(corpus, 0755);
    signal(SIGALRM, watchdog);
    for (long k = 0; k < n; k++) {
        for (size_t i = 0; i < sizeof(buf); i += 8) {
            uint64_t v = rnd(&r);
            memcpy(buf + i, &v, sizeof(buf) - i < 8 ? sizeof(buf) - i : 8);
        }
        int mi = (int)rndn(&r, 3);
        buf[0] = (uint8_t)mi;
        size_t len = sizeof(buf);
        if (rndn(&r, 2)) {
            gen_case(&r, &lays[mi], -1, &c);
            memcpy(buf + FUZZ_EMU_HDR, c.insn.b, (size_t)c.insn.len);
            for (int m = (int)rndn(&r, 3); m > 0; m--)
            {
                uint64_t at = rndn(&r, (uint64_t)c.insn.len);
                buf[FUZZ_EMU_HDR + at] ^= (uint8_t)(1u << rndn(&r, 8));
            }
            len = FUZZ_EMU_HDR + (size_t)c.insn.len + rndn(&r, 4);
        } else {
            len = FUZZ_EMU_HDR + rndn(&r, 33);
        }
        memcpy(cur, buf, sizeof(cur));
        cur_len = len;
        cur_k = k;
        alarm(10);
        fuzz_emu_one(buf, len);
        alarm(0);
        if (corpus && k < 2000) {
            char path[4096];
            snprintf(path, sizeof(path), "%s/seed-%05ld", corpus, k);
            FILE *f = fopen(path, "wb");
            if (f) {
                fwrite(buf, 1, len, f);
                fclose(f);
            }
        }
    }
    printf("emulator fuzz replay: %ld inputs from seed %#llx, no invariant violated\n", n,
           (unsigned long long)seed);
    return 0;
}
