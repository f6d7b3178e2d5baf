/* SPDX-License-Identifier: MIT */
/*
 * x87 FPU: data transfer, arithmetic, comparison, constants, stack and
 * control instructions, with the register stack and status word of
 * src/emu/x87.h.  Transcendentals are in ops_x87_trans.c; FNINIT, FNSTSW,
 * FNSTCW, FLDCW and FWAIT in ops_system.c.
 *
 * Exactness.  Every operation whose result the SDM defines exactly runs on
 * the host FPU under the guest's control word (x87_host.c): results,
 * precision and rounding control, denormals, NaN propagation, C0-C3 and the
 * exception flags are the host CPU's.  What the host cannot see is done
 * here: the tag word and TOP, stack overflow/underflow (IE|SF, C1 = 1/0,
 * the QNaN indefinite as masked response), and the unmasked responses
 * (IE, DE, ZE: destination, memory and stack unchanged; OE, UE: the host's
 * bias-adjusted result to a register, nothing stored to memory).
 *
 * Numeric exceptions: an unmasked exception sets FSW.ES and FSW.B; the next
 * waiting x87 instruction (or FWAIT) raises #MF when CR0.NE = 1, or asserts
 * FERR# through core->ferr when CR0.NE = 0 (v3_x87_begin).  CR0.EM or
 * CR0.TS give #NM first.
 *
 * Not modelled: FOP, FIP and FDP (the last-instruction pointers) are not
 * updated.  FISTTP (SSE3) runs whether or not the CPUID model reports SSE3
 * (handlers do not see the model).  The MMX instructions (ops_sse.c) do not
 * check for a pending x87 exception.
 *
 * AMD behaviours taken from the host where the SDM says "undefined" or is
 * silent (measured with tests/cpu/test_x87diff.c): FCMOVcc and FCOMI keep
 * C1; FFREE/FFREEP clear C1; FCOMI/FUCOMI set RFLAGS also when IE is
 * unmasked (and then do not pop); a stack underflow in FCOM & co. sets
 * C3 C2 C0 also when IE is unmasked; FPREM/FPREM1 with an empty register
 * clear C2; FLD m32/m64 of a denormal with DE unmasked still pushes; FSTP
 * ST(i) through the D9 D8+i alias from an empty ST(0) signals nothing.
 */
#include <Zydis/Zydis.h>
#include "emu/x87.h"

const struct x87v v3_x87_indefinite = { { 0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff } };

static inline void set_top(struct v3_fpu_state *f, unsigned t)
{
    f->fsw = (uint16_t)((f->fsw & ~0x3800) | ((t & 7) << 11));
}

void v3_x87_put(struct v3_fpu_state *f, unsigned i, const struct x87v *v)
{
    memset(f->st[i & 7], 0, 16);
    memcpy(f->st[i & 7], v->b, 10);
    f->ftw |= (uint8_t)(1u << ((x87_top(f) + i) & 7));
}

/* rotate st[] so that ST(i) keeps naming the same physical register */
static void rot_down(struct v3_fpu_state *f)      /* TOP-1: new ST(0) = old ST(7) */
{
    uint8_t t[16];
    memcpy(t, f->st[7], 16);
    memmove(f->st[1], f->st[0], 16 * 7);
    memcpy(f->st[0], t, 16);
    set_top(f, x87_top(f) - 1);
}

static void rot_up(struct v3_fpu_state *f)        /* TOP+1: new ST(7) = old ST(0) */
{
    uint8_t t[16];
    memcpy(t, f->st[0], 16);
    memmove(f->st[0], f->st[1], 16 * 7);
    memcpy(f->st[7], t, 16);
    set_top(f, x87_top(f) + 1);
}

void v3_x87_push(struct v3_fpu_state *f, const struct x87v *v)
{
    rot_down(f);
    v3_x87_put(f, 0, v);
}

void v3_x87_pop(struct v3_fpu_state *f)
{
    f->ftw &= (uint8_t)~(1u << x87_top(f));
    rot_up(f);
}

unsigned v3_x87_raise(struct v3_fpu_state *f, unsigned exc)
{
    unsigned unm = exc & ~(unsigned)f->fcw & 0x3f;
    f->fsw |= (uint16_t)(exc & 0x7f);
    if (unm || ((exc & X87_SF) && (~f->fcw & X87_IE)))
        f->fsw |= X87_ES | X87_B;
    return unm;
}

void v3_x87_update_es(struct v3_fpu_state *f)
{
    if (f->fsw & ~f->fcw & 0x3f)
        f->fsw |= X87_ES | X87_B;
    else
        f->fsw &= (uint16_t)~(X87_ES | X87_B);
}

int v3_x87_underflow(struct v3_fpu_state *f)
{
    f->fsw &= (uint16_t)~X87_C1;
    return v3_x87_raise(f, X87_IE | X87_SF) != 0;
}

