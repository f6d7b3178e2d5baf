/* SPDX-License-Identifier: MIT */
/* Random 64-bit instruction sequences (see x64seq.h). */
#include "x64seq.h"

#include <stdio.h>
#include <string.h>
#include <Zydis/Zydis.h>

#define ARITH_FLAGS 0x8d5ull   /* CF PF AF ZF SF OF */

struct gen {
    struct x64seq *s;
    uint64_t *rng;
    const struct x64seq_opts *o;
    uint64_t undef;
    int depth;                 /* qwords pushed by the sequence */
    ZydisDecoder dec;
    int bits;
    uint64_t code, scratch;
    unsigned scratch_size;
    ZydisMachineMode mm;
    int in_frame;              /* inside enter/leave: RBP is the frame pointer, EBP may be unaligned */
};

static unsigned rnd(struct gen *g, unsigned n) { return (unsigned)(x64_rand(g->rng) % n); }

/* writable general registers: not RSP (stack), not R15 (scratch base) */
static const int wregs[] = { 0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14 };
#define NWREGS 14

static ZydisRegister gpr(int idx, int size)
{
    static const ZydisRegister r8[16] = {
        ZYDIS_REGISTER_AL, ZYDIS_REGISTER_CL, ZYDIS_REGISTER_DL, ZYDIS_REGISTER_BL,
        ZYDIS_REGISTER_SPL, ZYDIS_REGISTER_BPL, ZYDIS_REGISTER_SIL, ZYDIS_REGISTER_DIL,
        ZYDIS_REGISTER_R8B, ZYDIS_REGISTER_R9B, ZYDIS_REGISTER_R10B, ZYDIS_REGISTER_R11B,
        ZYDIS_REGISTER_R12B, ZYDIS_REGISTER_R13B, ZYDIS_REGISTER_R14B, ZYDIS_REGISTER_R15B };
    switch (size) {
    case 1: return r8[idx];
    case 2: return (ZydisRegister)(ZYDIS_REGISTER_AX + idx);
    case 4: return (ZydisRegister)(ZYDIS_REGISTER_EAX + idx);
    default: return (ZydisRegister)(ZYDIS_REGISTER_RAX + idx);
    }
}

static const int lregs[] = { 0, 1, 2, 3, 6, 7 };   /* legacy modes: not SP, not BP (scratch base) */

static int wreg(struct gen *g)
{
    int r;
    do
        r = g->bits == 64 ? wregs[rnd(g, NWREGS)] : lregs[rnd(g, 6)];
    while (g->in_frame && r == 5);
    return r;
}

static ZydisRegister rgpr(struct gen *g, int size)
{
    if (size == 1 && (rnd(g, 6) == 0 || g->bits != 64))
        return (ZydisRegister)(rnd(g, 2) ? ZYDIS_REGISTER_AH + rnd(g, 4) : ZYDIS_REGISTER_AL + rnd(g, 4));
    return gpr(wreg(g), size);
}
/* (BPL/BP/EBP/RBP are never picked inside a frame) */

static int rsize(struct gen *g)
{
    static const int s[] = { 1, 2, 4, 8, 4, 8 };
    static const int l[] = { 1, 2, 4, 2, 4, 4 };
    return g->bits == 64 ? s[rnd(g, 6)] : l[rnd(g, 6)];
}

/* 2, 4 or (64-bit) 8 */
static int wsize(struct gen *g)
{
    return g->bits == 64 ? 2 << rnd(g, 3) : 2 << rnd(g, 2);
}

static ZydisEncoderOperand op_reg(ZydisRegister r)
{
    ZydisEncoderOperand o;
    memset(&o, 0, sizeof(o));
    o.type = ZYDIS_OPERAND_TYPE_REGISTER;
    o.reg.value = r;
    return o;
}

static ZydisEncoderOperand op_imm(uint64_t v)
{
    ZydisEncoderOperand o;
    memset(&o, 0, sizeof(o));
    o.type = ZYDIS_OPERAND_TYPE_IMMEDIATE;
    o.imm.u = v;
    return o;
}

/* memory operand of @p size bytes in the scratch buffer; align: required alignment */
static ZydisEncoderOperand op_mem(struct gen *g, int size, unsigned align)
{
    ZydisEncoderOperand o;
    unsigned span = size < 16 ? 16 : size;
    uint64_t off = rnd(g, g->scratch_size - span);
    if (g->in_frame && g->bits != 64 && off < 0x40)
        off += 0x40;                /* EBP is the frame pointer: keep off the saved EBP */
    if (align > 1)
        off &= ~(uint64_t)(align - 1);
    memset(&o, 0, sizeof(o));
    o.type = ZYDIS_OPERAND_TYPE_MEMORY;
    o.mem.size = (ZyanU16)size;
    if (g->bits == 64 && rnd(g, 4) == 0) {
        o.mem.base = ZYDIS_REGISTER_RIP;
        o.mem.displacement = (ZyanI64)(g->scratch + off);   /* absolute target, fixed up in emit */
    } else {
        o.mem.base = g->bits == 64 ? ZYDIS_REGISTER_R15 : g->bits == 32 ? ZYDIS_REGISTER_EBP : ZYDIS_REGISTER_BP;
        o.mem.displacement = (ZyanI64)off;
    }
    return o;
}

static uint64_t imm_for(struct gen *g, int size)
{
    uint64_t v = x64_rand(g->rng);
    switch (rnd(g, 4)) {
    case 0: v &= 0xff; break;
    case 1: v = (uint64_t)(int64_t)(int8_t)v; break;
    default: break;
    }
    if (size == 1) v &= 0xff;
    else if (size == 2) v &= 0xffff;
    else if (size == 4) v &= 0xffffffff;
    else v = (uint64_t)(int64_t)(int32_t)v;    /* 64-bit ops take imm32 sign-extended */
    return v;
}

static void raw(struct gen *g, const uint8_t *b, size_t n)
{
    memcpy(g->s->code + g->s->len, b, n);
    g->s->len += n;
    g->s->ninsns++;
}

/* Flag bookkeeping for already encoded bytes at the current position. */
static int flags_of(struct gen *g, const uint8_t *b, size_t n, ZydisAccessedFlagsMask *tested,
                    ZydisAccessedFlagsMask *written, ZydisAccessedFlagsMask *undef)
{
    ZydisDecodedInstruction in;
    if (ZYAN_FAILED(ZydisDecoderDecodeInstruction(&g->dec, NULL, b, n, &in)))
        return -1;
    *tested = in.cpu_flags ? in.cpu_flags->tested : 0;
    *written = in.cpu_flags ? (in.cpu_flags->modified | in.cpu_flags->set_0 | in.cpu_flags->set_1) : 0;
    *undef = in.cpu_flags ? in.cpu_flags->undefined : 0;
    *written &= ~*undef;
    return 0;
}

static void define_flags(struct gen *g)
{
    /* CMP r, r defines all six arithmetic flags */
    ZydisEncoderRequest r;
    uint8_t b[16];
    ZyanUSize n = sizeof(b);
    memset(&r, 0, sizeof(r));
    r.machine_mode = g->mm;
    r.mnemonic = ZYDIS_MNEMONIC_CMP;
    r.operand_count = 2;
    r.operands[0] = op_reg(rgpr(g, g->bits == 64 ? 8 : 4));
    r.operands[1] = op_reg(rgpr(g, g->bits == 64 ? 8 : 4));
    if (ZYAN_SUCCESS(ZydisEncoderEncodeInstruction(&r, b, &n))) {
        raw(g, b, n);
        g->undef = 0;
    }
}

/* Emit raw bytes of one instruction with flag tracking; @p keep: the
 * instruction may leave flags unchanged (count 0), so do not clear undef. */
static int emit_bytes(struct gen *g, const uint8_t *b, size_t n, int keep)
{
    ZydisAccessedFlagsMask t, w, u;
    if (g->s->len + n + 64 > sizeof(g->s->code))
        return -1;
    if (flags_of(g, b, n, &t, &w, &u) < 0)
        return -1;
    if (t & g->undef & ARITH_FLAGS)
        define_flags(g);
    raw(g, b, n);
    if (!keep)
        g->undef &= ~(uint64_t)w;
    g->undef |= u & ARITH_FLAGS;
    return 0;
}

