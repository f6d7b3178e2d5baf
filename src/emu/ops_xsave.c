/* SPDX-License-Identifier: MIT */
/*
 * XSAVE feature set for the x87 (XCR0 bit 0) and SSE (bit 1) state
 * components: XGETBV, XSETBV, XSAVE/XSAVE64, XSAVEOPT/XSAVEOPT64,
 * XRSTOR/XRSTOR64 in the standard (non-compacted) format (SDM vol. 1
 * ch. 13).  XSAVEC/XSAVES/XRSTORS and components above SSE are not
 * reported by the model and give #UD / #GP as such a CPU does.
 *
 * Area: legacy region (bytes 0-511, the FXSAVE layout), XSAVE header
 * (512-575: XSTATE_BV, XCOMP_BV, reserved).  576 bytes for x87+SSE.
 *
 * XINUSE: a component counts as in use unless its registers hold their
 * initial configuration (x87: FCW 037FH, FSW 0, all tags empty, FOP FIP
 * FDP 0, ST0-7 0; SSE: XMM0-15 0 and MXCSR 1F80H) - XSTATE_BV reports that.
 * XSAVEOPT saves like XSAVE (the modified optimisation is optional).
 * The legacy-region bytes 416-511 are not written; for atomicity the area
 * is read and written back whole (unchanged bytes keep their values).
 */
#include <Zydis/Zydis.h>
#include "emu/insn.h"
#include <v3/cpuid.h>

#define XSAVE_SIZE    576u
#define XCR0_X87      1ull
#define XCR0_SSE      2ull
#define XCR0_AVX      4ull
#define XCR0_SUPPORTED (XCR0_X87 | XCR0_SSE)

static inline bool pmode(const struct v3_core *c) { return (c->cr0 & V3_CR0_PE) != 0; }
static inline bool vm86(const struct v3_core *c) { return (c->rflags & V3_FLAG_VM) != 0; }

/* CPUID.1:ECX.XSAVE reported and CR4.OSXSAVE set, else #UD. */
static int xsave_enabled(struct v3_emu_ctx *ctx)
{
    uint32_t id[4];
    v3_cpu_cpuid(ctx->core, 1, 0, id);
    if (!((id[2] >> 26) & 1) || !(ctx->core->cr4 & V3_CR4_OSXSAVE))
        return v3_exc_ud(ctx);
    return V3_X_NEXT;
}

static int op_xgetbv(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    int st;
    (void)in;
    if ((st = xsave_enabled(ctx)))
        return st;
    if ((uint32_t)c->gpr[V3_RCX] != 0)      /* ECX = 1 (XINUSE) needs CPUID.(0DH,1):EAX[2] */
        return v3_exc_gp0(ctx);
    c->gpr[V3_RAX] = (uint32_t)c->xcr0;
    c->gpr[V3_RDX] = (uint32_t)(c->xcr0 >> 32);
    return V3_X_NEXT;
}

static int op_xsetbv(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint64_t v = (uint32_t)c->gpr[V3_RAX] | (c->gpr[V3_RDX] << 32);
    int st;
    (void)in;
    if ((st = xsave_enabled(ctx)))
        return st;
    if (pmode(c) && (vm86(c) || c->cpl != 0))
        return v3_exc_gp0(ctx);
    if ((uint32_t)c->gpr[V3_RCX] != 0)
        return v3_exc_gp0(ctx);
    if (!(v & XCR0_X87) || (v & ~XCR0_SUPPORTED) || ((v & XCR0_AVX) && !(v & XCR0_SSE)))
        return v3_exc_gp0(ctx);
    c->xcr0 = v;
    return V3_X_NEXT;
}

/* The checks shared by XSAVE* and XRSTOR*: #UD, #NM, then the 576-byte,
 * 64-byte aligned area (#GP(0) if misaligned, segment checks). */
