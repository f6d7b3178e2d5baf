/* SPDX-License-Identifier: MIT */
/*
 * Differential test of the software CPU against the host CPU (64-bit):
 * random sequences of general-purpose and SSE2 instructions with forward
 * branches, calls, pushes and memory operands in a scratch buffer run
 * natively (tests/native) and on v3_emu_backend in a long-mode guest whose
 * page tables map the same linear addresses; registers, defined flags,
 * XMM registers and the scratch/stack memory are compared after every
 * sequence.  --cases N for long runs, --seed S to reproduce.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "v3test.h"
#include "v3native.h"
#include "x64seq.h"
#include <v3/cpu.h>
#include <v3/mem.h>
#include <v3/paging.h>
#include <v3/vm.h>

static long n_cases = 100000;
static uint64_t seed0 = 0x5eed0001;
static int print_all;   /* --print: list every sequence */

#define GUEST_MEM   (4u << 20)
#define GPA_WINDOW  0x200000ull           /* linear 0x20000000 (2 MiB page) */
#define LA_BASE     0x20000000ull
#define DATA_SIZE   0x2000u               /* scratch + stack */

struct guest {
    struct v3_vm *vm;
    struct v3_core *core;
    uint8_t *ram;
};

static void guest_init(struct guest *g)
{
    struct v3_vm_config cfg;
    void *hva;
    uint64_t *pt;
    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = GUEST_MEM;
    cfg.backend_ops = &v3_emu_backend;
    g->vm = v3_create_vm(&cfg, NULL);
    assert_non_null(g->vm);
    g->core = v3_get_core(g->vm, 0);
    assert_int_equal(v3_gpa_to_hva(g->vm, 0, &hva), 0);
    g->ram = hva;
    /* PML4 0x1000 -> PDPT 0x2000 -> PD 0x3000; PD[256] = 2 MiB page at GPA_WINDOW */
    pt = (uint64_t *)(g->ram + 0x1000); pt[0] = 0x2000 | 3;
    pt = (uint64_t *)(g->ram + 0x2000); pt[0] = 0x3000 | 3;
    pt = (uint64_t *)(g->ram + 0x3000); pt[(LA_BASE >> 21) & 511] = GPA_WINDOW | 0x83;
}

static void guest_long_mode(struct v3_core *c)
{
    v3t_core_long64(c, 0x1000);
}

static void random_state(struct v3n_state *st, uint64_t *rng)
{
    memset(st, 0, sizeof(*st));
    for (int i = 0; i < 16; i++) {
        uint64_t v = x64_rand(rng);
        switch (x64_rand(rng) % 4) {
        case 0: v &= 0xff; break;
        case 1: v &= 0xffffffff; break;
        default: break;
        }
        st->gpr[i] = v;
    }
    st->gpr[V3N_RSP] = X64_STACK_TOP - 0x200;
    st->gpr[V3N_R15] = X64_SCRATCH;
    st->rflags = 0x2 | (x64_rand(rng) & 0x8d5);
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j += 8) {
            uint64_t v = x64_rand(rng);
            memcpy(&st->xmm[i][j], &v, 8);
        }
    /* floating-point specials in some lanes: zeros, infinities, QNaN/SNaN, denormals, ones */
    static const uint32_t sp32[] = { 0, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0x7f800001u,
                                     0x00000001u, 0x807fffffu, 0x3f800000u, 0x00800000u, 0x7f7fffffu };
    static const uint64_t sp64[] = { 0, 0x8000000000000000ull, 0x7ff0000000000000ull, 0x7ff8000000000000ull,
                                     0x7ff0000000000001ull, 0x0000000000000001ull, 0x800fffffffffffffull,
                                     0x3ff0000000000000ull, 0x0010000000000000ull, 0x7fefffffffffffffull,
                                     0x41e0000000000000ull, 0xc3e0000000000000ull };
    for (int i = 0; i < 16; i++) {
        if (x64_rand(rng) % 4)
            continue;
        for (int j = 0; j < 16; j += 4)
            if (x64_rand(rng) % 3 == 0)
                memcpy(&st->xmm[i][j], &sp32[x64_rand(rng) % 11], 4);
        for (int j = 0; j < 16; j += 8)
            if (x64_rand(rng) % 4 == 0)
                memcpy(&st->xmm[i][j], &sp64[x64_rand(rng) % 12], 8);
    }
    for (int i = 0; i < 8; i++)
        st->mm[i] = x64_rand(rng);
}

