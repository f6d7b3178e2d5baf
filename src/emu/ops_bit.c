/* SPDX-License-Identifier: MIT */
/*
 * Bit operations: BT BTS BTR BTC (immediate and register offsets; a register
 * offset with a memory operand addresses other bytes: the signed offset
 * selects the operand-sized word at EA + (offset >> log2(bits)) * size),
 * BSF, BSR.
 */
#include <Zydis/Zydis.h>
#include "emu/insn.h"

enum { B_BT, B_BTS, B_BTR, B_BTC };

static int bitop(struct v3_emu_ctx *ctx, const struct v3_insn *in, unsigned k)
{
    struct v3_core *c = ctx->core;
    unsigned size = in->op[0].size, bits = size * 8;
    uint64_t off, old, res;
    struct v3_operand dst = in->op[0];
    int st;

    if ((st = v3_op_read(ctx, in, &in->op[1], size, &off)))
        return st;
    if (in->op[1].kind == V3_OPK_REG && dst.kind == V3_OPK_MEM) {
        int64_t so = (int64_t)v3_sext(off, size);
        int shift = __builtin_ctz(bits);
        dst.val += (uint64_t)((so >> shift) * (int64_t)size);
    }
    unsigned bit = (unsigned)(off & (bits - 1));

    if (k == B_BT) {
        if ((st = v3_op_read(ctx, in, &dst, size, &old)))
            return st;
    } else {
        struct v3_rmw r;
        if ((st = v3_rmw_begin(ctx, in, &dst, size, 0, &r, &old)))
            return st;
        do {
            switch (k) {
            case B_BTS: res = old | (1ull << bit); break;
            case B_BTR: res = old & ~(1ull << bit); break;
            default:    res = old ^ (1ull << bit); break;
            }
        } while ((st = v3_rmw_commit(ctx, &r, &old, res)) == V3_X_AGAIN);
        if (st)
            return st;
    }
    v3_flags_set(c, V3_FLAG_CF, ((old >> bit) & 1) ? V3_FLAG_CF : 0);
    return V3_X_NEXT;
}
static int op_bt(struct v3_emu_ctx *x, const struct v3_insn *in)  { return bitop(x, in, B_BT); }
static int op_bts(struct v3_emu_ctx *x, const struct v3_insn *in) { return bitop(x, in, B_BTS); }
static int op_btr(struct v3_emu_ctx *x, const struct v3_insn *in) { return bitop(x, in, B_BTR); }
static int op_btc(struct v3_emu_ctx *x, const struct v3_insn *in) { return bitop(x, in, B_BTC); }

/* BSF/BSR: a zero source sets ZF and leaves the destination unchanged */
static int bscan(struct v3_emu_ctx *ctx, const struct v3_insn *in, int rev)
{
    unsigned size = in->op[0].size;
    uint64_t s;
    int st;
    if ((st = v3_op_read(ctx, in, &in->op[1], size, &s)))
        return st;
    s &= v3_size_mask(size);
    if (!s) {
        v3_flags_set(ctx->core, V3_FLAGS_ARITH, V3_FLAG_ZF);
        return V3_X_NEXT;
    }
    uint64_t idx = rev ? 63u - (unsigned)__builtin_clzll(s) : (unsigned)__builtin_ctzll(s);
    v3_op_write(ctx, in, &in->op[0], size, idx);
    v3_flags_set(ctx->core, V3_FLAGS_ARITH, 0);
    return V3_X_NEXT;
}
static int op_bsf(struct v3_emu_ctx *x, const struct v3_insn *in) { return bscan(x, in, 0); }
static int op_bsr(struct v3_emu_ctx *x, const struct v3_insn *in) { return bscan(x, in, 1); }

const struct v3_op_entry v3_ops_bit[] = {
    { ZYDIS_MNEMONIC_BT, 0, op_bt },
    { ZYDIS_MNEMONIC_BTS, V3_OPF_LOCK, op_bts },
    { ZYDIS_MNEMONIC_BTR, V3_OPF_LOCK, op_btr },
    { ZYDIS_MNEMONIC_BTC, V3_OPF_LOCK, op_btc },
    { ZYDIS_MNEMONIC_BSF, 0, op_bsf },
    { ZYDIS_MNEMONIC_BSR, 0, op_bsr },
    { 0, 0, NULL },
};
