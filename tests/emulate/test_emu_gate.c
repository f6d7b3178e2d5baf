/* SPDX-License-Identifier: MIT */
/*
 * The fault path (v3_emulate_one) follows the vCPU's CPU model: an
 * instruction whose feature the model reports runs (GPR results compared
 * with the same bytes on the host), one whose feature is cleared raises #UD
 * without side effects, TZCNT/LZCNT without BMI1/ABM compute BSF/BSR (the
 * host's BSF/BSR are the oracle), and the fault path's decoded-instruction
 * cache does not outlive a model change.
 */
#include <sys/mman.h>
#include "emu_util.h"
#include <v3/cpuid.h>

struct fcase {
    const char *feat;
    uint8_t code[8];
    unsigned len;
    int host;                    /* GPR-only user-level: compare with the host */
    uint8_t fb[8];               /* fallback without the feature (BSF/BSR), fb_len 0: #UD */
    unsigned fb_len;
};

static const struct fcase fcases[] = {
    { "mmx",     { 0x0f, 0xfc, 0x06 }, 3, 0, { 0 }, 0 },                   /* paddb mm0, [rsi] */
    { "sse",     { 0x0f, 0x58, 0x06 }, 3, 0, { 0 }, 0 },                   /* addps xmm0, [rsi] */
    { "sse",     { 0x0f, 0xe0, 0x06 }, 3, 0, { 0 }, 0 },                   /* pavgb mm0, [rsi] */
    { "sse2",    { 0x66, 0x0f, 0xd4, 0x06 }, 4, 0, { 0 }, 0 },             /* paddq xmm0, [rsi] */
    { "sse2",    { 0x0f, 0xd4, 0x06 }, 3, 0, { 0 }, 0 },                   /* paddq mm0, [rsi] */
    { "sse3",    { 0xf2, 0x0f, 0xf0, 0x06 }, 4, 0, { 0 }, 0 },             /* lddqu xmm0, [rsi] */
    { "ssse3",   { 0x66, 0x0f, 0x38, 0x00, 0x06 }, 5, 0, { 0 }, 0 },       /* pshufb xmm0, [rsi] */
    { "sse4_1",  { 0x66, 0x0f, 0x38, 0x17, 0x06 }, 5, 0, { 0 }, 0 },       /* ptest xmm0, [rsi] */
    { "sse4_2",  { 0xf2, 0x48, 0x0f, 0x38, 0xf1, 0xc1 }, 6, 1, { 0 }, 0 }, /* crc32 rax, rcx */
    { "popcnt",  { 0xf3, 0x48, 0x0f, 0xb8, 0xc1 }, 5, 1, { 0 }, 0 },       /* popcnt rax, rcx */
    { "cx16",    { 0x48, 0x0f, 0xc7, 0x0e }, 4, 0, { 0 }, 0 },             /* cmpxchg16b [rsi] */
    { "movbe",   { 0x48, 0x0f, 0x38, 0xf1, 0x06 }, 5, 0, { 0 }, 0 },       /* movbe [rsi], rax */
    { "bmi1",    { 0xc4, 0xe2, 0xf0, 0xf2, 0xc2 }, 5, 1, { 0 }, 0 },       /* andn rax, rcx, rdx */
    { "bmi1",    { 0xf3, 0x48, 0x0f, 0xbc, 0xc1 }, 5, 1, { 0x48, 0x0f, 0xbc, 0xc1 }, 4 },  /* tzcnt / bsf */
    { "abm",     { 0xf3, 0x48, 0x0f, 0xbd, 0xc1 }, 5, 1, { 0x48, 0x0f, 0xbd, 0xc1 }, 4 },  /* lzcnt / bsr */
    { "cmov",    { 0x48, 0x0f, 0x44, 0x06 }, 4, 0, { 0 }, 0 },             /* cmove rax, [rsi] */
    { "clflush", { 0x0f, 0xae, 0x3e }, 3, 0, { 0 }, 0 },                   /* clflush [rsi] */
    { "fxsr",    { 0x0f, 0xae, 0x06 }, 3, 0, { 0 }, 0 },                   /* fxsave [rsi] */
    { "xsave",   { 0x0f, 0xae, 0x26 }, 3, 0, { 0 }, 0 },                   /* xsave [rsi] */
    { "xsaveopt",{ 0x0f, 0xae, 0x36 }, 3, 0, { 0 }, 0 },                   /* xsaveopt [rsi] */
    { "rdtscp",  { 0x0f, 0x01, 0xf9 }, 3, 0, { 0 }, 0 },
    { "smap",    { 0x0f, 0x01, 0xcb }, 3, 0, { 0 }, 0 },                   /* stac */
    { "rdrand",  { 0x48, 0x0f, 0xc7, 0xf0 }, 4, 0, { 0 }, 0 },
    { "rdseed",  { 0x48, 0x0f, 0xc7, 0xf8 }, 4, 0, { 0 }, 0 },
    { "lahf_lm", { 0x9f }, 1, 0, { 0 }, 0 },                               /* lahf (64-bit mode) */
};

static uint8_t *host_page;

