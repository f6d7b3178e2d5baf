/* SPDX-License-Identifier: MIT */
/*
 * Shifts and rotates: SHL/SAL SHR SAR ROL ROR RCL RCR by 1, CL or imm8, and
 * SHLD/SHRD.  The count is masked to 5 bits (6 for 64-bit operands); a
 * masked count of 0 changes neither the destination nor the flags (a memory
 * destination is still read, with write intent, and not written; a 32-bit
 * register destination is zero-extended as for any 32-bit write).  Values
 * for undefined flags are listed in flags.c.
 */
#include <Zydis/Zydis.h>
#include "emu/alu_core.h"

#define F_CF V3_FLAG_CF
#define F_OF V3_FLAG_OF
#define F_SZAPC (V3_FLAG_SF | V3_FLAG_ZF | V3_FLAG_AF | V3_FLAG_PF | V3_FLAG_CF)

static int get_count(struct v3_emu_ctx *ctx, const struct v3_insn *in, unsigned idx,
                     unsigned size, unsigned *cnt)
{
    uint64_t v = 1;
    if (idx < in->nops) {
        int st = v3_op_read(ctx, in, &in->op[idx], 1, &v);
        if (st)
            return st;
    }
    *cnt = (unsigned)v & (size == 8 ? 0x3f : 0x1f);
    return V3_X_NEXT;
}

enum { S_SHL, S_SHR, S_SAR, S_ROL, S_ROR, S_RCL, S_RCR };

static int shift(struct v3_emu_ctx *ctx, const struct v3_insn *in, unsigned k)
{
    struct v3_core *c = ctx->core;
    unsigned size = in->op[0].size, bits = size * 8, cnt;
    uint64_t m = v3_size_mask(size), d, res = 0, fl = 0, mask = 0;
    struct v3_rmw r;
    int st;

    if ((st = get_count(ctx, in, 1, size, &cnt)))
        return st;
    if ((st = v3_rmw_begin(ctx, in, &in->op[0], size, 0, &r, &d)))
        return st;
    if (cnt == 0) {
        /* no change, but a 32-bit register destination is zero-extended */
        if (size == 4 && in->op[0].kind == V3_OPK_REG)
            v3_rmw_commit(ctx, &r, &d, d);
        return V3_X_NEXT;
    }
    unsigned cf_in = v3_flags_cf(c);
    d &= m;

    for (;;) {
        uint64_t cf = 0, of = 0;
        switch (k) {
        case S_SHL:
        case S_SHR:
        case S_SAR: {
            unsigned c1, o1;
            res = v3_shift_compute(k == S_SHL ? V3_SH_SHL : k == S_SHR ? V3_SH_SHR : V3_SH_SAR, d, cnt, size,
                                   &c1, &o1);
            cf = c1;
            of = o1;
            break;
        }
        case S_ROL:
        case S_ROR: {
            unsigned c1, o1;
            res = v3_rotate_compute(k == S_ROR, d, cnt, size, &c1, &o1);
            cf = c1;
            of = o1;
            break;
        }
        case S_RCL: {
            unsigned n = size <= 2 ? cnt % (bits + 1) : cnt;
            uint64_t v = d, cc = cf_in;
            for (unsigned i = 0; i < n; i++) {
                uint64_t out = v3_lazy_msb(v, size);
                v = ((v << 1) | cc) & m;
                cc = out;
            }
            res = v;
            cf = cc;
            of = v3_lazy_msb(res, size) ^ cf;
            break;
        }
        default: { /* RCR */
            unsigned n = size <= 2 ? cnt % (bits + 1) : cnt;
            uint64_t v = d, cc = cf_in;
            for (unsigned i = 0; i < n; i++) {
                uint64_t out = v & 1;
                v = (v >> 1) | (cc << (bits - 1));
                cc = out;
            }
            res = v & m;
            cf = cc;
            of = v3_lazy_msb(res, size) ^ ((res >> (bits - 2)) & 1);
            break;
        }
        }
        if (k <= S_SAR) {
            mask = F_SZAPC | F_OF;
            fl = v3_shift_flags(res, size, (unsigned)cf, (unsigned)of);
        } else {
            mask = F_CF | F_OF;
            fl = (cf ? F_CF : 0) | (of ? F_OF : 0);
        }
        if ((st = v3_rmw_commit(ctx, &r, &d, res)) != V3_X_AGAIN)
            break;
        d &= m;
    }
    if (st)
        return st;
    v3_flags_set(c, mask, fl);
    return V3_X_NEXT;
}

