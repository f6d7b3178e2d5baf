/* SPDX-License-Identifier: MIT */
/*
 * FXSAVE/FXRSTOR and LDMXCSR/STMXCSR (the integer SIMD instructions are in
 * ops_vint.c).  Availability: CR0.EM -> #UD, CR4.OSFXSR clear -> #UD (MXCSR
 * access), CR0.TS -> #NM.
 */
#include <Zydis/Zydis.h>
#include "emu/insn.h"

static int avail(struct v3_emu_ctx *ctx)
{
    const struct v3_core *c = ctx->core;
    if ((c->cr0 & V3_CR0_EM) || !(c->cr4 & V3_CR4_OSFXSR))
        return v3_exc_ud(ctx);
    if (c->cr0 & V3_CR0_TS)
        return v3_exc_nm(ctx);
    return V3_X_NEXT;
}

/* ---------------------------------------------------------------- FXSAVE / MXCSR */

#define MXCSR_MASK 0xffffu

static int mem_la(struct v3_emu_ctx *ctx, const struct v3_insn *in, unsigned len, unsigned acc,
                  unsigned align, uint64_t *la)
{
    const struct v3_operand *op = &in->op[0];
    int st;
    if (op->kind != V3_OPK_MEM)
        return v3_exc_ud(ctx);
    st = v3_seg_linear(ctx, op->reg, v3_op_ea(ctx->core, in, op), len, acc, la);
    if (st)
        return st;
    if (align && (*la & (align - 1)))
        return v3_exc_gp0(ctx);
    return V3_X_NEXT;
}

/* FXSAVE/FXRSTOR checks: #UD with CR0.EM, #NM with CR0.TS, then the
 * 512-byte, 16-byte aligned memory operand (#GP if misaligned) */
static int fx_check(struct v3_emu_ctx *ctx, const struct v3_insn *in, unsigned access)
{
    struct v3_core *c = ctx->core;
    uint64_t la;
    if (c->cr0 & V3_CR0_EM)
        return v3_exc_ud(ctx);
    if (c->cr0 & V3_CR0_TS)
        return v3_exc_nm(ctx);
    return mem_la(ctx, in, 512, access, 16, &la);
}

static int op_fxsave(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint8_t buf[512];
    int st;
    if ((st = fx_check(ctx, in, V3_ACCESS_WRITE)))
        return st;
    memcpy(buf, &c->fpu, 512);
    if (in->mnemonic == ZYDIS_MNEMONIC_FXSAVE) {
        /* legacy format: FIP/FDP as 32-bit offsets with selectors (kept 0) */
        uint32_t fip = (uint32_t)c->fpu.fip, fdp = (uint32_t)c->fpu.fdp;
        memset(buf + 8, 0, 16);
        memcpy(buf + 8, &fip, 4);
        memcpy(buf + 16, &fdp, 4);
    }
    return v3_mem_write_op(ctx, in, &in->op[0], buf, 512);
}

static int op_fxrstor(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    struct v3_fpu_state f;
    int st;
    if ((st = fx_check(ctx, in, V3_ACCESS_READ)))
        return st;
    if ((st = v3_mem_read_op(ctx, in, &in->op[0], &f, 512, V3_ACCESS_READ)))
        return st;
    if (f.mxcsr & ~MXCSR_MASK)
        return v3_exc_gp0(ctx);
    if (in->mnemonic == ZYDIS_MNEMONIC_FXRSTOR) {
        f.fip &= 0xffffffffull;
        f.fdp &= 0xffffffffull;
    }
    f.mxcsr_mask = c->fpu.mxcsr_mask;
    memcpy(f.rsvd1, c->fpu.rsvd1, sizeof(f.rsvd1));
    c->fpu = f;
    return V3_X_NEXT;
}

static int op_ldmxcsr(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    uint32_t v;
    uint64_t la;
    int st;
    if ((st = avail(ctx)))
        return st;
    if ((st = mem_la(ctx, in, 4, V3_ACCESS_READ, 0, &la)))
        return st;
    if ((st = v3_mem_read_op(ctx, in, &in->op[0], &v, 4, V3_ACCESS_READ)))
        return st;
    if (v & ~MXCSR_MASK)
        return v3_exc_gp0(ctx);
    ctx->core->fpu.mxcsr = v;
    return V3_X_NEXT;
}

static int op_stmxcsr(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    uint32_t v = ctx->core->fpu.mxcsr;
    uint64_t la;
    int st;
    if ((st = avail(ctx)))
        return st;
    if ((st = mem_la(ctx, in, 4, V3_ACCESS_WRITE, 0, &la)))
        return st;
    return v3_mem_write_op(ctx, in, &in->op[0], &v, 4);
}

const struct v3_op_entry v3_ops_simd[] = {
    { ZYDIS_MNEMONIC_FXSAVE, 0, op_fxsave },  { ZYDIS_MNEMONIC_FXSAVE64, 0, op_fxsave },
    { ZYDIS_MNEMONIC_FXRSTOR, 0, op_fxrstor }, { ZYDIS_MNEMONIC_FXRSTOR64, 0, op_fxrstor },
    { ZYDIS_MNEMONIC_LDMXCSR, 0, op_ldmxcsr },
    { ZYDIS_MNEMONIC_STMXCSR, 0, op_stmxcsr },
    { 0, 0, NULL },
};
