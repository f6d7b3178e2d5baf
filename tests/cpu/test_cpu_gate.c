/* SPDX-License-Identifier: MIT */
/*
 * Instructions follow the vCPU's CPU model (the decoder's feature gates,
 * src/emu/decode.c), on the software CPU.  For each gated extension one
 * representative sequence runs twice: with the feature reported, the result
 * (RAX, RCX, RDX, the scratch buffer) equals the same bytes run on the host
 * (user-level forms; the system-level ones only must not fault); with the
 * feature cleared, the gated instruction raises #UD (the guest's #UD handler
 * runs, the pushed RIP is the instruction).  TZCNT without BMI1 and LZCNT
 * without ABM compute BSF and BSR (the host's BSF/BSR are the oracle).  A
 * model change drops decoded blocks: code run under a model is decoded
 * again under the new one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include "v3test.h"
#include "guest64.h"
#include <v3/cpuid.h>
#include "arch/system.h"

#define CODE    0x20001000ull
#define GDT     0x20010000ull
#define IDT     0x20011000ull
#define UDH     0x20012000ull     /* #UD handler: hlt */
#define SCRATCH 0x20020000ull
#define STACK   0x20030000ull

struct gate_case {
    const char *name;
    const char *feat;             /* v3_cpu_model_set_feature name */
    uint8_t code[40];
    unsigned len;
    unsigned ud_off;              /* offset of the gated instruction */
    int host;                     /* compare with the host (user-level, the host has it) */
    const char *fallback;         /* without the feature: runs as this (host bytes), not #UD */
    uint8_t fb_code[16];
    unsigned fb_len;
};

#define MOVQ_X0_RAX 0x66, 0x48, 0x0f, 0x6e, 0xc0
#define MOVQ_X1_RCX 0x66, 0x48, 0x0f, 0x6e, 0xc9
#define MOVQ_RAX_X0 0x66, 0x48, 0x0f, 0x7e, 0xc0