static int emit_req(struct gen *g, ZydisEncoderRequest *r, int keep)
{
    uint8_t b[16];
    ZyanUSize n = sizeof(b);
    int rip = -1;
    r->machine_mode = g->mm;
    for (unsigned i = 0; i < r->operand_count; i++)
        if (r->operands[i].type == ZYDIS_OPERAND_TYPE_MEMORY && r->operands[i].mem.base == ZYDIS_REGISTER_RIP)
            rip = (int)i;
    if (rip >= 0) {
        ZyanI64 target = r->operands[rip].mem.displacement;
        r->operands[rip].mem.displacement = 0x10000;     /* force disp32 to learn the length */
        if (ZYAN_FAILED(ZydisEncoderEncodeInstruction(r, b, &n)))
            return -1;
        r->operands[rip].mem.displacement = target - (ZyanI64)(g->code + g->s->len + n);
        n = sizeof(b);
    }
    if (ZYAN_FAILED(ZydisEncoderEncodeInstruction(r, b, &n)))
        return -1;
    return emit_bytes(g, b, n, keep);
}

static void req_init(ZydisEncoderRequest *r, ZydisMnemonic m, unsigned nops)
{
    memset(r, 0, sizeof(*r));
    r->mnemonic = m;
    r->operand_count = (ZyanU8)nops;
}

/* ---------------------------------------------------------------- families */

static void gen_alu2(struct gen *g)
{
    static const ZydisMnemonic m[] = {
        ZYDIS_MNEMONIC_ADD, ZYDIS_MNEMONIC_OR, ZYDIS_MNEMONIC_ADC, ZYDIS_MNEMONIC_SBB,
        ZYDIS_MNEMONIC_AND, ZYDIS_MNEMONIC_SUB, ZYDIS_MNEMONIC_XOR, ZYDIS_MNEMONIC_CMP,
        ZYDIS_MNEMONIC_TEST, ZYDIS_MNEMONIC_MOV, ZYDIS_MNEMONIC_XCHG };
    ZydisEncoderRequest r;
    int size = rsize(g);
    ZydisMnemonic mn = m[rnd(g, sizeof(m) / sizeof(m[0]))];
    req_init(&r, mn, 2);
    switch (rnd(g, 5)) {
    case 0: r.operands[0] = op_reg(rgpr(g, size)); r.operands[1] = op_reg(rgpr(g, size)); break;
    case 1: r.operands[0] = op_reg(rgpr(g, size)); r.operands[1] = op_mem(g, size, 1); break;
    case 2: r.operands[0] = op_mem(g, size, 1); r.operands[1] = op_reg(rgpr(g, size)); break;
    case 3:
        if (mn == ZYDIS_MNEMONIC_XCHG) return;
        r.operands[0] = op_reg(rgpr(g, size));
        r.operands[1] = op_imm(mn == ZYDIS_MNEMONIC_MOV && size == 8 ? x64_rand(g->rng) : imm_for(g, size));
        break;
    default:
        if (mn == ZYDIS_MNEMONIC_XCHG) return;
        r.operands[0] = op_mem(g, size, 1); r.operands[1] = op_imm(imm_for(g, size));
        break;
    }
    emit_req(g, &r, 0);
}

static void gen_unary(struct gen *g)
{
    static const ZydisMnemonic m[] = { ZYDIS_MNEMONIC_INC, ZYDIS_MNEMONIC_DEC, ZYDIS_MNEMONIC_NEG,
                                       ZYDIS_MNEMONIC_NOT, ZYDIS_MNEMONIC_MUL, ZYDIS_MNEMONIC_IMUL };
    ZydisEncoderRequest r;
    int size = rsize(g);
    req_init(&r, m[rnd(g, 6)], 1);
    r.operands[0] = rnd(g, 2) ? op_reg(rgpr(g, size)) : op_mem(g, size, 1);
    emit_req(g, &r, 0);
}

static void gen_shift(struct gen *g)
{
    static const ZydisMnemonic m[] = { ZYDIS_MNEMONIC_SHL, ZYDIS_MNEMONIC_SHR, ZYDIS_MNEMONIC_SAR,
                                       ZYDIS_MNEMONIC_ROL, ZYDIS_MNEMONIC_ROR, ZYDIS_MNEMONIC_RCL,
                                       ZYDIS_MNEMONIC_RCR };
    ZydisEncoderRequest r;
    int size = rsize(g), keep = 0, kind = rnd(g, 3);
    req_init(&r, m[rnd(g, 7)], 2);
    r.operands[0] = rnd(g, 2) ? op_reg(rgpr(g, size)) : op_mem(g, size, 1);
    if (kind == 0) {
        r.operands[1] = op_reg(ZYDIS_REGISTER_CL);
        keep = 1;                   /* count may be 0: flags unchanged */
    } else if (kind == 1) {
        r.operands[1] = op_imm(1);
    } else {
        r.operands[1] = op_imm(1 + rnd(g, (unsigned)size * 8 - 1));
    }
    if (emit_req(g, &r, keep) == 0 && kind != 1)
        g->undef |= 0x800 | 0x10;   /* OF undefined for counts other than 1; AF */
}

static void gen_shxd(struct gen *g)
{
    ZydisEncoderRequest r;
    int size = wsize(g);
    int cl = size != 2 && rnd(g, 2);
    req_init(&r, rnd(g, 2) ? ZYDIS_MNEMONIC_SHLD : ZYDIS_MNEMONIC_SHRD, 3);
    r.operands[0] = rnd(g, 2) ? op_reg(rgpr(g, size)) : op_mem(g, size, 1);
    r.operands[1] = op_reg(rgpr(g, size));
    r.operands[2] = cl ? op_reg(ZYDIS_REGISTER_CL) : op_imm(1 + rnd(g, (unsigned)size * 8 - 1));
    if (emit_req(g, &r, cl) == 0)
        g->undef |= 0x800 | 0x10;
}

static void gen_bits(struct gen *g)
{
    static const ZydisMnemonic bt[] = { ZYDIS_MNEMONIC_BT, ZYDIS_MNEMONIC_BTS, ZYDIS_MNEMONIC_BTR,
                                        ZYDIS_MNEMONIC_BTC };
    static const ZydisMnemonic sc[] = { ZYDIS_MNEMONIC_BSF, ZYDIS_MNEMONIC_BSR, ZYDIS_MNEMONIC_LZCNT,
                                        ZYDIS_MNEMONIC_TZCNT, ZYDIS_MNEMONIC_POPCNT };
    ZydisEncoderRequest r;
    int size = wsize(g);
    if (rnd(g, 2)) {
        req_init(&r, bt[rnd(g, 4)], 2);
        if (rnd(g, 2)) {
            r.operands[0] = op_reg(rgpr(g, size));
            r.operands[1] = rnd(g, 2) ? op_reg(rgpr(g, size)) : op_imm(rnd(g, 256));
        } else {
            r.operands[0] = op_mem(g, size, 1);
            r.operands[1] = op_imm(rnd(g, 256));
        }
    } else if (g->bits == 64 && rnd(g, 3) == 0) {
        /* BMI1 (VEX) and CLFLUSH: 64-bit (host) only */
        static const ZydisMnemonic bm[] = { ZYDIS_MNEMONIC_ANDN, ZYDIS_MNEMONIC_BEXTR, ZYDIS_MNEMONIC_BLSI,
                                            ZYDIS_MNEMONIC_BLSMSK, ZYDIS_MNEMONIC_BLSR, ZYDIS_MNEMONIC_CLFLUSH };
        ZydisMnemonic mn = bm[rnd(g, 6)];
        int bs = rnd(g, 2) ? 8 : 4;
        if (mn == ZYDIS_MNEMONIC_CLFLUSH) {
            req_init(&r, mn, 1);
            r.operands[0] = op_mem(g, 1, 1);
        } else if (mn == ZYDIS_MNEMONIC_ANDN || mn == ZYDIS_MNEMONIC_BEXTR) {
            req_init(&r, mn, 3);
            r.operands[0] = op_reg(rgpr(g, bs));
            r.operands[1] = op_reg(rgpr(g, bs));
            r.operands[2] = op_reg(rgpr(g, bs));
            if (rnd(g, 2))
                r.operands[mn == ZYDIS_MNEMONIC_ANDN ? 2 : 1] = op_mem(g, bs, 1);
            if (mn == ZYDIS_MNEMONIC_BEXTR && rnd(g, 2)) {
                /* a control register with a small start/length often: mov reg, imm first */
                ZydisEncoderRequest m;
                req_init(&m, ZYDIS_MNEMONIC_MOV, 2);
                m.operands[0] = op_reg(gpr(ZydisRegisterGetId(r.operands[2].reg.value), 4));
                m.operands[1] = op_imm(rnd(g, 80) | (rnd(g, 80) << 8) | (rnd(g, 4) ? 0 : rnd(g, 0x10000) << 16));
                if (emit_req(g, &m, 0) < 0)
                    return;
            }
        } else {
            req_init(&r, mn, 2);
            r.operands[0] = op_reg(rgpr(g, bs));
            r.operands[1] = rnd(g, 2) ? op_reg(rgpr(g, bs)) : op_mem(g, bs, 1);
        }
        /* the flags the SDM leaves undefined are compared too: the software
         * CPU gives the AMD values (src/emu/ops_bmi.c) */
        uint64_t before = g->undef;
        if (emit_req(g, &r, 0) == 0 && mn != ZYDIS_MNEMONIC_CLFLUSH)
            g->undef = before & ~(uint64_t)ARITH_FLAGS;
        return;
    } else {
        /* Unicorn 2.0.1 rejects POPCNT in every CPU model: 64-bit (host) only */
        req_init(&r, sc[rnd(g, g->bits == 64 ? 5 : 4)], 2);
        r.operands[0] = op_reg(rgpr(g, size));
        r.operands[1] = rnd(g, 2) ? op_reg(rgpr(g, size)) : op_mem(g, size, 1);
        if (g->bits == 64 && (r.mnemonic == ZYDIS_MNEMONIC_LZCNT || r.mnemonic == ZYDIS_MNEMONIC_TZCNT)) {
            /* AMD: SF AF PF cleared, OF kept; compared against the host */
            uint64_t before = g->undef;
            if (emit_req(g, &r, 0) == 0)
                g->undef = before & ~(uint64_t)(ARITH_FLAGS & ~0x800ull);
            return;
        }
    }
    emit_req(g, &r, 0);
}