int v3_x87_overflow(struct v3_fpu_state *f)
{
    f->fsw |= X87_C1;
    return v3_x87_raise(f, X87_IE | X87_SF) != 0;
}

int v3_x87_begin(struct v3_emu_ctx *ctx, int waiting)
{
    struct v3_core *c = ctx->core;
    if (waiting != 2 && (c->cr0 & (V3_CR0_EM | V3_CR0_TS)))
        return v3_exc_nm(ctx);
    if (!(c->fpu.fsw & X87_ES))
        c->ferr_asserted = 0;     /* cleared by whatever means (FNCLEX, FRSTOR, FXRSTOR...) */
    if (waiting && (c->fpu.fsw & X87_ES)) {
        if (c->cr0 & V3_CR0_NE)
            return v3_raise(ctx, V3_EXC_MF, 0, 0);
        if (!c->ferr_asserted) {
            c->ferr_asserted = 1;
            if (c->ferr)
                c->ferr(c, c->ferr_opaque);
        }
    }
    return V3_X_NEXT;
}

/* ------------------------------------------------------------ helpers */

/* Merge the host status after an operation: exception flags (sticky, with
 * ES/B), and the condition bits in @p cmask.  Returns the unmasked set. */
static unsigned merge(struct v3_fpu_state *f, const struct x87h *h, unsigned cmask)
{
    (void)cmask;      /* the host started from the guest's condition codes */
    f->fsw = (uint16_t)((f->fsw & ~X87_CC) | (h->sw & X87_CC));
    return v3_x87_raise(f, h->sw & 0x3f);
}

static void hrun(struct v3_fpu_state *f, enum x87h_op op, struct x87h *h)
{
    h->cw = f->fcw;
    h->sw = f->fsw;
    v3_x87_host(op, h);
}

/* memory operand of the instruction, or NULL */
static const struct v3_operand *mem_op(const struct v3_insn *in)
{
    for (unsigned i = 0; i < in->nops; i++)
        if (in->op[i].kind == V3_OPK_MEM)
            return &in->op[i];
    return NULL;
}

/* the ST(i) source of a one-register form (the last visible operand), or @p def */
static unsigned src_reg(const struct v3_insn *in, unsigned def)
{
    if (in->nops == 0)
        return def;
    return in->op[in->nops - 1].reg & 7;
}

/* Push @p v (a value computed with exception set @p exc) checking for
 * overflow first.  Used by the loads and constants. */
static void push_checked(struct v3_fpu_state *f, const struct x87h *h, unsigned cmask)
{
    struct x87v v;
    merge(f, h, cmask);
    /* the host started with TOP = 0: it pushed unless an unmasked exception
     * aborted the load (AMD loads a denormal with DE unmasked: only the
     * host knows) */
    if (((h->sw >> 11) & 7) != 7)
        return;
    memcpy(v.b, h->r0, 10);
    f->fsw &= (uint16_t)~X87_C1;
    v3_x87_push(f, &v);
}

/* ------------------------------------------------------------ loads */

static int op_fld(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_fpu_state *f = &ctx->core->fpu;
    const struct v3_operand *m = mem_op(in);
    struct x87h h;
    enum x87h_op op;
    int st;

    if ((st = v3_x87_begin(ctx, 1)))
        return st;
    memset(&h, 0, sizeof(h));
    switch (in->mnemonic) {
    case ZYDIS_MNEMONIC_FLD1:   op = X87H_LD1; break;
    case ZYDIS_MNEMONIC_FLDZ:   op = X87H_LDZ; break;
    case ZYDIS_MNEMONIC_FLDPI:  op = X87H_LDPI; break;
    case ZYDIS_MNEMONIC_FLDL2T: op = X87H_LDL2T; break;
    case ZYDIS_MNEMONIC_FLDL2E: op = X87H_LDL2E; break;
    case ZYDIS_MNEMONIC_FLDLG2: op = X87H_LDLG2; break;
    case ZYDIS_MNEMONIC_FLDLN2: op = X87H_LDLN2; break;
    case ZYDIS_MNEMONIC_FBLD:   op = X87H_BLD; break;
    case ZYDIS_MNEMONIC_FILD:
        if (!m)
            return v3_exc_ud(ctx);
        op = m->size == 2 ? X87H_ILDS : m->size == 4 ? X87H_ILDL : X87H_ILDLL;
        break;
    default:                                    /* FLD */
        if (!m) {
            unsigned i = src_reg(in, 1);
            struct x87v v = x87_get(f, i);
            if (!x87_valid(f, i)) {             /* underflow only (no overflow check) */
                if (v3_x87_underflow(f))
                    return V3_X_NEXT;
                v3_x87_push(f, &v3_x87_indefinite);
                return V3_X_NEXT;
            }
            if (x87_valid(f, 7)) {
                if (v3_x87_overflow(f))
                    return V3_X_NEXT;
                v = v3_x87_indefinite;
            } else {
                f->fsw &= (uint16_t)~X87_C1;
            }
            v3_x87_push(f, &v);
            return V3_X_NEXT;
        }
        op = m->size == 4 ? X87H_LDS : m->size == 8 ? X87H_LDL : X87H_COUNT;
        break;
    }
    if (m && (st = v3_mem_read_op(ctx, in, m, h.m, m->size, V3_ACCESS_READ)))
        return st;
    if (x87_valid(f, 7)) {                      /* stack overflow */
        if (!v3_x87_overflow(f))
            v3_x87_push(f, &v3_x87_indefinite);
        return V3_X_NEXT;
    }
    if (op == X87H_COUNT) {                     /* m80: no conversion, no exception */
        struct x87v v;
        memcpy(v.b, h.m, 10);
        f->fsw &= (uint16_t)~X87_C1;
        v3_x87_push(f, &v);
        return V3_X_NEXT;
    }
    hrun(f, op, &h);
    push_checked(f, &h, 0);
    return V3_X_NEXT;
}

