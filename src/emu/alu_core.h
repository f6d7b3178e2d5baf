/* SPDX-License-Identifier: MIT */
/*
 * src/emu/alu_core.h - the value-level semantics of the integer ALU
 * instructions and of the lazy-flag conditions, as inline functions.
 *
 * One definition serves every path: the generic handlers of
 * src/emu/ops_alu.c (register, memory and LOCKed forms, used by the
 * hooked-access fault path and the software CPU) and the operand-specialised
 * handlers the software CPU picks when it builds a decoded block
 * (src/cpu/fast.c).  Both compute results with v3_alu_compute() and record
 * flags with v3_alu_record(); conditions are evaluated by v3_lazy_cond()
 * straight from the lazy record (no materialisation of all six flags).
 */
#ifndef V3_EMU_ALU_CORE_H
#define V3_EMU_ALU_CORE_H

#include "emu/insn.h"

enum v3_alu_kind { V3_ALU_ADD, V3_ALU_ADC, V3_ALU_SUB, V3_ALU_SBB, V3_ALU_AND, V3_ALU_OR, V3_ALU_XOR };

/** Result of two-operand ALU operation @p k (not truncated). */
static inline uint64_t v3_alu_compute(unsigned k, uint64_t a, uint64_t b, unsigned cin)
{
    switch (k) {
    case V3_ALU_ADD: return a + b;
    case V3_ALU_ADC: return a + b + cin;
    case V3_ALU_SUB: return a - b;
    case V3_ALU_SBB: return a - b - cin;
    case V3_ALU_AND: return a & b;
    case V3_ALU_OR:  return a | b;
    default:         return a ^ b;
    }
}

/** Record the flags of ALU operation @p k: @p res = old OP src (truncated). */
static inline void v3_alu_record(struct v3_core *c, unsigned k, unsigned size, uint64_t res,
                                 uint64_t old, uint64_t src)
{
    unsigned lf = k <= V3_ALU_ADC ? V3_LF_ADD : k <= V3_ALU_SBB ? V3_LF_SUB : V3_LF_LOGIC;
    v3_flags_lazy(c, lf, size, res, old, src);
}

/** CMP a, b and TEST a, b (operands already truncated to @p size). */
static inline void v3_alu_cmp(struct v3_core *c, unsigned size, uint64_t a, uint64_t b)
{
    v3_flags_lazy(c, V3_LF_SUB, size, (a - b) & v3_size_mask(size), a, b);
}
static inline void v3_alu_test(struct v3_core *c, unsigned size, uint64_t a, uint64_t b)
{
    v3_flags_lazy(c, V3_LF_LOGIC, size, a & b, a, b);
}

/* ------------------------------------------------------------ lazy flags */

static inline unsigned v3_lazy_msb(uint64_t v, unsigned size)
{
    return (unsigned)(v >> (size * 8 - 1)) & 1;
}

/* CF and OF of a lazy record whose op is ADD/SUB/LOGIC/INC/DEC (values truncated) */
static inline unsigned v3_lazy_cf_of(unsigned op, unsigned size, uint64_t a, uint64_t b, uint64_t r,
                                     int want_of)
{
    switch (op) {
    case V3_LF_ADD:
        return want_of ? v3_lazy_msb((a ^ r) & (b ^ r), size)
                       : v3_lazy_msb((a & b) | ((a | b) & ~r), size);
    case V3_LF_SUB:
        return want_of ? v3_lazy_msb((a ^ b) & (a ^ r), size)
                       : v3_lazy_msb((~a & b) | ((~a | b) & r), size);
    case V3_LF_INC:
        return want_of ? v3_lazy_msb((a ^ r) & (1 ^ r), size) : (unsigned)(b & 1);
    case V3_LF_DEC:
        return want_of ? v3_lazy_msb((a ^ 1) & (a ^ r), size) : (unsigned)(b & 1);
    default:            /* LOGIC */
        return 0;
    }
}

