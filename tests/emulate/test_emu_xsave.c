/* SPDX-License-Identifier: MIT */
/*
 * XSAVE feature set (x87 + SSE components): CPUID leaves 1 and 0xD, XGETBV/
 * XSETBV and their #UD/#GP rules, XSAVE/XSAVEOPT/XRSTOR faults, and the
 * saved image and restored state compared with the host CPU's own
 * XSAVE64/XSAVEOPT64/XSAVE/XRSTOR64 from random x87/SSE state.
 *
 * Host differences masked, with the reason:
 *   - 32-bit forms (XSAVE without REX.W): the FPU CS/DS selector words
 *     (bytes 12-13, 20-21) and the high halves of FIP/FDP stored by the
 *     host after a 64-bit FXRSTOR are implementation-specific; v3vmm keeps
 *     no selectors and stores 0.
 *   - the random x87 state has FSW.ES set: AMD processors store FOP/FIP/FDP
 *     only while an x87 exception is pending (0 otherwise).
 */
#include <cpuid.h>
#include "emu_util.h"
#include <v3/cpu.h>
#include <Zydis/Zydis.h>
#include "emu/insn.h"

#define B(...) ((const uint8_t[]){ __VA_ARGS__ })
#define CODEB(...) code(B(__VA_ARGS__), sizeof(B(__VA_ARGS__)))

static void enable_xsave(void)
{
    core->cr4 |= V3_CR4_OSXSAVE | V3_CR4_OSFXSR;
    core->xcr0 = 3;
}

/* ------------------------------------------------------------ CPUID */

static void t_cpuid(void **s)
{
    (void)s;
    uint32_t o[4];
    core->cr4 &= ~V3_CR4_OSXSAVE;
    v3_cpu_cpuid(core, 1, 0, o);
    assert_true(o[2] & (1u << 26));           /* XSAVE */
    assert_false(o[2] & (1u << 27));          /* OSXSAVE = CR4.OSXSAVE = 0 */
    core->cr4 |= V3_CR4_OSXSAVE;
    v3_cpu_cpuid(core, 1, 0, o);
    assert_true(o[2] & (1u << 27));
    v3_cpu_cpuid(core, 0, 0, o);
    assert_true(o[0] >= 0xd);
    v3_cpu_cpuid(core, 0xd, 0, o);
    assert_int_equal(o[0], 3);                 /* x87 | SSE */
    assert_int_equal(o[1], 576);
    assert_int_equal(o[2], 576);
    assert_int_equal(o[3], 0);
    v3_cpu_cpuid(core, 0xd, 1, o);
    assert_int_equal(o[0], 1);                 /* XSAVEOPT only */
    v3_cpu_cpuid(core, 0xd, 2, o);             /* no AVX component */
    assert_int_equal(o[0] | o[1] | o[2] | o[3], 0);
}

/* ------------------------------------------------------------ XGETBV / XSETBV */