/* ------------------------------------------------------------ stores */

static int op_fst(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_fpu_state *f = &ctx->core->fpu;
    const struct v3_operand *m = mem_op(in);
    unsigned mn = in->mnemonic;
    bool pop = mn == ZYDIS_MNEMONIC_FSTP || mn == ZYDIS_MNEMONIC_FISTP || mn == ZYDIS_MNEMONIC_FSTPNCE ||
               mn == ZYDIS_MNEMONIC_FISTTP || mn == ZYDIS_MNEMONIC_FBSTP;
    struct x87h h;
    enum x87h_op op;
    unsigned sz;
    uint16_t fsw0 = f->fsw;
    int st;

    if ((st = v3_x87_begin(ctx, 1)))
        return st;
    if (!m) {                                   /* FST/FSTP ST(i) */
        unsigned i = src_reg(in, 1);
        struct x87v v = x87_get(f, 0);
        if (!x87_valid(f, 0) && mn == ZYDIS_MNEMONIC_FSTPNCE) {
            /* AMD: the D9 D8+i alias from an empty ST(0) signals nothing
             * and leaves ST(i) as it was (measured on the host) */
            f->fsw &= (uint16_t)~X87_C1;
            v3_x87_pop(f);
            return V3_X_NEXT;
        }
        if (!x87_valid(f, 0)) {
            if (v3_x87_underflow(f))
                return V3_X_NEXT;
            v = v3_x87_indefinite;
        } else {
            f->fsw &= (uint16_t)~X87_C1;
        }
        v3_x87_put(f, i, &v);
        if (pop)
            v3_x87_pop(f);
        return V3_X_NEXT;
    }
    sz = m->size;
    memset(&h, 0, sizeof(h));
    switch (mn) {
    case ZYDIS_MNEMONIC_FIST:
    case ZYDIS_MNEMONIC_FISTP:
        op = sz == 2 ? X87H_ISTS : sz == 4 ? X87H_ISTL : X87H_ISTPLL;
        break;
    case ZYDIS_MNEMONIC_FISTTP:
        op = sz == 2 ? X87H_ISTTPS : sz == 4 ? X87H_ISTTPL : X87H_ISTTPLL;
        break;
    case ZYDIS_MNEMONIC_FBSTP:
        op = X87H_BSTP;
        break;
    default:
        op = sz == 4 ? X87H_STS : sz == 8 ? X87H_STL : X87H_COUNT;
        break;
    }
    if (!x87_valid(f, 0)) {
        /* underflow: the masked response stores the indefinite of the format */
        if (v3_x87_underflow(f))
            return V3_X_NEXT;
        memcpy(h.x, v3_x87_indefinite.b, 10);
        h.cw = (uint16_t)(f->fcw | 0x3f);
        if (op == X87H_COUNT)
            memcpy(h.o, v3_x87_indefinite.b, 10);
        else
            v3_x87_host(op, &h);
    } else {
        memcpy(h.x, f->st[0], 10);
        if (op == X87H_COUNT) {                 /* m80: exact copy */
            memcpy(h.o, h.x, 10);
            f->fsw &= (uint16_t)~X87_C1;
        } else {
            hrun(f, op, &h);
            unsigned unm = merge(f, &h, X87_C1);
            if (unm & (X87_IE | X87_OE | X87_UE))
                return V3_X_NEXT;               /* nothing stored, nothing popped */
        }
    }
    if ((st = v3_mem_write_op(ctx, in, m, h.o, sz))) {
        f->fsw = fsw0;                          /* the fault leaves the FPU as it was */
        return st;
    }
    if (pop)
        v3_x87_pop(f);
    return V3_X_NEXT;
}