/** CF (0/1) without materialising the other flags. */
static inline unsigned v3_lazy_cf(const struct v3_core *c)
{
    const struct v3_lazy_flags *l = &c->lazy;
    switch (l->op) {
    case V3_LF_NONE:
        return (unsigned)(c->rflags & V3_FLAG_CF);
    case V3_LF_INC:
    case V3_LF_DEC:
        return (unsigned)(l->src2 & 1);     /* the recorded old CF */
    case V3_LF_ADD:
    case V3_LF_SUB: {
        unsigned size = l->size ? l->size : 8;
        uint64_t m = v3_size_mask(size);
        return v3_lazy_cf_of(l->op, size, l->src1 & m, l->src2 & m, l->res & m, 0);
    }
    default:            /* LOGIC */
        return 0;
    }
}

/**
 * Condition code @p cc (enum v3_cc) evaluated from the lazy record when there
 * is one (only the flags the condition needs are computed), else from RFLAGS.
 */
static inline int v3_lazy_cond(const struct v3_core *c, unsigned cc)
{
    const struct v3_lazy_flags *l = &c->lazy;
    int r;
    if (l->op == V3_LF_NONE || l->op > V3_LF_DEC) {
        uint64_t f = c->rflags;
        if (l->op != V3_LF_NONE)
            f = v3_core_get_rflags((struct v3_core *)c);
        switch ((cc >> 1) & 7) {
        case 0: r = !!(f & V3_FLAG_OF); break;
        case 1: r = !!(f & V3_FLAG_CF); break;
        case 2: r = !!(f & V3_FLAG_ZF); break;
        case 3: r = !!(f & (V3_FLAG_CF | V3_FLAG_ZF)); break;
        case 4: r = !!(f & V3_FLAG_SF); break;
        case 5: r = !!(f & V3_FLAG_PF); break;
        case 6: r = !!(f & V3_FLAG_SF) != !!(f & V3_FLAG_OF); break;
        default: r = (f & V3_FLAG_ZF) || (!!(f & V3_FLAG_SF) != !!(f & V3_FLAG_OF)); break;
        }
        return (cc & 1) ? !r : r;
    }
    unsigned op = l->op, size = l->size ? l->size : 8;
    uint64_t m = v3_size_mask(size), res = l->res & m;
    switch ((cc >> 1) & 7) {
    case 2: r = res == 0; break;
    case 4: r = (int)v3_lazy_msb(res, size); break;
    case 5: r = (int)v3_parity(res); break;
    case 1: r = (int)v3_lazy_cf_of(op, size, l->src1 & m, l->src2 & m, res, 0); break;
    case 3: r = (res == 0) || v3_lazy_cf_of(op, size, l->src1 & m, l->src2 & m, res, 0); break;
    case 0: r = (int)v3_lazy_cf_of(op, size, l->src1 & m, l->src2 & m, res, 1); break;
    case 6: r = (int)(v3_lazy_msb(res, size) ^ v3_lazy_cf_of(op, size, l->src1 & m, l->src2 & m, res, 1)); break;
    default:
        r = (res == 0) ||
            (v3_lazy_msb(res, size) ^ v3_lazy_cf_of(op, size, l->src1 & m, l->src2 & m, res, 1));
        break;
    }
    return (cc & 1) ? !r : r;
}

/* ------------------------------------------------------------ addresses */

/** Offset of memory operand @p op before segmentation (v3_op_ea()). */
static inline uint64_t v3_ea_inline(const struct v3_core *core, const struct v3_insn *in,
                                    const struct v3_operand *op)
{
    uint64_t a = op->val;
    if (op->base == V3_REG_RIP)
        a += core->rip + in->len;
    else if (op->base != V3_REG_NONE)
        a += core->gpr[op->base & 15];
    if (op->index != V3_REG_NONE)
        a += core->gpr[op->index & 15] * op->scale;
    return a & v3_size_mask(in->addrsize);
}

/** Target of a relative near branch (JMP/Jcc/CALL rel): truncated to the operand size. */
static inline uint64_t v3_rel_target(const struct v3_core *c, const struct v3_insn *in)
{
    return (c->rip + in->len + in->op[0].val) & v3_size_mask(in->opsize);
}

/* ------------------------------------------------------------ INC DEC NEG NOT */

enum v3_unary_kind { V3_UN_INC, V3_UN_DEC, V3_UN_NEG, V3_UN_NOT };

static inline uint64_t v3_unary_compute(unsigned k, uint64_t old)
{
    switch (k) {
    case V3_UN_INC: return old + 1;
    case V3_UN_DEC: return old - 1;
    case V3_UN_NEG: return 0 - old;
    default:        return ~old;
    }
}