static const struct gate_case cases[] = {
    { "mmx paddb", "mmx", { 0x48, 0x0f, 0x6e, 0xc0, 0x48, 0x0f, 0x6e, 0xc9, 0x0f, 0xfc, 0xc1,
                            0x48, 0x0f, 0x7e, 0xc0 }, 15, 0, 1, NULL, { 0 }, 0 },
    { "sse cvtsi2ss/addss", "sse", { 0xf3, 0x48, 0x0f, 0x2a, 0xc0, 0xf3, 0x0f, 0x58, 0xc0,
                                     0xf3, 0x48, 0x0f, 0x2c, 0xc0 }, 14, 0, 1, NULL, { 0 }, 0 },
    { "sse pavgb mm (SSE integer on MMX)", "sse",
      { 0x48, 0x0f, 0x6e, 0xc0, 0x48, 0x0f, 0x6e, 0xc9, 0x0f, 0xe0, 0xc1, 0x48, 0x0f, 0x7e, 0xc0 }, 15, 8, 1,
      NULL, { 0 }, 0 },
    { "sse2 paddq", "sse2", { MOVQ_X0_RAX, MOVQ_X1_RCX, 0x66, 0x0f, 0xd4, 0xc1, MOVQ_RAX_X0 }, 19, 0, 1,
      NULL, { 0 }, 0 },
    { "sse3 movshdup", "sse3", { MOVQ_X0_RAX, 0xf3, 0x0f, 0x16, 0xc0, MOVQ_RAX_X0 }, 14, 5, 1, NULL, { 0 }, 0 },
    { "ssse3 pshufb", "ssse3", { MOVQ_X0_RAX, MOVQ_X1_RCX, 0x66, 0x0f, 0x38, 0x00, 0xc1, MOVQ_RAX_X0 }, 20, 10, 1,
      NULL, { 0 }, 0 },
    { "sse4.1 pmulld", "sse4_1", { MOVQ_X0_RAX, MOVQ_X1_RCX, 0x66, 0x0f, 0x38, 0x40, 0xc1, MOVQ_RAX_X0 }, 20, 10, 1,
      NULL, { 0 }, 0 },
    { "sse4.2 crc32", "sse4_2", { 0xf2, 0x48, 0x0f, 0x38, 0xf1, 0xc1 }, 6, 0, 1, NULL, { 0 }, 0 },
    { "sse4.2 pcmpgtq", "sse4_2", { MOVQ_X0_RAX, MOVQ_X1_RCX, 0x66, 0x0f, 0x38, 0x37, 0xc1, MOVQ_RAX_X0 }, 20, 10,
      1, NULL, { 0 }, 0 },
    { "popcnt", "popcnt", { 0xf3, 0x48, 0x0f, 0xb8, 0xc1 }, 5, 0, 1, NULL, { 0 }, 0 },
    { "cx16 cmpxchg16b", "cx16", { 0x48, 0x0f, 0xc7, 0x0e }, 4, 0, 1, NULL, { 0 }, 0 },
    { "movbe", "movbe", { 0x48, 0x0f, 0x38, 0xf0, 0x06 }, 5, 0, 1, NULL, { 0 }, 0 },
    { "bmi1 andn", "bmi1", { 0xc4, 0xe2, 0xf0, 0xf2, 0xc2 }, 5, 0, 1, NULL, { 0 }, 0 },
    { "bmi1 tzcnt", "bmi1", { 0xf3, 0x48, 0x0f, 0xbc, 0xc1 }, 5, 0, 1, "bsf", { 0x48, 0x0f, 0xbc, 0xc1 }, 4 },
    { "abm lzcnt", "abm", { 0xf3, 0x48, 0x0f, 0xbd, 0xc1 }, 5, 0, 1, "bsr", { 0x48, 0x0f, 0xbd, 0xc1 }, 4 },
    { "cmov", "cmov", { 0x31, 0xd2, 0x48, 0x0f, 0x44, 0xc1 }, 6, 2, 1, NULL, { 0 }, 0 },
    { "clflush", "clflush", { 0x0f, 0xae, 0x3e }, 3, 0, 1, NULL, { 0 }, 0 },
    { "fxsr fxsave", "fxsr", { 0x0f, 0xae, 0x06 }, 3, 0, 0, NULL, { 0 }, 0 },
    { "xsave xgetbv", "xsave", { 0x31, 0xc9, 0x0f, 0x01, 0xd0 }, 5, 2, 0, NULL, { 0 }, 0 },
    { "xsaveopt", "xsaveopt", { 0xb8, 3, 0, 0, 0, 0x31, 0xd2, 0x0f, 0xae, 0x36 }, 10, 7, 0, NULL, { 0 }, 0 },
    { "rdtscp", "rdtscp", { 0x0f, 0x01, 0xf9 }, 3, 0, 0, NULL, { 0 }, 0 },
    { "smap clac", "smap", { 0x0f, 0x01, 0xca }, 3, 0, 0, NULL, { 0 }, 0 },
    { "rdrand", "rdrand", { 0x48, 0x0f, 0xc7, 0xf0 }, 4, 0, 0, NULL, { 0 }, 0 },
    { "rdseed", "rdseed", { 0x48, 0x0f, 0xc7, 0xf8 }, 4, 0, 0, NULL, { 0 }, 0 },
};

/* ------------------------------------------------------------ the host */

struct hstate {
    uint64_t rax, rcx, rdx, rsi;
};

static uint8_t *host_page;
static uint8_t host_buf[512] __attribute__((aligned(64)));

/* Run @p code on the host with RAX/RCX/RDX from @p s and RSI = host_buf. */
static void host_run(const uint8_t *code, unsigned len, struct hstate *s)
{
    static const uint8_t pro[] = { 0x49, 0x89, 0xfb,               /* mov r11, rdi */
                                   0x49, 0x8b, 0x03,               /* mov rax, [r11] */
                                   0x49, 0x8b, 0x4b, 0x08,         /* mov rcx, [r11+8] */
                                   0x49, 0x8b, 0x53, 0x10,         /* mov rdx, [r11+16] */
                                   0x49, 0x8b, 0x73, 0x18 };       /* mov rsi, [r11+24] */
    static const uint8_t epi[] = { 0x49, 0x89, 0x03, 0x49, 0x89, 0x4b, 0x08, 0x49, 0x89, 0x53, 0x10,
                                   0x0f, 0x77, 0xc3 };             /* stores, emms, ret */
    memcpy(host_page, pro, sizeof(pro));
    memcpy(host_page + sizeof(pro), code, len);
    memcpy(host_page + sizeof(pro) + len, epi, sizeof(epi));
    s->rsi = (uint64_t)(uintptr_t)host_buf;
    __builtin___clear_cache((char *)host_page, (char *)host_page + 256);
    ((void (*)(struct hstate *))(void *)host_page)(s);
}

/* ------------------------------------------------------------ the guest */

static struct g64 g;