/* ------------------------------------------------------------ arithmetic */

/* FADD/FSUB/FSUBR/FMUL/FDIV/FDIVR, their P forms and FI forms. */
static int op_farith(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_fpu_state *f = &ctx->core->fpu;
    const struct v3_operand *m = mem_op(in);
    unsigned mn = in->mnemonic, k, dst = 0, src = 1;
    bool pop = false;
    struct x87h h;
    enum x87h_op op;
    int st;

    if ((st = v3_x87_begin(ctx, 1)))
        return st;
    switch (mn) {
    case ZYDIS_MNEMONIC_FADDP: pop = true; /* fall through */
    case ZYDIS_MNEMONIC_FADD: case ZYDIS_MNEMONIC_FIADD: k = 0; break;
    case ZYDIS_MNEMONIC_FMULP: pop = true; /* fall through */
    case ZYDIS_MNEMONIC_FMUL: case ZYDIS_MNEMONIC_FIMUL: k = 1; break;
    case ZYDIS_MNEMONIC_FSUBP: pop = true; /* fall through */
    case ZYDIS_MNEMONIC_FSUB: case ZYDIS_MNEMONIC_FISUB: k = 2; break;
    case ZYDIS_MNEMONIC_FSUBRP: pop = true; /* fall through */
    case ZYDIS_MNEMONIC_FSUBR: case ZYDIS_MNEMONIC_FISUBR: k = 3; break;
    case ZYDIS_MNEMONIC_FDIVP: pop = true; /* fall through */
    case ZYDIS_MNEMONIC_FDIV: case ZYDIS_MNEMONIC_FIDIV: k = 4; break;
    case ZYDIS_MNEMONIC_FDIVRP: pop = true; /* fall through */
    default: k = 5; break;                      /* FDIVR, FIDIVR */
    }
    memset(&h, 0, sizeof(h));
    if (m) {
        bool integer = mn == ZYDIS_MNEMONIC_FIADD || mn == ZYDIS_MNEMONIC_FISUB || mn == ZYDIS_MNEMONIC_FISUBR ||
                       mn == ZYDIS_MNEMONIC_FIMUL || mn == ZYDIS_MNEMONIC_FIDIV || mn == ZYDIS_MNEMONIC_FIDIVR;
        if (integer)
            op = (enum x87h_op)((m->size == 2 ? X87H_ADDIS : X87H_ADDIL) + k);
        else
            op = (enum x87h_op)((m->size == 4 ? X87H_ADDS : X87H_ADDL) + k);
        if ((st = v3_mem_read_op(ctx, in, m, h.m, m->size, V3_ACCESS_READ)))
            return st;
        src = dst = 0;
    } else {
        if (in->nops >= 2) {
            dst = in->op[0].reg & 7;
            src = in->op[1].reg & 7;
        } else {                                /* no operands: ST(1) op ST(0) */
            dst = 1;
            src = 0;
        }
        /* destination ST(0): host ST0 = ST0 op ST1 with ST1 = ST(src);
         * destination ST(i): host ST1 = ST1 op ST0 with ST0 = ST(0) */
        op = (enum x87h_op)((dst == 0 ? X87H_ADD0 : X87H_ADD1) + k);
    }
    if (!x87_valid(f, 0) || !x87_valid(f, dst ? dst : src)) {
        if (v3_x87_underflow(f))
            return V3_X_NEXT;
        v3_x87_put(f, dst, &v3_x87_indefinite);
    } else {
        unsigned other = dst ? dst : src;
        memcpy(h.x, f->st[0], 10);
        memcpy(h.y, f->st[other], 10);
        hrun(f, op, &h);
        unsigned unm = merge(f, &h, X87_C1);
        if (unm & (X87_IE | X87_DE | X87_ZE))
            return V3_X_NEXT;
        struct x87v r;
        memcpy(r.b, dst ? h.r1 : h.r0, 10);
        v3_x87_put(f, dst, &r);
    }
    if (pop)
        v3_x87_pop(f);
    return V3_X_NEXT;
}