static void t_xgetbv_xsetbv(void **s)
{
    (void)s;
    /* CR4.OSXSAVE = 0: #UD */
    CODEB(0x0f, 0x01, 0xd0);                   /* xgetbv */
    core->gpr[V3_RCX] = 0;
    run();
    ASSERT_EXC(V3_EXC_UD);
    CODEB(0x0f, 0x01, 0xd1);                   /* xsetbv */
    run();
    ASSERT_EXC(V3_EXC_UD);
    core->cr4 |= V3_CR4_OSXSAVE;
    assert_int_equal(core->xcr0, 1);           /* reset value */
    /* invalid values: bit 0 clear, unsupported AVX bit, bit 63, ECX != 0 */
    static const uint64_t bad[] = { 0, 2, 5, 7, 1ull << 63, 0x80 };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        core->rip = CODE;
        core->gpr[V3_RAX] = (uint32_t)bad[i];
        core->gpr[V3_RDX] = bad[i] >> 32;
        core->gpr[V3_RCX] = 0;
        run();
        ASSERT_EXC(V3_EXC_GP);
        assert_int_equal(res.exc.error_code, 0);
    }
    core->rip = CODE;
    core->gpr[V3_RAX] = 3;
    core->gpr[V3_RDX] = 0;
    core->gpr[V3_RCX] = 1;
    run();
    ASSERT_EXC(V3_EXC_GP);
    /* CPL 3: #GP(0) */
    core->gpr[V3_RCX] = 0;
    core->cpl = 3;
    core->seg[V3_CS].selector |= 3;
    core->seg[V3_SS].selector |= 3;
    run();
    ASSERT_EXC(V3_EXC_GP);
    assert_int_equal(core->xcr0, 1);
    core->cpl = 0;
    core->seg[V3_CS].selector &= ~3;
    core->seg[V3_SS].selector &= ~3;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(core->xcr0, 3);
    assert_int_equal(core->rip, CODE + 3);
    /* XGETBV at CPL 3 reads XCR0; ECX = 1 is #GP (XGETBV_ECX_1 not reported) */
    CODEB(0x0f, 0x01, 0xd0);
    core->rip = CODE;
    core->cpl = 3;
    core->gpr[V3_RAX] = core->gpr[V3_RDX] = ~0ull;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(core->gpr[V3_RAX], 3);
    assert_int_equal(core->gpr[V3_RDX], 0);
    core->rip = CODE;
    core->gpr[V3_RCX] = 1;
    run();
    ASSERT_EXC(V3_EXC_GP);
}

/* ------------------------------------------------------------ XSAVE faults */

static void t_xsave_faults(void **s)
{
    (void)s;
    CODEB(0x48, 0x0f, 0xae, 0x23);             /* xsave64 [rbx] */
    core->gpr[V3_RAX] = 3;
    core->gpr[V3_RDX] = 0;
    core->gpr[V3_RBX] = DATA;
    run();
    ASSERT_EXC(V3_EXC_UD);                     /* CR4.OSXSAVE = 0 */
    enable_xsave();
    core->cr0 |= V3_CR0_TS;
    run();
    ASSERT_EXC(V3_EXC_NM);
    core->cr0 &= ~V3_CR0_TS;
    memset(ram + DATA, 0xee, 1024);
    core->gpr[V3_RBX] = DATA + 16;             /* 16- but not 64-byte aligned */
    run();
    ASSERT_EXC(V3_EXC_GP);
    assert_int_equal(ram[DATA + 16], 0xee);
    /* XRSTOR: XSTATE_BV beyond XCR0, XCOMP_BV != 0, reserved header bytes, MXCSR reserved bits */
    core->gpr[V3_RBX] = DATA;
    memset(ram + DATA, 0, 1024);
    uint32_t mx = 0x1f80;
    memcpy(ram + DATA + 24, &mx, 4);
    CODEB(0x48, 0x0f, 0xae, 0x2b);             /* xrstor64 [rbx] */
    static const struct { unsigned off; uint8_t v; } badh[] = {
        { 512, 4 }, { 519, 0x80 }, { 520, 1 }, { 527, 0x80 }, { 535, 1 },
    };
    for (unsigned i = 0; i < sizeof(badh) / sizeof(badh[0]); i++) {
        memset(ram + DATA + 512, 0, 64);
        ram[DATA + badh[i].off] = badh[i].v;
        run();
        ASSERT_EXC(V3_EXC_GP);
    }
    memset(ram + DATA + 512, 0, 64);
    ram[DATA + 512] = 3;
    mx = 0x10000 | 0x1f80;                     /* above MXCSR_MASK */
    memcpy(ram + DATA + 24, &mx, 4);
    run();
    ASSERT_EXC(V3_EXC_GP);
    /* ... the same with RFBM = x87 only: MXCSR is not loaded, no #GP */
    core->gpr[V3_RAX] = 1;
    assert_int_equal(run(), V3_OK);
    /* header bytes 24-63 are not checked by the standard form */
    mx = 0x1f80;
    memcpy(ram + DATA + 24, &mx, 4);
    ram[DATA + 512 + 40] = 0x55;
    core->rip = CODE;
    core->gpr[V3_RAX] = 3;
    assert_int_equal(run(), V3_OK);
    /* XSAVEC / XSAVES / XRSTORS are not reported: the #UD fallback (the
     * fault path used here reports them unsupported instead, see fault.c) */
    static const uint8_t xsavec[] = { 0x48, 0x0f, 0xc7, 0x23 };
    struct v3_insn in;
    assert_int_equal(v3_decode(V3_MODE_LONG64, xsavec, 4, &in), 4);
    assert_true(in.handler == v3_op_ud_unreported);
    assert_int_equal(v3_emu_classify(ZYDIS_MNEMONIC_XSAVES, NULL), V3_MNC_UD);
    assert_int_equal(v3_emu_classify(ZYDIS_MNEMONIC_XRSTORS64, NULL), V3_MNC_UD);
}

