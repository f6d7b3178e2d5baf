/* SPDX-License-Identifier: MIT */
/*
 * Exception and state rules of the MMX/SSE families at the handler level
 * (src/emu/ops_vint.c, ops_vfp.c, ops_sse.c), as the SDM states them
 * (vol. 2 "SIMD Floating-Point Exceptions" / "Exceptions (All Operating
 * Modes)" of each instruction, vol. 1 11.5 and 9.5):
 *   CR0.EM -> #UD; CR4.OSFXSR clear -> #UD (SSE); CR0.TS -> #NM; MMX with a
 *   pending unmasked x87 exception -> #MF; misaligned m128 of an aligned
 *   form -> #GP(0) (not for PCMPxSTRx, MOVDQU, scalar or MMX operands);
 *   an unmasked SIMD FP exception -> #XM with CR4.OSXMMEXCPT, else #UD, the
 *   destination unchanged and the flag set; MMX state on MMX use, EMMS.
 * Instruction bytes are hand assembled (nasm syntax in the comments); the
 * memory is a flat 64 KiB buffer at linear 0.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <cpuid.h>
#include <v3/cpu.h>
#include "emu/insn.h"

static uint8_t mem[0x10000];
static struct v3_core core;
static struct v3_emu_ctx ctx;

static int mread(struct v3_emu_ctx *c, uint64_t la, void *dst, unsigned len, unsigned access)
{
    (void)c; (void)access;
    assert_true(la + len <= sizeof(mem));
    memcpy(dst, mem + la, len);
    return V3_OK;
}

static int mwrite(struct v3_emu_ctx *c, uint64_t la, const void *src, unsigned len, unsigned access)
{
    (void)c; (void)access;
    assert_true(la + len <= sizeof(mem));
    memcpy(mem + la, src, len);
    return V3_OK;
}

static const struct v3_emu_mem_ops flat = { mread, mwrite, NULL };

static int setup(void **s)
{
    (void)s;
    memset(&core, 0, sizeof(core));
    memset(mem, 0, sizeof(mem));
    core.mode = V3_MODE_LONG64;
    core.cr0 = V3_CR0_PE | V3_CR0_PG | V3_CR0_NE;
    core.cr4 = V3_CR4_OSFXSR | V3_CR4_OSXMMEXCPT;
    core.fpu.fcw = 0x37f;
    core.fpu.mxcsr = 0x1f80;
    core.fpu.mxcsr_mask = 0xffff;
    memset(&ctx, 0, sizeof(ctx));
    ctx.core = &core;
    ctx.mem = &flat;
    return 0;
}

/* decode and execute @p code; returns the V3_X_* status */
static int exec(const uint8_t *code, size_t len)
{
    struct v3_insn in;
    assert_true(v3_decode(V3_MODE_LONG64, code, len, &in) > 0);
    assert_true(in.handler != v3_op_unsupported);
    core.rip = 0x1000;
    return v3_exec(&ctx, &in);
}
#define EXEC(...) exec((const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ }))

static void expect_exc(int st, unsigned vec)
{
    assert_int_equal(st, V3_X_EXC);
    assert_int_equal(ctx.exc.vector, vec);
    assert_int_equal(core.rip, 0x1000);
}

/* paddb xmm1, [rbx] / paddb mm1, [rbx]: availability order */
static void t_availability(void **s)
{
    (void)s;
    core.gpr[V3_RBX] = 0x100;
    core.cr0 |= V3_CR0_EM | V3_CR0_TS;
    expect_exc(EXEC(0x66, 0x0f, 0xfc, 0x0b), V3_EXC_UD);       /* EM before TS */
    expect_exc(EXEC(0x0f, 0xfc, 0x0b), V3_EXC_UD);
    core.cr0 &= ~V3_CR0_EM;
    expect_exc(EXEC(0x66, 0x0f, 0xfc, 0x0b), V3_EXC_NM);
    expect_exc(EXEC(0x0f, 0xfc, 0x0b), V3_EXC_NM);
    core.cr0 &= ~V3_CR0_TS;
    core.cr4 &= ~V3_CR4_OSFXSR;
    expect_exc(EXEC(0x66, 0x0f, 0xfc, 0x0b), V3_EXC_UD);       /* SSE needs OSFXSR */
    expect_exc(EXEC(0x66, 0x0f, 0x58, 0x0b), V3_EXC_UD);       /* addpd xmm1, [rbx] */
    assert_int_equal(EXEC(0x0f, 0xfc, 0x0b), V3_X_NEXT);      /* MMX does not */
    core.cr4 |= V3_CR4_OSFXSR;
    /* pending unmasked x87 exception: MMX -> #MF, SSE unaffected */
    core.fpu.fsw = 0x0081;                                      /* IE + ES */
    expect_exc(EXEC(0x0f, 0xfc, 0x0b), V3_EXC_MF);
    expect_exc(EXEC(0x0f, 0x77), V3_EXC_MF);                    /* emms */
    assert_int_equal(EXEC(0x66, 0x0f, 0xfc, 0x0b), V3_X_NEXT);
}