static void guest_setup(const struct v3_cpu_model *m)
{
    assert_int_equal(g64_init(&g), 0);
    assert_int_equal(v3_cpu_set_model(g.core, m), V3_OK);
    uint64_t gdt[3] = { 0, 0x00209a0000000000ull, 0x00cf92000000ffffull };
    memcpy(g64_ptr(&g, GDT), gdt, sizeof(gdt));
    g.core->gdtr.base = GDT;
    g.core->gdtr.limit = sizeof(gdt) - 1;
    uint8_t *gate = g64_ptr(&g, IDT) + 6 * 16;     /* #UD: 64-bit interrupt gate to UDH */
    memset(gate, 0, 16);
    gate[0] = (uint8_t)UDH; gate[1] = (uint8_t)(UDH >> 8);
    gate[2] = 8;
    gate[5] = 0x8e;
    gate[6] = (uint8_t)(UDH >> 16); gate[7] = (uint8_t)(UDH >> 24);
    g.core->idtr.base = IDT;
    g.core->idtr.limit = 0xfff;
    *g64_ptr(&g, UDH) = 0xf4;
    g.core->cr4 |= V3_CR4_OSXSAVE;
}

static void guest_teardown(void)
{
    v3_free_vm(g.vm);
    memset(&g, 0, sizeof(g));
}

/* Run @p code at CODE with @p s; true when it raised #UD (pushed RIP in *ud_rip). */
static int guest_run(const uint8_t *code, unsigned len, struct hstate *s, uint64_t *ud_rip)
{
    struct v3_exit ex;
    memcpy(g64_ptr(&g, CODE), code, len);
    *g64_ptr(&g, CODE + len) = 0xf4;
    v3_cpu_invalidate_code(g.core, g64_gpa(CODE), g64_gpa(CODE) + 0x1000);
    memcpy(g64_ptr(&g, SCRATCH), host_buf, sizeof(host_buf));
    g.core->gpr[V3_RAX] = s->rax;
    g.core->gpr[V3_RCX] = s->rcx;
    g.core->gpr[V3_RDX] = s->rdx;
    g.core->gpr[V3_RSI] = SCRATCH;
    g.core->gpr[V3_RSP] = STACK;
    g.core->rip = CODE;
    g.core->halted = 0;
    v3_emu_backend.run(g.core, &ex);
    if (g64_halted_at(&ex, UDH)) {
        memcpy(ud_rip, g64_ptr(&g, STACK - 40), 8);    /* RIP of the 5-qword frame */
        return 1;
    }
    assert_true(g64_halted_at(&ex, CODE + len));
    s->rax = g.core->gpr[V3_RAX];
    s->rcx = g.core->gpr[V3_RCX];
    s->rdx = g.core->gpr[V3_RDX];
    return 0;
}

static int host_has(const struct v3_cpu_model *full, const char *feat)
{
    /* the default model reports only what the host runs for the SIMD levels;
     * features the model cannot report are skipped */
    struct v3_cpu_model m = *full;
    assert_int_equal(v3_cpu_model_set_feature(&m, feat, false), V3_OK);
    return memcmp(&m, full, sizeof(m)) != 0;
}