/* XRSTOR with XSTATE_BV = 0 puts the components in their initial state;
 * XSAVE then reports XSTATE_BV = 0 for them (not in use). */
static void t_xrstor_init(void **s)
{
    (void)s;
    enable_xsave();
    memset(core->fpu.st, 0x5a, sizeof(core->fpu.st));
    memset(core->fpu.xmm, 0xa5, sizeof(core->fpu.xmm));
    core->fpu.fcw = 0x27f;
    core->fpu.ftw = 0x81;
    memset(ram + DATA, 0, 1024);
    uint32_t mx = 0x9fc0;
    memcpy(ram + DATA + 24, &mx, 4);
    CODEB(0x48, 0x0f, 0xae, 0x2b);             /* xrstor64 [rbx] */
    core->gpr[V3_RBX] = DATA;
    core->gpr[V3_RAX] = 3;
    core->gpr[V3_RDX] = 0;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(core->fpu.fcw, 0x37f);
    assert_int_equal(core->fpu.ftw, 0);
    assert_int_equal(core->fpu.st[3][0], 0);
    assert_int_equal(core->fpu.xmm[15][15], 0);
    assert_int_equal(core->fpu.mxcsr, 0x9fc0);  /* MXCSR comes from memory even so */
    core->fpu.mxcsr = 0x1f80;
    memset(ram + DATA + 512, 0xff, 8);          /* XSTATE_BV bits outside RFBM are kept */
    CODEB(0x48, 0x0f, 0xae, 0x23);              /* xsave64 [rbx] */
    core->rip = CODE;
    assert_int_equal(run(), V3_OK);
    uint64_t bv;
    memcpy(&bv, ram + DATA + 512, 8);
    assert_int_equal(bv, ~3ull);
}

/* ------------------------------------------------------------ the host CPU as the oracle */

static int host_has_xsave(void)
{
    unsigned a, b, c, d;
    uint32_t lo, hi;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27)))
        return 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & 3) == 3;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static uint32_t host_mxcsr_mask(void)
{
    static uint8_t a[512] __attribute__((aligned(64)));
    uint32_t m;
    __asm__ volatile("fxsave64 %0" : "=m"(a));
    memcpy(&m, a + 28, 4);
    return m ? m : 0xffbf;
}

/* A random FXSAVE64 image in the form the host keeps it (FSW.ES and B set:
 * see the header; B mirrors ES). */