/* m128 alignment: aligned forms #GP(0); PCMPESTRI, MOVDQU, scalar and MMX do not check */
static void t_alignment(void **s)
{
    (void)s;
    core.gpr[V3_RBX] = 0x108;
    uint8_t before[16];
    memcpy(before, core.fpu.xmm[1], 16);
    expect_exc(EXEC(0x66, 0x0f, 0xfc, 0x0b), V3_EXC_GP);        /* paddb xmm1, [rbx] */
    assert_int_equal(ctx.exc.error_code, 0);
    expect_exc(EXEC(0x66, 0x0f, 0x38, 0x00, 0x0b), V3_EXC_GP);  /* pshufb xmm1, [rbx] */
    expect_exc(EXEC(0x0f, 0x58, 0x0b), V3_EXC_GP);              /* addps xmm1, [rbx] */
    expect_exc(EXEC(0x66, 0x0f, 0x3a, 0x08, 0x0b, 0x00), V3_EXC_GP);  /* roundps xmm1, [rbx], 0 */
    assert_memory_equal(core.fpu.xmm[1], before, 16);
    assert_int_equal(EXEC(0x66, 0x0f, 0x3a, 0x61, 0x0b, 0x00), V3_X_NEXT);  /* pcmpestri xmm1, [rbx], 0 */
    assert_int_equal(EXEC(0xf2, 0x0f, 0x58, 0x0b), V3_X_NEXT);  /* addsd xmm1, [rbx] (m64) */
    assert_int_equal(EXEC(0x66, 0x0f, 0x38, 0x20, 0x0b), V3_X_NEXT);  /* pmovsxbw xmm1, [rbx] (m64) */
    assert_int_equal(EXEC(0x0f, 0xfc, 0x0b), V3_X_NEXT);        /* paddb mm1, [rbx] */
    assert_int_equal(EXEC(0xf3, 0x0f, 0x6f, 0x0b), V3_X_NEXT);  /* movdqu xmm1, [rbx] */
    core.gpr[V3_RBX] = 0x110;
    assert_int_equal(EXEC(0x66, 0x0f, 0xfc, 0x0b), V3_X_NEXT);
}

static void set_ps(int reg, float a)
{
    for (int i = 0; i < 4; i++)
        memcpy(&core.fpu.xmm[reg][4 * i], &a, 4);
}

/* divps xmm1, xmm2 with 1/0: ZE masked -> inf and ZE flag; unmasked -> #XM or #UD,
 * destination unchanged, flag set */