static void gen_mov_ext(struct gen *g)
{
    ZydisEncoderRequest r;
    int k = rnd(g, 6);
    if (k < 2) {
        int ss = 1 << rnd(g, 2), ds = ss == 1 ? wsize(g) : (g->bits == 64 ? 4 << rnd(g, 2) : 4);
        req_init(&r, k ? ZYDIS_MNEMONIC_MOVSX : ZYDIS_MNEMONIC_MOVZX, 2);
        r.operands[0] = op_reg(rgpr(g, ds));
        r.operands[1] = rnd(g, 2) ? op_reg(rgpr(g, ss)) : op_mem(g, ss, 1);
        if (ss == 1 && r.operands[1].type == ZYDIS_OPERAND_TYPE_REGISTER && ds == 8)
            r.operands[1] = op_reg(gpr(wreg(g), 1));
    } else if (k == 2) {
        if (g->bits != 64)
            return;
        req_init(&r, ZYDIS_MNEMONIC_MOVSXD, 2);
        r.operands[0] = op_reg(rgpr(g, 8));
        r.operands[1] = rnd(g, 2) ? op_reg(rgpr(g, 4)) : op_mem(g, 4, 1);
    } else if (k == 3) {
        int size = wsize(g);
        req_init(&r, (ZydisMnemonic)(ZYDIS_MNEMONIC_CMOVB + 0), 2);
        {
            static const ZydisMnemonic cm[] = {
                ZYDIS_MNEMONIC_CMOVO, ZYDIS_MNEMONIC_CMOVNO, ZYDIS_MNEMONIC_CMOVB, ZYDIS_MNEMONIC_CMOVNB,
                ZYDIS_MNEMONIC_CMOVZ, ZYDIS_MNEMONIC_CMOVNZ, ZYDIS_MNEMONIC_CMOVBE, ZYDIS_MNEMONIC_CMOVNBE,
                ZYDIS_MNEMONIC_CMOVS, ZYDIS_MNEMONIC_CMOVNS, ZYDIS_MNEMONIC_CMOVP, ZYDIS_MNEMONIC_CMOVNP,
                ZYDIS_MNEMONIC_CMOVL, ZYDIS_MNEMONIC_CMOVNL, ZYDIS_MNEMONIC_CMOVLE, ZYDIS_MNEMONIC_CMOVNLE };
            r.mnemonic = cm[rnd(g, 16)];
        }
        r.operands[0] = op_reg(rgpr(g, size));
        r.operands[1] = rnd(g, 2) ? op_reg(rgpr(g, size)) : op_mem(g, size, 1);
    } else if (k == 4) {
        static const ZydisMnemonic sm[] = {
            ZYDIS_MNEMONIC_SETO, ZYDIS_MNEMONIC_SETNO, ZYDIS_MNEMONIC_SETB, ZYDIS_MNEMONIC_SETNB,
            ZYDIS_MNEMONIC_SETZ, ZYDIS_MNEMONIC_SETNZ, ZYDIS_MNEMONIC_SETBE, ZYDIS_MNEMONIC_SETNBE,
            ZYDIS_MNEMONIC_SETS, ZYDIS_MNEMONIC_SETNS, ZYDIS_MNEMONIC_SETP, ZYDIS_MNEMONIC_SETNP,
            ZYDIS_MNEMONIC_SETL, ZYDIS_MNEMONIC_SETNL, ZYDIS_MNEMONIC_SETLE, ZYDIS_MNEMONIC_SETNLE };
        req_init(&r, sm[rnd(g, 16)], 1);
        r.operands[0] = rnd(g, 2) ? op_reg(rgpr(g, 1)) : op_mem(g, 1, 1);
    } else {
        /* LEA with a base register and a scaled index */
        int size = wsize(g), as = g->bits == 64 ? 8 : 4;
        static const uint8_t sc[] = { 1, 2, 4, 8 };
        req_init(&r, ZYDIS_MNEMONIC_LEA, 2);
        r.operands[0] = op_reg(rgpr(g, size));
        memset(&r.operands[1], 0, sizeof(r.operands[1]));
        r.operands[1].type = ZYDIS_OPERAND_TYPE_MEMORY;
        r.operands[1].mem.base = gpr(wreg(g), as);
        if (rnd(g, 2)) {
            r.operands[1].mem.index = gpr(wreg(g), as);
            r.operands[1].mem.scale = sc[rnd(g, 4)];
        }
        r.operands[1].mem.displacement = (ZyanI64)(int32_t)imm_for(g, 4);
        r.operands[1].mem.size = 0;
    }
    emit_req(g, &r, 0);
}

static void gen_imul(struct gen *g)
{
    ZydisEncoderRequest r;
    int size = wsize(g);
    if (rnd(g, 2)) {
        req_init(&r, ZYDIS_MNEMONIC_IMUL, 2);
        r.operands[0] = op_reg(rgpr(g, size));
        r.operands[1] = rnd(g, 2) ? op_reg(rgpr(g, size)) : op_mem(g, size, 1);
    } else {
        req_init(&r, ZYDIS_MNEMONIC_IMUL, 3);
        r.operands[0] = op_reg(rgpr(g, size));
        r.operands[1] = rnd(g, 2) ? op_reg(rgpr(g, size)) : op_mem(g, size, 1);
        r.operands[2] = op_imm(imm_for(g, size == 8 ? 4 : size) & (size == 2 ? 0xffff : 0xffffffffffffffffull));
        if (size == 8) r.operands[2].imm.u = (uint64_t)(int64_t)(int32_t)r.operands[2].imm.u;
    }
    emit_req(g, &r, 0);
}

static void gen_atomic(struct gen *g)
{
    ZydisEncoderRequest r;
    int size = rsize(g);
    req_init(&r, rnd(g, 2) ? ZYDIS_MNEMONIC_XADD : ZYDIS_MNEMONIC_CMPXCHG, 2);
    r.operands[0] = rnd(g, 2) ? op_reg(rgpr(g, size)) : op_mem(g, size, 1);
    r.operands[1] = op_reg(rgpr(g, size));
    emit_req(g, &r, 0);
}

static void gen_onebyte(struct gen *g)
{
    static const uint8_t ops[][4] = {
        { 1, 0x98 }, { 2, 0x66, 0x98 }, { 2, 0x48, 0x98 },     /* CWDE CBW CDQE */
        { 1, 0x99 }, { 2, 0x66, 0x99 }, { 2, 0x48, 0x99 },     /* CDQ CWD CQO */
        { 1, 0x9f }, { 1, 0x9e },                               /* LAHF SAHF */
        { 1, 0xf8 }, { 1, 0xf9 }, { 1, 0xf5 },                  /* CLC STC CMC */
        { 1, 0x90 }, { 2, 0xf3, 0x90 },                         /* NOP PAUSE */
        { 2, 0x0f, 0xc8 }, { 2, 0x0f, 0xcb }, { 3, 0x48, 0x0f, 0xc9 }, { 3, 0x49, 0x0f, 0xcc }, /* BSWAP */
    };
    static const uint8_t legacy[][4] = {
        { 1, 0x27 }, { 1, 0x2f }, { 1, 0x37 }, { 1, 0x3f },     /* DAA DAS AAA AAS */
        { 2, 0xd4, 0x0a }, { 2, 0xd5, 0x0a }, { 2, 0xd4, 0x07 }, { 2, 0xd5, 0x10 },  /* AAM AAD */
    };
    unsigned i;
    if (g->bits != 64 && rnd(g, 3) == 0) {
        i = rnd(g, sizeof(legacy) / sizeof(legacy[0]));
        emit_bytes(g, &legacy[i][1], legacy[i][0], 0);
        return;
    }
    do {
        i = rnd(g, sizeof(ops) / sizeof(ops[0]));
    } while (g->bits != 64 && (ops[i][1] & 0xf0) == 0x40);
    if (g->bits == 16 && ops[i][1] == 0x0f)
        return;                     /* BSWAP of a 16-bit register is undefined */
    emit_bytes(g, &ops[i][1], ops[i][0], 0);
}