static void test_gates(void **state)
{
    (void)state;
    struct v3_cpu_model full;
    v3_cpu_default_model(&full);
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct gate_case *c = &cases[i];
        if (!host_has(&full, c->feat)) {
            printf("skip %s: the default model does not report %s here\n", c->name, c->feat);
            continue;
        }
        for (int round = 0; round < 4; round++) {
            struct hstate in = { 0x8877665544332211ull * (round + 1), 0x0f1e2d3c4b5a6978ull >> round,
                                 0x1234567890abcdefull ^ (uint64_t)round, 0 };
            if (round == 3)
                in.rcx = 0;         /* BSF/BSR/TZCNT/LZCNT of zero */
            for (unsigned b = 0; b < sizeof(host_buf); b++)
                host_buf[b] = (uint8_t)(b * 7 + round);
            memcpy(host_buf, &in.rax, 8);           /* CMPXCHG16B: compare succeeds in even rounds */
            if (round & 1)
                host_buf[0] ^= 1;
            uint64_t ud_rip = 0;
            /* reported */
            struct hstate gs = in;
            guest_setup(&full);
            assert_false(guest_run(c->code, c->len, &gs, &ud_rip));
            if (c->host) {
                struct hstate hs = in;
                uint8_t gbuf[sizeof(host_buf)];
                memcpy(gbuf, g64_ptr(&g, SCRATCH), sizeof(gbuf));
                host_run(c->code, c->len, &hs);
                if (hs.rax != gs.rax || hs.rcx != gs.rcx || hs.rdx != gs.rdx ||
                    memcmp(gbuf, host_buf, sizeof(gbuf)))
                    fail_msg("%s round %d: guest rax %llx rcx %llx rdx %llx, host %llx %llx %llx", c->name,
                             round, (unsigned long long)gs.rax, (unsigned long long)gs.rcx,
                             (unsigned long long)gs.rdx, (unsigned long long)hs.rax,
                             (unsigned long long)hs.rcx, (unsigned long long)hs.rdx);
            }
            guest_teardown();
            /* cleared */
            struct v3_cpu_model m = full;
            assert_int_equal(v3_cpu_model_set_feature(&m, c->feat, false), V3_OK);
            gs = in;
            for (unsigned b = 0; b < sizeof(host_buf); b++)
                host_buf[b] = (uint8_t)(b * 7 + round);
            guest_setup(&m);
            int ud = guest_run(c->code, c->len, &gs, &ud_rip);
            if (c->fallback) {
                struct hstate hs = in;
                assert_false(ud);
                host_run(c->fb_code, c->fb_len, &hs);
                /* BSF/BSR of zero: the destination is unchanged on AMD (and the emulator) */
                if (hs.rax != gs.rax)
                    fail_msg("%s without %s round %d: %llx, host %s %llx", c->name, c->feat, round,
                             (unsigned long long)gs.rax, c->fallback, (unsigned long long)hs.rax);
            } else {
                if (!ud)
                    fail_msg("%s: no #UD with %s cleared", c->name, c->feat);
                assert_int_equal(ud_rip, CODE + c->ud_off);
            }
            guest_teardown();
        }
    }
}

/* v3_cpu_set_model drops the decoded blocks: POPCNT runs, then #UD once cleared. */
static void test_model_change_drops_blocks(void **state)
{
    (void)state;
    static const uint8_t code[] = { 0xf3, 0x48, 0x0f, 0xb8, 0xc1 };   /* popcnt rax, rcx */
    struct v3_cpu_model full, m;
    uint64_t ud_rip = 0;
    v3_cpu_default_model(&full);
    guest_setup(&full);
    struct hstate s = { 0, 0xff00ff, 0, 0 };
    assert_false(guest_run(code, sizeof(code), &s, &ud_rip));
    assert_int_equal(s.rax, 16);
    /* the same code again without invalidation: the cached block runs */
    struct v3_exit ex;
    g.core->rip = CODE;
    g.core->halted = 0;
    v3_emu_backend.run(g.core, &ex);
    assert_true(g64_halted_at(&ex, CODE + sizeof(code)));
    m = full;
    assert_int_equal(v3_cpu_model_set_feature(&m, "popcnt", false), V3_OK);
    assert_int_equal(v3_cpu_set_model(g.core, &m), V3_OK);
    g.core->rip = CODE;
    g.core->halted = 0;
    g.core->gpr[V3_RSP] = STACK;
    v3_emu_backend.run(g.core, &ex);
    assert_true(g64_halted_at(&ex, UDH));
    /* and back: reported again, it runs */
    assert_int_equal(v3_cpu_set_model(g.core, &full), V3_OK);
    g.core->rip = CODE;
    g.core->halted = 0;
    g.core->gpr[V3_RAX] = 0;
    v3_emu_backend.run(g.core, &ex);
    assert_true(g64_halted_at(&ex, CODE + sizeof(code)));
    assert_int_equal(g.core->gpr[V3_RAX], 16);
    guest_teardown();
}

/* Features that are not instructions: EFER.NXE needs NX, EFER.SCE SYSCALL
 * (#GP(0) on WRMSR otherwise); PS in a PDPTE needs Page1GB (else reserved:
 * #PF with RSVD). */