static int op_shl(struct v3_emu_ctx *x, const struct v3_insn *in) { return shift(x, in, S_SHL); }
static int op_shr(struct v3_emu_ctx *x, const struct v3_insn *in) { return shift(x, in, S_SHR); }
static int op_sar(struct v3_emu_ctx *x, const struct v3_insn *in) { return shift(x, in, S_SAR); }
static int op_rol(struct v3_emu_ctx *x, const struct v3_insn *in) { return shift(x, in, S_ROL); }
static int op_ror(struct v3_emu_ctx *x, const struct v3_insn *in) { return shift(x, in, S_ROR); }
static int op_rcl(struct v3_emu_ctx *x, const struct v3_insn *in) { return shift(x, in, S_RCL); }
static int op_rcr(struct v3_emu_ctx *x, const struct v3_insn *in) { return shift(x, in, S_RCR); }

/* SHLD/SHRD r/m, r, imm8/CL */
static int dshift(struct v3_emu_ctx *ctx, const struct v3_insn *in, int left)
{
    struct v3_core *c = ctx->core;
    unsigned size = in->op[0].size, bits = size * 8, cnt;
    uint64_t m = v3_size_mask(size), d, s, res;
    struct v3_rmw r;
    int st;

    if ((st = get_count(ctx, in, 2, size, &cnt)))
        return st;
    if ((st = v3_op_read(ctx, in, &in->op[1], size, &s)))
        return st;
    if ((st = v3_rmw_begin(ctx, in, &in->op[0], size, 0, &r, &d)))
        return st;
    if (cnt == 0) {
        if (size == 4 && in->op[0].kind == V3_OPK_REG)
            v3_rmw_commit(ctx, &r, &d, d);
        return V3_X_NEXT;
    }
    uint64_t fl;
    for (;;) {
        uint64_t cf;
        d &= m;
        s &= m;
        if (cnt > bits) {
            /* 16-bit operand, count 17..31 (undefined): the result of the
             * 48-bit rotation dest:src:dest, as the host CPUs give */
            unsigned k = cnt - bits;
            if (left) {
                res = ((s << k) | (d >> (bits - k))) & m;
                cf = (s >> (bits - k)) & 1;
            } else {
                res = ((s >> k) | (d << (bits - k))) & m;
                cf = (s >> (k - 1)) & 1;
            }
        } else if (left) {
            res = cnt == bits ? s : ((d << cnt) | (s >> (bits - cnt))) & m;
            cf = (d >> (bits - cnt)) & 1;
        } else {
            res = cnt == bits ? s : ((d >> cnt) | (s << (bits - cnt))) & m;
            cf = (d >> (cnt - 1)) & 1;
        }
        uint64_t of = left ? v3_lazy_msb(res, size) ^ cf : v3_lazy_msb(res, size) ^ ((res >> (bits - 2)) & 1);
        fl = v3_shift_flags(res, size, (unsigned)cf, (unsigned)of);
        if ((st = v3_rmw_commit(ctx, &r, &d, res)) != V3_X_AGAIN)
            break;
    }
    if (st)
        return st;
    v3_flags_set(c, F_SZAPC | F_OF, fl);
    return V3_X_NEXT;
}
static int op_shld(struct v3_emu_ctx *x, const struct v3_insn *in) { return dshift(x, in, 1); }
static int op_shrd(struct v3_emu_ctx *x, const struct v3_insn *in) { return dshift(x, in, 0); }

const struct v3_op_entry v3_ops_shift[] = {
    { ZYDIS_MNEMONIC_SHL, 0, op_shl },
    { ZYDIS_MNEMONIC_SHR, 0, op_shr },
    { ZYDIS_MNEMONIC_SAR, 0, op_sar },
    { ZYDIS_MNEMONIC_ROL, 0, op_rol },
    { ZYDIS_MNEMONIC_ROR, 0, op_ror },
    { ZYDIS_MNEMONIC_RCL, 0, op_rcl },
    { ZYDIS_MNEMONIC_RCR, 0, op_rcr },
    { ZYDIS_MNEMONIC_SHLD, 0, op_shld },
    { ZYDIS_MNEMONIC_SHRD, 0, op_shrd },
    { 0, 0, NULL },
};