static void t_simd_fp_exceptions(void **s)
{
    (void)s;
    float r;
    set_ps(1, 1.0f);
    set_ps(2, 0.0f);
    assert_int_equal(EXEC(0x0f, 0x5e, 0xca), V3_X_NEXT);
    memcpy(&r, core.fpu.xmm[1], 4);
    assert_true(r > 3.0e38f);                                   /* +inf */
    assert_int_equal(core.fpu.mxcsr, 0x1f80 | 0x4);             /* ZE */

    set_ps(1, 1.0f);
    core.fpu.mxcsr = 0x1f80 & ~0x200u;                          /* ZM clear */
    uint8_t before[16];
    memcpy(before, core.fpu.xmm[1], 16);
    expect_exc(EXEC(0x0f, 0x5e, 0xca), V3_EXC_XM);
    assert_memory_equal(core.fpu.xmm[1], before, 16);
    assert_int_equal(core.fpu.mxcsr, (0x1f80 & ~0x200u) | 0x4);
    core.cr4 &= ~V3_CR4_OSXMMEXCPT;
    expect_exc(EXEC(0x0f, 0x5e, 0xca), V3_EXC_UD);
    core.cr4 |= V3_CR4_OSXMMEXCPT;

    /* pre-computation (IE, unmasked) and post-computation (PE) in other lanes:
     * only IE is reported.  xmm1 = {0, 1, 1, 1}, xmm2 = {0, 3, 3, 3}: 0/0 invalid, 1/3 inexact */
    core.fpu.mxcsr = 0x1f80 & ~0x80u;                           /* IM clear */
    set_ps(1, 1.0f);
    set_ps(2, 3.0f);
    memset(core.fpu.xmm[1], 0, 4);
    memset(core.fpu.xmm[2], 0, 4);
    expect_exc(EXEC(0x0f, 0x5e, 0xca), V3_EXC_XM);
    assert_int_equal(core.fpu.mxcsr & 0x3f, 0x1);
    /* post-computation unmasked (PM clear), no pre-computation: PE reported, #XM */
    core.fpu.mxcsr = 0x1f80 & ~0x1000u;
    set_ps(1, 1.0f);
    set_ps(2, 3.0f);
    expect_exc(EXEC(0x0f, 0x5e, 0xca), V3_EXC_XM);
    assert_int_equal(core.fpu.mxcsr & 0x3f, 0x20);
    /* ROUNDPS imm[3] suppresses PE: roundps xmm1, xmm2, 0x08 with 0.3 -> no exception */
    core.fpu.mxcsr = 0x1f80 & ~0x1000u;
    set_ps(2, 0.3f);
    assert_int_equal(EXEC(0x66, 0x0f, 0x3a, 0x08, 0xca, 0x08), V3_X_NEXT);
    assert_int_equal(core.fpu.mxcsr & 0x3f, 0);
    expect_exc(EXEC(0x66, 0x0f, 0x3a, 0x08, 0xca, 0x00), V3_EXC_XM);
    /* UM clear: an exact tiny result reports UE (and #XM) too; FTZ does not apply.
     * mulsd xmm1, xmm2 with 2^-1000 * 2^-60 = 2^-1060 (an exact double denormal) */
    core.fpu.mxcsr = (0x1f80 & ~0x800u) | 0x8000u;
    uint64_t x = 0x0170000000000000ull, y = 0x3c30000000000000ull;   /* 2^-1000, 2^-60 */
    memcpy(core.fpu.xmm[1], &x, 8);
    memcpy(core.fpu.xmm[2], &y, 8);
    expect_exc(EXEC(0xf2, 0x0f, 0x59, 0xca), V3_EXC_XM);
    assert_int_equal(core.fpu.mxcsr & 0x3f, 0x10);
    assert_memory_equal(core.fpu.xmm[1], &x, 8);
    core.fpu.mxcsr = 0x1f80;                                    /* masked: exact, no flag */
    assert_int_equal(EXEC(0xf2, 0x0f, 0x59, 0xca), V3_X_NEXT);
    assert_int_equal(core.fpu.mxcsr & 0x3f, 0);
    uint64_t z = 1ull << 14;                                    /* 2^-1060 = 2^14 * 2^-1074 */
    assert_memory_equal(core.fpu.xmm[1], &z, 8);
    /* an overflow/underflow fault reports PE from the unbounded-exponent result: exact
     * 2^1000 * 2^100 with OM clear -> OE only; 2^-1000 * 2^-100 with UM clear -> UE only
     * (masked, both are inexact: OE|PE, UE|PE); values observed on the AMD EPYC host too */
    core.fpu.mxcsr = 0x1f80 & ~0x400u;
    x = 0x7e70000000000000ull;                                  /* 2^1000 */
    y = 0x4630000000000000ull;                                  /* 2^100 */
    memcpy(core.fpu.xmm[1], &x, 8);
    memcpy(core.fpu.xmm[2], &y, 8);
    expect_exc(EXEC(0xf2, 0x0f, 0x59, 0xca), V3_EXC_XM);
    assert_int_equal(core.fpu.mxcsr & 0x3f, 0x08);
    core.fpu.mxcsr = 0x1f80;
    assert_int_equal(EXEC(0xf2, 0x0f, 0x59, 0xca), V3_X_NEXT);
    assert_int_equal(core.fpu.mxcsr & 0x3f, 0x28);
    core.fpu.mxcsr = 0x1f80 & ~0x800u;
    x = 0x0170000000000000ull;                                  /* 2^-1000 */
    y = 0x39b0000000000000ull;                                  /* 2^-100 */
    memcpy(core.fpu.xmm[1], &x, 8);
    memcpy(core.fpu.xmm[2], &y, 8);
    expect_exc(EXEC(0xf2, 0x0f, 0x59, 0xca), V3_EXC_XM);
    assert_int_equal(core.fpu.mxcsr & 0x3f, 0x10);
    core.fpu.mxcsr = 0x1f80;
    assert_int_equal(EXEC(0xf2, 0x0f, 0x59, 0xca), V3_X_NEXT);
    assert_int_equal(core.fpu.mxcsr & 0x3f, 0x30);
    /* COMISS with a QNaN: IE (signalled for QNaN by COMISS, not UCOMISS) */
    core.fpu.mxcsr = 0x1f80;
    uint32_t qnan = 0x7fc00000u;
    memcpy(core.fpu.xmm[2], &qnan, 4);
    assert_int_equal(EXEC(0x0f, 0x2e, 0xca), V3_X_NEXT);        /* ucomiss xmm1, xmm2 */
    assert_int_equal(core.fpu.mxcsr & 0x3f, 0);
    assert_int_equal(v3_core_get_rflags(&core) & (V3_FLAG_ZF | V3_FLAG_PF | V3_FLAG_CF),
                     V3_FLAG_ZF | V3_FLAG_PF | V3_FLAG_CF);     /* unordered */
    assert_int_equal(EXEC(0x0f, 0x2f, 0xca), V3_X_NEXT);        /* comiss xmm1, xmm2 */
    assert_int_equal(core.fpu.mxcsr & 0x3f, 0x1);
}

