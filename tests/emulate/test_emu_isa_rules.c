/* SPDX-License-Identifier: MIT */
/*
 * No mnemonic reaches a VMM stop: every ZydisMnemonic (1 .. ZYDIS_MNEMONIC_
 * MAX_VALUE) has a handler, a documented architectural rule
 * (src/emu/ops_arch.c) or the #UD of an unreported feature, and a sweep of
 * encodings (legacy maps, 3DNow!, VEX, XOP, EVEX; 16/32/64-bit) decodes each
 * to exactly that handler.  The oracle for "unreported" is the model's own
 * CPUID (v3_cpu_cpuid) against the ISA extension Zydis names for the
 * encoding: a #UD fallback for an extension the model reports is a failure,
 * unless the mnemonic is one of the gaps listed below (feature reported,
 * handler not written yet: other families are being added).
 */
#include <stdio.h>
#include <stdlib.h>
#include <Zydis/Zydis.h>
#include "v3test.h"
#include <v3/cpu.h>
#include "emu/insn.h"

static void test_every_mnemonic_classified(void **state)
{
    (void)state;
    unsigned n[4] = { 0 };
    for (unsigned mn = 1; mn <= ZYDIS_MNEMONIC_MAX_VALUE; mn++) {
        const char *why = NULL;
        int k = v3_emu_classify(mn, &why);
        assert_true(k == V3_MNC_HANDLER || k == V3_MNC_RULE || k == V3_MNC_UD);
        if (k == V3_MNC_RULE) {
            assert_non_null(why);
            assert_true(why[0] != 0);
            assert_null(v3_emu_lookup(mn));
        }
        if (k == V3_MNC_HANDLER)
            assert_non_null(v3_emu_lookup(mn));
        n[k]++;
    }
    /* every rule names a real mnemonic and is reachable or overridden by a handler */
    for (const struct v3_arch_rule *r = v3_arch_rules; r->mnemonic; r++) {
        assert_true(r->mnemonic <= ZYDIS_MNEMONIC_MAX_VALUE);
        assert_non_null(r->fn);
        int k = v3_emu_classify(r->mnemonic, NULL);
        assert_true(k == V3_MNC_RULE || k == V3_MNC_HANDLER);
    }
    printf("mnemonics: %u with a handler, %u by rule, %u #UD (feature not reported)\n",
           n[V3_MNC_HANDLER], n[V3_MNC_RULE], n[V3_MNC_UD]);
    assert_true(n[V3_MNC_HANDLER] > 100);
}

/* ------------------------------------------------------------ the model as the oracle */

static uint32_t cpuid_reg(uint32_t leaf, uint32_t sub, unsigned reg)
{
    uint32_t o[4];
    v3_cpu_cpuid(NULL, leaf, sub, o);
    return o[reg];
}
#define EAX 0
#define EBX 1
#define ECX 2
#define EDX 3
static int bit(uint32_t leaf, uint32_t sub, unsigned reg, unsigned b)
{
    return (cpuid_reg(leaf, sub, reg) >> b) & 1;
}

/* Does the default model report ISA extension @p ext?  Extensions not named
 * here are not reported (no bit of the model describes them). */
