/* SPDX-License-Identifier: MIT */
/*
 * Lazy arithmetic flags.
 *
 * Handlers record (op, size, res, src1, src2) in core->lazy; the six
 * arithmetic flags are computed from the record when someone reads RFLAGS.
 * All values are truncated to the operand size; "msb" is bit size*8-1.
 *
 *   ADD (and ADC):  CF = msb of (s1 & s2) | ((s1 | s2) & ~res)
 *                   OF = msb of (s1 ^ res) & (s2 ^ res)
 *   SUB (SBB, CMP, NEG as 0 - x):
 *                   CF = msb of (~s1 & s2) | ((~s1 | s2) & res)
 *                   OF = msb of (s1 ^ s2) & (s1 ^ res)
 *   both:           AF = bit 4 of s1 ^ s2 ^ res
 *   INC/DEC:        as ADD/SUB with s2 = 1, CF = recorded old CF
 *   LOGIC:          CF = OF = 0
 *   all:            ZF = res == 0, SF = msb, PF = even parity of res[7:0]
 *
 * Architecturally undefined flags: v3vmm produces what the AMD processors
 * it was checked on produce (the CI host is AMD):
 *   AND/OR/XOR/TEST:          AF = 0
 *   SHL/SHR/SAR (count != 0): AF = 1; OF for counts > 1: SHL as
 *                             MSB(res) ^ CF, SHR as MSB(res) ^ res[N-2], SAR 0
 *   ROL/RCL (count != 0):     OF = MSB(res) ^ CF for every count
 *   ROR/RCR (count != 0):     OF = MSB(res) ^ res[N-2] for every count
 *                             (both equal the defined value for a count of 1)
 *   SHLD/SHRD:                AF = 1; OF as SHL/SHR above; 16-bit operands
 *                             with counts 17..31 rotate dest:src:dest (48 bits)
 *   MUL/IMUL:                 SF, ZF, AF, PF unchanged
 *   DIV/IDIV:                 all six flags unchanged
 *   BSF/BSR:                  CF, OF, SF, AF, PF cleared; a zero source leaves
 *                             the destination unchanged (all 64 bits)
 *   BT/BTS/BTR/BTC:           OF, SF, AF, PF unchanged
 */
#include "emu/alu_core.h"

static uint64_t lazy_compute(const struct v3_lazy_flags *l)
{
    unsigned size = l->size ? l->size : 8;
    uint64_t m = v3_size_mask(size);
    uint64_t r = l->res & m, a = l->src1 & m, b = l->src2 & m;
    uint64_t cf = 0, of = 0, af = 0;

    switch (l->op) {
    case V3_LF_ADD:
        cf = v3_lazy_msb((a & b) | ((a | b) & ~r), size);
        of = v3_lazy_msb((a ^ r) & (b ^ r), size);
        af = (a ^ b ^ r) & 0x10;
        break;
    case V3_LF_SUB:
        cf = v3_lazy_msb((~a & b) | ((~a | b) & r), size);
        of = v3_lazy_msb((a ^ b) & (a ^ r), size);
        af = (a ^ b ^ r) & 0x10;
        break;
    case V3_LF_LOGIC:
        break;
    case V3_LF_INC:
        cf = b & 1;
        of = v3_lazy_msb((a ^ r) & (1 ^ r), size);
        af = (a ^ 1 ^ r) & 0x10;
        break;
    case V3_LF_DEC:
        cf = b & 1;
        of = v3_lazy_msb((a ^ 1) & (a ^ r), size);
        af = (a ^ 1 ^ r) & 0x10;
        break;
    default:
        break;
    }
    uint64_t f = 0;
    if (cf)
        f |= V3_FLAG_CF;
    if (of)
        f |= V3_FLAG_OF;
    if (af)
        f |= V3_FLAG_AF;
    return f | v3_szp_flags(r, size);
}

uint64_t v3_core_get_rflags(struct v3_core *core)
{
    if (core->lazy.op) {
        core->rflags = (core->rflags & ~V3_FLAGS_ARITH) | lazy_compute(&core->lazy);
        core->lazy.op = V3_LF_NONE;
    }
    return core->rflags | 2;
}

void v3_core_set_rflags(struct v3_core *core, uint64_t rflags)
{
    core->rflags = rflags | 2;
    core->lazy.op = V3_LF_NONE;
}

unsigned v3_flags_cf(struct v3_core *c)
{
    return v3_lazy_cf(c);
}

void v3_flags_set(struct v3_core *c, uint64_t mask, uint64_t val)
{
    uint64_t f;
    if ((mask & V3_FLAGS_ARITH) == V3_FLAGS_ARITH) {
        /* all six replaced: the pending lazy record needs no evaluation */
        v3_flags_replace_arith(c, val);
        f = c->rflags;
    } else {
        f = v3_core_get_rflags(c);
    }
    c->rflags = (f & ~mask) | (val & mask);
}

int v3_cond(struct v3_core *c, unsigned cc)
{
    return v3_lazy_cond(c, cc);
}