static const char *gname[16] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                  "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };

static int run_case(struct guest *g, uint64_t seed, int verbose, int strmode)
{
    uint64_t rng = seed;
    struct x64seq seq;
    struct x64seq_opts o = { .min_insns = 4, .max_insns = 24, .sse = 1, .simd = 1, .branches = 1,
                               .stack = 1 };
    struct v3n_state in;
    struct v3n_result nat;
    static uint8_t data0[DATA_SIZE];
    uint8_t *gdata = g->ram + GPA_WINDOW + (X64_SCRATCH - LA_BASE);
    uint8_t *gcode = g->ram + GPA_WINDOW + (X64_WINDOW - LA_BASE);
    struct v3_core *c = g->core;
    struct v3_exit ex;
    int bad = 0, rc;
    uint64_t mask;

    if (strmode) {
        o.strcmp_only = 1;
        o.branches = o.stack = 0;
        o.max_insns = 8;
    }
    x64seq_generate(&seq, &o, &rng);
    random_state(&in, &rng);
    for (unsigned i = 0; i < DATA_SIZE; i += 8) {
        uint64_t v = x64_rand(&rng);
        memcpy(data0 + i, &v, 8);
    }
    if (strmode) {
        /* string-like data: a small alphabet with NULs, so that matches, ranges and
         * terminators all occur */
        static const uint8_t alpha[] = { 0, 'a', 'b', 'c', 'a', 'b', 0x80, 0xff };
        for (unsigned i = 0; i < DATA_SIZE; i++)
            data0[i] = alpha[x64_rand(&rng) % (x64_rand(&rng) % 2 ? 6 : 8)];
        for (int i = 0; i < 16; i++)
            for (int j = 0; j < 16; j++)
                in.xmm[i][j] = alpha[x64_rand(&rng) % (j > 10 ? 8 : 6)];
    }

    /* native */
    memcpy((void *)(uintptr_t)X64_SCRATCH, data0, DATA_SIZE);
    in.rip = X64_WINDOW;
    assert_int_equal(v3n_run(seq.code, seq.len, &in, V3N_MMX, &nat), 0);
    if (nat.vector >= 0) {
        fprintf(stderr, "seed %#llx: native fault vector %d at %#llx (generator bug)\n",
                (unsigned long long)seed, nat.vector, (unsigned long long)nat.st.rip);
        x64seq_print(&seq, stderr);
        return 1;
    }

    /* guest */
    memcpy(gdata, data0, DATA_SIZE);
    memcpy(gcode, seq.code, seq.len);
    gcode[seq.len] = 0xf4;                          /* HLT */
    v3_cpu_invalidate_code(c, GPA_WINDOW + (X64_WINDOW - LA_BASE), GPA_WINDOW + (X64_WINDOW - LA_BASE) + 0x1000);
    memcpy(c->gpr, in.gpr, sizeof(in.gpr));
    c->rip = X64_WINDOW;
    c->halted = 0;  /* a new start: resume the vCPU out of its HLT */
    v3_core_set_rflags(c, in.rflags | V3_FLAG_IF);
    memcpy(c->fpu.xmm, in.xmm, sizeof(in.xmm));
    for (int i = 0; i < 8; i++) {                   /* MM0-7 as the harness loads them (MOVQ) */
        memcpy(c->fpu.st[i], &in.mm[i], 8);
        c->fpu.st[i][8] = c->fpu.st[i][9] = 0xff;
    }
    rc = v3_emu_backend.run(c, &ex);
    if (!(ex.reason == V3_EXIT_HLT ||
          (ex.reason == V3_EXIT_ERROR && ex.error.code == V3_EUNSUPPORTED && ex.insn_rip == X64_WINDOW + seq.len))) {
        fprintf(stderr, "seed %#llx: guest exit %d (rc %d, code %d) at %#llx\n", (unsigned long long)seed,
                ex.reason, rc, ex.error.code, (unsigned long long)ex.insn_rip);
        bad = 1;
    }
    if (!bad) {
        mask = 0x8d5 & ~seq.undef_flags;
        for (int i = 0; i < 16; i++)
            if (c->gpr[i] != nat.st.gpr[i]) {
                fprintf(stderr, "seed %#llx: %s native %#llx cpu %#llx\n", (unsigned long long)seed, gname[i],
                        (unsigned long long)nat.st.gpr[i], (unsigned long long)c->gpr[i]);
                bad = 1;
            }
        if ((v3_core_get_rflags(c) & mask) != (nat.st.rflags & mask)) {
            fprintf(stderr, "seed %#llx: rflags native %#llx cpu %#llx (mask %#llx)\n", (unsigned long long)seed,
                    (unsigned long long)nat.st.rflags, (unsigned long long)v3_core_get_rflags(c),
                    (unsigned long long)mask);
            bad = 1;
        }
        for (int i = 0; i < 16; i++)
            if (memcmp(c->fpu.xmm[i], nat.st.xmm[i], 16)) {
                fprintf(stderr, "seed %#llx: xmm%d differs\n", (unsigned long long)seed, i);
                bad = 1;
            }
        for (int i = 0; i < 8; i++)
            if (memcmp(c->fpu.st[i], &nat.st.mm[i], 8)) {
                fprintf(stderr, "seed %#llx: mm%d native %#llx cpu %#llx\n", (unsigned long long)seed, i,
                        (unsigned long long)nat.st.mm[i], *(unsigned long long *)c->fpu.st[i]);
                bad = 1;
            }
        for (unsigned i = 0; i < DATA_SIZE; i++)
            if (gdata[i] != ((uint8_t *)(uintptr_t)X64_SCRATCH)[i]) {
                fprintf(stderr, "seed %#llx: memory +%#x native %02x cpu %02x\n", (unsigned long long)seed,
                        i, ((uint8_t *)(uintptr_t)X64_SCRATCH)[i], gdata[i]);
                bad = 1;
                break;
            }
    }
    if (bad || verbose)
        x64seq_print(&seq, stderr);
    return bad;
}