/* FSQRT, FRNDINT: ST(0) = op ST(0).  FSCALE, FPREM, FPREM1: ST(0) = ST(0) op ST(1). */
static int op_funop(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_fpu_state *f = &ctx->core->fpu;
    unsigned mn = in->mnemonic, cmask = X87_C1;
    bool two = false;
    struct x87h h;
    enum x87h_op op;
    int st;

    if ((st = v3_x87_begin(ctx, 1)))
        return st;
    switch (mn) {
    case ZYDIS_MNEMONIC_FSQRT: op = X87H_SQRT; break;
    case ZYDIS_MNEMONIC_FRNDINT: op = X87H_RNDINT; break;
    case ZYDIS_MNEMONIC_FSCALE: op = X87H_SCALE; two = true; break;
    case ZYDIS_MNEMONIC_FPREM: op = X87H_PREM; two = true; cmask = X87_CC; break;
    default: op = X87H_PREM1; two = true; cmask = X87_CC; break;
    }
    if (!x87_valid(f, 0) || (two && !x87_valid(f, 1))) {
        if (op == X87H_PREM || op == X87H_PREM1)
            f->fsw &= (uint16_t)~X87_C2;        /* "complete" */
        if (v3_x87_underflow(f))
            return V3_X_NEXT;
        v3_x87_put(f, 0, &v3_x87_indefinite);
        return V3_X_NEXT;
    }
    memset(&h, 0, sizeof(h));
    memcpy(h.x, f->st[0], 10);
    memcpy(h.y, f->st[1], 10);
    hrun(f, op, &h);
    unsigned unm = merge(f, &h, cmask);
    if (unm & (X87_IE | X87_DE | X87_ZE))
        return V3_X_NEXT;
    struct x87v r;
    memcpy(r.b, h.r0, 10);
    v3_x87_put(f, 0, &r);
    return V3_X_NEXT;
}

/* FXTRACT: ST(0) = exponent, then push the significand. */
static int op_fxtract(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_fpu_state *f = &ctx->core->fpu;
    struct x87h h;
    struct x87v e, s;
    int st;
    (void)in;
    if ((st = v3_x87_begin(ctx, 1)))
        return st;
    if (!x87_valid(f, 0)) {
        if (v3_x87_underflow(f))
            return V3_X_NEXT;
        v3_x87_put(f, 0, &v3_x87_indefinite);
        if (x87_valid(f, 7)) {
            v3_x87_overflow(f);
            f->fsw &= (uint16_t)~X87_C1;
        }
        v3_x87_push(f, &v3_x87_indefinite);
        return V3_X_NEXT;
    }
    if (x87_valid(f, 7)) {
        if (v3_x87_overflow(f))
            return V3_X_NEXT;
        v3_x87_put(f, 0, &v3_x87_indefinite);
        v3_x87_push(f, &v3_x87_indefinite);
        return V3_X_NEXT;
    }
    memset(&h, 0, sizeof(h));
    memcpy(h.x, f->st[0], 10);
    hrun(f, X87H_XTRACT, &h);
    if (merge(f, &h, X87_C1) & (X87_IE | X87_DE | X87_ZE))
        return V3_X_NEXT;
    memcpy(s.b, h.r0, 10);
    memcpy(e.b, h.r1, 10);
    v3_x87_put(f, 0, &e);
    v3_x87_push(f, &s);
    return V3_X_NEXT;
}

static int op_funary(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_fpu_state *f = &ctx->core->fpu;
    struct x87v v;
    int st;
    if ((st = v3_x87_begin(ctx, 1)))
        return st;
    if (!x87_valid(f, 0)) {
        if (!v3_x87_underflow(f))
            v3_x87_put(f, 0, &v3_x87_indefinite);
        return V3_X_NEXT;
    }
    v = x87_get(f, 0);
    if (in->mnemonic == ZYDIS_MNEMONIC_FCHS)
        v.b[9] ^= 0x80;
    else
        v.b[9] &= 0x7f;
    f->fsw &= (uint16_t)~X87_C1;
    v3_x87_put(f, 0, &v);
    return V3_X_NEXT;
}

/* ------------------------------------------------------------ comparisons */

