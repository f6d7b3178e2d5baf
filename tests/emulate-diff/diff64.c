/* SPDX-License-Identifier: MIT */
/*
 * Differential test of the hooked-access emulator against the host CPU
 * (64-bit forms).  Every case is one instruction with a memory operand and
 * random registers, flags, XMM/MMX and memory; it runs natively (tests/native
 * harness), then through the emulator twice: with the operand in RAM
 * (v3_emulate_one) and with the scratch pages hooked (full or write hooks,
 * entered through v3_handle_mem_fault).  All GPRs, RIP, defined RFLAGS bits,
 * XMM/MMX, memory and the exception vector must match.
 *
 *   emulate_diff64 [--cases N] [--seed S] [--family NAME] [--show K] [--verbose]
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "emurun.h"

static long ncases = 60000;
static uint64_t seed = 0x5eed0003;
static int only_fam = -1;
static int show = 10;
static int verbose;

static const struct layout lay64 = { 64, 0x10000000ull, V3N_SNIPPET_MIN };

struct fstat { long cases, exc, bad_ram, bad_hook, bad_log, unsupported; };

static void to_native(const struct tcase *c, struct v3n_state *s)
{
    memset(s, 0, sizeof(*s));
    memcpy(s->gpr, c->gpr, sizeof(s->gpr));
    s->rip = c->rip;
    s->rflags = c->rflags;
    s->fs_base = c->fs_base;
    s->gs_base = c->gs_base;
    memcpy(s->xmm, c->xmm, sizeof(s->xmm));
    memcpy(s->mm, c->mm, sizeof(s->mm));
    s->mxcsr = c->mxcsr;
}

static void t_diff64(void **state)
{
    (void)state;
    static struct tcase c;
    static struct rstate ref, got;
    struct fstat fs[FAM_NCOUNT];
    struct rng r = { seed ? seed : 1 };
    long bad = 0, shown = 0;
    uint8_t *scr = (uint8_t *)(uintptr_t)lay64.scr;

    memset(fs, 0, sizeof(fs));
    for (long n = 0; n < ncases; n++) {
        gen_case(&r, &lay64, only_fam, &c);
        struct fstat *st = &fs[c.fam];
        st->cases++;

        /* native */
        struct v3n_state in;
        struct v3n_result nr;
        to_native(&c, &in);
        memcpy(scr, c.mem, SCR_SIZE);
        if (v3n_run(c.insn.b, (size_t)c.insn.len, &in, c.nflags, &nr))
            fail_msg("native harness refused the case");
        ref.vector = nr.vector;
        ref.status = -1;
        ref.st = nr.st;
        memcpy(ref.mem, scr, SCR_SIZE);
        if (nr.vector >= 0)
            st->exc++;

        /* (a) operand in RAM */
        struct evm *e = evm_get(&lay64, 0);
        evm_run(e, &c, false, &got);
        if (got.status == V3_EMU_UNSUPPORTED)
            st->unsupported++;
        int b1 = cmp_states(&c, &ref, &got, true, NULL);

        /* (b) scratch pages hooked, through the fault path */
        int kinds[SCR_PAGES];
        int pp = (int)((c.prim - lay64.scr) >> 12);
        for (int i = 0; i < SCR_PAGES; i++) {
            int k = (int)rndn(&r, 10);
            kinds[i] = k < 4 ? K_RAM : k < 8 ? K_FULL : K_WRITE;
        }
        if (pp >= 0 && pp < SCR_PAGES && kinds[pp] == K_RAM)
            kinds[pp] = rndn(&r, 5) ? K_FULL : K_WRITE;
        struct evm *h = evm_get(&lay64, kinds[0] + 3 * kinds[1] + 9 * kinds[2]);
        static struct rstate got2;
        evm_run(h, &c, true, &got2);
        int b2 = cmp_states(&c, &ref, &got2, true, NULL);
        int b3 = !b2 && check_hook_log(h, &c, NULL);

        if (getenv("DIFF_TRACE")) {
            int changed = memcmp(c.mem, ref.mem, SCR_SIZE) != 0;
            print_case(&c, stdout);
            printf("  native vector %d, memory %s, hooked run: %d hook calls (kinds %d/%d/%d)\n", ref.vector,
                   changed ? "changed" : "unchanged", h->nlog, kinds[0], kinds[1], kinds[2]);
            for (int i = 0; i < h->nlog && i < 8; i++)
                printf("    %s %#llx len %u\n", h->log[i].write ? "W" : "R", (unsigned long long)h->log[i].gpa, h->log[i].len);
        }
        st->bad_ram += b1;
        st->bad_hook += b2;
        st->bad_log += b3;
        if (b1 || b2 || b3) {
            bad++;
            if (shown++ < show || verbose) {
                printf("MISMATCH #%ld (case %ld, seed %#llx)\n", bad, n, (unsigned long long)seed);
                print_case(&c, stdout);
                if (b1) {
                    printf(" RAM run (v3_emulate_one) vs native:\n");
                    cmp_states(&c, &ref, &got, true, stdout);
                }
                if (b2) {
                    printf(" hooked run (v3_handle_mem_fault, page kinds %d/%d/%d) vs native:\n",
                           kinds[0], kinds[1], kinds[2]);
                    cmp_states(&c, &ref, &got2, true, stdout);
                }
                if (b3) {
                    printf(" hooked run: hook calls\n");
                    check_hook_log(h, &c, stdout);
                }
            }
        }
    }

    long tot = 0, texc = 0;
    printf("%-18s %8s %8s %8s %8s %8s %8s\n", "family", "cases", "native#", "unsupp", "bad-ram", "bad-hook", "bad-call");
    for (int i = 0; i < FAM_NCOUNT; i++) {
        if (!fs[i].cases)
            continue;
        printf("%-18s %8ld %8ld %8ld %8ld %8ld %8ld\n", fam_names[i], fs[i].cases, fs[i].exc,
               fs[i].unsupported, fs[i].bad_ram, fs[i].bad_hook, fs[i].bad_log);
        tot += fs[i].cases;
        texc += fs[i].exc;
    }
    printf("total %ld cases (%ld with a native exception), %ld mismatching, seed %#llx\n", tot, texc, bad,
           (unsigned long long)seed);
    evm_free_all();
    assert_int_equal(bad, 0);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--cases") && i + 1 < argc)
            ncases = strtol(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--show") && i + 1 < argc)
            show = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--verbose"))
            verbose = 1;
        else if (!strcmp(argv[i], "--family") && i + 1 < argc) {
            i++;
            for (int f = 0; f < FAM_NCOUNT; f++)
                if (!strcmp(argv[i], fam_names[f]))
                    only_fam = f;
            if (only_fam < 0) {
                fprintf(stderr, "unknown family %s; one of:", argv[i]);
                for (int f = 0; f < FAM_NCOUNT; f++)
                    fprintf(stderr, " %s", fam_names[f]);
                fprintf(stderr, "\n");
                return 2;
            }
        } else {
            fprintf(stderr, "usage: %s [--cases N] [--seed S] [--family NAME] [--show K] [--verbose]\n", argv[0]);
            return 2;
        }
    }
    if (v3n_init() || v3n_map_fixed(lay64.scr, SCR_SIZE) || evm_global_init()) {
        fprintf(stderr, "setup failed\n");
        return 2;
    }
    const struct CMUnitTest tests[] = { cmocka_unit_test(t_diff64) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