static int area_check(struct v3_emu_ctx *ctx, const struct v3_insn *in, unsigned access, uint64_t *la)
{
    const struct v3_operand *op = &in->op[0];
    int st;
    if ((st = xsave_enabled(ctx)))
        return st;
    if (in->mnemonic == ZYDIS_MNEMONIC_XSAVEOPT || in->mnemonic == ZYDIS_MNEMONIC_XSAVEOPT64) {
        uint32_t id[4];
        v3_cpu_cpuid(ctx->core, 0xd, 1, id);
        if (!(id[0] & 1))
            return v3_exc_ud(ctx);
    }
    if (ctx->core->cr0 & V3_CR0_TS)
        return v3_exc_nm(ctx);
    if (op->kind != V3_OPK_MEM)
        return v3_exc_ud(ctx);
    if ((st = v3_seg_linear(ctx, op->reg, v3_op_ea(ctx->core, in, op), XSAVE_SIZE, access, la)))
        return st;
    if (*la & 63)
        return v3_exc_gp0(ctx);
    return V3_X_NEXT;
}

static bool is64_form(const struct v3_insn *in)
{
    return in->mnemonic == ZYDIS_MNEMONIC_XSAVE64 || in->mnemonic == ZYDIS_MNEMONIC_XSAVEOPT64 ||
           in->mnemonic == ZYDIS_MNEMONIC_XRSTOR64;
}

static unsigned nxmm(const struct v3_insn *in)
{
    return in->mode == V3_MODE_LONG64 ? 16 : 8;
}

static bool x87_init(const struct v3_fpu_state *f)
{
    static const uint8_t zero[sizeof(f->st)];
    return f->fcw == 0x37f && f->fsw == 0 && f->ftw == 0 && f->fop == 0 && f->fip == 0 &&
           f->fdp == 0 && !memcmp(f->st, zero, sizeof(zero));
}

static bool sse_init(const struct v3_fpu_state *f)
{
    static const uint8_t zero[sizeof(f->xmm)];
    return f->mxcsr == 0x1f80 && !memcmp(f->xmm, zero, sizeof(zero));
}

static int op_xsave(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    const struct v3_fpu_state *f = &c->fpu;
    uint64_t la, rfbm = c->xcr0 & ((uint32_t)c->gpr[V3_RAX] | (c->gpr[V3_RDX] << 32)), bv;
    uint8_t a[XSAVE_SIZE];
    int st;

    if ((st = area_check(ctx, in, V3_ACCESS_WRITE, &la)))
        return st;
    if ((st = v3_mem_read_op(ctx, in, &in->op[0], a, XSAVE_SIZE, V3_ACCESS_WRITE)))
        return st;
    if (rfbm & XCR0_X87) {
        memcpy(a + 0, &f->fcw, 2);
        memcpy(a + 2, &f->fsw, 2);
        a[4] = f->ftw;
        a[5] = 0;
        memcpy(a + 6, &f->fop, 2);
        if (is64_form(in)) {
            memcpy(a + 8, &f->fip, 8);
            memcpy(a + 16, &f->fdp, 8);
        } else {
            /* 32-bit offsets; the CS/DS selectors are not kept (stored as 0) */
            uint32_t fip = (uint32_t)f->fip, fdp = (uint32_t)f->fdp;
            memset(a + 8, 0, 16);
            memcpy(a + 8, &fip, 4);
            memcpy(a + 16, &fdp, 4);
        }
        for (unsigned i = 0; i < 8; i++) {
            memcpy(a + 32 + 16 * i, f->st[i], 10);
            memset(a + 32 + 16 * i + 10, 0, 6);
        }
    }
    if (rfbm & (XCR0_SSE | XCR0_AVX)) {
        memcpy(a + 24, &f->mxcsr, 4);
        memcpy(a + 28, &f->mxcsr_mask, 4);
    }
    if (rfbm & XCR0_SSE)
        memcpy(a + 160, f->xmm, 16 * nxmm(in));
    memcpy(&bv, a + 512, 8);
    bv &= ~rfbm;
    if ((rfbm & XCR0_X87) && !x87_init(f))
        bv |= XCR0_X87;
    if ((rfbm & XCR0_SSE) && !sse_init(f))
        bv |= XCR0_SSE;
    memcpy(a + 512, &bv, 8);
    return v3_mem_write_op(ctx, in, &in->op[0], a, XSAVE_SIZE);
}