static void map_native(void)
{
    static int mapped;
    assert_int_equal(v3n_init(), 0);
    if (!mapped)
        assert_int_equal(v3n_map_fixed(X64_SCRATCH, DATA_SIZE), 0);
    mapped = 1;
}

static void test_pcmpstr(void **state)
{
    struct guest g;
    long fails = 0, n = n_cases / 4;
    (void)state;
    map_native();
    guest_init(&g);
    guest_long_mode(g.core);
    for (long i = 0; i < n && fails < 5; i++)
        fails += run_case(&g, seed0 + 7 + (uint64_t)i * 0x9E3779B97F4A7C15ull, print_all, 1);
    printf("pcmpstr: %ld sequences, %ld mismatches\n", n, fails);
    v3_free_vm(g.vm);
    assert_int_equal(fails, 0);
}

static void test_diff64(void **state)
{
    struct guest g;
    long fails = 0;
    (void)state;
    map_native();
    guest_init(&g);
    guest_long_mode(g.core);
    for (long i = 0; i < n_cases && fails < 5; i++)
        fails += run_case(&g, seed0 + (uint64_t)i * 0x9E3779B97F4A7C15ull, print_all, 0);
    printf("diff64: %ld sequences, %ld mismatches, %llu instructions on the software CPU\n", n_cases, fails,
           (unsigned long long)g.core->insn_count);
    v3_free_vm(g.vm);
    assert_int_equal(fails, 0);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--cases") && i + 1 < argc)
            n_cases = atol(argv[++i]);
        else if (!strcmp(argv[i], "--print"))
            print_all = 1;
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed0 = strtoull(argv[++i], NULL, 0);
    }
    if (getenv("V3_TEST_QUICK"))
        n_cases = n_cases > 2000 ? 2000 : n_cases;
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_diff64), cmocka_unit_test(test_pcmpstr) };
    return cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
}