static int ext_reported(ZydisISAExt ext)
{
    switch (ext) {
    case ZYDIS_ISA_EXT_BASE:       return 1;
    case ZYDIS_ISA_EXT_PAUSE:      return 1;
    case ZYDIS_ISA_EXT_LONGMODE:   return bit(0x80000001, 0, EDX, 29);
    case ZYDIS_ISA_EXT_X87:        return bit(1, 0, EDX, 0);
    case ZYDIS_ISA_EXT_MMX:        return bit(1, 0, EDX, 23);
    case ZYDIS_ISA_EXT_SSE:        return bit(1, 0, EDX, 25);
    case ZYDIS_ISA_EXT_SSE2:       return bit(1, 0, EDX, 26);
    case ZYDIS_ISA_EXT_CLFSH:      return bit(1, 0, EDX, 19);
    case ZYDIS_ISA_EXT_SSE3:       return bit(1, 0, ECX, 0);
    case ZYDIS_ISA_EXT_PCLMULQDQ:  return bit(1, 0, ECX, 1);
    case ZYDIS_ISA_EXT_MONITOR:    return bit(1, 0, ECX, 3);
    case ZYDIS_ISA_EXT_VTX:        return bit(1, 0, ECX, 5);
    case ZYDIS_ISA_EXT_SMX:        return bit(1, 0, ECX, 6);
    case ZYDIS_ISA_EXT_SSSE3:      return bit(1, 0, ECX, 9);
    case ZYDIS_ISA_EXT_FMA:        return bit(1, 0, ECX, 12);
    case ZYDIS_ISA_EXT_SSE4:       return bit(1, 0, ECX, 19) || bit(1, 0, ECX, 20);
    case ZYDIS_ISA_EXT_MOVBE:      return bit(1, 0, ECX, 22);
    case ZYDIS_ISA_EXT_AES:        return bit(1, 0, ECX, 25);
    case ZYDIS_ISA_EXT_XSAVE:      return bit(1, 0, ECX, 26);
    case ZYDIS_ISA_EXT_AVX:        return bit(1, 0, ECX, 28);
    case ZYDIS_ISA_EXT_F16C:       return bit(1, 0, ECX, 29);
    case ZYDIS_ISA_EXT_RDRAND:     return bit(1, 0, ECX, 30);
    case ZYDIS_ISA_EXT_RDWRFSGS:   return bit(7, 0, EBX, 0);
    case ZYDIS_ISA_EXT_BMI1:       return bit(7, 0, EBX, 3);
    case ZYDIS_ISA_EXT_AVX2:       return bit(7, 0, EBX, 5);
    case ZYDIS_ISA_EXT_AVX2GATHER: return bit(7, 0, EBX, 5);
    case ZYDIS_ISA_EXT_BMI2:       return bit(7, 0, EBX, 8);
    case ZYDIS_ISA_EXT_INVPCID:    return bit(7, 0, EBX, 10);
    case ZYDIS_ISA_EXT_RTM:        return bit(7, 0, EBX, 11);
    case ZYDIS_ISA_EXT_MPX:        return bit(7, 0, EBX, 14);
    case ZYDIS_ISA_EXT_AVX512EVEX: return bit(7, 0, EBX, 16);
    case ZYDIS_ISA_EXT_AVX512VEX:  return bit(7, 0, EBX, 16);
    case ZYDIS_ISA_EXT_RDSEED:     return bit(7, 0, EBX, 18);
    case ZYDIS_ISA_EXT_ADOX_ADCX:  return bit(7, 0, EBX, 19);
    case ZYDIS_ISA_EXT_SMAP:       return bit(7, 0, EBX, 20);
    case ZYDIS_ISA_EXT_CLFLUSHOPT: return bit(7, 0, EBX, 23);
    case ZYDIS_ISA_EXT_CLWB:       return bit(7, 0, EBX, 24);
    case ZYDIS_ISA_EXT_PT:         return bit(7, 0, EBX, 25);
    case ZYDIS_ISA_EXT_SHA:        return bit(7, 0, EBX, 29);
    case ZYDIS_ISA_EXT_PREFETCHWT1: return bit(7, 0, ECX, 0);
    case ZYDIS_ISA_EXT_PKU:        return bit(7, 0, ECX, 3);
    case ZYDIS_ISA_EXT_WAITPKG:    return bit(7, 0, ECX, 5);
    case ZYDIS_ISA_EXT_CET:        return bit(7, 0, ECX, 7);
    case ZYDIS_ISA_EXT_GFNI:       return bit(7, 0, ECX, 8);
    case ZYDIS_ISA_EXT_RDPID:      return bit(7, 0, ECX, 22);
    case ZYDIS_ISA_EXT_CLDEMOTE:   return bit(7, 0, ECX, 25);
    case ZYDIS_ISA_EXT_MOVDIR:     return bit(7, 0, ECX, 27);
    case ZYDIS_ISA_EXT_ENQCMD:     return bit(7, 0, ECX, 29);
    case ZYDIS_ISA_EXT_SERIALIZE:  return bit(7, 0, EDX, 14);
    case ZYDIS_ISA_EXT_XSAVEOPT:   return cpuid_reg(0, 0, EAX) >= 0xd && bit(0xd, 1, EAX, 0);
    case ZYDIS_ISA_EXT_XSAVEC:     return cpuid_reg(0, 0, EAX) >= 0xd && bit(0xd, 1, EAX, 1);
    case ZYDIS_ISA_EXT_XSAVES:     return cpuid_reg(0, 0, EAX) >= 0xd && bit(0xd, 1, EAX, 3);
    case ZYDIS_ISA_EXT_LZCNT:      return bit(0x80000001, 0, ECX, 5);
    case ZYDIS_ISA_EXT_SVM:        return bit(0x80000001, 0, ECX, 2);
    case ZYDIS_ISA_EXT_SSE4A:      return bit(0x80000001, 0, ECX, 6);
    case ZYDIS_ISA_EXT_AMD3DNOW_PREFETCH: return bit(0x80000001, 0, ECX, 8);
    case ZYDIS_ISA_EXT_XOP:        return bit(0x80000001, 0, ECX, 11);
    case ZYDIS_ISA_EXT_FMA4:       return bit(0x80000001, 0, ECX, 16);
    case ZYDIS_ISA_EXT_TBM:        return bit(0x80000001, 0, ECX, 21);
    case ZYDIS_ISA_EXT_MONITORX:   return bit(0x80000001, 0, ECX, 29);
    case ZYDIS_ISA_EXT_RDTSCP:     return bit(0x80000001, 0, EDX, 27);
    case ZYDIS_ISA_EXT_AMD3DNOW:   return bit(0x80000001, 0, EDX, 31);
    case ZYDIS_ISA_EXT_CLZERO:     return bit(0x80000008, 0, EBX, 0);
    case ZYDIS_ISA_EXT_RDPRU:      return bit(0x80000008, 0, EBX, 4);
    default:                       return 0;
    }
}

