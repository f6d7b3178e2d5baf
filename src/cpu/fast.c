/* SPDX-License-Identifier: MIT */
/*
 * Operand-specialised handlers of the software CPU.
 *
 * When the decode cache builds a block, cpu_specialize() replaces the
 * generic handler of a common instruction form (register/register,
 * register/immediate, and 64-bit-mode loads and stores of plain RAM) by a
 * handler that reads its operands directly instead of going through the
 * generic operand switch.  The semantics are not repeated here: results and
 * flags come from the inline cores of src/emu/alu_core.h, the same ones the
 * generic handlers of src/emu/ops_alu.c use.  A memory form whose access is
 * not the simple case (not 64-bit mode, RFLAGS.AC, a TLB miss, a
 * hooked page, a page crossing, data breakpoints) calls the generic handler,
 * which does the full job.
 *
 * Every form also has a threaded twin (t_*) that does the same work and then
 * tail-calls the next instruction's (see cpu_thr_generic() in cpu.h for the
 * contract); cpu_thr_link() picks the twins of a block once it is built,
 * choosing INC/DEC and Jcc by the flag kind the instruction before them
 * leaves, and fusing DEC r + JZ/JNZ.  Sections: threaded machinery,
 * register forms, flag kinds, Jcc, plain RAM in 64-bit mode, 64-bit stack,
 * threaded memory forms, selection.
 */
#include <Zydis/Zydis.h>
#include "emu/alu_core.h"
#include "paging/tlb.h"
#include "cpu/cpu.h"

/* register operands of specialised forms: is_gpr() checked they are 0..15 */
#define R0(in) ((in)->op[0].reg)
#define R1(in) ((in)->op[1].reg)

/* ------------------------------------------------------------ threaded execution */

/* go on with the next instruction of the block (a tail call) */
#define T_NEXT(ctx, in) return (in)[1].thr((ctx), (in) + 1)

/* RIP of @p in during a threaded run */
static inline uint64_t t_rip(const struct v3_cpu *cpu, const struct v3_insn *in)
{
    return (cpu->blk_rip + in->boff) & cpu->blk_mask;
}

/* Any instruction: RIP set, its handler run, then on to the next one unless
 * it jumped, faulted or exited, or asked to stop at this boundary (a break
 * request, e.g. a store into this code page, or an interrupt shadow). */
int cpu_thr_generic(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_cpu *cpu = cpu_of_ctx(ctx);
    struct v3_core *c = ctx->core;
    int st;
    c->rip = t_rip(cpu, in);
    st = in->handler(ctx, in);
    if (__builtin_expect(st == V3_X_NEXT, 1)) {
        c->rip = (c->rip + in->len) & cpu->blk_mask;
        if (__builtin_expect((cpu_brk(cpu) | c->intr_shadow) == 0, 1))
            T_NEXT(ctx, in);
        in++;
    }
    cpu->stop_in = in;
    return st;
}

/* the sentinel after a block's last instruction */
int cpu_thr_end(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_cpu *cpu = cpu_of_ctx(ctx);
    ctx->core->rip = t_rip(cpu, in);
    cpu->stop_in = in;
    return V3_X_NEXT;
}

/* A jump taken at @p in (core->rip already at the target). */
static inline int t_jumped(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    cpu_of_ctx(ctx)->stop_in = in;
    return V3_X_JUMP;
}

/* ------------------------------------------------------------ register forms */

/* @p sz: operand size known at build time (4 or 8), or 0 to take it from the operand */
#define SIZE(in, sz) ((sz) ? (unsigned)(sz) : (unsigned)(in)->op[0].size)

static inline __attribute__((always_inline)) int alu_reg(struct v3_emu_ctx *ctx, const struct v3_insn *in,
                                                         unsigned k, int imm, unsigned sz)
{
    struct v3_core *c = ctx->core;
    unsigned size = SIZE(in, sz);
    uint64_t m = v3_size_mask(size);
    unsigned cin = (k == V3_ALU_ADC || k == V3_ALU_SBB) ? v3_lazy_cf(c) : 0;
    uint64_t b = (imm ? in->op[1].val : c->gpr[R1(in)]) & m;
    uint64_t a = c->gpr[R0(in)] & m;
    uint64_t res = v3_alu_compute(k, a, b, cin) & m;
    v3_gpr_set(c, R0(in), size, res);
    if (k == V3_ALU_AND || k == V3_ALU_OR || k == V3_ALU_XOR)
        v3_flags_lazy_logic(c, size, res);
    else
        v3_alu_record(c, k, size, res, a, b);
    return V3_X_NEXT;
}

#define ALU_SZ(name, k, sz) \
    static int f_##name##_rr##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { return alu_reg(x, in, k, 0, sz); } \
    static int f_##name##_ri##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { return alu_reg(x, in, k, 1, sz); } \
    static int t_##name##_rr##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { alu_reg(x, in, k, 0, sz); T_NEXT(x, in); } \
    static int t_##name##_ri##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { alu_reg(x, in, k, 1, sz); T_NEXT(x, in); }
#define ALU_PAIR(name, k) ALU_SZ(name, k, 0) ALU_SZ(name, k, 4) ALU_SZ(name, k, 8)
ALU_PAIR(add, V3_ALU_ADD)
ALU_PAIR(adc, V3_ALU_ADC)
ALU_PAIR(sub, V3_ALU_SUB)
ALU_PAIR(sbb, V3_ALU_SBB)
ALU_PAIR(and, V3_ALU_AND)
ALU_PAIR(or, V3_ALU_OR)
ALU_PAIR(xor, V3_ALU_XOR)

static inline __attribute__((always_inline)) int cmp_reg(struct v3_emu_ctx *ctx, const struct v3_insn *in,
                                                         int test, int imm, unsigned sz)
{
    struct v3_core *c = ctx->core;
    unsigned size = SIZE(in, sz);
    uint64_t m = v3_size_mask(size);
    uint64_t a = c->gpr[R0(in)] & m, b = (imm ? in->op[1].val : c->gpr[R1(in)]) & m;
    if (test)
        v3_flags_lazy_logic(c, size, a & b);
    else
        v3_alu_cmp(c, size, a, b);
    return V3_X_NEXT;
}
#define CMP_SZ(sz) \
    static int f_cmp_rr##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { return cmp_reg(x, in, 0, 0, sz); } \
    static int f_cmp_ri##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { return cmp_reg(x, in, 0, 1, sz); } \
    static int f_test_rr##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { return cmp_reg(x, in, 1, 0, sz); } \
    static int f_test_ri##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { return cmp_reg(x, in, 1, 1, sz); } \
    static int t_cmp_rr##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { cmp_reg(x, in, 0, 0, sz); T_NEXT(x, in); } \
    static int t_cmp_ri##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { cmp_reg(x, in, 0, 1, sz); T_NEXT(x, in); } \
    static int t_test_rr##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { cmp_reg(x, in, 1, 0, sz); T_NEXT(x, in); } \
    static int t_test_ri##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { cmp_reg(x, in, 1, 1, sz); T_NEXT(x, in); }
CMP_SZ(0)
CMP_SZ(4)
CMP_SZ(8)

/*
 * IMUL r, r / IMUL r, r, imm (op_imul of ops_muldiv.c with register
 * operands): the low half of the signed product; CF = OF = the product does
 * not fit the operand size; SF, ZF, AF and PF unchanged (v3vmm's choice for
 * the flags the SDM leaves undefined, see flags.c), so the pending lazy
 * record is evaluated as v3_flags_set() does.
 */
/* v3_flags_set(c, CF | OF, ...): without the calls when no lazy record is pending */
static inline __attribute__((always_inline)) void set_cf_of(struct v3_core *c, unsigned cf, unsigned of)
{
    c->rflags = ((c->lazy.op ? v3_core_get_rflags(c) : c->rflags | 2) & ~(uint64_t)(V3_FLAG_CF | V3_FLAG_OF)) |
                (cf ? V3_FLAG_CF : 0) | (of ? V3_FLAG_OF : 0);
}