/* FCOM/FCOMP/FCOMPP/FUCOM/FUCOMP/FUCOMPP/FICOM/FICOMP/FTST/FXAM */
static int op_fcom(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_fpu_state *f = &ctx->core->fpu;
    const struct v3_operand *m = mem_op(in);
    unsigned mn = in->mnemonic, pops = 0, src = 1;
    struct x87h h;
    enum x87h_op op;
    int st;

    if ((st = v3_x87_begin(ctx, 1)))
        return st;
    memset(&h, 0, sizeof(h));
    switch (mn) {
    case ZYDIS_MNEMONIC_FTST: op = X87H_TST; break;
    case ZYDIS_MNEMONIC_FXAM: op = X87H_XAM; break;
    case ZYDIS_MNEMONIC_FCOMPP: op = X87H_COM; pops = 2; break;
    case ZYDIS_MNEMONIC_FUCOMPP: op = X87H_UCOM; pops = 2; break;
    case ZYDIS_MNEMONIC_FUCOM: case ZYDIS_MNEMONIC_FUCOMP:
        op = X87H_UCOM;
        src = src_reg(in, 1);
        pops = mn == ZYDIS_MNEMONIC_FUCOMP;
        break;
    default:                                    /* FCOM, FCOMP, FICOM, FICOMP */
        pops = mn == ZYDIS_MNEMONIC_FCOMP || mn == ZYDIS_MNEMONIC_FICOMP;
        if (m) {
            bool integer = mn == ZYDIS_MNEMONIC_FICOM || mn == ZYDIS_MNEMONIC_FICOMP;
            op = integer ? (m->size == 2 ? X87H_COMIS : X87H_COMIL) : (m->size == 4 ? X87H_COMS : X87H_COML);
            if ((st = v3_mem_read_op(ctx, in, m, h.m, m->size, V3_ACCESS_READ)))
                return st;
        } else {
            op = X87H_COM;
            src = src_reg(in, 1);
        }
        break;
    }
    if (op == X87H_XAM) {
        if (!x87_valid(f, 0)) {                 /* empty: C3 C2 C0 = 101, C1 = sign */
            unsigned c1 = (f->st[0][9] & 0x80) ? X87_C1 : 0;
            f->fsw = (uint16_t)((f->fsw & ~X87_CC) | X87_C3 | X87_C0 | c1);
            return V3_X_NEXT;
        }
        memcpy(h.x, f->st[0], 10);
        hrun(f, op, &h);
        merge(f, &h, X87_CC);
        return V3_X_NEXT;
    }
    if (!x87_valid(f, 0) || (op == X87H_COM || op == X87H_UCOM ? !x87_valid(f, src) : 0)) {
        f->fsw |= X87_C0 | X87_C2 | X87_C3;     /* unordered, also when IE is unmasked */
        if (v3_x87_underflow(f))
            return V3_X_NEXT;
    } else {
        memcpy(h.x, f->st[0], 10);
        memcpy(h.y, f->st[src], 10);
        hrun(f, op, &h);
        if (merge(f, &h, X87_CC) & (X87_IE | X87_DE))
            return V3_X_NEXT;
    }
    while (pops--)
        v3_x87_pop(f);
    return V3_X_NEXT;
}

/* FCOMI/FCOMIP/FUCOMI/FUCOMIP: ZF, PF, CF from ST(0) vs ST(i); OF SF AF = 0. */
static int op_fcomi(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    struct v3_fpu_state *f = &c->fpu;
    unsigned mn = in->mnemonic, i = src_reg(in, 1);
    bool pop = mn == ZYDIS_MNEMONIC_FCOMIP || mn == ZYDIS_MNEMONIC_FUCOMIP;
    uint64_t fl;
    struct x87h h;
    int st;

    if ((st = v3_x87_begin(ctx, 1)))
        return st;
    /* RFLAGS are set also when the exception is unmasked (the instruction
     * then does not pop); the condition codes are not changed (AMD keeps C1
     * as well) */
    if (!x87_valid(f, 0) || !x87_valid(f, i)) {
        fl = V3_FLAG_ZF | V3_FLAG_PF | V3_FLAG_CF;
        if (v3_x87_underflow(f))
            pop = false;
    } else {
        memset(&h, 0, sizeof(h));
        memcpy(h.x, f->st[0], 10);
        memcpy(h.y, f->st[i], 10);
        hrun(f, mn == ZYDIS_MNEMONIC_FCOMI || mn == ZYDIS_MNEMONIC_FCOMIP ? X87H_COM : X87H_UCOM, &h);
        if (v3_x87_raise(f, h.sw & 0x3f) & (X87_IE | X87_DE))
            pop = false;
        fl = ((h.sw & X87_C3) ? V3_FLAG_ZF : 0) | ((h.sw & X87_C2) ? V3_FLAG_PF : 0) |
             ((h.sw & X87_C0) ? V3_FLAG_CF : 0);
    }
    v3_flags_set(c, V3_FLAG_ZF | V3_FLAG_PF | V3_FLAG_CF | V3_FLAG_OF | V3_FLAG_SF | V3_FLAG_AF, fl);
    if (pop)
        v3_x87_pop(f);
    return V3_X_NEXT;
}

/* ------------------------------------------------------------ register stack */

static int op_fxch(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_fpu_state *f = &ctx->core->fpu;
    unsigned i = src_reg(in, 1);
    int st;
    if ((st = v3_x87_begin(ctx, 1)))
        return st;
    struct x87v a = x87_get(f, 0), b = x87_get(f, i);
    if (!x87_valid(f, 0) || !x87_valid(f, i)) {
        if (v3_x87_underflow(f))
            return V3_X_NEXT;
        if (!x87_valid(f, 0))
            a = v3_x87_indefinite;
        if (!x87_valid(f, i))
            b = v3_x87_indefinite;
    } else {
        f->fsw &= (uint16_t)~X87_C1;
    }
    v3_x87_put(f, 0, &b);
    v3_x87_put(f, i, &a);
    return V3_X_NEXT;
}