/*
 * Gaps: mnemonics whose extension the default model reports, for which no
 * handler exists yet, so they give #UD where the modelled CPU would run
 * them.  Families being written elsewhere remove entries; a stale entry is
 * only reported, a missing one fails.
 */
static const uint16_t known_gaps[] = {
#include "isa_gaps.inc"
    0,
};

/* #UD by the architecture although the extension is reported. */
static const uint16_t arch_ud[] = {
    ZYDIS_MNEMONIC_RSM,      /* #UD outside SMM; the model has no SMM */
    0,
};

static int is_gap(unsigned mn)
{
    for (unsigned i = 0; arch_ud[i]; i++)
        if (arch_ud[i] == mn)
            return 1;
    for (unsigned i = 0; known_gaps[i]; i++)
        if (known_gaps[i] == mn)
            return 1;
    return 0;
}

/* ------------------------------------------------------------ sweep */

struct sweep {
    ZydisDecoder zd[3];
    unsigned long decoded, ud, rule, handler;
    uint8_t bad[ZYDIS_MNEMONIC_MAX_VALUE + 1];     /* reported + #UD + not a gap */
    uint8_t gap_seen[ZYDIS_MNEMONIC_MAX_VALUE + 1];
    uint8_t bad_bytes[ZYDIS_MNEMONIC_MAX_VALUE + 1][15];
    int failures;
};

static struct sweep sw;
static struct v3_core ucore;

static void try_bytes(unsigned m, const uint8_t *b, size_t n)
{
    static const enum v3_cpu_mode modes[3] = { V3_MODE_REAL, V3_MODE_PROT32, V3_MODE_LONG64 };
    uint8_t buf[15];
    struct v3_insn in;
    ZydisDecodedInstruction zi;
    ZydisDecoderContext zc;

    memset(buf, 0, sizeof(buf));
    memcpy(buf, b, n);
    int len = v3_decode(modes[m], buf, sizeof(buf), &in);
    if (len <= 0)
        return;
    sw.decoded++;
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&sw.zd[m], &zc, buf, sizeof(buf), &zi))) {
        fprintf(stderr, "v3_decode accepted what Zydis rejects\n");
        sw.failures++;
        return;
    }
    if (in.handler == v3_op_unsupported) {
        fprintf(stderr, "%s decodes to v3_op_unsupported\n", ZydisMnemonicGetString(zi.mnemonic));
        sw.failures++;
        return;
    }
    int k = v3_emu_classify(in.mnemonic, NULL);
    if (k == V3_MNC_HANDLER) {
        sw.handler++;
        if (in.handler != v3_emu_lookup(in.mnemonic)->fn) {
            fprintf(stderr, "%s: decoded handler differs from the table\n",
                    ZydisMnemonicGetString(zi.mnemonic));
            sw.failures++;
        }
        return;
    }
    if (k == V3_MNC_RULE) {
        sw.rule++;
        return;
    }
    sw.ud++;
    if (in.handler != v3_op_ud_unreported) {
        fprintf(stderr, "%s: #UD class but another handler\n", ZydisMnemonicGetString(zi.mnemonic));
        sw.failures++;
        return;
    }
    /* executing it raises #UD and changes nothing */
    struct v3_emu_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.core = &ucore;
    ucore.rip = 0x1234;
    if (v3_exec(&ctx, &in) != V3_X_EXC || ctx.exc.vector != V3_EXC_UD || ucore.rip != 0x1234) {
        fprintf(stderr, "%s: fallback did not raise #UD\n", ZydisMnemonicGetString(zi.mnemonic));
        sw.failures++;
    }
    if (in.mnemonic <= ZYDIS_MNEMONIC_MAX_VALUE && ext_reported(zi.meta.isa_ext)) {
        if (is_gap(in.mnemonic)) {
            sw.gap_seen[in.mnemonic] = 1;
        } else if (!sw.bad[in.mnemonic]) {
            sw.bad[in.mnemonic] = 1;
            memcpy(sw.bad_bytes[in.mnemonic], buf, 15);
        }
    }
}

