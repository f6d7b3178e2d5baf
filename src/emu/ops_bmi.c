/* SPDX-License-Identifier: MIT */
/*
 * BMI1 (ANDN, BEXTR, BLSI, BLSMSK, BLSR; TZCNT lives with LZCNT/POPCNT in
 * ops_misc.c) and CLFLUSH / CLFLUSHOPT.
 *
 * The BMI1 forms are VEX-encoded: #UD in real and virtual-8086 mode; the
 * operand size is 64 bits with VEX.W in 64-bit mode, 32 bits otherwise
 * (Zydis reports it in the operand sizes).
 *
 * Flags.  CF and OF are defined by the SDM (OF = 0 for all five); the
 * others follow the host CPU (AMD EPYC, measured over 200k random operands
 * and input flags, see tests/cpu/test_diff64.c):
 *   ANDN    SF ZF PF from the result, AF = 0, CF = OF = 0
 *   BEXTR   ZF PF from the result, AF = 1, SF = 0, CF = OF = 0
 *   BLSI    SF ZF PF from the result, AF = 0, CF = (source != 0)
 *   BLSMSK  SF PF from the result, ZF = 0, AF = 0, CF = (source == 0)
 *   BLSR    SF ZF PF from the result, AF = 0, CF = (source == 0)
 * (The SDM leaves AF and PF undefined, and SF for BEXTR.)
 *
 * CLFLUSH/CLFLUSHOPT m8: there is no cache to flush, but the access is
 * checked exactly like a one-byte load (segment limit, canonical address,
 * page fault with a read error code); a register operand is #UD (Zydis
 * already rejects it).  Limitation: the emulator's memory interface has no
 * translate-only operation, so CLFLUSH of an address that is not plain RAM
 * (a hooked device region) is performed as a one-byte read the device sees.
 */
#include <Zydis/Zydis.h>
#include "emu/insn.h"

#define F_SZP (V3_FLAG_SF | V3_FLAG_ZF | V3_FLAG_PF)
#define F_ALL (V3_FLAG_CF | V3_FLAG_PF | V3_FLAG_AF | V3_FLAG_ZF | V3_FLAG_SF | V3_FLAG_OF)

static uint64_t szp(uint64_t r, unsigned size)
{
    uint64_t f = 0;
    if (!(r & v3_size_mask(size)))
        f |= V3_FLAG_ZF;
    if ((r >> (size * 8 - 1)) & 1)
        f |= V3_FLAG_SF;
    if (v3_parity(r))
        f |= V3_FLAG_PF;
    return f;
}

static int vex_mode_ok(const struct v3_insn *in)
{
    return in->mode != V3_MODE_REAL && in->mode != V3_MODE_VM86;
}

static int op_bmi1(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    unsigned s = in->op[0].size;
    uint64_t a, b = 0, r, fl, m = v3_size_mask(s);
    int st;

    if (!vex_mode_ok(in))
        return v3_exc_ud(ctx);
    switch (in->mnemonic) {
    case ZYDIS_MNEMONIC_ANDN:           /* dst = ~src1 & src2 (r/m) */
        if ((st = v3_op_read(ctx, in, &in->op[2], s, &b)))
            return st;
        if ((st = v3_op_read(ctx, in, &in->op[1], s, &a)))
            return st;
        r = ~a & b & m;
        fl = szp(r, s);
        break;
    case ZYDIS_MNEMONIC_BEXTR: {        /* dst = bits [start, start+len) of src (r/m); ctl = vvvv */
        if ((st = v3_op_read(ctx, in, &in->op[1], s, &a)))
            return st;
        if ((st = v3_op_read(ctx, in, &in->op[2], s, &b)))
            return st;
        unsigned start = (unsigned)(b & 0xff), len = (unsigned)((b >> 8) & 0xff);
        r = start >= s * 8 ? 0 : a >> start;
        if (len < 64)
            r &= (1ull << len) - 1;
        r &= m;
        fl = (szp(r, s) & (V3_FLAG_ZF | V3_FLAG_PF)) | V3_FLAG_AF;
        break;
    }
    default:                            /* BLSI, BLSMSK, BLSR: dst = vvvv, src = r/m */
        if ((st = v3_op_read(ctx, in, &in->op[1], s, &a)))
            return st;
        if (in->mnemonic == ZYDIS_MNEMONIC_BLSI) {
            r = (0 - a) & a & m;
            fl = szp(r, s) | (a ? V3_FLAG_CF : 0);
        } else if (in->mnemonic == ZYDIS_MNEMONIC_BLSMSK) {
            r = ((a - 1) ^ a) & m;
            fl = (szp(r, s) & (V3_FLAG_SF | V3_FLAG_PF)) | (a ? 0 : V3_FLAG_CF);
        } else {
            r = ((a - 1) & a) & m;
            fl = szp(r, s) | (a ? 0 : V3_FLAG_CF);
        }
        break;
    }
    if ((st = v3_op_write(ctx, in, &in->op[0], s, r)))
        return st;
    v3_flags_replace_arith(c, fl);
    return V3_X_NEXT;
}

static int op_clflush(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    uint8_t b;
    uint64_t la;
    int st;
    if (in->nops < 1 || in->op[0].kind != V3_OPK_MEM)
        return v3_exc_ud(ctx);
    if ((st = v3_seg_linear(ctx, in->op[0].reg, v3_op_ea(ctx->core, in, &in->op[0]), 1, V3_ACCESS_READ, &la)))
        return st;
    /* plain RAM that translates for a read: nothing more to check */
    if (ctx->mem->map && ctx->mem->map(ctx, la, 1, V3_ACCESS_READ))
        return V3_X_NEXT;
    /* otherwise translate and fault as a byte load (the byte is not used;
     * on a hooked region this is a read the device sees) */
    return v3_mem_read_op(ctx, in, &in->op[0], &b, 1, V3_ACCESS_READ);
}

const struct v3_op_entry v3_ops_bmi[] = {
    { ZYDIS_MNEMONIC_ANDN, 0, op_bmi1 },
    { ZYDIS_MNEMONIC_BEXTR, 0, op_bmi1 },
    { ZYDIS_MNEMONIC_BLSI, 0, op_bmi1 },
    { ZYDIS_MNEMONIC_BLSMSK, 0, op_bmi1 },
    { ZYDIS_MNEMONIC_BLSR, 0, op_bmi1 },
    { ZYDIS_MNEMONIC_CLFLUSH, 0, op_clflush },
    { ZYDIS_MNEMONIC_CLFLUSHOPT, 0, op_clflush },
    { 0, 0, NULL },
};