/* rax/rcx/rdx in and out through s[0..2] on the host */
static void host_run(const uint8_t *c, unsigned len, uint64_t s[3])
{
    static const uint8_t pro[] = { 0x49, 0x89, 0xfb, 0x49, 0x8b, 0x03, 0x49, 0x8b, 0x4b, 0x08,
                                   0x49, 0x8b, 0x53, 0x10 };
    static const uint8_t epi[] = { 0x49, 0x89, 0x03, 0x49, 0x89, 0x4b, 0x08, 0x49, 0x89, 0x53, 0x10, 0xc3 };
    memcpy(host_page, pro, sizeof(pro));
    memcpy(host_page + sizeof(pro), c, len);
    memcpy(host_page + sizeof(pro) + len, epi, sizeof(epi));
    __builtin___clear_cache((char *)host_page, (char *)host_page + 128);
    ((void (*)(uint64_t *))(void *)host_page)(s);
}

static int model_reports(const struct v3_cpu_model *full, const char *feat)
{
    struct v3_cpu_model m = *full;
    assert_int_equal(v3_cpu_model_set_feature(&m, feat, false), V3_OK);
    return memcmp(&m, full, sizeof(m)) != 0;
}

static void start(const struct fcase *c, const uint64_t in[3])
{
    code(c->code, c->len);
    core->rip = CODE;
    core->gpr[V3_RAX] = in[0];
    core->gpr[V3_RCX] = in[1];
    core->gpr[V3_RDX] = in[2];
    core->gpr[V3_RSI] = DATA + 0x40;     /* 64-byte aligned, plain RAM */
    core->cr4 |= V3_CR4_OSXSAVE;
}

static void t_gates(void **s)
{
    (void)s;
    struct v3_cpu_model full;
    v3_cpu_default_model(&full);
    for (unsigned i = 0; i < sizeof(fcases) / sizeof(fcases[0]); i++) {
        const struct fcase *c = &fcases[i];
        if (!model_reports(&full, c->feat))
            continue;                    /* host-dependent (SSE levels, entropy) */
        for (int round = 0; round < 3; round++) {
            uint64_t in[3] = { 0x8877665544332211ull + (uint64_t)round, round == 2 ? 0 : 0x00f0e0d0c0b0a090ull >> round,
                               0x1234567890abcdefull };
            /* reported: runs */
            assert_int_equal(v3_cpu_set_model(core, &full), V3_OK);
            start(c, in);
            if (run() != V3_OK || res.status != V3_EMU_DONE)
                fail_msg("%s (case %u): status %d vector %d with the feature reported", c->feat, i, res.status,
                         res.exc.vector);
            assert_int_equal(core->rip, CODE + c->len);
            if (c->host) {
                uint64_t h[3] = { in[0], in[1], in[2] };
                host_run(c->code, c->len, h);
                assert_int_equal(core->gpr[V3_RAX], h[0]);
            }
            /* cleared: #UD with nothing changed, or the fallback */
            struct v3_cpu_model m = full;
            assert_int_equal(v3_cpu_model_set_feature(&m, c->feat, false), V3_OK);
            assert_int_equal(v3_cpu_set_model(core, &m), V3_OK);
            start(c, in);
            uint8_t before[512];
            memcpy(before, ram + DATA, sizeof(before));
            if (c->fb_len) {
                uint64_t h[3] = { in[0], in[1], in[2] };
                assert_int_equal(run(), V3_OK);
                host_run(c->fb, c->fb_len, h);
                assert_int_equal(core->gpr[V3_RAX], h[0]);   /* zero source: unchanged (AMD) */
                assert_int_equal(core->rip, CODE + c->len);
            } else {
                if (run() != V3_EFAULT)
                    fail_msg("%s (case %u): no #UD with the feature cleared", c->feat, i);
                ASSERT_EXC(V3_EXC_UD);
                assert_int_equal(core->rip, CODE);
                assert_int_equal(core->gpr[V3_RAX], in[0]);
                assert_memory_equal(before, ram + DATA, sizeof(before));
            }
        }
    }
    assert_int_equal(v3_cpu_set_model(core, &full), V3_OK);
}

/* The decoded-instruction cache of the fault path is keyed by the model generation. */
static void t_cache_model_change(void **s)
{
    (void)s;
    struct v3_cpu_model full, m;
    static const uint64_t in[3] = { 0, 0xff, 0 };
    v3_cpu_default_model(&full);
    m = full;
    assert_int_equal(v3_cpu_model_set_feature(&m, "popcnt", false), V3_OK);
    assert_int_equal(v3_cpu_set_model(core, &full), V3_OK);
    for (int k = 0; k < 2; k++) {        /* twice: the second is a cache hit */
        start(&fcases[9], in);
        assert_int_equal(run(), V3_OK);
        assert_int_equal(core->gpr[V3_RAX], 8);
    }
    assert_int_equal(v3_cpu_set_model(core, &m), V3_OK);
    start(&fcases[9], in);
    assert_int_equal(run(), V3_EFAULT);
    ASSERT_EXC(V3_EXC_UD);
    assert_int_equal(v3_cpu_set_model(core, &full), V3_OK);
    start(&fcases[9], in);
    assert_int_equal(run(), V3_OK);
    assert_int_equal(core->gpr[V3_RAX], 8);
}

int main(void)
{
    host_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (host_page == MAP_FAILED)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(t_gates, reset),
        cmocka_unit_test_setup(t_cache_model_change, reset),
    };
    return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