static void gen_nopl(struct gen *g)
{
    static const uint8_t n4[] = { 0x0f, 0x1f, 0x40, 0x00 };
    static const uint8_t n9[] = { 0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 };
    if (g->bits == 16)
        return;                     /* the encodings above use 32-bit addressing */
    if (rnd(g, 2)) emit_bytes(g, n4, sizeof(n4), 0);
    else emit_bytes(g, n9, sizeof(n9), 0);
}

static void gen_sse(struct gen *g)
{
    static const ZydisMnemonic m[] = {
        ZYDIS_MNEMONIC_PXOR, ZYDIS_MNEMONIC_POR, ZYDIS_MNEMONIC_PAND, ZYDIS_MNEMONIC_PANDN,
        ZYDIS_MNEMONIC_PCMPEQB, ZYDIS_MNEMONIC_PCMPEQW, ZYDIS_MNEMONIC_PCMPEQD,
        ZYDIS_MNEMONIC_PADDB, ZYDIS_MNEMONIC_PADDW, ZYDIS_MNEMONIC_PADDD, ZYDIS_MNEMONIC_PADDQ,
        ZYDIS_MNEMONIC_PSUBB, ZYDIS_MNEMONIC_PSUBW, ZYDIS_MNEMONIC_PSUBD, ZYDIS_MNEMONIC_PSUBQ,
        ZYDIS_MNEMONIC_PUNPCKLBW, ZYDIS_MNEMONIC_PUNPCKLWD, ZYDIS_MNEMONIC_PUNPCKLDQ, ZYDIS_MNEMONIC_PUNPCKLQDQ,
        ZYDIS_MNEMONIC_PUNPCKHBW, ZYDIS_MNEMONIC_PUNPCKHWD, ZYDIS_MNEMONIC_PUNPCKHDQ, ZYDIS_MNEMONIC_PUNPCKHQDQ,
        ZYDIS_MNEMONIC_MOVDQA, ZYDIS_MNEMONIC_MOVDQU, ZYDIS_MNEMONIC_MOVAPS, ZYDIS_MNEMONIC_MOVUPS,
    };
    ZydisEncoderRequest r;
    unsigned k = rnd(g, 10);
    ZydisRegister x = (ZydisRegister)(ZYDIS_REGISTER_XMM0 + rnd(g, 16));
    ZydisRegister y = (ZydisRegister)(ZYDIS_REGISTER_XMM0 + rnd(g, 16));
    if (k < 6) {
        ZydisMnemonic mn = m[rnd(g, sizeof(m) / sizeof(m[0]))];
        int unal = mn == ZYDIS_MNEMONIC_MOVDQU || mn == ZYDIS_MNEMONIC_MOVUPS;
        int mov = mn == ZYDIS_MNEMONIC_MOVDQU || mn == ZYDIS_MNEMONIC_MOVUPS ||
                  mn == ZYDIS_MNEMONIC_MOVDQA || mn == ZYDIS_MNEMONIC_MOVAPS;
        req_init(&r, mn, 2);
        r.operands[0] = op_reg(x);
        r.operands[1] = rnd(g, 2) ? op_reg(y) : op_mem(g, 16, unal ? 1 : 16);
        if (mov && rnd(g, 3) == 0) {      /* store form */
            r.operands[0] = op_mem(g, 16, unal ? 1 : 16);
            r.operands[1] = op_reg(x);
        }
    } else if (k == 6) {
        req_init(&r, ZYDIS_MNEMONIC_PSHUFD, 3);
        r.operands[0] = op_reg(x);
        r.operands[1] = rnd(g, 2) ? op_reg(y) : op_mem(g, 16, 16);
        r.operands[2] = op_imm(rnd(g, 256));
    } else if (k == 7) {
        req_init(&r, ZYDIS_MNEMONIC_PMOVMSKB, 2);
        r.operands[0] = op_reg(rgpr(g, rnd(g, 2) ? 4 : 8));
        r.operands[1] = op_reg(y);
    } else {
        int q = rnd(g, 2);
        int dir = rnd(g, 2), mem = rnd(g, 2);
        req_init(&r, q ? ZYDIS_MNEMONIC_MOVQ : ZYDIS_MNEMONIC_MOVD, 2);
        ZydisEncoderOperand other = mem ? op_mem(g, q ? 8 : 4, 1) : op_reg(rgpr(g, q ? 8 : 4));
        if (q && !mem && rnd(g, 2))
            other = op_reg(y);            /* movq xmm, xmm */
        if (dir) { r.operands[0] = op_reg(x); r.operands[1] = other; }
        else { r.operands[0] = other; r.operands[1] = op_reg(x); }
    }
    emit_req(g, &r, 0);
}

/* ---------------------------------------------------------------- MMX / SSE-SSE4.2 integer SIMD */

enum { V_X = 1, V_M = 2, V_I = 4 };   /* XMM form, MMX form, imm8 */

struct vform { ZydisMnemonic mn; uint8_t f; };