static int op_xrstor(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    struct v3_fpu_state f = c->fpu;
    uint64_t la, rfbm = c->xcr0 & ((uint32_t)c->gpr[V3_RAX] | (c->gpr[V3_RDX] << 32)), bv, hdr[2];
    uint32_t mxcsr;
    uint8_t a[XSAVE_SIZE];
    int st;

    if ((st = area_check(ctx, in, V3_ACCESS_READ, &la)))
        return st;
    if ((st = v3_mem_read_op(ctx, in, &in->op[0], a, XSAVE_SIZE, V3_ACCESS_READ)))
        return st;
    memcpy(&bv, a + 512, 8);
    memcpy(hdr, a + 520, 16);          /* header bytes 23:8: XCOMP_BV and 8 reserved bytes */
    if ((bv & ~c->xcr0) || hdr[0] || hdr[1])
        return v3_exc_gp0(ctx);        /* compacted form needs XSAVEC, which is not reported */
    memcpy(&mxcsr, a + 24, 4);
    if ((rfbm & (XCR0_SSE | XCR0_AVX)) && (mxcsr & ~c->fpu.mxcsr_mask))
        return v3_exc_gp0(ctx);
    if (rfbm & XCR0_X87) {
        if (bv & XCR0_X87) {
            memcpy(&f.fcw, a + 0, 2);
            f.fcw = (uint16_t)((f.fcw & 0x1f3f) | 0x40);   /* reserved bits: 6 reads 1, 7 and 13-15 read 0 */
            memcpy(&f.fsw, a + 2, 2);
            /* ES summarises the unmasked pending exceptions; B mirrors ES */
            f.fsw &= 0x7f7f;
            if (f.fsw & ~f.fcw & 0x3f)
                f.fsw |= 0x8080;
            f.ftw = a[4];
            memcpy(&f.fop, a + 6, 2);
            f.fop &= 0x7ff;
            memcpy(&f.fip, a + 8, 8);
            memcpy(&f.fdp, a + 16, 8);
            if (!is64_form(in)) {
                f.fip &= 0xffffffffull;
                f.fdp &= 0xffffffffull;
            }
            for (unsigned i = 0; i < 8; i++) {
                memset(f.st[i], 0, 16);
                memcpy(f.st[i], a + 32 + 16 * i, 10);
            }
        } else {
            v3_fpu_init(&f);
            f.ftw = 0;
            memset(f.st, 0, sizeof(f.st));
        }
    }
    if (rfbm & (XCR0_SSE | XCR0_AVX))
        f.mxcsr = mxcsr;
    if (rfbm & XCR0_SSE) {
        if (bv & XCR0_SSE)
            memcpy(f.xmm, a + 160, 16 * nxmm(in));
        else
            memset(f.xmm, 0, 16 * nxmm(in));
    }
    c->fpu = f;
    return V3_X_NEXT;
}

const struct v3_op_entry v3_ops_xsave[] = {
    { ZYDIS_MNEMONIC_XGETBV, 0, op_xgetbv },
    { ZYDIS_MNEMONIC_XSETBV, 0, op_xsetbv },
    { ZYDIS_MNEMONIC_XSAVE, 0, op_xsave },
    { ZYDIS_MNEMONIC_XSAVE64, 0, op_xsave },
    { ZYDIS_MNEMONIC_XSAVEOPT, 0, op_xsave },
    { ZYDIS_MNEMONIC_XSAVEOPT64, 0, op_xsave },
    { ZYDIS_MNEMONIC_XRSTOR, 0, op_xrstor },
    { ZYDIS_MNEMONIC_XRSTOR64, 0, op_xrstor },
    { 0, 0, NULL },
};