static int op_fcmov(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    struct v3_fpu_state *f = &c->fpu;
    unsigned i = src_reg(in, 1), cc;
    int st;
    if ((st = v3_x87_begin(ctx, 1)))
        return st;
    switch (in->mnemonic) {
    case ZYDIS_MNEMONIC_FCMOVB: cc = 0x2; break;
    case ZYDIS_MNEMONIC_FCMOVNB: cc = 0x3; break;
    case ZYDIS_MNEMONIC_FCMOVE: cc = 0x4; break;
    case ZYDIS_MNEMONIC_FCMOVNE: cc = 0x5; break;
    case ZYDIS_MNEMONIC_FCMOVBE: cc = 0x6; break;
    case ZYDIS_MNEMONIC_FCMOVNBE: cc = 0x7; break;
    case ZYDIS_MNEMONIC_FCMOVU: cc = 0xa; break;
    default: cc = 0xb; break;                   /* FCMOVNU */
    }
    if (!x87_valid(f, 0) || !x87_valid(f, i)) {
        if (v3_x87_underflow(f))
            return V3_X_NEXT;
        v3_x87_put(f, 0, &v3_x87_indefinite);
        return V3_X_NEXT;
    }
    if (v3_cond(c, cc)) {                       /* condition codes unchanged (AMD keeps C1) */
        struct x87v v = x87_get(f, i);
        v3_x87_put(f, 0, &v);
    }
    return V3_X_NEXT;
}

/* FFREE, FFREEP, FINCSTP, FDECSTP, FNOP, the 8087/287 no-ops, FNCLEX */
static int op_fstack(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    struct v3_fpu_state *f = &c->fpu;
    unsigned mn = in->mnemonic;
    bool nowait = mn == ZYDIS_MNEMONIC_FNCLEX || mn == ZYDIS_MNEMONIC_FENI8087_NOP ||
                  mn == ZYDIS_MNEMONIC_FDISI8087_NOP || mn == ZYDIS_MNEMONIC_FSETPM287_NOP;
    int st;
    if ((st = v3_x87_begin(ctx, !nowait)))
        return st;
    switch (mn) {
    case ZYDIS_MNEMONIC_FFREE:
    case ZYDIS_MNEMONIC_FFREEP:
        f->fsw &= (uint16_t)~X87_C1;
        f->ftw &= (uint8_t)~(1u << ((x87_top(f) + src_reg(in, 0)) & 7));
        if (mn == ZYDIS_MNEMONIC_FFREEP)
            v3_x87_pop(f);
        break;
    case ZYDIS_MNEMONIC_FINCSTP:
        f->fsw &= (uint16_t)~X87_C1;
        rot_up(f);
        break;
    case ZYDIS_MNEMONIC_FDECSTP:
        f->fsw &= (uint16_t)~X87_C1;
        rot_down(f);
        break;
    case ZYDIS_MNEMONIC_FNCLEX:
        f->fsw &= (uint16_t)~(0xff | X87_B);
        c->ferr_asserted = 0;
        break;
    default:
        break;
    }
    return V3_X_NEXT;
}

/* FNSAVE / FRSTOR: 94/108-byte image (16/32-bit operand size); FNSTENV /
 * FLDENV: its 14/28-byte environment header only. */
static uint16_t full_tags(const struct v3_fpu_state *f)
{
    uint16_t t = 0;
    unsigned top = x87_top(f);
    for (unsigned p = 0; p < 8; p++) {
        unsigned tag = 3;
        if (f->ftw & (1u << p)) {
            const uint8_t *r = f->st[(p - top) & 7];
            uint16_t se;
            uint64_t mant;
            memcpy(&mant, r, 8);
            memcpy(&se, r + 8, 2);
            if ((se & 0x7fff) == 0x7fff)
                tag = 2;
            else if ((se & 0x7fff) == 0)
                tag = mant ? 2 : 1;
            else
                tag = (mant >> 63) ? 0 : 2;
        }
        t |= (uint16_t)(tag << (p * 2));
    }
    return t;
}