/** Flags of a unary operation; @p cf is the CF before it (INC/DEC keep it). */
static inline void v3_unary_record(struct v3_core *c, unsigned k, unsigned size, uint64_t res,
                                   uint64_t old, unsigned cf)
{
    switch (k) {
    case V3_UN_INC: v3_flags_lazy(c, V3_LF_INC, size, res, old, cf); break;
    case V3_UN_DEC: v3_flags_lazy(c, V3_LF_DEC, size, res, old, cf); break;
    case V3_UN_NEG: v3_flags_lazy(c, V3_LF_SUB, size, res, 0, old); break;
    default: break;
    }
}

/* ------------------------------------------------------------ SHL SHR SAR */

enum v3_shift_kind { V3_SH_SHL, V3_SH_SHR, V3_SH_SAR };

/**
 * SHL/SHR/SAR of @p d (truncated to @p size bytes) by @p cnt, already masked
 * and not 0: the result (truncated), and the CF and OF it leaves (OF as
 * flags.c documents for counts above 1).
 */
static inline uint64_t v3_shift_compute(unsigned k, uint64_t d, unsigned cnt, unsigned size, unsigned *cf,
                                        unsigned *of)
{
    unsigned bits = size * 8;
    uint64_t m = v3_size_mask(size), res;
    switch (k) {
    case V3_SH_SHL:
        res = cnt < 64 ? (d << cnt) & m : 0;
        *cf = cnt <= bits ? (unsigned)(d >> (bits - cnt)) & 1 : 0;
        *of = v3_lazy_msb(res, size) ^ *cf;
        break;
    case V3_SH_SHR:
        res = cnt < bits ? d >> cnt : 0;
        *cf = cnt <= bits ? (unsigned)(d >> (cnt - 1)) & 1 : 0;
        *of = v3_lazy_msb(res, size) ^ ((unsigned)(res >> (bits - 2)) & 1);
        break;
    default: {
        int64_t sd = (int64_t)v3_sext(d, size);
        res = (uint64_t)(sd >> (cnt < 64 ? cnt : 63)) & m;
        *cf = (unsigned)(sd >> (cnt - 1 < 63 ? cnt - 1 : 63)) & 1;
        *of = 0;
        break;
    }
    }
    return res;
}

/*
 * ROL (@p right 0) or ROR (1) of @p d (truncated to @p size) by masked count
 * @p cnt, not 0: the result, and the CF and OF it leaves (OF as flags.c
 * documents for counts above 1).  The other flags are unchanged.
 */
static inline uint64_t v3_rotate_compute(int right, uint64_t d, unsigned cnt, unsigned size, unsigned *cf,
                                         unsigned *of)
{
    unsigned bits = size * 8, n = cnt % bits;
    uint64_t m = v3_size_mask(size), res;
    if (!right) {
        res = n ? ((d << n) | (d >> (bits - n))) & m : d;
        *cf = (unsigned)(res & 1);
        *of = (unsigned)v3_lazy_msb(res, size) ^ *cf;
    } else {
        res = n ? ((d >> n) | (d << (bits - n))) & m : d;
        *cf = (unsigned)v3_lazy_msb(res, size);
        *of = *cf ^ (unsigned)((res >> (bits - 2)) & 1);
    }
    return res;
}

/** SF, ZF and PF of result @p r of @p size bytes, as RFLAGS bits. */
static inline uint64_t v3_szp_flags(uint64_t r, unsigned size)
{
    uint64_t f = 0;
    if (!(r & v3_size_mask(size)))
        f |= V3_FLAG_ZF;
    if (v3_lazy_msb(r, size))
        f |= V3_FLAG_SF;
    if (v3_parity(r))
        f |= V3_FLAG_PF;
    return f;
}

/** All six arithmetic flags after SHL/SHR/SAR by a non-zero count (AF set, see flags.c). */
static inline uint64_t v3_shift_flags(uint64_t res, unsigned size, unsigned cf, unsigned of)
{
    return v3_szp_flags(res, size) | V3_FLAG_AF | (cf ? V3_FLAG_CF : 0) | (of ? V3_FLAG_OF : 0);
}

#endif