#define VF(m, f) { ZYDIS_MNEMONIC_##m, f }
static const struct vform vlanes[] = {
    VF(PAND, V_X | V_M), VF(PANDN, V_X | V_M), VF(POR, V_X | V_M), VF(PXOR, V_X | V_M),
    VF(ANDPS, V_X), VF(ANDPD, V_X), VF(ANDNPS, V_X), VF(ANDNPD, V_X), VF(ORPS, V_X), VF(ORPD, V_X),
    VF(XORPS, V_X), VF(XORPD, V_X),
    VF(PADDB, V_X | V_M), VF(PADDW, V_X | V_M), VF(PADDD, V_X | V_M), VF(PADDQ, V_X | V_M),
    VF(PSUBB, V_X | V_M), VF(PSUBW, V_X | V_M), VF(PSUBD, V_X | V_M), VF(PSUBQ, V_X | V_M),
    VF(PADDSB, V_X | V_M), VF(PADDSW, V_X | V_M), VF(PADDUSB, V_X | V_M), VF(PADDUSW, V_X | V_M),
    VF(PSUBSB, V_X | V_M), VF(PSUBSW, V_X | V_M), VF(PSUBUSB, V_X | V_M), VF(PSUBUSW, V_X | V_M),
    VF(PMULLW, V_X | V_M), VF(PMULHW, V_X | V_M), VF(PMULHUW, V_X | V_M), VF(PMULHRSW, V_X | V_M),
    VF(PMULUDQ, V_X | V_M), VF(PMULDQ, V_X), VF(PMULLD, V_X), VF(PMADDWD, V_X | V_M),
    VF(PMADDUBSW, V_X | V_M), VF(PAVGB, V_X | V_M), VF(PAVGW, V_X | V_M),
    VF(PMINUB, V_X | V_M), VF(PMAXUB, V_X | V_M), VF(PMINSW, V_X | V_M), VF(PMAXSW, V_X | V_M),
    VF(PMINSB, V_X), VF(PMAXSB, V_X), VF(PMINUW, V_X), VF(PMAXUW, V_X),
    VF(PMINUD, V_X), VF(PMAXUD, V_X), VF(PMINSD, V_X), VF(PMAXSD, V_X),
    VF(PSADBW, V_X | V_M), VF(MPSADBW, V_X | V_I),
    VF(PCMPEQB, V_X | V_M), VF(PCMPEQW, V_X | V_M), VF(PCMPEQD, V_X | V_M), VF(PCMPEQQ, V_X),
    VF(PCMPGTB, V_X | V_M), VF(PCMPGTW, V_X | V_M), VF(PCMPGTD, V_X | V_M), VF(PCMPGTQ, V_X),
    VF(PSLLW, V_X | V_M), VF(PSLLD, V_X | V_M), VF(PSLLQ, V_X | V_M), VF(PSRLW, V_X | V_M),
    VF(PSRLD, V_X | V_M), VF(PSRLQ, V_X | V_M), VF(PSRAW, V_X | V_M), VF(PSRAD, V_X | V_M),
    VF(PACKSSWB, V_X | V_M), VF(PACKUSWB, V_X | V_M), VF(PACKSSDW, V_X | V_M), VF(PACKUSDW, V_X),
    VF(PUNPCKLBW, V_X | V_M), VF(PUNPCKHBW, V_X | V_M), VF(PUNPCKLWD, V_X | V_M),
    VF(PUNPCKHWD, V_X | V_M), VF(PUNPCKLDQ, V_X | V_M), VF(PUNPCKHDQ, V_X | V_M),
    VF(PUNPCKLQDQ, V_X), VF(PUNPCKHQDQ, V_X), VF(UNPCKLPS, V_X), VF(UNPCKHPS, V_X),
    VF(UNPCKLPD, V_X), VF(UNPCKHPD, V_X),
    VF(PSHUFB, V_X | V_M), VF(PSHUFW, V_M | V_I), VF(PSHUFD, V_X | V_I), VF(PSHUFLW, V_X | V_I),
    VF(PSHUFHW, V_X | V_I), VF(SHUFPS, V_X | V_I), VF(SHUFPD, V_X | V_I), VF(PALIGNR, V_X | V_M | V_I),
    VF(PHADDW, V_X | V_M), VF(PHADDD, V_X | V_M), VF(PHADDSW, V_X | V_M), VF(PHSUBW, V_X | V_M),
    VF(PHSUBD, V_X | V_M), VF(PHSUBSW, V_X | V_M),
    VF(PSIGNB, V_X | V_M), VF(PSIGNW, V_X | V_M), VF(PSIGND, V_X | V_M),
    VF(PABSB, V_X | V_M), VF(PABSW, V_X | V_M), VF(PABSD, V_X | V_M),
    VF(PBLENDW, V_X | V_I), VF(BLENDPS, V_X | V_I), VF(BLENDPD, V_X | V_I), VF(PHMINPOSUW, V_X),
    VF(MOVNTDQA, V_X),
};
/* PMOVSX/ZX: memory source of 8, 4 or 2 bytes */
static const struct { ZydisMnemonic mn; uint8_t msize; } vmovx[] = {
    { ZYDIS_MNEMONIC_PMOVSXBW, 8 }, { ZYDIS_MNEMONIC_PMOVSXBD, 4 }, { ZYDIS_MNEMONIC_PMOVSXBQ, 2 },
    { ZYDIS_MNEMONIC_PMOVSXWD, 8 }, { ZYDIS_MNEMONIC_PMOVSXWQ, 4 }, { ZYDIS_MNEMONIC_PMOVSXDQ, 8 },
    { ZYDIS_MNEMONIC_PMOVZXBW, 8 }, { ZYDIS_MNEMONIC_PMOVZXBD, 4 }, { ZYDIS_MNEMONIC_PMOVZXBQ, 2 },
    { ZYDIS_MNEMONIC_PMOVZXWD, 8 }, { ZYDIS_MNEMONIC_PMOVZXWQ, 4 }, { ZYDIS_MNEMONIC_PMOVZXDQ, 8 },
};

static ZydisRegister rxmm(struct gen *g) { return (ZydisRegister)(ZYDIS_REGISTER_XMM0 + rnd(g, 16)); }
static ZydisRegister rmm(struct gen *g) { return (ZydisRegister)(ZYDIS_REGISTER_MM0 + rnd(g, 8)); }

/* an imm8 biased towards the small values that select lanes and shift counts */
static uint64_t vimm(struct gen *g)
{
    return rnd(g, 3) ? rnd(g, 34) : rnd(g, 256);
}

/* SSE-SSE4.1 floating point (and the SSE3 duplicating moves): kinds of operand lists */
enum { FK_XX, FK_XXI, FK_MX, FK_XM, FK_RX, FK_XR };
static const struct { ZydisMnemonic mn; uint8_t msize, kind; } vfp[] = {
#define P(m) { ZYDIS_MNEMONIC_##m, 16, FK_XX }
#define S4(m) { ZYDIS_MNEMONIC_##m, 4, FK_XX }
#define S8(m) { ZYDIS_MNEMONIC_##m, 8, FK_XX }
    P(ADDPS), P(ADDPD), S4(ADDSS), S8(ADDSD), P(SUBPS), P(SUBPD), S4(SUBSS), S8(SUBSD),
    P(MULPS), P(MULPD), S4(MULSS), S8(MULSD), P(DIVPS), P(DIVPD), S4(DIVSS), S8(DIVSD),
    P(MINPS), P(MINPD), S4(MINSS), S8(MINSD), P(MAXPS), P(MAXPD), S4(MAXSS), S8(MAXSD),
    P(SQRTPS), P(SQRTPD), S4(SQRTSS), S8(SQRTSD), P(RCPPS), S4(RCPSS), P(RSQRTPS), S4(RSQRTSS),
    P(ADDSUBPS), P(ADDSUBPD), P(HADDPS), P(HADDPD), P(HSUBPS), P(HSUBPD),
    S8(CVTPS2PD), P(CVTPD2PS), S4(CVTSS2SD), S8(CVTSD2SS), P(CVTDQ2PS), P(CVTPS2DQ), P(CVTTPS2DQ),
    S8(CVTDQ2PD), P(CVTPD2DQ), P(CVTTPD2DQ), S8(MOVDDUP), P(MOVSHDUP), P(MOVSLDUP),
    S4(COMISS), S4(UCOMISS), S8(COMISD), S8(UCOMISD),
#undef P
#undef S4
#undef S8
    { ZYDIS_MNEMONIC_CMPPS, 16, FK_XXI }, { ZYDIS_MNEMONIC_CMPPD, 16, FK_XXI },
    { ZYDIS_MNEMONIC_CMPSS, 4, FK_XXI }, { ZYDIS_MNEMONIC_CMPSD, 8, FK_XXI },
    { ZYDIS_MNEMONIC_ROUNDPS, 16, FK_XXI }, { ZYDIS_MNEMONIC_ROUNDPD, 16, FK_XXI },
    { ZYDIS_MNEMONIC_ROUNDSS, 4, FK_XXI }, { ZYDIS_MNEMONIC_ROUNDSD, 8, FK_XXI },
    { ZYDIS_MNEMONIC_DPPS, 16, FK_XXI }, { ZYDIS_MNEMONIC_DPPD, 16, FK_XXI },
    { ZYDIS_MNEMONIC_CVTPS2PI, 8, FK_MX }, { ZYDIS_MNEMONIC_CVTTPS2PI, 8, FK_MX },
    { ZYDIS_MNEMONIC_CVTPD2PI, 16, FK_MX }, { ZYDIS_MNEMONIC_CVTTPD2PI, 16, FK_MX },
    { ZYDIS_MNEMONIC_CVTPI2PS, 8, FK_XM }, { ZYDIS_MNEMONIC_CVTPI2PD, 8, FK_XM },
    { ZYDIS_MNEMONIC_CVTSS2SI, 4, FK_RX }, { ZYDIS_MNEMONIC_CVTTSS2SI, 4, FK_RX },
    { ZYDIS_MNEMONIC_CVTSD2SI, 8, FK_RX }, { ZYDIS_MNEMONIC_CVTTSD2SI, 8, FK_RX },
    { ZYDIS_MNEMONIC_CVTSI2SS, 0, FK_XR }, { ZYDIS_MNEMONIC_CVTSI2SD, 0, FK_XR },
};

static void gen_vfp(struct gen *g)
{
    ZydisEncoderRequest r;
    unsigned i = rnd(g, sizeof(vfp) / sizeof(vfp[0]));
    int ms = vfp[i].msize, mem = rnd(g, 2);
    switch (vfp[i].kind) {
    case FK_XX: case FK_XXI:
        req_init(&r, vfp[i].mn, vfp[i].kind == FK_XXI ? 3 : 2);
        r.operands[0] = op_reg(rxmm(g));
        r.operands[1] = mem ? op_mem(g, ms, ms == 16 ? 16 : 1) : op_reg(rxmm(g));
        r.operands[2] = op_imm(rnd(g, 2) ? rnd(g, 16) : rnd(g, 256));
        break;
    case FK_MX:
        req_init(&r, vfp[i].mn, 2);
        r.operands[0] = op_reg(rmm(g));
        r.operands[1] = mem ? op_mem(g, ms, ms == 16 ? 16 : 1) : op_reg(rxmm(g));
        break;
    case FK_XM:
        req_init(&r, vfp[i].mn, 2);
        r.operands[0] = op_reg(rxmm(g));
        r.operands[1] = mem ? op_mem(g, ms, 1) : op_reg(rmm(g));
        break;
    case FK_RX:
        req_init(&r, vfp[i].mn, 2);
        r.operands[0] = op_reg(rgpr(g, rnd(g, 2) ? 4 : 8));
        r.operands[1] = mem ? op_mem(g, ms, 1) : op_reg(rxmm(g));
        break;
    default: {
        int sz = rnd(g, 2) ? 4 : 8;
        req_init(&r, vfp[i].mn, 2);
        r.operands[0] = op_reg(rxmm(g));
        r.operands[1] = mem ? op_mem(g, sz, 1) : op_reg(rgpr(g, sz));
        break;
    }
    }
    emit_req(g, &r, 0);
}