static uint8_t modrms[80];   /* mod 0 with rm 0 and 1, every mod 3 byte (filled by init_modrms) */

static void init_modrms(void)
{
    unsigned n = 0;
    for (unsigned reg = 0; reg < 8; reg++) {
        modrms[n++] = (uint8_t)(reg << 3);
        modrms[n++] = (uint8_t)(reg << 3 | 1);
    }
    for (unsigned v = 0xc0; v <= 0xff; v++)
        modrms[n++] = (uint8_t)v;
}

static void sweep_legacy(unsigned m)
{
    static const uint8_t pfx[][2] = { { 0 }, { 0x66 }, { 0xf2 }, { 0xf3 }, { 0x48 }, { 0x66, 0x48 } };
    static const uint8_t pfx_len[] = { 0, 1, 1, 1, 1, 2 };
    for (unsigned p = 0; p < 6; p++) {
        if (p >= 4 && m != 2)
            continue;   /* REX: 64-bit mode only */
        for (unsigned map = 0; map < 5; map++) {
            for (unsigned op = 0; op < 256; op++) {
                for (unsigned r = 0; r < sizeof(modrms); r++) {
                    uint8_t b[15];
                    size_t n = 0;
                    memcpy(b, pfx[p], pfx_len[p]);
                    n = pfx_len[p];
                    switch (map) {
                    case 0: b[n++] = (uint8_t)op; break;
                    case 1: b[n++] = 0x0f; b[n++] = (uint8_t)op; break;
                    case 2: b[n++] = 0x0f; b[n++] = 0x38; b[n++] = (uint8_t)op; break;
                    case 3: b[n++] = 0x0f; b[n++] = 0x3a; b[n++] = (uint8_t)op; break;
                    default:  /* 3DNow!: 0F 0F modrm imm8 */
                        b[n++] = 0x0f; b[n++] = 0x0f; b[n++] = modrms[r]; b[n++] = (uint8_t)op;
                        try_bytes(m, b, n);
                        continue;
                    }
                    b[n++] = modrms[r];
                    try_bytes(m, b, n);
                }
            }
        }
    }
}

