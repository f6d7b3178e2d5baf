/* SPDX-License-Identifier: MIT */
/*
 * MUL, IMUL (one, two and three operands), DIV, IDIV (#DE on a zero
 * divisor or a quotient that does not fit).
 */
#include <Zydis/Zydis.h>
#include "emu/insn.h"

typedef unsigned __int128 u128;
typedef __int128 s128;

/* write the double-width result of the one-operand forms */
static void put_wide(struct v3_core *c, unsigned size, u128 p)
{
    if (size == 1) {
        v3_gpr_set(c, V3_RAX, 2, (uint64_t)p & 0xffff);
    } else {
        v3_gpr_set(c, V3_RAX, size, (uint64_t)p);
        v3_gpr_set(c, V3_RDX, size, (uint64_t)(p >> (size * 8)));
    }
}

static int op_mul(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    unsigned size = in->op[0].size;
    uint64_t s;
    int st;
    if ((st = v3_op_read(ctx, in, &in->op[0], size, &s)))
        return st;
    u128 p = (u128)v3_gpr_get(c, V3_RAX, size) * s;
    put_wide(c, size, p);
    int hi = (p >> (size * 8)) != 0;
    v3_flags_set(c, V3_FLAG_CF | V3_FLAG_OF, hi ? V3_FLAG_CF | V3_FLAG_OF : 0);
    return V3_X_NEXT;
}

static int op_imul(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    unsigned size = in->op[0].size;
    uint64_t a, b;
    int st;
    if (in->nops == 1) {
        if ((st = v3_op_read(ctx, in, &in->op[0], size, &b)))
            return st;
        a = v3_gpr_get(c, V3_RAX, size);
    } else {
        const struct v3_operand *x = &in->op[in->nops == 3 ? 1 : 0];
        const struct v3_operand *y = &in->op[in->nops == 3 ? 2 : 1];
        if ((st = v3_op_read(ctx, in, x, size, &a)))
            return st;
        if ((st = v3_op_read(ctx, in, y, size, &b)))
            return st;
    }
    s128 p = (s128)(int64_t)v3_sext(a, size) * (s128)(int64_t)v3_sext(b, size);
    uint64_t lo = (uint64_t)p & v3_size_mask(size);
    int ovf = (s128)(int64_t)v3_sext(lo, size) != p;
    if (in->nops == 1)
        put_wide(c, size, (u128)p);
    else
        v3_op_write(ctx, in, &in->op[0], size, lo);
    v3_flags_set(c, V3_FLAG_CF | V3_FLAG_OF, ovf ? V3_FLAG_CF | V3_FLAG_OF : 0);
    return V3_X_NEXT;
}

/* 128/64 unsigned division, hi < d (so the quotient fits in 64 bits) */
static void udiv128(uint64_t hi, uint64_t lo, uint64_t d, uint64_t *q, uint64_t *r)
{
#if defined(__x86_64__)
    __asm__("divq %4" : "=a"(*q), "=d"(*r) : "a"(lo), "d"(hi), "rm"(d));
#else
    uint64_t rem = hi, quo = 0;
    for (int i = 63; i >= 0; i--) {
        uint64_t top = rem >> 63;
        rem = (rem << 1) | ((lo >> i) & 1);
        if (top || rem >= d) {
            rem -= d;
            quo |= 1ull << i;
        }
    }
    *q = quo;
    *r = rem;
#endif
}

static int op_div(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    unsigned size = in->op[0].size, bits = size * 8;
    uint64_t s, q, r;
    int st;
    if ((st = v3_op_read(ctx, in, &in->op[0], size, &s)))
        return st;
    if (!s)
        return v3_exc_de(ctx);
    if (size == 8) {
        uint64_t hi = c->gpr[V3_RDX], lo = c->gpr[V3_RAX];
        if (hi >= s)
            return v3_exc_de(ctx);
        udiv128(hi, lo, s, &q, &r);
    } else {
        uint64_t n = size == 1 ? v3_gpr_get(c, V3_RAX, 2)
                               : (v3_gpr_get(c, V3_RDX, size) << bits) | v3_gpr_get(c, V3_RAX, size);
        q = n / s;
        r = n - q * s;
        if (q > v3_size_mask(size))
            return v3_exc_de(ctx);
    }
    if (size == 1)
        v3_gpr_set(c, V3_RAX, 2, (r << 8) | q);
    else {
        v3_gpr_set(c, V3_RAX, size, q);
        v3_gpr_set(c, V3_RDX, size, r);
    }
    return V3_X_NEXT;
}

static int op_idiv(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    unsigned size = in->op[0].size, bits = size * 8;
    uint64_t s, q, r;
    int st;
    if ((st = v3_op_read(ctx, in, &in->op[0], size, &s)))
        return st;
    int64_t d = (int64_t)v3_sext(s, size);
    if (!d)
        return v3_exc_de(ctx);
    if (size == 8) {
        uint64_t hi = c->gpr[V3_RDX], lo = c->gpr[V3_RAX];
        int nneg = (int64_t)hi < 0, dneg = d < 0;
        if (nneg) {          /* |n| */
            lo = ~lo + 1;
            hi = ~hi + (lo == 0);
        }
        uint64_t ad = dneg ? (uint64_t)0 - (uint64_t)d : (uint64_t)d;
        if (hi >= ad)
            return v3_exc_de(ctx);
        udiv128(hi, lo, ad, &q, &r);
        if (nneg != dneg) {
            if (q > (1ull << 63))
                return v3_exc_de(ctx);
            q = (uint64_t)0 - q;
        } else if (q >= (1ull << 63)) {
            return v3_exc_de(ctx);
        }
        if (nneg)
            r = (uint64_t)0 - r;
    } else {
        int64_t n = size == 1 ? (int16_t)v3_gpr_get(c, V3_RAX, 2)
                              : (int64_t)v3_sext((v3_gpr_get(c, V3_RDX, size) << bits) |
                                                     v3_gpr_get(c, V3_RAX, size), 2 * size);
        if (d == -1 && n == INT64_MIN)
            return v3_exc_de(ctx);
        int64_t sq = n / d, sr = n - sq * d;
        int64_t lim = (int64_t)1 << (bits - 1);
        if (sq >= lim || sq < -lim)
            return v3_exc_de(ctx);
        q = (uint64_t)sq;
        r = (uint64_t)sr;
    }
    if (size == 1)
        v3_gpr_set(c, V3_RAX, 2, ((r & 0xff) << 8) | (q & 0xff));
    else {
        v3_gpr_set(c, V3_RAX, size, q);
        v3_gpr_set(c, V3_RDX, size, r);
    }
    return V3_X_NEXT;
}

const struct v3_op_entry v3_ops_muldiv[] = {
    { ZYDIS_MNEMONIC_MUL, 0, op_mul },
    { ZYDIS_MNEMONIC_IMUL, 0, op_imul },
    { ZYDIS_MNEMONIC_DIV, 0, op_div },
    { ZYDIS_MNEMONIC_IDIV, 0, op_idiv },
    { 0, 0, NULL },
};