/* MOV dword [scratch], imm32; LDMXCSR / STMXCSR on that dword */
static void mxcsr_op(struct gen *g, int store, uint32_t v, unsigned off)
{
    ZydisEncoderRequest r;
    ZydisEncoderOperand m = op_mem(g, 4, 4);
    m.mem.base = ZYDIS_REGISTER_R15;
    m.mem.displacement = off;
    if (!store) {
        req_init(&r, ZYDIS_MNEMONIC_MOV, 2); r.operands[0] = m; r.operands[1] = op_imm(v);
        if (emit_req(g, &r, 0) < 0)
            return;
    }
    req_init(&r, store ? ZYDIS_MNEMONIC_STMXCSR : ZYDIS_MNEMONIC_LDMXCSR, 1);
    r.operands[0] = m;
    emit_req(g, &r, 0);
}

/* SSE4.2 string compares; explicit lengths from EAX/EDX, sometimes small or negative */
static void gen_pcmpstr(struct gen *g)
{
    static const ZydisMnemonic sc[] = { ZYDIS_MNEMONIC_PCMPESTRI, ZYDIS_MNEMONIC_PCMPESTRM,
                                        ZYDIS_MNEMONIC_PCMPISTRI, ZYDIS_MNEMONIC_PCMPISTRM };
    ZydisEncoderRequest r;
    unsigned i = rnd(g, 4);
    if (i < 2 && rnd(g, 4)) {
        for (int k2 = 0; k2 < 2; k2++) {
            req_init(&r, ZYDIS_MNEMONIC_MOV, 2);
            r.operands[0] = op_reg(k2 ? ZYDIS_REGISTER_EDX : ZYDIS_REGISTER_EAX);
            r.operands[1] = op_imm((uint32_t)((int)rnd(g, 40) - 20));
            emit_req(g, &r, 0);
        }
    }
    req_init(&r, sc[i], 3);
    r.operands[0] = op_reg(rxmm(g));
    r.operands[1] = rnd(g, 2) ? op_reg(rxmm(g)) : op_mem(g, 16, 1);
    r.operands[2] = op_imm(rnd(g, 128));
    if (rnd(g, 8) == 0)
        r.operands[0].reg.value = ZYDIS_REGISTER_XMM0;
    emit_req(g, &r, 0);
}

static void gen_simd(struct gen *g)
{
    ZydisEncoderRequest r;
    unsigned k = rnd(g, 100);
    int mmx = rnd(g, 3) == 0;
    if (k < 30) {
        gen_vfp(g);
        return;
    }
    k = rnd(g, 100);
    if (k < 60) {
        const struct vform *f = &vlanes[rnd(g, sizeof(vlanes) / sizeof(vlanes[0]))];
        int imm = (f->f & V_I) != 0;
        if (!(f->f & V_M)) mmx = 0;
        if (!(f->f & V_X)) mmx = 1;
        req_init(&r, f->mn, imm ? 3 : 2);
        r.operands[0] = op_reg(mmx ? rmm(g) : rxmm(g));
        if (f->mn == ZYDIS_MNEMONIC_MOVNTDQA || rnd(g, 2))
            r.operands[1] = op_mem(g, mmx ? 8 : 16, mmx ? 1 : 16);
        else
            r.operands[1] = op_reg(mmx ? rmm(g) : rxmm(g));
        if (imm)
            r.operands[2] = op_imm(vimm(g));
    } else if (k < 66) {            /* shift by immediate */
        static const ZydisMnemonic sh[] = {
            ZYDIS_MNEMONIC_PSLLW, ZYDIS_MNEMONIC_PSLLD, ZYDIS_MNEMONIC_PSLLQ, ZYDIS_MNEMONIC_PSRLW,
            ZYDIS_MNEMONIC_PSRLD, ZYDIS_MNEMONIC_PSRLQ, ZYDIS_MNEMONIC_PSRAW, ZYDIS_MNEMONIC_PSRAD,
            ZYDIS_MNEMONIC_PSLLDQ, ZYDIS_MNEMONIC_PSRLDQ };
        unsigned i = rnd(g, 10);
        if (i >= 8) mmx = 0;
        req_init(&r, sh[i], 2);
        r.operands[0] = op_reg(mmx ? rmm(g) : rxmm(g));
        r.operands[1] = op_imm(vimm(g));
    } else if (k < 71) {
        unsigned i = rnd(g, sizeof(vmovx) / sizeof(vmovx[0]));
        req_init(&r, vmovx[i].mn, 2);
        r.operands[0] = op_reg(rxmm(g));
        r.operands[1] = rnd(g, 2) ? op_reg(rxmm(g)) : op_mem(g, vmovx[i].msize, 1);
    } else if (k < 75) {            /* PINSRB/W/D/Q */
        static const ZydisMnemonic ins[] = { ZYDIS_MNEMONIC_PINSRB, ZYDIS_MNEMONIC_PINSRW,
                                             ZYDIS_MNEMONIC_PINSRD, ZYDIS_MNEMONIC_PINSRQ };
        unsigned i = rnd(g, 4), sz = 1u << i;
        if (i != 1) mmx = 0;
        req_init(&r, ins[i], 3);
        r.operands[0] = op_reg(mmx ? rmm(g) : rxmm(g));
        r.operands[1] = rnd(g, 2) ? op_reg(rgpr(g, sz == 8 ? 8 : 4)) : op_mem(g, (int)sz, 1);
        r.operands[2] = op_imm(vimm(g));
    } else if (k < 79) {            /* PEXTRB/W/D/Q, EXTRACTPS */
        static const ZydisMnemonic ext[] = { ZYDIS_MNEMONIC_PEXTRB, ZYDIS_MNEMONIC_PEXTRW,
                                             ZYDIS_MNEMONIC_PEXTRD, ZYDIS_MNEMONIC_PEXTRQ,
                                             ZYDIS_MNEMONIC_EXTRACTPS };
        unsigned i = rnd(g, 5), sz = i == 4 ? 4 : 1u << i;
        int mem = rnd(g, 2);
        if (i != 1 || mem) mmx = 0;
        req_init(&r, ext[i], 3);
        r.operands[0] = mem ? op_mem(g, (int)sz, 1) : op_reg(rgpr(g, sz == 8 ? 8 : 4));
        r.operands[1] = op_reg(mmx ? rmm(g) : rxmm(g));
        r.operands[2] = op_imm(vimm(g));
    } else if (k < 81) {
        req_init(&r, ZYDIS_MNEMONIC_INSERTPS, 3);
        r.operands[0] = op_reg(rxmm(g));
        r.operands[1] = rnd(g, 2) ? op_reg(rxmm(g)) : op_mem(g, 4, 1);
        r.operands[2] = op_imm(rnd(g, 256));
    } else if (k < 83) {
        req_init(&r, ZYDIS_MNEMONIC_PTEST, 2);
        r.operands[0] = op_reg(rxmm(g));
        r.operands[1] = rnd(g, 2) ? op_reg(rxmm(g)) : op_mem(g, 16, 16);
    } else if (k < 85) {
        static const ZydisMnemonic mk[] = { ZYDIS_MNEMONIC_PMOVMSKB, ZYDIS_MNEMONIC_MOVMSKPS,
                                            ZYDIS_MNEMONIC_MOVMSKPD };
        unsigned i = rnd(g, 3);
        if (i) mmx = 0;
        req_init(&r, mk[i], 2);
        r.operands[0] = op_reg(rgpr(g, rnd(g, 2) ? 4 : 8));
        r.operands[1] = op_reg(mmx ? rmm(g) : rxmm(g));
    } else if (k < 88) {
        static const ZydisMnemonic hl[] = { ZYDIS_MNEMONIC_MOVHPS, ZYDIS_MNEMONIC_MOVLPS,
                                            ZYDIS_MNEMONIC_MOVHPD, ZYDIS_MNEMONIC_MOVLPD };
        req_init(&r, hl[rnd(g, 4)], 2);
        if (rnd(g, 2)) { r.operands[0] = op_reg(rxmm(g)); r.operands[1] = op_mem(g, 8, 1); }
        else { r.operands[0] = op_mem(g, 8, 1); r.operands[1] = op_reg(rxmm(g)); }
    } else if (k < 90) {
        req_init(&r, rnd(g, 2) ? ZYDIS_MNEMONIC_MOVHLPS : ZYDIS_MNEMONIC_MOVLHPS, 2);
        r.operands[0] = op_reg(rxmm(g));
        r.operands[1] = op_reg(rxmm(g));
    } else if (k < 92) {
        if (rnd(g, 2)) {
            req_init(&r, ZYDIS_MNEMONIC_MOVQ2DQ, 2); r.operands[0] = op_reg(rxmm(g)); r.operands[1] = op_reg(rmm(g));
        } else {
            req_init(&r, ZYDIS_MNEMONIC_MOVDQ2Q, 2); r.operands[0] = op_reg(rmm(g)); r.operands[1] = op_reg(rxmm(g));
        }
    } else if (k < 93) {
        req_init(&r, ZYDIS_MNEMONIC_MOVNTQ, 2);
        r.operands[0] = op_mem(g, 8, 1);
        r.operands[1] = op_reg(rmm(g));
    } else if (k < 96) {            /* PBLENDVB / BLENDVPS / BLENDVPD (XMM0 implicit) */
        static const ZydisMnemonic bv[] = { ZYDIS_MNEMONIC_PBLENDVB, ZYDIS_MNEMONIC_BLENDVPS,
                                            ZYDIS_MNEMONIC_BLENDVPD };
        req_init(&r, bv[rnd(g, 3)], 2);
        r.operands[0] = op_reg(rxmm(g));
        r.operands[1] = rnd(g, 2) ? op_reg(rxmm(g)) : op_mem(g, 16, 16);
    } else if (k < 97) {
        gen_pcmpstr(g);
        return;
    } else if (k < 99) {            /* CRC32 */
        int dsz = rnd(g, 2) ? 8 : 4;
        static const int ssz[] = { 1, 2, 4, 8 };
        int sz = ssz[rnd(g, 4)];
        if (dsz == 4 && sz == 8) sz = 4;
        if (dsz == 8 && (sz == 2 || sz == 4)) sz = 1;
        req_init(&r, ZYDIS_MNEMONIC_CRC32, 2);
        r.operands[0] = op_reg(rgpr(g, dsz));
        r.operands[1] = rnd(g, 2) ? op_mem(g, sz, 1) : op_reg(sz == 1 ? gpr(wreg(g), 1) : rgpr(g, sz));
    } else {
        req_init(&r, ZYDIS_MNEMONIC_EMMS, 0);
    }
    emit_req(g, &r, 0);
}