static void random_image(uint8_t *img, uint32_t mmask)
{
    /* FCW as the FPU keeps it: bit 6 reads 1, bits 7 and 13-15 read 0 */
    /* IE unmasked and pending, so ES (and B) are set as the FPU computes them */
    uint16_t fcw = (uint16_t)((rnd() & 0x1f3e) | 0x40), fsw = (uint16_t)(rnd() | 0x8081), fop = (uint16_t)(rnd() & 0x7ff);
    uint32_t mx = (uint32_t)rnd() & mmask;
    uint64_t fip = rnd() & 0x7fffffffffffull, fdp = rnd() & 0x7fffffffffffull;   /* canonical, as the host keeps them */
    memset(img, 0, 512);
    memcpy(img + 0, &fcw, 2);
    memcpy(img + 2, &fsw, 2);
    img[4] = (uint8_t)rnd();
    memcpy(img + 6, &fop, 2);
    memcpy(img + 8, &fip, 8);
    memcpy(img + 16, &fdp, 8);
    memcpy(img + 24, &mx, 4);
    memcpy(img + 28, &mmask, 4);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 10; j++)
            img[32 + 16 * i + j] = (uint8_t)rnd();
    for (int i = 0; i < 256; i++)
        img[160 + i] = (uint8_t)rnd();
}

static void load_core(const uint8_t *img)
{
    memcpy(&core->fpu, img, 512);
}

/* Run @p kind on the host with state @p img: 0 xsave64, 1 xsaveopt64, 2 xsave (32-bit format). */
static void host_save(int kind, const uint8_t *img, uint64_t rfbm, uint8_t *area)
{
    static uint8_t saved[512] __attribute__((aligned(64)));
    __asm__ volatile("fxsave64 %0" : "=m"(saved));
    __asm__ volatile("fxrstor64 %0" : : "m"(*(const uint8_t(*)[512])img));
    if (kind == 0)
        __asm__ volatile("xsave64 %0" : "+m"(*(uint8_t(*)[576])area) : "a"((uint32_t)rfbm), "d"(0));
    else if (kind == 1)
        __asm__ volatile("xsaveopt64 %0" : "+m"(*(uint8_t(*)[576])area) : "a"((uint32_t)rfbm), "d"(0));
    else
        __asm__ volatile("xsave %0" : "+m"(*(uint8_t(*)[576])area) : "a"((uint32_t)rfbm), "d"(0));
    __asm__ volatile("fxrstor64 %0" : : "m"(saved));
}

static void host_restore(const uint8_t *prev, const uint8_t *area, uint64_t rfbm, uint8_t *after)
{
    static uint8_t saved[512] __attribute__((aligned(64)));
    __asm__ volatile("fxsave64 %0" : "=m"(saved));
    __asm__ volatile("fxrstor64 %0" : : "m"(*(const uint8_t(*)[512])prev));
    __asm__ volatile("xrstor64 %0" : : "m"(*(const uint8_t(*)[576])area), "a"((uint32_t)rfbm), "d"(0));
    __asm__ volatile("fxsave64 %0" : "=m"(*(uint8_t(*)[512])after));
    __asm__ volatile("fxrstor64 %0" : : "m"(saved));
}