static int op_fnsave_frstor(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    struct v3_fpu_state *f = &c->fpu;
    const struct v3_operand *op = &in->op[0];
    bool save = in->mnemonic == ZYDIS_MNEMONIC_FNSAVE || in->mnemonic == ZYDIS_MNEMONIC_FNSTENV;
    bool env = in->mnemonic == ZYDIS_MNEMONIC_FNSTENV || in->mnemonic == ZYDIS_MNEMONIC_FLDENV;
    unsigned hdr = in->opsize == 2 ? 14 : 28, es = in->opsize == 2 ? 2 : 4;
    unsigned len = env ? hdr : hdr + 80;
    uint8_t img[108];
    uint64_t ea = v3_op_ea(c, in, op);
    int st;

    if ((st = v3_x87_begin(ctx, !save)))
        return st;
    if (op->kind != V3_OPK_MEM)
        return v3_exc_ud(ctx);
    if (save) {
        uint32_t w[7] = { f->fcw | 0xffff0000u, f->fsw | 0xffff0000u, full_tags(f) | 0xffff0000u,
                          (uint32_t)f->fip, 0, (uint32_t)f->fdp, 0xffff0000u };
        memset(img, 0, sizeof(img));
        for (unsigned i = 0; i < 7; i++)
            memcpy(img + i * es, &w[i], es);
        for (unsigned i = 0; i < 8; i++)
            memcpy(img + hdr + i * 10, f->st[i], 10);
        if ((st = v3_mem_write_seg(ctx, op->reg, ea, img, len, V3_ACCESS_WRITE)))
            return st;
        if (env) {
            f->fcw |= 0x3f;       /* FNSTENV then masks every exception */
            return V3_X_NEXT;
        }
        v3_fpu_init(f);           /* FNSAVE then initialises the FPU */
        c->ferr_asserted = 0;
        return V3_X_NEXT;
    }
    if ((st = v3_mem_read_seg(ctx, op->reg, ea, img, len, V3_ACCESS_READ)))
        return st;
    uint16_t cw, sw, tw;
    memcpy(&cw, img, 2);
    memcpy(&sw, img + es, 2);
    memcpy(&tw, img + 2 * es, 2);
    f->fcw = cw;
    f->fsw = sw;
    f->ftw = 0;
    for (unsigned p = 0; p < 8; p++)
        if (((tw >> (p * 2)) & 3) != 3)
            f->ftw |= (uint8_t)(1u << p);
    if (env)
        return V3_X_NEXT;
    for (unsigned i = 0; i < 8; i++) {
        memset(f->st[i], 0, 16);
        memcpy(f->st[i], img + hdr + i * 10, 10);
    }
    return V3_X_NEXT;
}

#define E(m, fn) { ZYDIS_MNEMONIC_##m, 0, fn }
const struct v3_op_entry v3_ops_x87[] = {
    E(FLD, op_fld), E(FLD1, op_fld), E(FLDZ, op_fld), E(FLDPI, op_fld), E(FLDL2T, op_fld),
    E(FLDL2E, op_fld), E(FLDLG2, op_fld), E(FLDLN2, op_fld), E(FILD, op_fld), E(FBLD, op_fld),
    E(FST, op_fst), E(FSTP, op_fst), E(FSTPNCE, op_fst), E(FIST, op_fst), E(FISTP, op_fst),
    E(FISTTP, op_fst), E(FBSTP, op_fst),
    E(FADD, op_farith), E(FADDP, op_farith), E(FIADD, op_farith),
    E(FSUB, op_farith), E(FSUBP, op_farith), E(FISUB, op_farith),
    E(FSUBR, op_farith), E(FSUBRP, op_farith), E(FISUBR, op_farith),
    E(FMUL, op_farith), E(FMULP, op_farith), E(FIMUL, op_farith),
    E(FDIV, op_farith), E(FDIVP, op_farith), E(FIDIV, op_farith),
    E(FDIVR, op_farith), E(FDIVRP, op_farith), E(FIDIVR, op_farith),
    E(FSQRT, op_funop), E(FRNDINT, op_funop), E(FSCALE, op_funop), E(FPREM, op_funop),
    E(FPREM1, op_funop), E(FXTRACT, op_fxtract),
    E(FCHS, op_funary), E(FABS, op_funary),
    E(FCOM, op_fcom), E(FCOMP, op_fcom), E(FCOMPP, op_fcom), E(FUCOM, op_fcom), E(FUCOMP, op_fcom),
    E(FUCOMPP, op_fcom), E(FICOM, op_fcom), E(FICOMP, op_fcom), E(FTST, op_fcom), E(FXAM, op_fcom),
    E(FCOMI, op_fcomi), E(FCOMIP, op_fcomi), E(FUCOMI, op_fcomi), E(FUCOMIP, op_fcomi),
    E(FXCH, op_fxch),
    E(FCMOVB, op_fcmov), E(FCMOVNB, op_fcmov), E(FCMOVE, op_fcmov), E(FCMOVNE, op_fcmov),
    E(FCMOVBE, op_fcmov), E(FCMOVNBE, op_fcmov), E(FCMOVU, op_fcmov), E(FCMOVNU, op_fcmov),
    E(FFREE, op_fstack), E(FFREEP, op_fstack), E(FINCSTP, op_fstack), E(FDECSTP, op_fstack),
    E(FNOP, op_fstack), E(FNCLEX, op_fstack), E(FENI8087_NOP, op_fstack),
    E(FDISI8087_NOP, op_fstack), E(FSETPM287_NOP, op_fstack),
    E(FNSAVE, op_fnsave_frstor), E(FRSTOR, op_fnsave_frstor), E(FNSTENV, op_fnsave_frstor),
    E(FLDENV, op_fnsave_frstor),
    { 0, 0, NULL },
};