/* REP string operation on the scratch buffer (composite). */
static void gen_string(struct gen *g)
{
    uint8_t b[32];
    size_t n = 0;
    unsigned cnt = rnd(g, 40);
    int size = 1 << rnd(g, 4);
    uint32_t src = rnd(g, X64_SCRATCH_SIZE / 2 - 340) + 8, dst = rnd(g, X64_SCRATCH_SIZE / 2 - 340) + X64_SCRATCH_SIZE / 2;
    int back = rnd(g, 4) == 0;
    static const uint8_t opc[] = { 0xa4, 0xaa, 0xac, 0xa6, 0xae };   /* MOVS STOS LODS CMPS SCAS */
    unsigned op = rnd(g, 5);
    ZydisEncoderRequest r;
    int as = g->bits == 64 ? 8 : g->bits == 32 ? 4 : 2;
    if (back) { src += 320; dst += 320; }
    if (g->scratch_size < X64_SCRATCH_SIZE) return;
    /* lea rsi,[base+src]; lea rdi,[base+dst]; mov ecx,cnt */
    for (int k = 0; k < 2; k++) {
        req_init(&r, ZYDIS_MNEMONIC_LEA, 2);
        r.operands[0] = op_reg(gpr(k ? 7 : 6, as));
        r.operands[1] = op_mem(g, 1, 1);
        r.operands[1].mem.base = g->bits == 64 ? ZYDIS_REGISTER_R15 : g->bits == 32 ? ZYDIS_REGISTER_EBP : ZYDIS_REGISTER_BP;
        r.operands[1].mem.displacement = k ? dst : src;
        r.operands[1].mem.size = 0;
        if (emit_req(g, &r, 0) < 0) return;
    }
    req_init(&r, ZYDIS_MNEMONIC_MOV, 2);
    r.operands[0] = op_reg(gpr(1, as == 8 ? 4 : as));
    r.operands[1] = op_imm(cnt);
    if (emit_req(g, &r, 0) < 0) return;
    if (size == 8 && g->bits != 64) size = 4;
    if (back) { b[0] = 0xfd; emit_bytes(g, b, 1, 0); }
    if ((size == 2) != (g->bits == 16) && size != 1) b[n++] = 0x66;
    int rep = rnd(g, 4) != 0;
    if (rep) b[n++] = (op == 3 || op == 4) && rnd(g, 2) ? 0xf2 : 0xf3;
    if (size == 8) b[n++] = 0x48;
    b[n++] = (uint8_t)(opc[op] + (size > 1));
    emit_bytes(g, b, n, rep);      /* RCX = 0: flags unchanged */
    if (back) { b[0] = 0xfc; emit_bytes(g, b, 1, 0); }
}

/* XLAT with rBX pointing into the scratch buffer */
static void gen_xlat(struct gen *g)
{
    ZydisEncoderRequest r;
    uint8_t x = 0xd7;
    int as = g->bits == 64 ? 8 : g->bits == 32 ? 4 : 2;
    req_init(&r, ZYDIS_MNEMONIC_LEA, 2);
    r.operands[0] = op_reg(gpr(3, as));
    r.operands[1] = op_mem(g, 1, 1);
    r.operands[1].mem.base = g->bits == 64 ? ZYDIS_REGISTER_R15 : g->bits == 32 ? ZYDIS_REGISTER_EBP : ZYDIS_REGISTER_BP;
    r.operands[1].mem.displacement = rnd(g, g->scratch_size - 256);
    r.operands[1].mem.size = 0;
    if (emit_req(g, &r, 0) == 0)
        emit_bytes(g, &x, 1, 0);
}

/* LDMXCSR / STMXCSR round trip, MXCSR back to its default after */
static void gen_mxcsr(struct gen *g)
{
    ZydisEncoderRequest r;
    ZydisEncoderOperand m = op_mem(g, 4, 4), m2 = op_mem(g, 4, 4);
    uint32_t v = 0x1f80 | (uint32_t)(x64_rand(g->rng) & 0x603f);
    for (int k = 0; k < 5; k++) {
        switch (k) {
        case 0: case 3:
            req_init(&r, ZYDIS_MNEMONIC_MOV, 2); r.operands[0] = m; r.operands[1] = op_imm(k ? 0x1f80 : v);
            break;
        case 1: case 4:
            req_init(&r, ZYDIS_MNEMONIC_LDMXCSR, 1); r.operands[0] = m;
            break;
        default:
            req_init(&r, ZYDIS_MNEMONIC_STMXCSR, 1); r.operands[0] = m2;
            break;
        }
        if (emit_req(g, &r, 0) < 0)
            return;
    }
}

static void gen_flat(struct gen *g)
{
    unsigned k = rnd(g, 100);
    if (g->o->strcmp_only) {
        gen_pcmpstr(g);
        return;
    }
    if (g->o->simd && !g->in_frame && rnd(g, 3) == 0) {
        gen_simd(g);
        return;
    }
    if (k < 24) gen_alu2(g);
    else if (k < 34) gen_unary(g);
    else if (k < 44) gen_shift(g);
    else if (k < 48) gen_shxd(g);
    else if (k < 56) gen_bits(g);
    else if (k < 68) gen_mov_ext(g);
    else if (k < 72) gen_imul(g);
    else if (k < 76) gen_atomic(g);
    else if (k < 82) gen_onebyte(g);
    else if (k < 83) gen_nopl(g);
    else if (k < 86) gen_string(g);
    else if (k < 87) gen_xlat(g);
    else if (k < 88 && g->o->sse && !g->in_frame) gen_mxcsr(g);
    else if (g->o->sse && !g->in_frame) gen_sse(g);
    else gen_alu2(g);
}

static void put32(uint8_t *p, int32_t v) { memcpy(p, &v, 4); }
static void put16(uint8_t *p, int16_t v) { memcpy(p, &v, 2); }
/* relative field of the branch ending at @p end: 2 bytes in 16-bit code */
static void put_rel(struct gen *g, size_t end, int64_t d)
{
    if (g->bits == 16) put16(g->s->code + end - 2, (int16_t)d);
    else put32(g->s->code + end - 4, (int32_t)d);
}