static void test_nx_syscall_1g(void **state)
{
    (void)state;
    struct v3_cpu_model full, m;
    struct v3_exception exc;
    uint64_t gpa;
    v3_cpu_default_model(&full);
    guest_setup(&full);
    uint64_t efer = g.core->efer;
    assert_int_equal(v3_cpu_wrmsr(g.core, V3_MSR_EFER, efer | V3_EFER_NXE, &exc), 0);
    assert_int_equal(v3_cpu_wrmsr(g.core, V3_MSR_EFER, efer, &exc), 0);
    /* a 1 GiB page: PML4[0] -> PDPT at 0x2000; entry 1 maps 1 GiB at 1 GiB */
    uint64_t *pdpt = (uint64_t *)(g.ram + 0x2000);
    pdpt[1] = 0x40000000ull | 0x83;
    v3_tlb_flush_all(g.core);
    assert_int_equal(v3_gva_to_gpa(g.core, 0x40001234ull, V3_ACCESS_READ, &gpa, &exc), V3_OK);
    assert_int_equal(gpa, 0x40001234ull);

    m = full;
    assert_int_equal(v3_cpu_model_set_feature(&m, "nx", false), V3_OK);
    assert_int_equal(v3_cpu_model_set_feature(&m, "syscall", false), V3_OK);
    assert_int_equal(v3_cpu_model_set_feature(&m, "pdpe1gb", false), V3_OK);
    assert_int_equal(v3_cpu_set_model(g.core, &m), V3_OK);
    memset(&exc, 0, sizeof(exc));
    assert_int_equal(v3_cpu_wrmsr(g.core, V3_MSR_EFER, (efer & ~V3_EFER_SCE) | V3_EFER_NXE, &exc), V3_EFAULT);
    assert_int_equal(exc.vector, V3_EXC_GP);
    assert_int_equal(v3_cpu_wrmsr(g.core, V3_MSR_EFER, efer | V3_EFER_SCE, &exc), V3_EFAULT);
    assert_int_equal(v3_cpu_wrmsr(g.core, V3_MSR_EFER, efer & ~V3_EFER_SCE, &exc), 0);
    memset(&exc, 0, sizeof(exc));
    assert_int_equal(v3_gva_to_gpa(g.core, 0x40001234ull, V3_ACCESS_READ, &gpa, &exc), V3_EFAULT);
    assert_int_equal(exc.vector, V3_EXC_PF);
    assert_true(exc.error_code & V3_PF_RSVD);
    /* the 2 MiB pages of the window still translate */
    assert_int_equal(v3_gva_to_gpa(g.core, G64_LA + 0x10, V3_ACCESS_READ, &gpa, &exc), V3_OK);
    guest_teardown();
}

/* The feature names: set/clear, aliases, QEMU spelling, + of an unimplemented feature. */
static void test_feature_names(void **state)
{
    (void)state;
    struct v3_cpu_model m, full;
    v3_cpu_vendor_model(&full, V3_CPU_VENDOR_AMD);
    m = full;
    assert_int_equal(v3_cpu_model_set_feature(&m, "sse4.1", false), V3_OK);
    assert_false(v3_cpu_model_has(&m, V3_CPUID_1_ECX, 19));
    assert_int_equal(v3_cpu_model_set_feature(&m, "lzcnt", false), V3_OK);
    assert_false(v3_cpu_model_has(&m, V3_CPUID_X1_ECX, 5));
    assert_int_equal(v3_cpu_model_set_feature(&m, "abm", true), V3_OK);
    assert_true(v3_cpu_model_has(&m, V3_CPUID_X1_ECX, 5));
    assert_int_equal(v3_cpu_model_set_feature(&m, "mmx", false), V3_OK);   /* AMD: both leaves */
    assert_false(v3_cpu_model_has(&m, V3_CPUID_1_EDX, 23));
    assert_false(v3_cpu_model_has(&m, V3_CPUID_X1_EDX, 23));
    assert_int_equal(v3_cpu_model_set_feature(&m, "xsave", false), V3_OK);
    assert_false(v3_cpu_model_has(&m, V3_CPUID_D1_EAX, 0));               /* XSAVEOPT needs XSAVE */
    assert_int_equal(v3_cpu_model_set_feature(&m, "avx", true), V3_ENOENT);
    assert_int_equal(v3_cpu_model_set_feature(&m, "no-such", false), V3_ENOENT);
    assert_int_equal(v3_cpu_model_set_feature(NULL, "sse", false), V3_EINVAL);
    /* a name the list has, but not implemented: clearing only */
    struct v3_cpu_model z = full;
    assert_int_equal(v3_cpu_model_set_feature(&z, "hypervisor", false), V3_OK);
    unsigned n = 0;
    const char *name, *desc;
    for (; (name = v3_cpu_feature_name(n, &desc)); n++)
        assert_true(name[0] && desc && desc[0]);
    assert_true(n > 20);
}

int main(void)
{
    host_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (host_page == MAP_FAILED)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_feature_names),
        cmocka_unit_test(test_gates),
        cmocka_unit_test(test_model_change_drops_blocks),
        cmocka_unit_test(test_nx_syscall_1g),
    };
    return cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
}