static inline __attribute__((always_inline)) uint64_t imul_core(struct v3_core *c, unsigned size,
                                                                uint64_t a, uint64_t b)
{
    int64_t p, x = (int64_t)v3_sext(a, size), y = (int64_t)v3_sext(b, size);
    int ovf;
    if (size == 8) {
        ovf = __builtin_mul_overflow(x, y, &p);
    } else {
        p = x * y;                      /* 16 x 16 and 32 x 32 bits fit in 64 */
        ovf = (int64_t)v3_sext((uint64_t)p & v3_size_mask(size), size) != p;
    }
    set_cf_of(c, (unsigned)ovf, (unsigned)ovf);
    return (uint64_t)p & v3_size_mask(size);
}

/* @p flags 0: the flags are dead (threaded only, see cpu_thr_link()) */
static inline __attribute__((always_inline)) int imul_reg(struct v3_emu_ctx *ctx, const struct v3_insn *in,
                                                          int three, unsigned sz, int flags)
{
    struct v3_core *c = ctx->core;
    unsigned size = SIZE(in, sz);
    uint64_t a = c->gpr[R1(in)], b = three ? in->op[2].val : c->gpr[R0(in)];
    if (flags)
        v3_gpr_set(c, R0(in), size, imul_core(c, size, a, b));
    else
        v3_gpr_set(c, R0(in), size, v3_sext(a, size) * v3_sext(b, size));   /* the low half: same unsigned */
    return V3_X_NEXT;
}
#define IMUL_SZ(sz) \
    static int f_imul_rr##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { return imul_reg(x, in, 0, sz, 1); } \
    static int f_imul_rri##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { return imul_reg(x, in, 1, sz, 1); } \
    static int t_imul_rr##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { imul_reg(x, in, 0, sz, 1); T_NEXT(x, in); } \
    static int t_imul_rri##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { imul_reg(x, in, 1, sz, 1); T_NEXT(x, in); } \
    static int t_imul_rr##sz##_nf(struct v3_emu_ctx *x, const struct v3_insn *in) { imul_reg(x, in, 0, sz, 0); T_NEXT(x, in); } \
    static int t_imul_rri##sz##_nf(struct v3_emu_ctx *x, const struct v3_insn *in) { imul_reg(x, in, 1, sz, 0); T_NEXT(x, in); }
IMUL_SZ(0)
IMUL_SZ(4)
IMUL_SZ(8)

/*
 * Flag kinds.  Within a block, the instruction before another one is known
 * when the block is built; when it is a specialised form, so is the kind of
 * lazy record it leaves (forms that write no flags pass on the kind before
 * them).  INC/DEC (which keep CF) and Jcc then read the flags they need with
 * the formula of that kind instead of dispatching on the record at run time.
 * The lazy values are stored truncated to the operand size, so:
 *   ADD (no carry-in):           CF = res < src1
 *   SUB/CMP/NEG (no borrow-in):  CF = src1 < src2
 *   LOGIC:                       CF = OF = 0
 *   INC/DEC:                     CF = src2 (the CF they kept)
 */
enum { K_ANY, K_ADD, K_SUB, K_LOGIC, K_INCDEC, K_KEEP /* writes no flags */ };

static inline __attribute__((always_inline)) unsigned kind_cf(const struct v3_core *c, unsigned kind)
{
    const struct v3_lazy_flags *l = &c->lazy;
    switch (kind) {
    case K_ADD:    return l->res < l->src1;
    case K_SUB:    return l->src1 < l->src2;
    case K_LOGIC:  return 0;
    case K_INCDEC: return (unsigned)(l->src2 & 1);
    default:       return v3_lazy_cf(c);
    }
}

/* condition @p cc after a record of kind @p kind (ADD, SUB or LOGIC; others: the generic evaluation) */
static inline __attribute__((always_inline)) int kind_cond(const struct v3_core *c, unsigned cc, unsigned kind)
{
    const struct v3_lazy_flags *l = &c->lazy;
    uint64_t a = l->src1, b = l->src2, r = l->res;
    unsigned size = l->size, of = 0;
    int t;
    if (kind == K_ANY || (kind == K_INCDEC && (((cc >> 1) & 7) == 0 || ((cc >> 1) & 7) >= 6)))
        return v3_lazy_cond(c, cc);      /* the record may be NONE; or INC/DEC's OF */
    if (kind == K_ADD)
        of = v3_lazy_msb((a ^ r) & (b ^ r), size);
    else if (kind == K_SUB)
        of = v3_lazy_msb((a ^ b) & (a ^ r), size);
    switch ((cc >> 1) & 7) {
    case 0: t = (int)of; break;
    case 1: t = (int)kind_cf(c, kind); break;
    case 2: t = r == 0; break;
    case 3: t = r == 0 || kind_cf(c, kind); break;
    case 4: t = (int)v3_lazy_msb(r, size); break;
    case 5: t = (int)v3_parity(r); break;
    case 6: t = (int)(v3_lazy_msb(r, size) ^ of); break;
    default: t = r == 0 || (v3_lazy_msb(r, size) ^ of); break;
    }
    return (cc & 1) ? !t : t;
}

static inline __attribute__((always_inline)) int unary_reg_k(struct v3_emu_ctx *ctx, const struct v3_insn *in,
                                                             unsigned k, unsigned sz, unsigned kind)
{
    struct v3_core *c = ctx->core;
    unsigned size = SIZE(in, sz);
    uint64_t m = v3_size_mask(size);
    unsigned cf = (k == V3_UN_INC || k == V3_UN_DEC) ? kind_cf(c, kind) : 0;
    uint64_t old = c->gpr[R0(in)] & m, res = v3_unary_compute(k, old) & m;
    v3_gpr_set(c, R0(in), size, res);
    v3_unary_record(c, k, size, res, old, cf);
    return V3_X_NEXT;
}

static inline __attribute__((always_inline)) int unary_reg(struct v3_emu_ctx *ctx, const struct v3_insn *in,
                                                           unsigned k, unsigned sz)
{
    return unary_reg_k(ctx, in, k, sz, K_ANY);
}

#define UN_SZ(sz) \
    static int f_inc_r##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { return unary_reg(x, in, V3_UN_INC, sz); } \
    static int f_dec_r##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { return unary_reg(x, in, V3_UN_DEC, sz); } \
    static int f_neg_r##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { return unary_reg(x, in, V3_UN_NEG, sz); } \
    static int f_not_r##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { return unary_reg(x, in, V3_UN_NOT, sz); } \
    static int t_inc_r##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { unary_reg(x, in, V3_UN_INC, sz); T_NEXT(x, in); } \
    static int t_dec_r##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { unary_reg(x, in, V3_UN_DEC, sz); T_NEXT(x, in); } \
    static int t_neg_r##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { unary_reg(x, in, V3_UN_NEG, sz); T_NEXT(x, in); } \
    static int t_not_r##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { unary_reg(x, in, V3_UN_NOT, sz); T_NEXT(x, in); }
UN_SZ(0)
UN_SZ(4)
UN_SZ(8)