/* A forward branch over a region of flat instructions. */
static void gen_branch(struct gen *g)
{
    unsigned kind = rnd(g, 4), cnt = 1 + rnd(g, 3), rl = g->bits == 16 ? 2 : 4;
    size_t at;
    uint64_t undef_skip;
    uint8_t b[6] = { 0 };
    if (kind == 0) {               /* Jcc rel32 (rel16) */
        b[0] = 0x0f; b[1] = (uint8_t)(0x80 + rnd(g, 16));
        if (emit_bytes(g, b, 2 + rl, 0) < 0) return;
    } else if (kind == 1) {        /* JMP rel32 (rel16) */
        b[0] = 0xe9;
        if (emit_bytes(g, b, 1 + rl, 0) < 0) return;
    } else {                       /* LOOP / JRCXZ rel8 */
        b[0] = kind == 2 ? 0xe2 : 0xe3; b[1] = 0;
        if (emit_bytes(g, b, 2, 0) < 0) return;
    }
    at = g->s->len;
    undef_skip = g->undef;
    for (unsigned i = 0; i < cnt && g->s->len - at < 80; i++)
        gen_flat(g);
    {
        int64_t d = (int64_t)(g->s->len - at);
        if (kind < 2) put_rel(g, at, d);
        else g->s->code[at - 1] = (uint8_t)d;
    }
    g->undef |= undef_skip;
}

/* call L1; jmp L2; L1: flat...; ret; L2: */
static void gen_call(struct gen *g)
{
    uint8_t b[5] = { 0 };
    unsigned rl = g->bits == 16 ? 2 : 4;
    size_t at_call, at_jmp, l1;
    if (g->s->len + 200 > sizeof(g->s->code)) return;
    b[0] = 0xe8; emit_bytes(g, b, 1 + rl, 0); at_call = g->s->len;
    b[0] = 0xe9; emit_bytes(g, b, 1 + rl, 0); at_jmp = g->s->len;
    l1 = g->s->len;
    put_rel(g, at_call, (int64_t)(l1 - at_call));
    for (unsigned i = 0, n = 1 + rnd(g, 3); i < n; i++)
        gen_flat(g);
    b[0] = 0xc3; emit_bytes(g, b, 1, 0);
    put_rel(g, at_jmp, (int64_t)(g->s->len - at_jmp));
}

/* enter N, L; flat...; leave   and (legacy modes) pusha; flat...; popa */
static void gen_frame(struct gen *g)
{
    uint8_t b[4];
    unsigned lvl = g->bits == 64 ? 0 : rnd(g, 4);
    if (g->s->len + 200 > sizeof(g->s->code))
        return;
    if (g->bits != 64 && rnd(g, 2)) {
        b[0] = 0x60;
        emit_bytes(g, b, 1, 0);
        for (unsigned i = 0, n = 1 + rnd(g, 3); i < n; i++)
            gen_flat(g);
        b[0] = 0x61;
        emit_bytes(g, b, 1, 0);
        return;
    }
    b[0] = 0xc8; b[1] = (uint8_t)(rnd(g, 8) * 8); b[2] = 0; b[3] = (uint8_t)lvl;
    emit_bytes(g, b, 4, 0);
    g->in_frame++;
    for (unsigned i = 0, n = 1 + rnd(g, 3); i < n; i++)
        gen_flat(g);
    g->in_frame--;
    b[0] = 0xc9;
    emit_bytes(g, b, 1, 0);
}

static void gen_stack(struct gen *g)
{
    ZydisEncoderRequest r;
    unsigned k = rnd(g, 5);
    if (k == 4) {
        gen_frame(g);
        return;
    }
    if (k == 0 && g->depth < 40) {
        int ps = g->bits / 8;
        req_init(&r, ZYDIS_MNEMONIC_PUSH, 1);
        switch (rnd(g, 3)) {
        case 0: r.operands[0] = op_reg(rgpr(g, ps)); break;
        case 1: r.operands[0] = op_mem(g, ps, 1); break;
        default: r.operands[0] = op_imm(imm_for(g, ps > 4 ? 4 : ps)); break;
        }
        if (r.operands[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE && ps == 8)
            r.operands[0].imm.u = (uint64_t)(int64_t)(int32_t)r.operands[0].imm.u;
        if (emit_req(g, &r, 0) == 0) g->depth++;
    } else if (k == 1 && g->depth > 0) {
        req_init(&r, ZYDIS_MNEMONIC_POP, 1);
        r.operands[0] = rnd(g, 3) ? op_reg(rgpr(g, g->bits / 8)) : op_mem(g, g->bits / 8, 1);
        if (emit_req(g, &r, 0) == 0) g->depth--;
    } else if (k == 2) {
        /* pushf; pop rax; xor eax, imm (arith bits); push rax; popf */
        uint8_t pf = 0x9c, pp = 0x9d, pop = 0x58, push = 0x50;
        uint8_t x[5] = { 0x35 };
        uint32_t m = (uint32_t)(x64_rand(g->rng) & ARITH_FLAGS);
        memcpy(x + 1, &m, 4);
        if (emit_bytes(g, &pf, 1, 0) < 0) return;
        emit_bytes(g, &pop, 1, 0);
        emit_bytes(g, x, g->bits == 16 ? 3 : 5, 0);
        emit_bytes(g, &push, 1, 0);
        emit_bytes(g, &pp, 1, 0);
    } else {
        gen_call(g);
    }
}

void x64seq_generate(struct x64seq *seq, const struct x64seq_opts *o, uint64_t *rng)
{
    struct gen g;
    unsigned target;
    memset(seq, 0, sizeof(*seq));
    memset(&g, 0, sizeof(g));
    g.s = seq;
    g.rng = rng;
    g.o = o;
    g.bits = o->bits ? o->bits : 64;
    g.code = o->bits ? o->code_addr : X64_WINDOW;
    g.scratch = o->bits ? o->scratch_addr : X64_SCRATCH;
    g.scratch_size = o->bits ? o->scratch_size : X64_SCRATCH_SIZE;
    seq->bits = g.bits;
    seq->code_addr = g.code;
    g.mm = g.bits == 64 ? ZYDIS_MACHINE_MODE_LONG_64 : g.bits == 32 ? ZYDIS_MACHINE_MODE_LEGACY_32 :
           ZYDIS_MACHINE_MODE_LEGACY_16;
    ZydisDecoderInit(&g.dec, g.mm, g.bits == 64 ? ZYDIS_STACK_WIDTH_64 : g.bits == 32 ?
                     ZYDIS_STACK_WIDTH_32 : ZYDIS_STACK_WIDTH_16);
    target = o->min_insns + rnd(&g, o->max_insns - o->min_insns + 1);
    /* simd: a random MXCSR (rounding, DAZ, FTZ, flags; exceptions masked) for the whole
     * sequence, stored at the end (scratch +0xff0) so its flags are compared, then the default */
    if (o->simd)
        mxcsr_op(&g, 0, 0x1f80 | (uint32_t)(x64_rand(rng) & 0xe03f), 0xff8);
    while (seq->ninsns < target && seq->len + 300 < sizeof(seq->code)) {
        unsigned k = rnd(&g, 100);
        if (o->branches && k < 10) gen_branch(&g);
        else if (o->stack && k < 16) gen_stack(&g);
        else gen_flat(&g);
    }
    if (o->simd) {
        mxcsr_op(&g, 1, 0, 0xff0);
        mxcsr_op(&g, 0, 0x1f80, 0xff8);
    }
    seq->undef_flags = g.undef;
}

void x64seq_print(const struct x64seq *seq, void *file)
{
    FILE *f = file;
    ZydisDisassembledInstruction in;
    size_t off = 0;
    while (off < seq->len) {
        uint64_t ip = seq->code_addr + off;
        ZydisMachineMode mm = seq->bits == 32 ? ZYDIS_MACHINE_MODE_LEGACY_32 :
                              seq->bits == 16 ? ZYDIS_MACHINE_MODE_LEGACY_16 : ZYDIS_MACHINE_MODE_LONG_64;
        if (ZYAN_FAILED(ZydisDisassembleIntel(mm, ip, seq->code + off,
                                              seq->len - off, &in))) {
            fprintf(f, "  %08llx  (bad) %02x\n", (unsigned long long)ip, seq->code[off]);
            off++;
            continue;
        }
        fprintf(f, "  %08llx  %s\n", (unsigned long long)ip, in.text);
        off += in.info.length;
    }
}