/* VEX (C5, C4 with maps 1-3), XOP (8F maps 8-10) and EVEX (62, maps 1-3). */
static void sweep_vex(unsigned m)
{
    static const uint8_t vmodrm[] = { 0x00, 0x08, 0x10, 0x18, 0x20, 0x28, 0x30, 0x38,
                                      0xc1, 0xc9, 0xd1, 0xd9, 0xe1, 0xe9, 0xf1, 0xf9 };
    for (unsigned op = 0; op < 256; op++) {
        for (unsigned r = 0; r < sizeof(vmodrm); r++) {
            for (unsigned lpp = 0; lpp < 8; lpp++) {
                uint8_t b[8] = { 0xc5, (uint8_t)(0xf8 | lpp), (uint8_t)op, vmodrm[r] };
                try_bytes(m, b, 4);
                for (unsigned w = 0; w < 2; w++) {
                    for (unsigned map = 1; map <= 3; map++) {
                        uint8_t c[8] = { 0xc4, (uint8_t)(0xe0 | map), (uint8_t)((w << 7) | 0x78 | lpp),
                                         (uint8_t)op, vmodrm[r] };
                        try_bytes(m, c, 5);
                    }
                    for (unsigned map = 8; map <= 10; map++) {
                        uint8_t x[8] = { 0x8f, (uint8_t)(0xe0 | map), (uint8_t)((w << 7) | 0x78 | lpp),
                                         (uint8_t)op, vmodrm[r] };
                        try_bytes(m, x, 5);
                    }
                    for (unsigned map = 1; map <= 3; map++) {
                        for (unsigned ll = 0; ll < 3; ll++) {
                            uint8_t e[8] = { 0x62, (uint8_t)(0xf0 | map),
                                             (uint8_t)((w << 7) | 0x7c | (lpp & 3)),
                                             (uint8_t)(0x08 | (ll << 5)), (uint8_t)op, vmodrm[r] };
                            if (lpp >= 4)
                                continue;
                            try_bytes(m, e, 6);
                        }
                    }
                }
            }
        }
    }
}