/* INC/DEC r after a known flag kind (threaded only) */
#define UNK_SZ(sz, K) \
    static int t_inc_r##sz##_##K(struct v3_emu_ctx *x, const struct v3_insn *in) \
    { unary_reg_k(x, in, V3_UN_INC, sz, K_##K); T_NEXT(x, in); } \
    static int t_dec_r##sz##_##K(struct v3_emu_ctx *x, const struct v3_insn *in) \
    { unary_reg_k(x, in, V3_UN_DEC, sz, K_##K); T_NEXT(x, in); }
#define UNK(K) UNK_SZ(0, K) UNK_SZ(4, K) UNK_SZ(8, K)
UNK(ADD) UNK(SUB) UNK(LOGIC) UNK(INCDEC)
#define UNK_ROW(op, sz) { t_##op##_r##sz, t_##op##_r##sz##_ADD, t_##op##_r##sz##_SUB, \
                          t_##op##_r##sz##_LOGIC, t_##op##_r##sz##_INCDEC }
/* [generic form, after ADD, SUB, LOGIC, INCDEC] */
static const v3_insn_fn unary_by_kind[6][5] = {
    UNK_ROW(inc, 0), UNK_ROW(inc, 4), UNK_ROW(inc, 8),
    UNK_ROW(dec, 0), UNK_ROW(dec, 4), UNK_ROW(dec, 8),
};

/* SHL/SHR/SAR r, imm8 or by 1, with a non-zero count (checked when the form
 * is chosen): all six flags are replaced, so they go to RFLAGS directly */
static inline __attribute__((always_inline)) int shift_reg(struct v3_emu_ctx *ctx, const struct v3_insn *in,
                                                           unsigned k, unsigned sz)
{
    struct v3_core *c = ctx->core;
    unsigned size = SIZE(in, sz), cf, of;
    unsigned cnt = (unsigned)(in->nops >= 2 ? in->op[1].val : 1) & (size == 8 ? 63 : 31);
    uint64_t res = v3_shift_compute(k, c->gpr[R0(in)] & v3_size_mask(size), cnt, size, &cf, &of);
    v3_gpr_set(c, R0(in), size, res);
    v3_flags_replace_arith(c, v3_shift_flags(res, size, cf, of));
    return V3_X_NEXT;
}
/* SHL/SHR/SAR r, CL: a masked count of 0 changes no flag and, for a 32-bit
 * register, only zero-extends it (as shift() of ops_shift.c) */
static inline __attribute__((always_inline)) int shift_cl_reg(struct v3_emu_ctx *ctx, const struct v3_insn *in,
                                                              unsigned k, unsigned sz)
{
    struct v3_core *c = ctx->core;
    unsigned size = SIZE(in, sz), cf, of;
    unsigned cnt = (unsigned)c->gpr[V3_RCX] & (size == 8 ? 63 : 31);
    uint64_t res;
    if (cnt == 0) {
        if (size == 4)
            v3_gpr_set(c, R0(in), 4, c->gpr[R0(in)]);
        return V3_X_NEXT;
    }
    res = v3_shift_compute(k, c->gpr[R0(in)] & v3_size_mask(size), cnt, size, &cf, &of);
    v3_gpr_set(c, R0(in), size, res);
    v3_flags_replace_arith(c, v3_shift_flags(res, size, cf, of));
    return V3_X_NEXT;
}
#define SHCL_SZ(sz) \
    static int f_shl_cl##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { return shift_cl_reg(x, in, V3_SH_SHL, sz); } \
    static int f_shr_cl##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { return shift_cl_reg(x, in, V3_SH_SHR, sz); } \
    static int f_sar_cl##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { return shift_cl_reg(x, in, V3_SH_SAR, sz); } \
    static int t_shl_cl##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { shift_cl_reg(x, in, V3_SH_SHL, sz); T_NEXT(x, in); } \
    static int t_shr_cl##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { shift_cl_reg(x, in, V3_SH_SHR, sz); T_NEXT(x, in); } \
    static int t_sar_cl##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { shift_cl_reg(x, in, V3_SH_SAR, sz); T_NEXT(x, in); }
SHCL_SZ(0)
SHCL_SZ(4)
SHCL_SZ(8)

#define SH_SZ(sz) \
    static int f_shl_r##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { return shift_reg(x, in, V3_SH_SHL, sz); } \
    static int f_shr_r##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { return shift_reg(x, in, V3_SH_SHR, sz); } \
    static int f_sar_r##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { return shift_reg(x, in, V3_SH_SAR, sz); } \
    static int t_shl_r##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { shift_reg(x, in, V3_SH_SHL, sz); T_NEXT(x, in); } \
    static int t_shr_r##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { shift_reg(x, in, V3_SH_SHR, sz); T_NEXT(x, in); } \
    static int t_sar_r##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { shift_reg(x, in, V3_SH_SAR, sz); T_NEXT(x, in); }
SH_SZ(0)
SH_SZ(4)
SH_SZ(8)

/* ROL/ROR r, imm8 or by 1, with a non-zero masked count (checked when the
 * form is chosen): CF and OF replaced, the other flags unchanged */
static inline __attribute__((always_inline)) int rotate_reg(struct v3_emu_ctx *ctx, const struct v3_insn *in,
                                                            int right, unsigned sz)
{
    struct v3_core *c = ctx->core;
    unsigned size = SIZE(in, sz), cf, of;
    unsigned cnt = (unsigned)(in->nops >= 2 ? in->op[1].val : 1) & (size == 8 ? 63 : 31);
    uint64_t res = v3_rotate_compute(right, c->gpr[R0(in)] & v3_size_mask(size), cnt, size, &cf, &of);
    v3_gpr_set(c, R0(in), size, res);
    set_cf_of(c, cf, of);
    return V3_X_NEXT;
}
#define ROT_SZ(sz) \
    static int f_rol_r##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { return rotate_reg(x, in, 0, sz); } \
    static int f_ror_r##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { return rotate_reg(x, in, 1, sz); } \
    static int t_rol_r##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { rotate_reg(x, in, 0, sz); T_NEXT(x, in); } \
    static int t_ror_r##sz(struct v3_emu_ctx *x, const struct v3_insn *in) { rotate_reg(x, in, 1, sz); T_NEXT(x, in); }
ROT_SZ(0)
ROT_SZ(4)
ROT_SZ(8)

/* Jcc rel with the condition code known at build time */
#define JCC(cc) \
    static int f_jcc##cc(struct v3_emu_ctx *ctx, const struct v3_insn *in) \
    { \
        struct v3_core *c = ctx->core; \
        if (!v3_lazy_cond(c, cc)) \
            return V3_X_NEXT; \
        c->rip = v3_rel_target(c, in); \
        return V3_X_JUMP; \
    }
JCC(0) JCC(1) JCC(2) JCC(3) JCC(4) JCC(5) JCC(6) JCC(7)
JCC(8) JCC(9) JCC(10) JCC(11) JCC(12) JCC(13) JCC(14) JCC(15)
static const v3_insn_fn jcc_fn[16] = {
    f_jcc0, f_jcc1, f_jcc2, f_jcc3, f_jcc4, f_jcc5, f_jcc6, f_jcc7,
    f_jcc8, f_jcc9, f_jcc10, f_jcc11, f_jcc12, f_jcc13, f_jcc14, f_jcc15,
};
#define TJCC(cc) \
    static int t_jcc##cc(struct v3_emu_ctx *ctx, const struct v3_insn *in) \
    { \
        struct v3_core *c = ctx->core; \
        if (!v3_lazy_cond(c, cc)) \
            T_NEXT(ctx, in); \
        c->rip = t_rip(cpu_of_ctx(ctx), in); \
        c->rip = v3_rel_target(c, in); \
        return t_jumped(ctx, in); \
    }
TJCC(0) TJCC(1) TJCC(2) TJCC(3) TJCC(4) TJCC(5) TJCC(6) TJCC(7)
TJCC(8) TJCC(9) TJCC(10) TJCC(11) TJCC(12) TJCC(13) TJCC(14) TJCC(15)
/* Jcc @p in taken during a threaded run */
static inline int t_jcc_taken(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    c->rip = t_rip(cpu_of_ctx(ctx), in);
    c->rip = v3_rel_target(c, in);
    return t_jumped(ctx, in);
}

/* JMP rel (op_jmp of ops_branch.c with an immediate operand, in any mode) */
static int f_jmp_rel(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    c->rip = v3_rel_target(c, in);
    return V3_X_JUMP;
}
static int t_jmp_rel(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    return t_jcc_taken(ctx, in);
}

/* Jcc after a known flag kind (threaded only) */
#define TJCCK(cc, K) \
    static int t_jcc##cc##_##K(struct v3_emu_ctx *ctx, const struct v3_insn *in) \
    { \
        if (!kind_cond(ctx->core, cc, K_##K)) \
            T_NEXT(ctx, in); \
        return t_jcc_taken(ctx, in); \
    }
#define TJCCK4(cc) TJCCK(cc, ADD) TJCCK(cc, SUB) TJCCK(cc, LOGIC) TJCCK(cc, INCDEC)
TJCCK4(0) TJCCK4(1) TJCCK4(2) TJCCK4(3) TJCCK4(4) TJCCK4(5) TJCCK4(6) TJCCK4(7)
TJCCK4(8) TJCCK4(9) TJCCK4(10) TJCCK4(11) TJCCK4(12) TJCCK4(13) TJCCK4(14) TJCCK4(15)
#define TJROW(cc) { t_jcc##cc, t_jcc##cc##_ADD, t_jcc##cc##_SUB, t_jcc##cc##_LOGIC, t_jcc##cc##_INCDEC }
/* [cc][generic, after ADD, SUB, LOGIC, INCDEC] */
static const v3_insn_fn jcc_thr[16][5] = {
    TJROW(0), TJROW(1), TJROW(2), TJROW(3), TJROW(4), TJROW(5), TJROW(6), TJROW(7),
    TJROW(8), TJROW(9), TJROW(10), TJROW(11), TJROW(12), TJROW(13), TJROW(14), TJROW(15),
};

/* DEC r32/r64 then JZ/JNZ (a loop counter), run as one step: the Jcc (in[1])
 * stays in the block and is still counted; only its dispatch is saved. */
#define FDEC(sz, K, cc) \
    static int t_dec_r##sz##_##K##_j##cc(struct v3_emu_ctx *ctx, const struct v3_insn *in) \
    { \
        unary_reg_k(ctx, in, V3_UN_DEC, sz, K_##K); \
        if (!kind_cond(ctx->core, cc, K_INCDEC)) \
            return in[2].thr(ctx, in + 2); \
        return t_jcc_taken(ctx, in + 1); \
    }
#define FDEC2(sz, K) FDEC(sz, K, 4) FDEC(sz, K, 5)
FDEC2(4, ANY) FDEC2(4, ADD) FDEC2(4, SUB) FDEC2(4, LOGIC) FDEC2(4, INCDEC)
FDEC2(8, ANY) FDEC2(8, ADD) FDEC2(8, SUB) FDEC2(8, LOGIC) FDEC2(8, INCDEC)
#define FDROW(sz, cc) { t_dec_r##sz##_ANY_j##cc, t_dec_r##sz##_ADD_j##cc, t_dec_r##sz##_SUB_j##cc, \
                        t_dec_r##sz##_LOGIC_j##cc, t_dec_r##sz##_INCDEC_j##cc }
/* [size 4, 8][JZ, JNZ][kind before the DEC] */
static const v3_insn_fn dec_jcc[2][2][5] = {
    { FDROW(4, 4), FDROW(4, 5) },
    { FDROW(8, 4), FDROW(8, 5) },
};

static int f_mov_rr(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    v3_gpr_set(c, R0(in), in->op[0].size, c->gpr[R1(in)]);
    return V3_X_NEXT;
}

static int f_mov_ri(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    v3_gpr_set(ctx->core, R0(in), in->op[0].size, in->op[1].val);
    return V3_X_NEXT;
}

/* MOVZX/MOVSX/MOVSXD r, r (movx() of ops_mov.c with register operands) */
static inline __attribute__((always_inline)) int movx_reg(struct v3_emu_ctx *ctx, const struct v3_insn *in,
                                                          int sign)
{
    struct v3_core *c = ctx->core;
    unsigned ss = in->op[1].size;
    uint64_t v = c->gpr[R1(in)] & v3_size_mask(ss);
    if (sign)
        v = v3_sext(v, ss);
    v3_gpr_set(c, R0(in), in->op[0].size, v);
    return V3_X_NEXT;
}
static int f_movzx_rr(struct v3_emu_ctx *x, const struct v3_insn *in) { return movx_reg(x, in, 0); }
static int f_movsx_rr(struct v3_emu_ctx *x, const struct v3_insn *in) { return movx_reg(x, in, 1); }
static int t_movzx_rr(struct v3_emu_ctx *x, const struct v3_insn *in) { movx_reg(x, in, 0); T_NEXT(x, in); }
static int t_movsx_rr(struct v3_emu_ctx *x, const struct v3_insn *in) { movx_reg(x, in, 1); T_NEXT(x, in); }

/* SETcc r8 (op_setcc of ops_mov.c with a register operand) */
static int f_setcc_r(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    v3_gpr_set(ctx->core, R0(in), 1, (uint64_t)v3_lazy_cond(ctx->core, in->cc));
    return V3_X_NEXT;
}
static int t_setcc_r(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    f_setcc_r(ctx, in);
    T_NEXT(ctx, in);
}

/* CMOVcc r, r (op_cmovcc of ops_mov.c with register operands): a false
 * condition leaves the destination, except that a 32-bit one is zero-extended */
static int f_cmov_rr(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    unsigned size = in->op[0].size;
    if (v3_lazy_cond(c, in->cc))
        v3_gpr_set(c, R0(in), size, c->gpr[R1(in)]);
    else if (size == 4)
        v3_gpr_set(c, R0(in), 4, c->gpr[R0(in)]);
    return V3_X_NEXT;
}
static int t_cmov_rr(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    f_cmov_rr(ctx, in);
    T_NEXT(ctx, in);
}

/* NOP in all its encodings (no operand is accessed) */
static int f_nop(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    (void)ctx; (void)in;
    return V3_X_NEXT;
}

static int t_nop(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    T_NEXT(ctx, in);
}

static int t_mov_rr(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    f_mov_rr(ctx, in);
    T_NEXT(ctx, in);
}

static int t_mov_ri(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    f_mov_ri(ctx, in);
    T_NEXT(ctx, in);
}

static int f_lea(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    v3_gpr_set(c, R0(in), in->op[0].size, v3_ea_inline(c, in, &in->op[1]));
    return V3_X_NEXT;
}

static int t_lea(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    if (in->op[1].base == V3_REG_RIP)
        ctx->core->rip = t_rip(cpu_of_ctx(ctx), in);
    f_lea(ctx, in);
    T_NEXT(ctx, in);
}

/* ------------------------------------------------------------ plain RAM in 64-bit mode */

/*
 * Linear address of memory operand @p op for a @p len-byte access when it is
 * the simple case: 64-bit mode (segments have no limit; only FS and GS
 * have a base, added as v3_seg_linear() does), the plain memory ops (no data
 * breakpoints), no alignment checking, canonical and within one page.  Then
 * segmentation has nothing to check and the memory ops may be called directly.
 */
static inline int simple_la(struct v3_emu_ctx *ctx, const struct v3_insn *in, const struct v3_operand *op,
                            unsigned len, uint64_t *la_out)
{
    struct v3_core *c = ctx->core;
    uint64_t la;
    if (__builtin_expect(c->mode != V3_MODE_LONG64 || ctx->mem != &cpu_mem_ops || (c->rflags & V3_FLAG_AC), 0))
        return 0;
    la = v3_ea_inline(c, in, op);
    if (op->reg == V3_FS || op->reg == V3_GS)
        la += c->seg[op->reg].base;
    if (__builtin_expect((la & 0xfff) + len > 4096 || (uint64_t)((int64_t)(la << 16) >> 16) != la, 0))
        return 0;
    *la_out = la;
    return 1;
}

/* Host address of @p la on a software-TLB hit allowing @p access (READ or WRITE), else NULL.
 * A write runs the decode-cache store check, as cpu_mem_write() does. */
static inline uint8_t *tlb_ptr(struct v3_emu_ctx *ctx, uint64_t la, unsigned access)
{
    struct v3_core *c = ctx->core;
    struct v3_tlb_entry *e = (struct v3_tlb_entry *)c->tlb;
    if (__builtin_expect(!e, 0))
        return NULL;
    e += (la >> 12) & (V3_TLB_SIZE - 1);
    if (__builtin_expect(e->tag != (la & ~0xfffull) ||
                         !((e->perm >> v3_tlb_ctx_shift(c, access)) & access & 7u), 0))
        return NULL;
    if (access & V3_ACCESS_WRITE)
        cpu_store_check(cpu_of_ctx(ctx), e->gpa);
    return e->hva + (la & 0xfff);
}

static inline uint8_t *ram_ptr(struct v3_emu_ctx *ctx, const struct v3_insn *in,
                               const struct v3_operand *op, unsigned len, unsigned access)
{
    uint64_t la;
    if (!simple_la(ctx, in, op, len, &la))
        return NULL;
    return tlb_ptr(ctx, la, access);
}

static inline unsigned stack_access(const struct v3_operand *op)
{
    return op->reg == V3_SS ? V3_ACCESS_STACK : 0;
}

static inline uint64_t ld(const uint8_t *p, unsigned size)
{
    uint8_t u8; uint16_t u16; uint32_t u32; uint64_t u64;
    switch (size) {
    case 1: u8 = *p; return u8;
    case 2: __builtin_memcpy(&u16, p, 2); return u16;
    case 4: __builtin_memcpy(&u32, p, 4); return u32;
    default: __builtin_memcpy(&u64, p, 8); return u64;
    }
}

static inline void st(uint8_t *p, uint64_t v, unsigned size)
{
    switch (size) {
    case 1: *p = (uint8_t)v; break;
    case 2: { uint16_t x = (uint16_t)v; __builtin_memcpy(p, &x, 2); break; }
    case 4: { uint32_t x = (uint32_t)v; __builtin_memcpy(p, &x, 4); break; }
    default: __builtin_memcpy(p, &v, 8); break;
    }
}

static int generic(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    return v3_emu_lookup(in->mnemonic)->fn(ctx, in);
}

/* MOV r, [m] */
static inline __attribute__((always_inline)) int mov_load(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    unsigned size = in->op[0].size;
    uint64_t la, v = 0;
    uint8_t *p;
    int st;
    if (__builtin_expect(!simple_la(ctx, in, &in->op[1], size, &la), 0))
        return generic(ctx, in);
    p = tlb_ptr(ctx, la, V3_ACCESS_READ);
    if (__builtin_expect(p != NULL, 1)) {
        v = ld(p, size);
    } else {
        /* a hooked page the hook cache knows: its callback; else (a TLB miss)
           the memory ops directly (segmentation had nothing to do) */
        int rc = cpu_hook_read(cpu_of_ctx(ctx), la, &v, size);
        if (rc > 0)
            rc = cpu_mem_ops.read(ctx, la, &v, size, V3_ACCESS_READ | stack_access(&in->op[1]));
        st = v3_mem_status(ctx, rc);
        if (st)
            return st;
    }
    v3_gpr_set(ctx->core, R0(in), size, v);
    return V3_X_NEXT;
}

static int f_mov_rm(struct v3_emu_ctx *x, const struct v3_insn *in) { return mov_load(x, in); }

/* MOV [m], r and MOV [m], imm */
static inline __attribute__((always_inline)) int mov_store(struct v3_emu_ctx *ctx, const struct v3_insn *in, int imm)
{
    unsigned size = in->op[0].size;
    uint64_t v = imm ? in->op[1].val : ctx->core->gpr[R1(in)], la;
    uint8_t *p;
    int rc;
    if (__builtin_expect(!simple_la(ctx, in, &in->op[0], size, &la), 0))
        return generic(ctx, in);
    p = tlb_ptr(ctx, la, V3_ACCESS_WRITE);
    if (__builtin_expect(p != NULL, 1)) {
        st(p, v, size);
        return V3_X_NEXT;
    }
    rc = cpu_hook_write(cpu_of_ctx(ctx), la, v, size);
    if (rc > 0)
        rc = cpu_mem_ops.write(ctx, la, &v, size, V3_ACCESS_WRITE | stack_access(&in->op[0]));
    return v3_mem_status(ctx, rc);
}
static int f_mov_mr(struct v3_emu_ctx *x, const struct v3_insn *in) { return mov_store(x, in, 0); }
static int f_mov_mi(struct v3_emu_ctx *x, const struct v3_insn *in) { return mov_store(x, in, 1); }

/* MOVZX/MOVSX/MOVSXD r, [m] */
static inline __attribute__((always_inline)) int movx_load(struct v3_emu_ctx *ctx, const struct v3_insn *in,
                                                           int sign)
{
    unsigned ss = in->op[1].size;
    uint8_t *p = ram_ptr(ctx, in, &in->op[1], ss, V3_ACCESS_READ);
    uint64_t v;
    if (__builtin_expect(!p, 0))
        return generic(ctx, in);
    v = ld(p, ss);
    v3_gpr_set(ctx->core, R0(in), in->op[0].size, sign ? v3_sext(v, ss) : v);
    return V3_X_NEXT;
}
static int f_movzx_rm(struct v3_emu_ctx *x, const struct v3_insn *in) { return movx_load(x, in, 0); }
static int f_movsx_rm(struct v3_emu_ctx *x, const struct v3_insn *in) { return movx_load(x, in, 1); }

/* IMUL r, [m] and IMUL r, [m], imm */
static inline __attribute__((always_inline)) int imul_mem(struct v3_emu_ctx *ctx, const struct v3_insn *in,
                                                          int three)
{
    struct v3_core *c = ctx->core;
    unsigned size = in->op[0].size;
    uint8_t *p = ram_ptr(ctx, in, &in->op[1], size, V3_ACCESS_READ);
    if (__builtin_expect(!p, 0))
        return generic(ctx, in);
    uint64_t a = ld(p, size), b = three ? in->op[2].val : c->gpr[R0(in)];
    v3_gpr_set(c, R0(in), size, imul_core(c, size, a, b));
    return V3_X_NEXT;
}
static int f_imul_rm(struct v3_emu_ctx *x, const struct v3_insn *in)  { return imul_mem(x, in, 0); }
static int f_imul_rmi(struct v3_emu_ctx *x, const struct v3_insn *in) { return imul_mem(x, in, 1); }

/* CMP/TEST [m], r/imm and CMP r, [m] */
static inline int cmp_mem(struct v3_emu_ctx *ctx, const struct v3_insn *in, int test, int memside,
                          int imm)
{
    struct v3_core *c = ctx->core;
    unsigned size = in->op[0].size;
    uint64_t m = v3_size_mask(size), a, b;
    uint8_t *p = ram_ptr(ctx, in, &in->op[memside], size, V3_ACCESS_READ);
    if (__builtin_expect(!p, 0))
        return generic(ctx, in);
    if (memside == 0) {
        a = ld(p, size);
        b = (imm ? in->op[1].val : c->gpr[R1(in)]) & m;
    } else {
        a = c->gpr[R0(in)] & m;
        b = ld(p, size);
    }
    if (test)
        v3_alu_test(c, size, a, b);
    else
        v3_alu_cmp(c, size, a, b);
    return V3_X_NEXT;
}
static int f_cmp_mr(struct v3_emu_ctx *x, const struct v3_insn *in) { return cmp_mem(x, in, 0, 0, 0); }
static int f_cmp_mi(struct v3_emu_ctx *x, const struct v3_insn *in) { return cmp_mem(x, in, 0, 0, 1); }
static int f_cmp_rm(struct v3_emu_ctx *x, const struct v3_insn *in) { return cmp_mem(x, in, 0, 1, 0); }
static int f_test_mr(struct v3_emu_ctx *x, const struct v3_insn *in) { return cmp_mem(x, in, 1, 0, 0); }
static int f_test_mi(struct v3_emu_ctx *x, const struct v3_insn *in) { return cmp_mem(x, in, 1, 0, 1); }

/* ALU r, [m] */
static inline int alu_rm(struct v3_emu_ctx *ctx, const struct v3_insn *in, unsigned k)
{
    struct v3_core *c = ctx->core;
    unsigned size = in->op[0].size;
    uint64_t m = v3_size_mask(size);
    uint8_t *p = ram_ptr(ctx, in, &in->op[1], size, V3_ACCESS_READ);
    if (__builtin_expect(!p, 0))
        return generic(ctx, in);
    unsigned cin = (k == V3_ALU_ADC || k == V3_ALU_SBB) ? v3_lazy_cf(c) : 0;
    uint64_t b = ld(p, size), a = c->gpr[R0(in)] & m;
    uint64_t res = v3_alu_compute(k, a, b, cin) & m;
    v3_gpr_set(c, R0(in), size, res);
    v3_alu_record(c, k, size, res, a, b);
    return V3_X_NEXT;
}
static int f_add_rm(struct v3_emu_ctx *x, const struct v3_insn *in) { return alu_rm(x, in, V3_ALU_ADD); }
static int f_sub_rm(struct v3_emu_ctx *x, const struct v3_insn *in) { return alu_rm(x, in, V3_ALU_SUB); }
static int f_and_rm(struct v3_emu_ctx *x, const struct v3_insn *in) { return alu_rm(x, in, V3_ALU_AND); }
static int f_or_rm(struct v3_emu_ctx *x, const struct v3_insn *in)  { return alu_rm(x, in, V3_ALU_OR); }
static int f_xor_rm(struct v3_emu_ctx *x, const struct v3_insn *in) { return alu_rm(x, in, V3_ALU_XOR); }

/* ------------------------------------------------------------ 64-bit stack (8-byte slots) */

/* Host address of the 8-byte stack slot at @p sp when the access is the simple case
 * (64-bit mode: SS has no base or limit; plain memory ops; no #AC; canonical; one page; TLB hit). */
static inline uint8_t *stack_ptr(struct v3_emu_ctx *ctx, uint64_t sp, unsigned access)
{
    struct v3_core *c = ctx->core;
    if (__builtin_expect(c->mode != V3_MODE_LONG64 || ctx->mem != &cpu_mem_ops || (c->rflags & V3_FLAG_AC) ||
                         (sp & 0xfff) > 4096 - 8 || (uint64_t)((int64_t)(sp << 16) >> 16) != sp, 0))
        return NULL;
    return tlb_ptr(ctx, sp, access);
}

/* PUSH r64 (v3_push) */
static int f_push_r(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint64_t sp = c->gpr[V3_RSP] - 8, v = c->gpr[R0(in)];
    uint8_t *p = stack_ptr(ctx, sp, V3_ACCESS_WRITE);
    if (__builtin_expect(!p, 0))
        return generic(ctx, in);
    st(p, v, 8);
    c->gpr[V3_RSP] = sp;
    return V3_X_NEXT;
}

/* POP r64 (v3_pop, then the register: POP RSP leaves the popped value) */
static int f_pop_r(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint64_t sp = c->gpr[V3_RSP];
    uint8_t *p = stack_ptr(ctx, sp, V3_ACCESS_READ);
    if (__builtin_expect(!p, 0))
        return generic(ctx, in);
    uint64_t v = ld(p, 8);
    c->gpr[V3_RSP] = sp + 8;
    c->gpr[R0(in)] = v;
    return V3_X_NEXT;
}

/* CALL rel32 in 64-bit code: push the return address, jump */
static int f_call_rel(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint64_t sp = c->gpr[V3_RSP] - 8;
    uint8_t *p = stack_ptr(ctx, sp, V3_ACCESS_WRITE);
    if (__builtin_expect(!p, 0))
        return generic(ctx, in);
    st(p, c->rip + in->len, 8);
    c->gpr[V3_RSP] = sp;
    c->rip = v3_rel_target(c, in);
    return V3_X_JUMP;
}

/* near RET without an immediate in 64-bit code */
static int f_ret(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint64_t sp = c->gpr[V3_RSP];
    uint8_t *p = stack_ptr(ctx, sp, V3_ACCESS_READ);
    if (__builtin_expect(!p, 0))
        return generic(ctx, in);
    c->rip = ld(p, 8);
    c->gpr[V3_RSP] = sp + 8;
    return V3_X_JUMP;
}

/* ------------------------------------------------------------ threaded memory forms */

/* Status @p st of @p in (run with RIP set) to the threaded run: on to the next
 * instruction, or stop (see cpu_thr_generic()). */
static inline int t_status(struct v3_emu_ctx *ctx, const struct v3_insn *in, int st)
{
    struct v3_cpu *cpu = cpu_of_ctx(ctx);
    struct v3_core *c = ctx->core;
    if (__builtin_expect(st == V3_X_NEXT, 1)) {
        if (__builtin_expect((cpu_brk(cpu) | c->intr_shadow) == 0, 1))
            T_NEXT(ctx, in);
        c->rip = (c->rip + in->len) & cpu->blk_mask;
        in++;
    }
    cpu->stop_in = in;
    return st;
}

/* The memory forms read RIP (RIP-relative operands, the generic fallback,
 * CALL's return address): set it, run the form, go on.  A store into
 * decoded code sets cpu->brk, which t_status() honours. */
#define T_MEM(name) \
    static int t_##name(struct v3_emu_ctx *ctx, const struct v3_insn *in) \
    { \
        ctx->core->rip = t_rip(cpu_of_ctx(ctx), in); \
        return t_status(ctx, in, f_##name(ctx, in)); \
    }
T_MEM(movzx_rm) T_MEM(movsx_rm) T_MEM(imul_rm) T_MEM(imul_rmi)
T_MEM(cmp_mr) T_MEM(cmp_mi) T_MEM(cmp_rm) T_MEM(test_mr) T_MEM(test_mi)
T_MEM(add_rm) T_MEM(sub_rm) T_MEM(and_rm) T_MEM(or_rm) T_MEM(xor_rm)
T_MEM(push_r) T_MEM(pop_r) T_MEM(call_rel) T_MEM(ret)

/* MOV's forms with their bodies inlined (the hot loads and stores, and the
 * direct hooked-page path) */
static int t_mov_rm(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    ctx->core->rip = t_rip(cpu_of_ctx(ctx), in);
    return t_status(ctx, in, mov_load(ctx, in));
}
static int t_mov_mr(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    ctx->core->rip = t_rip(cpu_of_ctx(ctx), in);
    return t_status(ctx, in, mov_store(ctx, in, 0));
}
static int t_mov_mi(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    ctx->core->rip = t_rip(cpu_of_ctx(ctx), in);
    return t_status(ctx, in, mov_store(ctx, in, 1));
}

/* ------------------------------------------------------------ selection */

/* specialised handler -> its threaded form, the flag kind it leaves, and
 * for INC/DEC/Jcc its threaded forms by the kind before it */
struct thr_form {
    v3_insn_fn f, t;
    unsigned kind;
    const v3_insn_fn *by_kind;         /* [K_ANY .. K_INCDEC] or NULL */
};
static const struct thr_form thr_of[] = {
#define TP(name, k) { f_##name, t_##name, K_##k, NULL },
#define TP3(name, k) TP(name##0, k) TP(name##4, k) TP(name##8, k)
#define TU(op, sz, row) { f_##op##_r##sz, t_##op##_r##sz, K_INCDEC, unary_by_kind[row] },
#define TJ(cc) { f_jcc##cc, t_jcc##cc, K_KEEP, jcc_thr[cc] },
    TP3(add_rr, ADD) TP3(add_ri, ADD) TP3(adc_rr, ANY) TP3(adc_ri, ANY)
    TP3(sub_rr, SUB) TP3(sub_ri, SUB) TP3(sbb_rr, ANY) TP3(sbb_ri, ANY)
    TP3(and_rr, LOGIC) TP3(and_ri, LOGIC) TP3(or_rr, LOGIC) TP3(or_ri, LOGIC)
    TP3(xor_rr, LOGIC) TP3(xor_ri, LOGIC)
    TP3(cmp_rr, SUB) TP3(cmp_ri, SUB) TP3(test_rr, LOGIC) TP3(test_ri, LOGIC)
    TU(inc, 0, 0) TU(inc, 4, 1) TU(inc, 8, 2) TU(dec, 0, 3) TU(dec, 4, 4) TU(dec, 8, 5)
    TP3(neg_r, SUB) TP3(not_r, KEEP) TP3(shl_r, ANY) TP3(shr_r, ANY) TP3(sar_r, ANY)
    TP3(shl_cl, ANY) TP3(shr_cl, ANY) TP3(sar_cl, ANY)
    TP3(rol_r, ANY) TP3(ror_r, ANY)
    TP3(imul_rr, ANY) TP3(imul_rri, ANY) TP(imul_rm, ANY) TP(imul_rmi, ANY) TP(jmp_rel, KEEP)
    TP(mov_rr, KEEP) TP(mov_ri, KEEP) TP(lea, KEEP) TP(nop, KEEP)
    TP(movzx_rr, KEEP) TP(movsx_rr, KEEP) TP(setcc_r, KEEP) TP(cmov_rr, KEEP)
    TP(mov_rm, KEEP) TP(mov_mr, KEEP) TP(mov_mi, KEEP) TP(movzx_rm, KEEP) TP(movsx_rm, KEEP)
    TP(cmp_mr, SUB) TP(cmp_mi, SUB) TP(cmp_rm, SUB) TP(test_mr, LOGIC) TP(test_mi, LOGIC)
    TP(add_rm, ADD) TP(sub_rm, SUB) TP(and_rm, LOGIC) TP(or_rm, LOGIC) TP(xor_rm, LOGIC)
    TP(push_r, KEEP) TP(pop_r, KEEP) TP(call_rel, KEEP) TP(ret, KEEP)
    TJ(0) TJ(1) TJ(2) TJ(3) TJ(4) TJ(5) TJ(6) TJ(7)
    TJ(8) TJ(9) TJ(10) TJ(11) TJ(12) TJ(13) TJ(14) TJ(15)
#undef TJ
#undef TU
#undef TP3
#undef TP
};
#define NFORMS (sizeof(thr_of) / sizeof(thr_of[0]))
_Static_assert(NFORMS < 255, "form indices are 8-bit");

/*
 * Handler -> index in thr_of (255: not a specialised form), through a
 * direct-mapped cache of packed words (low 56 bits of the pointer << 8 |
 * index), so building a block does not search the table for every
 * instruction.  A word is stored and loaded whole, so vCPUs building
 * blocks at the same time can fill it concurrently.
 */
#define FORM_CACHE 1024
static uint64_t form_cache[FORM_CACHE];

static unsigned form_index(v3_insn_fn f)
{
    uint64_t p = (uint64_t)(uintptr_t)f & ((1ull << 56) - 1);
    unsigned h = (unsigned)((p >> 4) ^ (p >> 14)) & (FORM_CACHE - 1), idx = 255;
    uint64_t e = __atomic_load_n(&form_cache[h], __ATOMIC_RELAXED);
    if (e && (e >> 8) == p)
        return (unsigned)(e & 0xff);
    for (unsigned i = 0; i < NFORMS; i++) {
        if (thr_of[i].f == f) {
            idx = i;
            break;
        }
    }
    __atomic_store_n(&form_cache[h], (p << 8) | idx, __ATOMIC_RELAXED);
    return idx;
}

/* threaded form of @p in after flag kind @p kind; *out_kind: the kind after it (K_ANY if unknown) */
static v3_insn_fn threaded_form(const struct v3_insn *in, unsigned kind, unsigned *out_kind)
{
    unsigned i = form_index(in->handler);
    const struct thr_form *tf;
    if (i == 255) {
        *out_kind = K_ANY;
        return cpu_thr_generic;
    }
    tf = &thr_of[i];
    *out_kind = tf->kind == K_KEEP ? kind : tf->kind;   /* Jcc not taken: flags as they were */
    return tf->by_kind ? tf->by_kind[kind] : tf->t;
}

/*
 * IMUL r, r(, imm) whose flags nothing can see: the next instruction is a
 * register form (it cannot fault, and a threaded run goes on to it without
 * a stop) that replaces CF and OF without reading any flag and either
 * replaces SF, ZF, AF, PF too (ADD, SUB, CMP, AND, OR, XOR, TEST, NEG) or is
 * another IMUL (which keeps them as they were before both).  Then the
 * threaded form without the flag update is chosen.
 */
static const struct { v3_insn_fn f, t_nf; } imul_nf[] = {
    { f_imul_rr0, t_imul_rr0_nf }, { f_imul_rr4, t_imul_rr4_nf }, { f_imul_rr8, t_imul_rr8_nf },
    { f_imul_rri0, t_imul_rri0_nf }, { f_imul_rri4, t_imul_rri4_nf }, { f_imul_rri8, t_imul_rri8_nf },
};
static const v3_insn_fn flag_killers[] = {
#define FK3(name) f_##name##0, f_##name##4, f_##name##8,
    FK3(add_rr) FK3(add_ri) FK3(sub_rr) FK3(sub_ri) FK3(and_rr) FK3(and_ri) FK3(or_rr) FK3(or_ri)
    FK3(xor_rr) FK3(xor_ri) FK3(cmp_rr) FK3(cmp_ri) FK3(test_rr) FK3(test_ri) FK3(neg_r)
    FK3(imul_rr) FK3(imul_rri)
#undef FK3
};

static v3_insn_fn imul_flags_dead(const struct v3_insn *in, const struct v3_insn *next)
{
    for (unsigned i = 0; i < sizeof(imul_nf) / sizeof(imul_nf[0]); i++) {
        if (in->handler != imul_nf[i].f)
            continue;
        for (unsigned j = 0; j < sizeof(flag_killers) / sizeof(flag_killers[0]); j++)
            if (next->handler == flag_killers[j])
                return imul_nf[i].t_nf;
        return NULL;
    }
    return NULL;
}

void cpu_thr_link(struct v3_insn *insn, unsigned n)
{
    unsigned kind = K_ANY;
    for (unsigned i = 0; i < n; i++) {
        unsigned before = kind;
        v3_insn_fn nf;
        insn[i].thr = threaded_form(&insn[i], kind, &kind);
        if (i + 1 < n && insn[i].mnemonic == ZYDIS_MNEMONIC_IMUL && (nf = imul_flags_dead(&insn[i], &insn[i + 1])))
            insn[i].thr = nf;
        if (i + 1 < n && insn[i].mnemonic == ZYDIS_MNEMONIC_DEC &&
            (insn[i].handler == f_dec_r4 || insn[i].handler == f_dec_r8) &&
            (insn[i + 1].handler == f_jcc4 || insn[i + 1].handler == f_jcc5))
            insn[i].thr = dec_jcc[insn[i].handler == f_dec_r8][insn[i + 1].handler == f_jcc5][before];
    }
}

static bool is_gpr(const struct v3_operand *o)
{
    return o->kind == V3_OPK_REG && o->cls == V3_RC_GPR && o->reg < 16;
}
static bool is_imm(const struct v3_operand *o)
{
    return o->kind == V3_OPK_IMM && !(o->cls & V3_IMMF_REL);
}
/* a memory operand the 64-bit fast path may take */
static bool is_mem(const struct v3_insn *in, const struct v3_operand *o)
{
    return in->mode == V3_MODE_LONG64 && o->kind == V3_OPK_MEM &&
           (o->size == 1 || o->size == 2 || o->size == 4 || o->size == 8);
}

void cpu_specialize(struct v3_insn *in)
{
    const struct v3_op_entry *ent = v3_emu_lookup(in->mnemonic);
    const struct v3_operand *d = &in->op[0], *s = &in->op[1];
    v3_insn_fn f = NULL;
    int rr, ri, rm, mr, mi;

    if (!ent || ent->fn != in->handler || (in->prefix & V3_PFX_LOCK))
        return;
    rr = in->nops == 2 && is_gpr(d) && is_gpr(s) && d->size == s->size;
    ri = in->nops == 2 && is_gpr(d) && is_imm(s);
    rm = in->nops == 2 && is_gpr(d) && is_mem(in, s) && d->size == s->size;
    mr = in->nops == 2 && is_mem(in, d) && is_gpr(s) && d->size == s->size;
    mi = in->nops == 2 && is_mem(in, d) && is_imm(s);

    /* register forms by size: 4, 8, any */
#define BYSZ(name) (d->size == 4 ? name##4 : d->size == 8 ? name##8 : name##0)
    switch (in->mnemonic) {
#define PICK(MN, name) \
    case ZYDIS_MNEMONIC_##MN: f = rr ? BYSZ(f_##name##_rr) : ri ? BYSZ(f_##name##_ri) : NULL; break;
    PICK(ADC, adc)
    PICK(SBB, sbb)
#undef PICK
#define PICK(MN, name) \
    case ZYDIS_MNEMONIC_##MN: \
        f = rr ? BYSZ(f_##name##_rr) : ri ? BYSZ(f_##name##_ri) : rm ? f_##name##_rm : NULL; break;
    PICK(ADD, add)
    PICK(SUB, sub)
    PICK(AND, and)
    PICK(OR, or)
    PICK(XOR, xor)
#undef PICK
    case ZYDIS_MNEMONIC_CMP:
        f = rr ? BYSZ(f_cmp_rr) : ri ? BYSZ(f_cmp_ri) : rm ? f_cmp_rm : mr ? f_cmp_mr : mi ? f_cmp_mi : NULL;
        break;
    case ZYDIS_MNEMONIC_TEST:
        f = rr ? BYSZ(f_test_rr) : ri ? BYSZ(f_test_ri) : mr ? f_test_mr : mi ? f_test_mi : NULL;
        break;
    case ZYDIS_MNEMONIC_INC:
    case ZYDIS_MNEMONIC_DEC:
    case ZYDIS_MNEMONIC_NEG:
    case ZYDIS_MNEMONIC_NOT:
        if (in->nops == 1 && is_gpr(d))
            f = in->mnemonic == ZYDIS_MNEMONIC_INC ? BYSZ(f_inc_r) : in->mnemonic == ZYDIS_MNEMONIC_DEC ? BYSZ(f_dec_r)
              : in->mnemonic == ZYDIS_MNEMONIC_NEG ? BYSZ(f_neg_r) : BYSZ(f_not_r);
        break;
    case ZYDIS_MNEMONIC_JO: case ZYDIS_MNEMONIC_JNO: case ZYDIS_MNEMONIC_JB: case ZYDIS_MNEMONIC_JNB:
    case ZYDIS_MNEMONIC_JZ: case ZYDIS_MNEMONIC_JNZ: case ZYDIS_MNEMONIC_JBE: case ZYDIS_MNEMONIC_JNBE:
    case ZYDIS_MNEMONIC_JS: case ZYDIS_MNEMONIC_JNS: case ZYDIS_MNEMONIC_JP: case ZYDIS_MNEMONIC_JNP:
    case ZYDIS_MNEMONIC_JL: case ZYDIS_MNEMONIC_JNL: case ZYDIS_MNEMONIC_JLE: case ZYDIS_MNEMONIC_JNLE:
        if (in->nops == 1 && in->op[0].kind == V3_OPK_IMM && (in->op[0].cls & V3_IMMF_REL))
            f = jcc_fn[in->cc & 15];
        break;
    case ZYDIS_MNEMONIC_PUSH:
    case ZYDIS_MNEMONIC_POP:
        if (in->mode == V3_MODE_LONG64 && in->opsize == 8 && in->nops == 1 && is_gpr(d) && d->size == 8)
            f = in->mnemonic == ZYDIS_MNEMONIC_PUSH ? f_push_r : f_pop_r;
        break;
    case ZYDIS_MNEMONIC_CALL:
        if (in->mode == V3_MODE_LONG64 && in->opsize == 8 && in->nops == 1 && d->kind == V3_OPK_IMM &&
            (d->cls & V3_IMMF_REL))
            f = f_call_rel;
        break;
    case ZYDIS_MNEMONIC_RET:
        if (in->mode == V3_MODE_LONG64 && in->opsize == 8 && in->opcode == 0xc3)
            f = f_ret;
        break;
    case ZYDIS_MNEMONIC_MOV:
        f = rr ? f_mov_rr : ri ? f_mov_ri : rm ? f_mov_rm : mr ? f_mov_mr : mi ? f_mov_mi : NULL;
        break;
    case ZYDIS_MNEMONIC_NOP:
        f = f_nop;
        break;
    case ZYDIS_MNEMONIC_SHL:
    case ZYDIS_MNEMONIC_SHR:
    case ZYDIS_MNEMONIC_SAR:
        /* by 1 (no visible count) or by imm8, not a masked count of 0 (which changes nothing) */
        if (is_gpr(d) && (in->nops == 1 || (in->nops == 2 && is_imm(s) &&
                                             (s->val & (d->size == 8 ? 63 : 31)) != 0)))
            f = in->mnemonic == ZYDIS_MNEMONIC_SHL ? BYSZ(f_shl_r) : in->mnemonic == ZYDIS_MNEMONIC_SHR
                ? BYSZ(f_shr_r) : BYSZ(f_sar_r);
        else if (in->nops == 2 && is_gpr(d) && is_gpr(s) && s->reg == V3_RCX && s->size == 1)
            f = in->mnemonic == ZYDIS_MNEMONIC_SHL ? BYSZ(f_shl_cl) : in->mnemonic == ZYDIS_MNEMONIC_SHR
                ? BYSZ(f_shr_cl) : BYSZ(f_sar_cl);
        break;
    case ZYDIS_MNEMONIC_ROL:
    case ZYDIS_MNEMONIC_ROR:
        /* by 1 or by imm8, not a masked count of 0 (which changes nothing) */
        if (is_gpr(d) && (in->nops == 1 || (in->nops == 2 && is_imm(s) &&
                                             (s->val & (d->size == 8 ? 63 : 31)) != 0)))
            f = in->mnemonic == ZYDIS_MNEMONIC_ROL ? BYSZ(f_rol_r) : BYSZ(f_ror_r);
        break;
    case ZYDIS_MNEMONIC_MOVZX:
        if (in->nops == 2 && is_gpr(d) && is_mem(in, s) && s->size < d->size)
            f = f_movzx_rm;
        else if (in->nops == 2 && is_gpr(d) && is_gpr(s))
            f = f_movzx_rr;
        break;
    case ZYDIS_MNEMONIC_MOVSX:
    case ZYDIS_MNEMONIC_MOVSXD:
        if (in->nops == 2 && is_gpr(d) && is_mem(in, s) && s->size < d->size)
            f = f_movsx_rm;
        else if (in->nops == 2 && is_gpr(d) && is_gpr(s))
            f = f_movsx_rr;
        break;
    case ZYDIS_MNEMONIC_IMUL:
        /* the two- and three-operand forms (16, 32, 64 bits) */
        if (in->nops == 2 && (d->size == 2 || d->size == 4 || d->size == 8))
            f = rr ? BYSZ(f_imul_rr) : rm ? f_imul_rm : NULL;
        else if (in->nops == 3 && is_gpr(d) && is_imm(&in->op[2]) && s->size == d->size &&
                 (d->size == 2 || d->size == 4 || d->size == 8))
            f = is_gpr(s) ? BYSZ(f_imul_rri) : is_mem(in, s) ? f_imul_rmi : NULL;
        break;
    case ZYDIS_MNEMONIC_JMP:
        if (in->nops == 1 && d->kind == V3_OPK_IMM && (d->cls & V3_IMMF_REL))
            f = f_jmp_rel;
        break;
    case ZYDIS_MNEMONIC_SETO: case ZYDIS_MNEMONIC_SETNO: case ZYDIS_MNEMONIC_SETB: case ZYDIS_MNEMONIC_SETNB:
    case ZYDIS_MNEMONIC_SETZ: case ZYDIS_MNEMONIC_SETNZ: case ZYDIS_MNEMONIC_SETBE: case ZYDIS_MNEMONIC_SETNBE:
    case ZYDIS_MNEMONIC_SETS: case ZYDIS_MNEMONIC_SETNS: case ZYDIS_MNEMONIC_SETP: case ZYDIS_MNEMONIC_SETNP:
    case ZYDIS_MNEMONIC_SETL: case ZYDIS_MNEMONIC_SETNL: case ZYDIS_MNEMONIC_SETLE: case ZYDIS_MNEMONIC_SETNLE:
        if (in->nops == 1 && is_gpr(d) && d->size == 1)
            f = f_setcc_r;
        break;
    case ZYDIS_MNEMONIC_CMOVO: case ZYDIS_MNEMONIC_CMOVNO: case ZYDIS_MNEMONIC_CMOVB: case ZYDIS_MNEMONIC_CMOVNB:
    case ZYDIS_MNEMONIC_CMOVZ: case ZYDIS_MNEMONIC_CMOVNZ: case ZYDIS_MNEMONIC_CMOVBE: case ZYDIS_MNEMONIC_CMOVNBE:
    case ZYDIS_MNEMONIC_CMOVS: case ZYDIS_MNEMONIC_CMOVNS: case ZYDIS_MNEMONIC_CMOVP: case ZYDIS_MNEMONIC_CMOVNP:
    case ZYDIS_MNEMONIC_CMOVL: case ZYDIS_MNEMONIC_CMOVNL: case ZYDIS_MNEMONIC_CMOVLE: case ZYDIS_MNEMONIC_CMOVNLE:
        if (rr)
            f = f_cmov_rr;
        break;
    case ZYDIS_MNEMONIC_LEA:
        if (in->nops == 2 && is_gpr(d) && s->kind == V3_OPK_MEM && d->size >= 2)
            f = f_lea;
        break;
    default:
        break;
    }
    if (f)
        in->handler = f;
    in->thr = cpu_thr_generic;      /* cpu_thr_link() picks the threaded form */
}