/* MMX state: an MMX instruction sets TOP = 0 and all tags valid, writes
 * ones to bits 79:64 of the register; EMMS empties the tags */
static void t_mmx_state(void **s)
{
    (void)s;
    core.fpu.fsw = 5u << 11;                                    /* TOP = 5 */
    core.fpu.ftw = 0;
    memset(core.fpu.st[3], 0x11, 16);
    memset(core.fpu.st[4], 0x22, 16);
    assert_int_equal(EXEC(0x0f, 0xfd, 0xdc), V3_X_NEXT);        /* paddw mm3, mm4 */
    assert_int_equal((core.fpu.fsw >> 11) & 7, 0);
    assert_int_equal(core.fpu.ftw, 0xff);
    assert_memory_equal(core.fpu.st[3], ((const uint8_t[]){ 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33,
                                                            0xff, 0xff }), 10);
    assert_int_equal(core.fpu.st[4][8], 0x22);                  /* the source keeps its exponent */
    assert_int_equal(EXEC(0x0f, 0x77), V3_X_NEXT);              /* emms */
    assert_int_equal(core.fpu.ftw, 0);
    /* CVTPS2PI (MMX destination) enters MMX state too; CR0.TS -> #NM first */
    core.fpu.fsw = 2u << 11;
    core.cr0 |= V3_CR0_TS;
    expect_exc(EXEC(0x0f, 0x2d, 0xc1), V3_EXC_NM);              /* cvtps2pi mm0, xmm1 */
    core.cr0 &= ~V3_CR0_TS;
    assert_int_equal(EXEC(0x0f, 0x2d, 0xc1), V3_X_NEXT);
    assert_int_equal(core.fpu.ftw, 0xff);
    assert_int_equal((core.fpu.fsw >> 11) & 7, 0);
}

/* CRC32 is a general-purpose instruction: no SSE availability checks */
static void t_crc32_no_sse_checks(void **s)
{
    (void)s;
    core.cr0 |= V3_CR0_EM | V3_CR0_TS;
    core.cr4 &= ~V3_CR4_OSFXSR;
    /* the CRC-32C check value: "123456789" -> E3069283H (initial and final XOR with ones) */
    memcpy(mem + 0x200, "123456789", 9);
    core.gpr[V3_RBX] = 0x200;
    core.gpr[V3_RAX] = 0xffffffffu;
    assert_int_equal(EXEC(0xf2, 0x48, 0x0f, 0x38, 0xf1, 0x03), V3_X_NEXT);   /* crc32 rax, qword [rbx] */
    assert_int_equal(EXEC(0xf2, 0x0f, 0x38, 0xf0, 0x43, 0x08), V3_X_NEXT);   /* crc32 eax, byte [rbx+8] */
    assert_int_equal(core.gpr[V3_RAX] ^ 0xffffffffu, 0xe3069283u);
}

/* the CPU model reports SSE3, SSSE3, SSE4.1, SSE4.2 (as far as the host has them: the
 * floating point runs on its SSE unit), CX16 and POPCNT; not MONITOR */
static void t_cpuid_bits(void **s)
{
    (void)s;
    uint32_t out[4], a = 0, b = 0, c = 0, d = 0;
    v3_cpu_cpuid(NULL, 1, 0, out);
    assert_true(__get_cpuid(1, &a, &b, &c, &d));
    const uint32_t lv = 1u | (1u << 9) | (1u << 19) | (1u << 20);
    assert_int_equal(out[2] & lv, c & lv);
    assert_int_equal(c & lv, lv);            /* the test host (x86-64-v2 or later) has them all */
    assert_true(out[2] & (1u << 13));        /* CX16 */
    assert_true(out[2] & (1u << 23));        /* POPCNT */
    assert_false(out[2] & (1u << 3));        /* MONITOR */
    v3_cpu_cpuid(NULL, 0x80000001u, 0, out);
    assert_true(out[2] & 1u);                /* LAHF/SAHF in 64-bit mode */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(t_availability, setup),
        cmocka_unit_test_setup(t_alignment, setup),
        cmocka_unit_test_setup(t_simd_fp_exceptions, setup),
        cmocka_unit_test_setup(t_mmx_state, setup),
        cmocka_unit_test_setup(t_crc32_no_sse_checks, setup),
        cmocka_unit_test(t_cpuid_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