static void test_sweep_encodings(void **state)
{
    (void)state;
    memset(&sw, 0, sizeof(sw));
    ZydisDecoderInit(&sw.zd[0], ZYDIS_MACHINE_MODE_LEGACY_16, ZYDIS_STACK_WIDTH_16);
    ZydisDecoderInit(&sw.zd[1], ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32);
    ZydisDecoderInit(&sw.zd[2], ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
    init_modrms();
    for (unsigned m = 0; m < 3; m++) {
        sweep_legacy(m);
        sweep_vex(m);
    }
    printf("sweep: %lu decoded: %lu handler, %lu rule, %lu #UD\n", sw.decoded, sw.handler, sw.rule, sw.ud);
    unsigned bad = 0;
    for (unsigned mn = 1; mn <= ZYDIS_MNEMONIC_MAX_VALUE; mn++) {
        if (sw.bad[mn]) {
            bad++;
            fprintf(stderr, "reported by the model but #UD: ZYDIS_MNEMONIC_%s (bytes", ZydisMnemonicGetString(mn));
            for (int i = 0; i < 6; i++)
                fprintf(stderr, " %02x", sw.bad_bytes[mn][i]);
            fprintf(stderr, ")\n");
        }
    }
    for (unsigned i = 0; known_gaps[i]; i++)
        if (v3_emu_classify(known_gaps[i], NULL) != V3_MNC_UD)
            printf("note: known gap %s now has a handler or a rule (remove it from isa_gaps.inc)\n",
                   ZydisMnemonicGetString(known_gaps[i]));
    assert_int_equal(sw.failures, 0);
    assert_int_equal(bad, 0);
    assert_true(sw.ud > 1000 && sw.handler > 1000);
}

/* Run @p bytes on the bare core ucore in @p mode; returns the status. */
static int run1(enum v3_cpu_mode mode, const uint8_t *bytes, size_t n, struct v3_emu_ctx *ctx)
{
    uint8_t buf[15] = { 0 };
    struct v3_insn in;
    memcpy(buf, bytes, n);
    memset(ctx, 0, sizeof(*ctx));
    ctx->core = &ucore;
    ucore.mode = mode;
    int len = v3_decode(mode, buf, sizeof(buf), &in);
    if (len <= 0)
        return len == V3_DEC_UD ? -100 : -101;
    return v3_exec(ctx, &in);
}

static void test_rules(void **state)
{
    (void)state;
    struct v3_emu_ctx ctx;
    static const uint8_t salc[] = { 0xd6 }, clac[] = { 0x0f, 0x01, 0xca }, stac[] = { 0x0f, 0x01, 0xcb };
    static const uint8_t bndmk[] = { 0xf3, 0x0f, 0x1b, 0x00 }, cldemote[] = { 0x0f, 0x1c, 0x00 };
    static const uint8_t vmxon[] = { 0xf3, 0x0f, 0xc7, 0x30 }, vaddps[] = { 0xc5, 0xf8, 0x58, 0xc1 };
    static const uint8_t lock_bndmk[] = { 0xf0, 0xf3, 0x0f, 0x1b, 0x00 };

    memset(&ucore, 0, sizeof(ucore));
    ucore.cr0 = V3_CR0_PE;
    /* SALC: legacy mode, flags unchanged */
    ucore.gpr[V3_RAX] = 0x1234;
    ucore.rflags = 2 | V3_FLAG_CF;
    assert_int_equal(run1(V3_MODE_PROT32, salc, 1, &ctx), V3_X_NEXT);
    assert_int_equal(ucore.gpr[V3_RAX], 0x12ff);
    ucore.rflags = 2;
    assert_int_equal(run1(V3_MODE_PROT32, salc, 1, &ctx), V3_X_NEXT);
    assert_int_equal(ucore.gpr[V3_RAX], 0x1200);
    assert_int_equal(ucore.rflags, 2);
    /* 64-bit mode: #UD (the decoder already refuses D6) */
    int st = run1(V3_MODE_LONG64, salc, 1, &ctx);
    assert_true(st == -100 || (st == V3_X_EXC && ctx.exc.vector == V3_EXC_UD));

    /* CLAC/STAC at CPL 0 toggle AC; at CPL 3 #UD */
    ucore.cpl = 0;
    assert_int_equal(run1(V3_MODE_LONG64, stac, 3, &ctx), V3_X_NEXT);
    assert_true(ucore.rflags & V3_FLAG_AC);
    assert_int_equal(run1(V3_MODE_LONG64, clac, 3, &ctx), V3_X_NEXT);
    assert_false(ucore.rflags & V3_FLAG_AC);
    ucore.cpl = 3;
    assert_int_equal(run1(V3_MODE_LONG64, stac, 3, &ctx), V3_X_EXC);
    assert_int_equal(ctx.exc.vector, V3_EXC_UD);
    assert_false(ucore.rflags & V3_FLAG_AC);

    /* hint space: NOP even at CPL 3, no memory touched (ctx has no memory ops) */
    ucore.gpr[V3_RAX] = 0xdead0000;   /* would fault if accessed */
    assert_int_equal(run1(V3_MODE_LONG64, bndmk, 4, &ctx), V3_X_NEXT);
    assert_int_equal(run1(V3_MODE_LONG64, cldemote, 3, &ctx), V3_X_NEXT);
    assert_int_equal(run1(V3_MODE_LONG64, lock_bndmk, 5, &ctx), -100);

    /* RDPMC 0-3: AMD's PERF_CTR0-3 (inert); CPL 3 without CR4.PCE or ECX >= 4: #GP(0) */
    static const uint8_t rdpmc[] = { 0x0f, 0x33 };
    ucore.cpl = 0;
    ucore.msr_inert.perf_ctr[2] = 0x123456789abcull;
    ucore.gpr[V3_RCX] = 2;
    assert_int_equal(run1(V3_MODE_LONG64, rdpmc, 2, &ctx), V3_X_NEXT);
    assert_int_equal(ucore.gpr[V3_RAX], 0x56789abc);
    assert_int_equal(ucore.gpr[V3_RDX], 0x1234);
    ucore.gpr[V3_RCX] = 4;
    assert_int_equal(run1(V3_MODE_LONG64, rdpmc, 2, &ctx), V3_X_EXC);
    assert_int_equal(ctx.exc.vector, V3_EXC_GP);
    ucore.gpr[V3_RCX] = 0;
    ucore.cpl = 3;
    assert_int_equal(run1(V3_MODE_LONG64, rdpmc, 2, &ctx), V3_X_EXC);
    assert_int_equal(ctx.exc.vector, V3_EXC_GP);
    ucore.cr4 |= V3_CR4_PCE;
    assert_int_equal(run1(V3_MODE_LONG64, rdpmc, 2, &ctx), V3_X_NEXT);
    ucore.cr4 = 0;

    /* VMX (CPUID.1:ECX.VMX = 0) and AVX (not reported): #UD at any CPL */
    for (unsigned cpl = 0; cpl <= 3; cpl += 3) {
        ucore.cpl = (uint8_t)cpl;
        assert_int_equal(run1(V3_MODE_LONG64, vmxon, 4, &ctx), V3_X_EXC);
        assert_int_equal(ctx.exc.vector, V3_EXC_UD);
        assert_int_equal(run1(V3_MODE_LONG64, vaddps, 4, &ctx), V3_X_EXC);
        assert_int_equal(ctx.exc.vector, V3_EXC_UD);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_every_mnemonic_classified),
        cmocka_unit_test(test_sweep_encodings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