static void t_host_xsave(void **s)
{
    (void)s;
    static uint8_t img[512] __attribute__((aligned(64)));
    static uint8_t harea[1024] __attribute__((aligned(64)));
    static const uint8_t codes[3][4] = { { 0x48, 0x0f, 0xae, 0x23 },    /* xsave64 [rbx] */
                                         { 0x48, 0x0f, 0xae, 0x33 },    /* xsaveopt64 [rbx] */
                                         { 0x40, 0x0f, 0xae, 0x23 } };  /* xsave [rbx] (REX, no W) */
    if (!host_has_xsave()) {
        skip();
        return;
    }
    uint32_t mmask = host_mxcsr_mask();
    unsigned compared = 0, a, b, cc, d;
    int has_opt = __get_cpuid_count(0xd, 1, &a, &b, &cc, &d) && (a & 1);
    for (int iter = 0; iter < 200; iter++) {
        int kind = iter % 3;
        if (kind == 1 && !has_opt)
            kind = 0;                          /* the host has no XSAVEOPT */
        uint64_t rfbm = 1 + (uint64_t)(iter / 3) % 3;
        random_image(img, mmask);
        /* the area before: a pattern, a header with random XSTATE_BV bits above SSE */
        uint64_t bv0 = rnd() & ~3ull & 0xfcull;
        memset(harea, 0xcc, sizeof(harea));
        memset(harea + 512, 0, 64);
        memcpy(harea + 512, &bv0, 8);
        memcpy(ram + DATA, harea, 1024);
        host_save(kind, img, rfbm, harea);

        set_mode(64);
        enable_xsave();
        load_core(img);
        code(codes[kind], 4);
        core->gpr[V3_RBX] = DATA;
        core->gpr[V3_RAX] = rfbm;
        core->gpr[V3_RDX] = 0;
        assert_int_equal(run(), V3_OK);
        uint8_t *g = ram + DATA;
        if (kind == 2) {                      /* selectors and FIP/FDP high halves: see the header */
            for (unsigned o = 12; o < 16; o++) g[o] = harea[o];
            for (unsigned o = 20; o < 24; o++) g[o] = harea[o];
        }
        for (unsigned o = 0; o < 1024; o++) {
            if (g[o] != harea[o]) {
                fprintf(stderr, "iter %d kind %d rfbm %llu: byte %u is %02x, host %02x\n", iter, kind,
                        (unsigned long long)rfbm, o, g[o], harea[o]);
                fail();
            }
        }
        compared++;
    }
    assert_int_equal(compared, 200);
}

static void t_host_xrstor(void **s)
{
    (void)s;
    static uint8_t prev[512] __attribute__((aligned(64)));
    static uint8_t src[512] __attribute__((aligned(64)));
    static uint8_t area[576] __attribute__((aligned(64)));
    static uint8_t after[512] __attribute__((aligned(64)));
    if (!host_has_xsave()) {
        skip();
        return;
    }
    uint32_t mmask = host_mxcsr_mask();
    for (int iter = 0; iter < 200; iter++) {
        uint64_t rfbm = 1 + (uint64_t)iter % 3, bv = (uint64_t)(iter / 3) % 4;
        random_image(prev, mmask);
        random_image(src, mmask);
        memset(area, 0, sizeof(area));
        memcpy(area, src, 512);
        memcpy(area + 512, &bv, 8);
        if (iter & 1) {                        /* raw FCW/FSW: the reserved bits, ES and B as loaded */
            uint16_t w = (uint16_t)rnd();
            memcpy(area + 0, &w, 2);
            w = (uint16_t)rnd();
            memcpy(area + 2, &w, 2);
        }
        host_restore(prev, area, rfbm, after);

        set_mode(64);
        enable_xsave();
        load_core(prev);
        memcpy(ram + DATA, area, sizeof(area));
        CODEB(0x48, 0x0f, 0xae, 0x2b);         /* xrstor64 [rbx] */
        core->gpr[V3_RBX] = DATA;
        core->gpr[V3_RAX] = rfbm;
        core->gpr[V3_RDX] = 0;
        assert_int_equal(run(), V3_OK);
        uint8_t mine[512];
        memcpy(mine, &core->fpu, 512);
        if (!(after[2] & 0x80))                /* AMD's FXSAVE stores FOP/FIP/FDP only with ES = 1 */
            memcpy(mine + 6, after + 6, 18);
        /* the architectural part of the image: bytes 0-415 */
        for (unsigned o = 0; o < 416; o++) {
            if (mine[o] != after[o]) {
                fprintf(stderr, "iter %d rfbm %llu bv %llu: byte %u is %02x, host %02x\n", iter,
                        (unsigned long long)rfbm, (unsigned long long)bv, o, mine[o], after[o]);
                fail();
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(t_cpuid, reset),
        cmocka_unit_test_setup(t_xgetbv_xsetbv, reset),
        cmocka_unit_test_setup(t_xsave_faults, reset),
        cmocka_unit_test_setup(t_xrstor_init, reset),
        cmocka_unit_test_setup(t_host_xsave, reset),
        cmocka_unit_test_setup(t_host_xrstor, reset),
    };
    return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
