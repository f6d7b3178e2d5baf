/* SPDX-License-Identifier: MIT */
/*
 * Integer SIMD on MMX (8-byte) and XMM (16-byte) registers: the MMX set,
 * the SSE/SSE2 integer and shuffle/logic instructions, SSSE3, the integer
 * part of SSE4.1, PCMPGTQ and CRC32 (SSE4.2).  One routine computes every
 * lane operation for both register widths.
 *
 * Availability (SDM vol. 3 "Exceptions"):
 *   MMX forms:  CR0.EM -> #UD; CR0.TS -> #NM; a pending unmasked x87
 *               exception (FSW.ES) -> #MF.  Executing one puts the x87 unit
 *               in MMX state: TOP = 0, all tags valid; a written MMn gets
 *               bits 79:64 of its ST slot set to ones.
 *   XMM forms:  CR0.EM -> #UD; CR4.OSFXSR clear -> #UD; CR0.TS -> #NM.
 * A 16-byte memory operand of an XMM form must be 16-byte aligned (#GP(0));
 * narrower memory operands (PMOVZX m64, PINSRB m8...) and MMX memory
 * operands have no alignment requirement.
 */
#include <Zydis/Zydis.h>
#include "emu/insn.h"
#include "emu/vec.h"

union vv {
    uint8_t b[16];
    int8_t sb[16];
    uint16_t w[8];
    int16_t sw[8];
    uint32_t d[4];
    int32_t sd[4];
    uint64_t q[2];
    int64_t sq[2];
};

/* ------------------------------------------------------------ shared helpers (vec.h) */

int v3_vec_avail(struct v3_emu_ctx *ctx, int mmx, int xmm)
{
    const struct v3_core *c = ctx->core;
    if (c->cr0 & V3_CR0_EM)
        return v3_exc_ud(ctx);
    if (xmm && !(c->cr4 & V3_CR4_OSFXSR))
        return v3_exc_ud(ctx);
    if (c->cr0 & V3_CR0_TS)
        return v3_exc_nm(ctx);
    if (mmx && (c->fpu.fsw & 0x80))
        return v3_raise(ctx, V3_EXC_MF, 0, 0);
    return V3_X_NEXT;
}

void v3_vec_mmx_enter(struct v3_core *c)
{
    c->fpu.fsw &= (uint16_t)~(7u << 11);
    c->fpu.ftw = 0xff;    /* abridged tag word: all valid */
}

int v3_vec_uses(const struct v3_insn *in, unsigned cls)
{
    for (unsigned i = 0; i < in->nops; i++)
        if (in->op[i].kind == V3_OPK_REG && in->op[i].cls == cls)
            return 1;
    return 0;
}

int v3_vec_check(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    return v3_vec_avail(ctx, v3_vec_uses(in, V3_RC_MMX), v3_vec_uses(in, V3_RC_XMM));
}

int v3_vec_read(struct v3_emu_ctx *ctx, const struct v3_insn *in, const struct v3_operand *op,
                int aligned, uint8_t out[16])
{
    struct v3_core *c = ctx->core;
    memset(out, 0, 16);
    switch (op->kind) {
    case V3_OPK_REG:
        if (op->cls == V3_RC_XMM)
            memcpy(out, c->fpu.xmm[op->reg & 15], 16);
        else if (op->cls == V3_RC_MMX)
            memcpy(out, c->fpu.st[op->reg & 7], 8);
        else if (op->cls == V3_RC_GPR) {
            uint64_t v = v3_gpr_get(c, op->reg & 15, op->size > 8 ? 8 : op->size);
            memcpy(out, &v, 8);
        } else
            return V3_X_UNSUPPORTED;
        return V3_X_NEXT;
    case V3_OPK_MEM: {
        uint64_t la;
        unsigned len = op->size > 16 ? 16 : op->size;
        int st = v3_seg_linear(ctx, op->reg, v3_op_ea(c, in, op), len, V3_ACCESS_READ, &la);
        if (st)
            return st;
        if (aligned && len == 16 && (la & 15))
            return v3_exc_gp0(ctx);
        return v3_mem_read_op(ctx, in, op, out, len, V3_ACCESS_READ);
    }
    case V3_OPK_IMM:
        memcpy(out, &op->val, 8);
        return V3_X_NEXT;
    default:
        return V3_X_UNSUPPORTED;
    }
}

void v3_vec_set(struct v3_core *c, const struct v3_operand *op, const uint8_t v[16])
{
    if (op->cls == V3_RC_XMM) {
        memcpy(c->fpu.xmm[op->reg & 15], v, 16);
    } else {
        memcpy(c->fpu.st[op->reg & 7], v, 8);
        c->fpu.st[op->reg & 7][8] = 0xff;
        c->fpu.st[op->reg & 7][9] = 0xff;
    }
}

/* ------------------------------------------------------------ lane arithmetic */

static int8_t sat8s(int v) { return (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v); }
static uint8_t sat8u(int v) { return (uint8_t)(v > 255 ? 255 : v < 0 ? 0 : v); }
static int16_t sat16s(int v) { return (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v); }
static uint16_t sat16u(int v) { return (uint16_t)(v > 65535 ? 65535 : v < 0 ? 0 : v); }
static uint16_t sat16u_d(int32_t v) { return (uint16_t)(v > 65535 ? 65535 : v < 0 ? 0 : v); }

static int idiff(int a, int b) { return a > b ? a - b : b - a; }

/* shift count of a register/memory count operand: its low 64 bits */
static uint64_t count_of(const union vv *b) { return b->q[0]; }

/*
 * Compute a = a OP b for the lane instructions (n = 8 or 16 bytes).
 * imm: the immediate (if any); x0: XMM0 (variable blends).
 * Returns 0, or -1 for a mnemonic this routine does not know.
 */
static int compute(unsigned mn, unsigned n, union vv *a, const union vv *b, unsigned imm,
                   const union vv *x0)
{
    union vv r;
    unsigned nb = n, nw = n / 2, nd = n / 4, nq = n / 8;
    memset(&r, 0, sizeof(r));
    switch (mn) {
    /* ---- logic */
    case ZYDIS_MNEMONIC_PAND: case ZYDIS_MNEMONIC_ANDPS: case ZYDIS_MNEMONIC_ANDPD:
        for (unsigned i = 0; i < nq; i++) a->q[i] &= b->q[i];
        return 0;
    case ZYDIS_MNEMONIC_PANDN: case ZYDIS_MNEMONIC_ANDNPS: case ZYDIS_MNEMONIC_ANDNPD:
        for (unsigned i = 0; i < nq; i++) a->q[i] = ~a->q[i] & b->q[i];
        return 0;
    case ZYDIS_MNEMONIC_POR: case ZYDIS_MNEMONIC_ORPS: case ZYDIS_MNEMONIC_ORPD:
        for (unsigned i = 0; i < nq; i++) a->q[i] |= b->q[i];
        return 0;
    case ZYDIS_MNEMONIC_PXOR: case ZYDIS_MNEMONIC_XORPS: case ZYDIS_MNEMONIC_XORPD:
        for (unsigned i = 0; i < nq; i++) a->q[i] ^= b->q[i];
        return 0;
    /* ---- add / subtract */
    case ZYDIS_MNEMONIC_PADDB: for (unsigned i = 0; i < nb; i++) a->b[i] = (uint8_t)(a->b[i] + b->b[i]); return 0;
    case ZYDIS_MNEMONIC_PADDW: for (unsigned i = 0; i < nw; i++) a->w[i] = (uint16_t)(a->w[i] + b->w[i]); return 0;
    case ZYDIS_MNEMONIC_PADDD: for (unsigned i = 0; i < nd; i++) a->d[i] += b->d[i]; return 0;
    case ZYDIS_MNEMONIC_PADDQ: for (unsigned i = 0; i < nq; i++) a->q[i] += b->q[i]; return 0;
    case ZYDIS_MNEMONIC_PSUBB: for (unsigned i = 0; i < nb; i++) a->b[i] = (uint8_t)(a->b[i] - b->b[i]); return 0;
    case ZYDIS_MNEMONIC_PSUBW: for (unsigned i = 0; i < nw; i++) a->w[i] = (uint16_t)(a->w[i] - b->w[i]); return 0;
    case ZYDIS_MNEMONIC_PSUBD: for (unsigned i = 0; i < nd; i++) a->d[i] -= b->d[i]; return 0;
    case ZYDIS_MNEMONIC_PSUBQ: for (unsigned i = 0; i < nq; i++) a->q[i] -= b->q[i]; return 0;
    case ZYDIS_MNEMONIC_PADDSB: for (unsigned i = 0; i < nb; i++) a->sb[i] = sat8s(a->sb[i] + b->sb[i]); return 0;
    case ZYDIS_MNEMONIC_PADDSW: for (unsigned i = 0; i < nw; i++) a->sw[i] = sat16s(a->sw[i] + b->sw[i]); return 0;
    case ZYDIS_MNEMONIC_PADDUSB: for (unsigned i = 0; i < nb; i++) a->b[i] = sat8u(a->b[i] + b->b[i]); return 0;
    case ZYDIS_MNEMONIC_PADDUSW: for (unsigned i = 0; i < nw; i++) a->w[i] = sat16u(a->w[i] + b->w[i]); return 0;
    case ZYDIS_MNEMONIC_PSUBSB: for (unsigned i = 0; i < nb; i++) a->sb[i] = sat8s(a->sb[i] - b->sb[i]); return 0;
    case ZYDIS_MNEMONIC_PSUBSW: for (unsigned i = 0; i < nw; i++) a->sw[i] = sat16s(a->sw[i] - b->sw[i]); return 0;
    case ZYDIS_MNEMONIC_PSUBUSB: for (unsigned i = 0; i < nb; i++) a->b[i] = sat8u(a->b[i] - b->b[i]); return 0;
    case ZYDIS_MNEMONIC_PSUBUSW: for (unsigned i = 0; i < nw; i++) a->w[i] = sat16u(a->w[i] - b->w[i]); return 0;
    /* ---- multiply */
    case ZYDIS_MNEMONIC_PMULLW:
        for (unsigned i = 0; i < nw; i++) a->w[i] = (uint16_t)((int32_t)a->sw[i] * b->sw[i]);
        return 0;
    case ZYDIS_MNEMONIC_PMULHW:
        for (unsigned i = 0; i < nw; i++) a->w[i] = (uint16_t)(((int32_t)a->sw[i] * b->sw[i]) >> 16);
        return 0;
    case ZYDIS_MNEMONIC_PMULHUW:
        for (unsigned i = 0; i < nw; i++) a->w[i] = (uint16_t)(((uint32_t)a->w[i] * b->w[i]) >> 16);
        return 0;
    case ZYDIS_MNEMONIC_PMULHRSW:
        for (unsigned i = 0; i < nw; i++)
            a->w[i] = (uint16_t)(((((int32_t)a->sw[i] * b->sw[i]) >> 14) + 1) >> 1);
        return 0;
    case ZYDIS_MNEMONIC_PMULUDQ:
        for (unsigned i = 0; i < nq; i++) a->q[i] = (uint64_t)a->d[2 * i] * b->d[2 * i];
        return 0;
    case ZYDIS_MNEMONIC_PMULDQ:
        for (unsigned i = 0; i < nq; i++) a->sq[i] = (int64_t)a->sd[2 * i] * b->sd[2 * i];
        return 0;
    case ZYDIS_MNEMONIC_PMULLD:
        for (unsigned i = 0; i < nd; i++) a->d[i] = (uint32_t)((uint64_t)a->d[i] * b->d[i]);
        return 0;
    case ZYDIS_MNEMONIC_PMADDWD:
        for (unsigned i = 0; i < nd; i++)
            a->d[i] = (uint32_t)((int32_t)a->sw[2 * i] * b->sw[2 * i]) +
                      (uint32_t)((int32_t)a->sw[2 * i + 1] * b->sw[2 * i + 1]);
        return 0;
    case ZYDIS_MNEMONIC_PMADDUBSW:
        for (unsigned i = 0; i < nw; i++)
            r.sw[i] = sat16s(a->b[2 * i] * b->sb[2 * i] + a->b[2 * i + 1] * b->sb[2 * i + 1]);
        break;
    /* ---- average, min/max, sum of absolute differences */
    case ZYDIS_MNEMONIC_PAVGB: for (unsigned i = 0; i < nb; i++) a->b[i] = (uint8_t)((a->b[i] + b->b[i] + 1) >> 1); return 0;
    case ZYDIS_MNEMONIC_PAVGW: for (unsigned i = 0; i < nw; i++) a->w[i] = (uint16_t)((a->w[i] + b->w[i] + 1) >> 1); return 0;
#define MINMAX(MN, F, N, OPR) case ZYDIS_MNEMONIC_##MN: \
        for (unsigned i = 0; i < (N); i++) { if (b->F[i] OPR a->F[i]) a->F[i] = b->F[i]; } return 0;
    MINMAX(PMINUB, b, nb, <) MINMAX(PMAXUB, b, nb, >) MINMAX(PMINSB, sb, nb, <) MINMAX(PMAXSB, sb, nb, >)
    MINMAX(PMINUW, w, nw, <) MINMAX(PMAXUW, w, nw, >) MINMAX(PMINSW, sw, nw, <) MINMAX(PMAXSW, sw, nw, >)
    MINMAX(PMINUD, d, nd, <) MINMAX(PMAXUD, d, nd, >) MINMAX(PMINSD, sd, nd, <) MINMAX(PMAXSD, sd, nd, >)
#undef MINMAX
    case ZYDIS_MNEMONIC_PSADBW:
        for (unsigned i = 0; i < nq; i++) {
            unsigned s = 0;
            for (unsigned j = 0; j < 8; j++) s += (unsigned)idiff(a->b[8 * i + j], b->b[8 * i + j]);
            r.q[i] = s;
        }
        break;
    case ZYDIS_MNEMONIC_MPSADBW: {
        unsigned ao = (imm >> 2 & 1) * 4, bo = (imm & 3) * 4;
        for (unsigned i = 0; i < 8; i++) {
            unsigned s = 0;
            for (unsigned j = 0; j < 4; j++) s += (unsigned)idiff(a->b[ao + i + j], b->b[bo + j]);
            r.w[i] = (uint16_t)s;
        }
        break;
    }
    /* ---- compare */
    case ZYDIS_MNEMONIC_PCMPEQB: for (unsigned i = 0; i < nb; i++) a->b[i] = a->b[i] == b->b[i] ? 0xff : 0; return 0;
    case ZYDIS_MNEMONIC_PCMPEQW: for (unsigned i = 0; i < nw; i++) a->w[i] = a->w[i] == b->w[i] ? 0xffff : 0; return 0;
    case ZYDIS_MNEMONIC_PCMPEQD: for (unsigned i = 0; i < nd; i++) a->d[i] = a->d[i] == b->d[i] ? ~0u : 0; return 0;
    case ZYDIS_MNEMONIC_PCMPEQQ: for (unsigned i = 0; i < nq; i++) a->q[i] = a->q[i] == b->q[i] ? ~0ull : 0; return 0;
    case ZYDIS_MNEMONIC_PCMPGTB: for (unsigned i = 0; i < nb; i++) a->b[i] = a->sb[i] > b->sb[i] ? 0xff : 0; return 0;
    case ZYDIS_MNEMONIC_PCMPGTW: for (unsigned i = 0; i < nw; i++) a->w[i] = a->sw[i] > b->sw[i] ? 0xffff : 0; return 0;
    case ZYDIS_MNEMONIC_PCMPGTD: for (unsigned i = 0; i < nd; i++) a->d[i] = a->sd[i] > b->sd[i] ? ~0u : 0; return 0;
    case ZYDIS_MNEMONIC_PCMPGTQ: for (unsigned i = 0; i < nq; i++) a->q[i] = a->sq[i] > b->sq[i] ? ~0ull : 0; return 0;
    /* ---- shifts (count: immediate or the low 64 bits of the source) */
    case ZYDIS_MNEMONIC_PSLLW: case ZYDIS_MNEMONIC_PSRLW: case ZYDIS_MNEMONIC_PSRAW: {
        uint64_t c = count_of(b);
        for (unsigned i = 0; i < nw; i++) {
            if (mn == ZYDIS_MNEMONIC_PSRAW) a->sw[i] = (int16_t)(a->sw[i] >> (c > 15 ? 15 : c));
            else if (c > 15) a->w[i] = 0;
            else a->w[i] = (uint16_t)(mn == ZYDIS_MNEMONIC_PSLLW ? a->w[i] << c : a->w[i] >> c);
        }
        return 0;
    }
    case ZYDIS_MNEMONIC_PSLLD: case ZYDIS_MNEMONIC_PSRLD: case ZYDIS_MNEMONIC_PSRAD: {
        uint64_t c = count_of(b);
        for (unsigned i = 0; i < nd; i++) {
            if (mn == ZYDIS_MNEMONIC_PSRAD) a->sd[i] = a->sd[i] >> (c > 31 ? 31 : c);
            else if (c > 31) a->d[i] = 0;
            else a->d[i] = mn == ZYDIS_MNEMONIC_PSLLD ? a->d[i] << c : a->d[i] >> c;
        }
        return 0;
    }
    case ZYDIS_MNEMONIC_PSLLQ: case ZYDIS_MNEMONIC_PSRLQ: {
        uint64_t c = count_of(b);
        for (unsigned i = 0; i < nq; i++)
            a->q[i] = c > 63 ? 0 : mn == ZYDIS_MNEMONIC_PSLLQ ? a->q[i] << c : a->q[i] >> c;
        return 0;
    }
    case ZYDIS_MNEMONIC_PSLLDQ: case ZYDIS_MNEMONIC_PSRLDQ: {
        unsigned c = imm > 16 ? 16 : imm;
        for (unsigned i = 0; i < 16; i++) {
            if (mn == ZYDIS_MNEMONIC_PSLLDQ) r.b[i] = i >= c ? a->b[i - c] : 0;
            else r.b[i] = i + c < 16 ? a->b[i + c] : 0;
        }
        break;
    }
    /* ---- pack / unpack */
    case ZYDIS_MNEMONIC_PACKSSWB:
        for (unsigned i = 0; i < nw; i++) { r.sb[i] = sat8s(a->sw[i]); r.sb[nw + i] = sat8s(b->sw[i]); }
        break;
    case ZYDIS_MNEMONIC_PACKUSWB:
        for (unsigned i = 0; i < nw; i++) { r.b[i] = sat8u(a->sw[i]); r.b[nw + i] = sat8u(b->sw[i]); }
        break;
    case ZYDIS_MNEMONIC_PACKSSDW:
        for (unsigned i = 0; i < nd; i++) {
            r.sw[i] = (int16_t)(a->sd[i] > 32767 ? 32767 : a->sd[i] < -32768 ? -32768 : a->sd[i]);
            r.sw[nd + i] = (int16_t)(b->sd[i] > 32767 ? 32767 : b->sd[i] < -32768 ? -32768 : b->sd[i]);
        }
        break;
    case ZYDIS_MNEMONIC_PACKUSDW:
        for (unsigned i = 0; i < nd; i++) { r.w[i] = sat16u_d(a->sd[i]); r.w[nd + i] = sat16u_d(b->sd[i]); }
        break;
    case ZYDIS_MNEMONIC_PUNPCKLBW: case ZYDIS_MNEMONIC_PUNPCKHBW:
    case ZYDIS_MNEMONIC_PUNPCKLWD: case ZYDIS_MNEMONIC_PUNPCKHWD:
    case ZYDIS_MNEMONIC_PUNPCKLDQ: case ZYDIS_MNEMONIC_PUNPCKHDQ:
    case ZYDIS_MNEMONIC_PUNPCKLQDQ: case ZYDIS_MNEMONIC_PUNPCKHQDQ:
    case ZYDIS_MNEMONIC_UNPCKLPS: case ZYDIS_MNEMONIC_UNPCKHPS:
    case ZYDIS_MNEMONIC_UNPCKLPD: case ZYDIS_MNEMONIC_UNPCKHPD: {
        unsigned w, hi = 0;
        switch (mn) {
        case ZYDIS_MNEMONIC_PUNPCKHBW: hi = 1; /* fall through */
        case ZYDIS_MNEMONIC_PUNPCKLBW: w = 1; break;
        case ZYDIS_MNEMONIC_PUNPCKHWD: hi = 1; /* fall through */
        case ZYDIS_MNEMONIC_PUNPCKLWD: w = 2; break;
        case ZYDIS_MNEMONIC_PUNPCKHDQ: case ZYDIS_MNEMONIC_UNPCKHPS: hi = 1; /* fall through */
        case ZYDIS_MNEMONIC_PUNPCKLDQ: case ZYDIS_MNEMONIC_UNPCKLPS: w = 4; break;
        case ZYDIS_MNEMONIC_PUNPCKHQDQ: case ZYDIS_MNEMONIC_UNPCKHPD: hi = 1; /* fall through */
        default: w = 8; break;
        }
        unsigned off = hi ? n / 2 : 0;
        for (unsigned i = 0; i < n / 2 / w; i++) {
            memcpy(r.b + 2 * i * w, a->b + off + i * w, w);
            memcpy(r.b + (2 * i + 1) * w, b->b + off + i * w, w);
        }
        break;
    }
    /* ---- shuffles */
    case ZYDIS_MNEMONIC_PSHUFB:
        for (unsigned i = 0; i < nb; i++)
            r.b[i] = (b->b[i] & 0x80) ? 0 : a->b[b->b[i] & (n - 1)];
        break;
    case ZYDIS_MNEMONIC_PSHUFW:
        for (unsigned i = 0; i < 4; i++) r.w[i] = b->w[(imm >> (2 * i)) & 3];
        break;
    case ZYDIS_MNEMONIC_PSHUFD:
        for (unsigned i = 0; i < 4; i++) r.d[i] = b->d[(imm >> (2 * i)) & 3];
        break;
    case ZYDIS_MNEMONIC_PSHUFLW:
        for (unsigned i = 0; i < 4; i++) r.w[i] = b->w[(imm >> (2 * i)) & 3];
        r.q[1] = b->q[1];
        break;
    case ZYDIS_MNEMONIC_PSHUFHW:
        r.q[0] = b->q[0];
        for (unsigned i = 0; i < 4; i++) r.w[4 + i] = b->w[4 + ((imm >> (2 * i)) & 3)];
        break;
    case ZYDIS_MNEMONIC_SHUFPS:
        r.d[0] = a->d[imm & 3]; r.d[1] = a->d[(imm >> 2) & 3];
        r.d[2] = b->d[(imm >> 4) & 3]; r.d[3] = b->d[(imm >> 6) & 3];
        break;
    case ZYDIS_MNEMONIC_SHUFPD:
        r.q[0] = a->q[imm & 1]; r.q[1] = b->q[(imm >> 1) & 1];
        break;
    case ZYDIS_MNEMONIC_PALIGNR:
        for (unsigned i = 0; i < nb; i++) {
            unsigned k = i + imm;    /* byte k of the concatenation a:b (b low) */
            r.b[i] = k < n ? b->b[k] : k < 2 * n ? a->b[k - n] : 0;
        }
        break;
    /* ---- horizontal add / subtract (SSSE3) */
    case ZYDIS_MNEMONIC_PHADDW: case ZYDIS_MNEMONIC_PHSUBW:
    case ZYDIS_MNEMONIC_PHADDSW: case ZYDIS_MNEMONIC_PHSUBSW:
        for (unsigned i = 0; i < nw; i++) {
            const union vv *s = i < nw / 2 ? a : b;
            unsigned j = 2 * (i % (nw / 2));
            int x = s->sw[j], y = s->sw[j + 1];
            switch (mn) {
            case ZYDIS_MNEMONIC_PHADDW: r.w[i] = (uint16_t)(x + y); break;
            case ZYDIS_MNEMONIC_PHSUBW: r.w[i] = (uint16_t)(x - y); break;
            case ZYDIS_MNEMONIC_PHADDSW: r.sw[i] = sat16s(x + y); break;
            default: r.sw[i] = sat16s(x - y); break;
            }
        }
        break;
    case ZYDIS_MNEMONIC_PHADDD: case ZYDIS_MNEMONIC_PHSUBD:
        for (unsigned i = 0; i < nd; i++) {
            const union vv *s = i < nd / 2 ? a : b;
            unsigned j = 2 * (i % (nd / 2));
            r.d[i] = mn == ZYDIS_MNEMONIC_PHADDD ? s->d[j] + s->d[j + 1] : s->d[j] - s->d[j + 1];
        }
        break;
    /* ---- sign / absolute value (SSSE3) */
    case ZYDIS_MNEMONIC_PSIGNB:
        for (unsigned i = 0; i < nb; i++) r.b[i] = b->sb[i] < 0 ? (uint8_t)-a->b[i] : b->sb[i] ? a->b[i] : 0;
        break;
    case ZYDIS_MNEMONIC_PSIGNW:
        for (unsigned i = 0; i < nw; i++) r.w[i] = b->sw[i] < 0 ? (uint16_t)-a->w[i] : b->sw[i] ? a->w[i] : 0;
        break;
    case ZYDIS_MNEMONIC_PSIGND:
        for (unsigned i = 0; i < nd; i++) r.d[i] = b->sd[i] < 0 ? -a->d[i] : b->sd[i] ? a->d[i] : 0;
        break;
    case ZYDIS_MNEMONIC_PABSB:
        for (unsigned i = 0; i < nb; i++) r.b[i] = b->sb[i] < 0 ? (uint8_t)-b->b[i] : b->b[i];
        break;
    case ZYDIS_MNEMONIC_PABSW:
        for (unsigned i = 0; i < nw; i++) r.w[i] = b->sw[i] < 0 ? (uint16_t)-b->w[i] : b->w[i];
        break;
    case ZYDIS_MNEMONIC_PABSD:
        for (unsigned i = 0; i < nd; i++) r.d[i] = b->sd[i] < 0 ? -b->d[i] : b->d[i];
        break;
    /* ---- blends (SSE4.1) */
    case ZYDIS_MNEMONIC_PBLENDVB:
        for (unsigned i = 0; i < 16; i++) r.b[i] = (x0->b[i] & 0x80) ? b->b[i] : a->b[i];
        break;
    case ZYDIS_MNEMONIC_BLENDVPS:
        for (unsigned i = 0; i < 4; i++) r.d[i] = (x0->d[i] >> 31) ? b->d[i] : a->d[i];
        break;
    case ZYDIS_MNEMONIC_BLENDVPD:
        for (unsigned i = 0; i < 2; i++) r.q[i] = (x0->q[i] >> 63) ? b->q[i] : a->q[i];
        break;
    case ZYDIS_MNEMONIC_PBLENDW:
        for (unsigned i = 0; i < 8; i++) r.w[i] = (imm >> i & 1) ? b->w[i] : a->w[i];
        break;
    case ZYDIS_MNEMONIC_BLENDPS:
        for (unsigned i = 0; i < 4; i++) r.d[i] = (imm >> i & 1) ? b->d[i] : a->d[i];
        break;
    case ZYDIS_MNEMONIC_BLENDPD:
        for (unsigned i = 0; i < 2; i++) r.q[i] = (imm >> i & 1) ? b->q[i] : a->q[i];
        break;
    /* ---- sign/zero extension (SSE4.1; source: the low bytes of b) */
    case ZYDIS_MNEMONIC_PMOVSXBW: for (unsigned i = 0; i < 8; i++) r.sw[i] = b->sb[i]; break;
    case ZYDIS_MNEMONIC_PMOVSXBD: for (unsigned i = 0; i < 4; i++) r.sd[i] = b->sb[i]; break;
    case ZYDIS_MNEMONIC_PMOVSXBQ: for (unsigned i = 0; i < 2; i++) r.sq[i] = b->sb[i]; break;
    case ZYDIS_MNEMONIC_PMOVSXWD: for (unsigned i = 0; i < 4; i++) r.sd[i] = b->sw[i]; break;
    case ZYDIS_MNEMONIC_PMOVSXWQ: for (unsigned i = 0; i < 2; i++) r.sq[i] = b->sw[i]; break;
    case ZYDIS_MNEMONIC_PMOVSXDQ: for (unsigned i = 0; i < 2; i++) r.sq[i] = b->sd[i]; break;
    case ZYDIS_MNEMONIC_PMOVZXBW: for (unsigned i = 0; i < 8; i++) r.w[i] = b->b[i]; break;
    case ZYDIS_MNEMONIC_PMOVZXBD: for (unsigned i = 0; i < 4; i++) r.d[i] = b->b[i]; break;
    case ZYDIS_MNEMONIC_PMOVZXBQ: for (unsigned i = 0; i < 2; i++) r.q[i] = b->b[i]; break;
    case ZYDIS_MNEMONIC_PMOVZXWD: for (unsigned i = 0; i < 4; i++) r.d[i] = b->w[i]; break;
    case ZYDIS_MNEMONIC_PMOVZXWQ: for (unsigned i = 0; i < 2; i++) r.q[i] = b->w[i]; break;
    case ZYDIS_MNEMONIC_PMOVZXDQ: for (unsigned i = 0; i < 2; i++) r.q[i] = b->d[i]; break;
    case ZYDIS_MNEMONIC_PHMINPOSUW: {
        unsigned k = 0;
        for (unsigned i = 1; i < 8; i++)
            if (b->w[i] < b->w[k]) k = i;
        r.w[0] = b->w[k];
        r.w[1] = (uint16_t)k;
        break;
    }
    /* ---- moves between halves and register files */
    case ZYDIS_MNEMONIC_MOVHLPS: r.q[0] = b->q[1]; r.q[1] = a->q[1]; break;
    case ZYDIS_MNEMONIC_MOVLHPS: r.q[0] = a->q[0]; r.q[1] = b->q[0]; break;
    case ZYDIS_MNEMONIC_MOVQ2DQ: r.q[0] = b->q[0]; break;
    case ZYDIS_MNEMONIC_MOVDQ2Q: r.q[0] = b->q[0]; break;
    case ZYDIS_MNEMONIC_MOVNTDQA: r = *b; break;
    case ZYDIS_MNEMONIC_MOVDDUP: r.q[0] = r.q[1] = b->q[0]; break;
    case ZYDIS_MNEMONIC_MOVSHDUP: r.d[0] = r.d[1] = b->d[1]; r.d[2] = r.d[3] = b->d[3]; break;
    case ZYDIS_MNEMONIC_MOVSLDUP: r.d[0] = r.d[1] = b->d[0]; r.d[2] = r.d[3] = b->d[2]; break;
    default:
        return -1;
    }
    *a = r;
    return 0;
}

/* ------------------------------------------------------------ handlers */

/* source operand needs 16-byte alignment (legacy SSE m128, except PCMPxSTRx and unaligned moves) */
static int src_aligned(unsigned mn)
{
    switch (mn) {
    case ZYDIS_MNEMONIC_LDDQU: case ZYDIS_MNEMONIC_MOVDQU: case ZYDIS_MNEMONIC_MOVUPS:
    case ZYDIS_MNEMONIC_MOVUPD: case ZYDIS_MNEMONIC_PCMPESTRI: case ZYDIS_MNEMONIC_PCMPESTRM:
    case ZYDIS_MNEMONIC_PCMPISTRI: case ZYDIS_MNEMONIC_PCMPISTRM:
        return 0;
    default:
        return 1;
    }
}

/* dst (op0, an MMX or XMM register) OP= src (op1), optional imm (op2 or op1) */
static int op_lanes(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    const struct v3_operand *d = &in->op[0], *s = &in->op[1];
    union vv a, b, x0;
    unsigned imm = 0;
    int mmx = v3_vec_uses(in, V3_RC_MMX), st;
    if (in->nops < 2 || d->kind != V3_OPK_REG || (d->cls != V3_RC_XMM && d->cls != V3_RC_MMX))
        return V3_X_UNSUPPORTED;
    if ((st = v3_vec_check(ctx, in)))
        return st;
    if (in->nops >= 3 && in->op[2].kind == V3_OPK_IMM)
        imm = (unsigned)in->op[2].val & 0xff;
    if (s->kind == V3_OPK_IMM) {
        imm = (unsigned)s->val & 0xff;
        memset(&b, 0, sizeof(b));
        b.q[0] = imm;
    } else if ((st = v3_vec_read(ctx, in, s, src_aligned(in->mnemonic), b.b))) {
        return st;
    }
    if (d->cls == V3_RC_XMM) {
        memcpy(a.b, c->fpu.xmm[d->reg & 15], 16);
    } else {
        memset(&a, 0, sizeof(a));
        memcpy(a.b, c->fpu.st[d->reg & 7], 8);
    }
    memcpy(x0.b, c->fpu.xmm[0], 16);
    if (compute(in->mnemonic, d->cls == V3_RC_XMM ? 16 : 8, &a, &b, imm, &x0))
        return V3_X_UNSUPPORTED;
    v3_vec_set(c, d, a.b);
    if (mmx)
        v3_vec_mmx_enter(c);
    return V3_X_NEXT;
}

/* EMMS: tags all empty */
static int op_emms(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    int st;
    (void)in;
    if ((st = v3_vec_avail(ctx, 1, 0)))
        return st;
    ctx->core->fpu.ftw = 0;
    return V3_X_NEXT;
}

/* element @p idx of @p size bytes from a register vector, to a GPR or memory */
static int store_elem(struct v3_emu_ctx *ctx, const struct v3_insn *in, uint64_t v, unsigned size)
{
    const struct v3_operand *d = &in->op[0];
    if (d->kind == V3_OPK_REG && d->cls == V3_RC_GPR)
        return v3_op_write(ctx, in, d, d->size < 4 ? 4 : d->size, v);   /* zero-extends */
    if (d->kind == V3_OPK_MEM)
        return v3_op_write(ctx, in, d, size, v);
    return V3_X_UNSUPPORTED;
}

/* PEXTRB/W/D/Q, EXTRACTPS: r/m, xmm|mm, imm8 */
static int op_extract(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    const struct v3_operand *s = &in->op[1];
    union vv b;
    unsigned imm, size;
    uint64_t v = 0;
    int st, mmx;
    if (in->nops < 3 || s->kind != V3_OPK_REG || (s->cls != V3_RC_XMM && s->cls != V3_RC_MMX))
        return V3_X_UNSUPPORTED;
    mmx = s->cls == V3_RC_MMX;
    if ((st = v3_vec_check(ctx, in)))
        return st;
    if ((st = v3_vec_read(ctx, in, s, 0, b.b)))
        return st;
    imm = (unsigned)in->op[2].val;
    switch (in->mnemonic) {
    case ZYDIS_MNEMONIC_PEXTRB: size = 1; v = b.b[imm & 15]; break;
    case ZYDIS_MNEMONIC_PEXTRW: size = 2; v = b.w[imm & (mmx ? 3 : 7)]; break;
    case ZYDIS_MNEMONIC_PEXTRD: case ZYDIS_MNEMONIC_EXTRACTPS: size = 4; v = b.d[imm & 3]; break;
    default: size = 8; v = b.q[imm & 1]; break;
    }
    if ((st = store_elem(ctx, in, v, size)))
        return st;
    if (mmx)
        v3_vec_mmx_enter(c);
    return V3_X_NEXT;
}

/* PINSRB/W/D/Q: xmm|mm, r/m, imm8 */
static int op_insert(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    const struct v3_operand *d = &in->op[0];
    union vv a;
    unsigned imm;
    uint64_t v;
    int st, mmx;
    if (in->nops < 3 || d->kind != V3_OPK_REG || (d->cls != V3_RC_XMM && d->cls != V3_RC_MMX))
        return V3_X_UNSUPPORTED;
    mmx = d->cls == V3_RC_MMX;
    if ((st = v3_vec_check(ctx, in)))
        return st;
    imm = (unsigned)in->op[2].val;
    unsigned size = in->mnemonic == ZYDIS_MNEMONIC_PINSRB ? 1 : in->mnemonic == ZYDIS_MNEMONIC_PINSRW ? 2
                  : in->mnemonic == ZYDIS_MNEMONIC_PINSRD ? 4 : 8;
    if ((st = v3_op_read(ctx, in, &in->op[1], size, &v)))
        return st;
    memset(&a, 0, sizeof(a));
    if (mmx)
        memcpy(a.b, c->fpu.st[d->reg & 7], 8);
    else
        memcpy(a.b, c->fpu.xmm[d->reg & 15], 16);
    switch (size) {
    case 1: a.b[imm & 15] = (uint8_t)v; break;
    case 2: a.w[imm & (mmx ? 3 : 7)] = (uint16_t)v; break;
    case 4: a.d[imm & 3] = (uint32_t)v; break;
    default: a.q[imm & 1] = v; break;
    }
    v3_vec_set(c, d, a.b);
    if (mmx)
        v3_vec_mmx_enter(c);
    return V3_X_NEXT;
}

/* INSERTPS xmm, xmm/m32, imm8 */
static int op_insertps(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    const struct v3_operand *d = &in->op[0], *s = &in->op[1];
    union vv a, b;
    unsigned imm;
    int st;
    if (in->nops < 3 || d->kind != V3_OPK_REG || d->cls != V3_RC_XMM)
        return V3_X_UNSUPPORTED;
    if ((st = v3_vec_avail(ctx, 0, 1)))
        return st;
    if ((st = v3_vec_read(ctx, in, s, 0, b.b)))
        return st;
    imm = (unsigned)in->op[2].val & 0xff;
    memcpy(a.b, c->fpu.xmm[d->reg & 15], 16);
    a.d[(imm >> 4) & 3] = s->kind == V3_OPK_MEM ? b.d[0] : b.d[imm >> 6];
    for (unsigned i = 0; i < 4; i++)
        if (imm >> i & 1)
            a.d[i] = 0;
    v3_vec_set(c, d, a.b);
    return V3_X_NEXT;
}

/* PMOVMSKB r, mm|xmm; MOVMSKPS/PD r, xmm */
static int op_movmsk(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    const struct v3_operand *s = &in->op[1];
    union vv b;
    uint64_t m = 0;
    int st, mmx;
    if (in->nops < 2 || s->kind != V3_OPK_REG || in->op[0].kind != V3_OPK_REG)
        return V3_X_UNSUPPORTED;
    mmx = s->cls == V3_RC_MMX;
    if ((st = v3_vec_check(ctx, in)))
        return st;
    if ((st = v3_vec_read(ctx, in, s, 0, b.b)))
        return st;
    switch (in->mnemonic) {
    case ZYDIS_MNEMONIC_MOVMSKPS: for (unsigned i = 0; i < 4; i++) m |= (uint64_t)(b.d[i] >> 31) << i; break;
    case ZYDIS_MNEMONIC_MOVMSKPD: for (unsigned i = 0; i < 2; i++) m |= (b.q[i] >> 63) << i; break;
    default: for (unsigned i = 0; i < (mmx ? 8u : 16u); i++) m |= (uint64_t)(b.b[i] >> 7) << i; break;
    }
    ctx->core->gpr[in->op[0].reg & 15] = m;
    if (mmx)
        v3_vec_mmx_enter(ctx->core);
    return V3_X_NEXT;
}

/* PTEST xmm, xmm/m128: ZF = (a & b) == 0, CF = (~a & b) == 0, others 0 */
static int op_ptest(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    union vv a, b;
    int st;
    if (in->nops < 2 || in->op[0].kind != V3_OPK_REG || in->op[0].cls != V3_RC_XMM)
        return V3_X_UNSUPPORTED;
    if ((st = v3_vec_avail(ctx, 0, 1)))
        return st;
    if ((st = v3_vec_read(ctx, in, &in->op[1], 1, b.b)))
        return st;
    memcpy(a.b, ctx->core->fpu.xmm[in->op[0].reg & 15], 16);
    uint64_t f = 0;
    if (!((a.q[0] & b.q[0]) | (a.q[1] & b.q[1])))
        f |= V3_FLAG_ZF;
    if (!((~a.q[0] & b.q[0]) | (~a.q[1] & b.q[1])))
        f |= V3_FLAG_CF;
    v3_flags_replace_arith(ctx->core, f);
    return V3_X_NEXT;
}

/* MOVHPS/MOVLPS/MOVHPD/MOVLPD: xmm <-> m64 (one half) */
static int op_movhl(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    const struct v3_operand *d = &in->op[0], *s = &in->op[1];
    int hi = in->mnemonic == ZYDIS_MNEMONIC_MOVHPS || in->mnemonic == ZYDIS_MNEMONIC_MOVHPD;
    int st;
    if (in->nops < 2)
        return V3_X_UNSUPPORTED;
    if ((st = v3_vec_avail(ctx, 0, 1)))
        return st;
    if (d->kind == V3_OPK_REG && d->cls == V3_RC_XMM && s->kind == V3_OPK_MEM) {
        uint8_t b[16];
        if ((st = v3_vec_read(ctx, in, s, 0, b)))
            return st;
        memcpy(c->fpu.xmm[d->reg & 15] + (hi ? 8 : 0), b, 8);
        return V3_X_NEXT;
    }
    if (d->kind == V3_OPK_MEM && s->kind == V3_OPK_REG && s->cls == V3_RC_XMM)
        return v3_mem_write_op(ctx, in, d, c->fpu.xmm[s->reg & 15] + (hi ? 8 : 0), 8);
    return V3_X_UNSUPPORTED;
}

/* MOVNTQ m64, mm */
static int op_movntq(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    int st;
    if (in->nops < 2 || in->op[0].kind != V3_OPK_MEM || in->op[1].cls != V3_RC_MMX)
        return V3_X_UNSUPPORTED;
    if ((st = v3_vec_avail(ctx, 1, 0)))
        return st;
    if ((st = v3_mem_write_op(ctx, in, &in->op[0], ctx->core->fpu.st[in->op[1].reg & 7], 8)))
        return st;
    v3_vec_mmx_enter(ctx->core);
    return V3_X_NEXT;
}

/* MASKMOVQ mm, mm / MASKMOVDQU xmm, xmm: bytes with the mask's top bit to DS:rDI */
static int op_maskmov(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    union vv v, m;
    int mmx = v3_vec_uses(in, V3_RC_MMX), st;
    unsigned n = mmx ? 8 : 16;
    if (in->nops < 2 || in->op[0].kind != V3_OPK_REG || in->op[1].kind != V3_OPK_REG)
        return V3_X_UNSUPPORTED;
    if ((st = v3_vec_check(ctx, in)))
        return st;
    if ((st = v3_vec_read(ctx, in, &in->op[0], 0, v.b)) || (st = v3_vec_read(ctx, in, &in->op[1], 0, m.b)))
        return st;
    uint64_t base = c->gpr[V3_RDI] & v3_size_mask(in->addrsize);
    /* check every selected byte first: nothing is stored on a fault */
    for (unsigned i = 0; i < n; i++) {
        uint64_t la;
        if (!(m.b[i] & 0x80))
            continue;
        if ((st = v3_seg_linear(ctx, in->seg, (base + i) & v3_size_mask(in->addrsize), 1, V3_ACCESS_WRITE, &la)))
            return st;
    }
    for (unsigned i = 0; i < n; i++)
        if ((m.b[i] & 0x80) &&
            (st = v3_mem_write_seg(ctx, in->seg, (base + i) & v3_size_mask(in->addrsize), &v.b[i], 1,
                                   V3_ACCESS_WRITE)))
            return st;
    if (mmx)
        v3_vec_mmx_enter(c);
    return V3_X_NEXT;
}

/* CRC32 r32/r64, r/m8/16/32/64 (CRC-32C, reflected polynomial 82F63B78H) */
static int op_crc32(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    const struct v3_operand *d = &in->op[0], *s = &in->op[1];
    uint64_t v;
    int st;
    if (in->nops < 2 || d->kind != V3_OPK_REG || d->cls != V3_RC_GPR)
        return V3_X_UNSUPPORTED;
    unsigned size = s->size;
    if ((st = v3_op_read(ctx, in, s, size, &v)))
        return st;
    uint32_t crc = (uint32_t)ctx->core->gpr[d->reg & 15];
    for (unsigned i = 0; i < size; i++) {
        crc ^= (uint8_t)(v >> (8 * i));
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
    }
    ctx->core->gpr[d->reg & 15] = crc;   /* 32-bit result, zero-extended (also for r64) */
    return V3_X_NEXT;
}

/* ------------------------------------------------------------ SSE4.2 string compares */

static int elem(const union vv *v, unsigned i, unsigned fmt)
{
    switch (fmt & 3) {
    case 0: return v->b[i];
    case 1: return v->w[i];
    case 2: return v->sb[i];
    default: return v->sw[i];
    }
}

static unsigned implicit_len(const union vv *v, unsigned n, unsigned fmt)
{
    unsigned i = 0;
    while (i < n && elem(v, i, fmt) != 0)
        i++;
    return i;
}

static unsigned explicit_len(uint64_t r, int w, unsigned n)
{
    int64_t v = w ? (int64_t)r : (int64_t)(int32_t)r;
    uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    return m > n ? n : (unsigned)m;
}

/* PCMPESTRI/PCMPESTRM/PCMPISTRI/PCMPISTRM xmm1, xmm2/m128, imm8 (SDM vol. 2, 4.1) */
static int op_pcmpstr(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    unsigned mn = in->mnemonic;
    int expl = mn == ZYDIS_MNEMONIC_PCMPESTRI || mn == ZYDIS_MNEMONIC_PCMPESTRM;
    int idx = mn == ZYDIS_MNEMONIC_PCMPESTRI || mn == ZYDIS_MNEMONIC_PCMPISTRI;
    union vv a, b;
    unsigned imm, n, la, lb, res1 = 0, res2;
    int st;
    if (in->nops < 3 || in->op[0].kind != V3_OPK_REG || in->op[0].cls != V3_RC_XMM)
        return V3_X_UNSUPPORTED;
    if ((st = v3_vec_avail(ctx, 0, 1)))
        return st;
    if ((st = v3_vec_read(ctx, in, &in->op[1], 0, b.b)))
        return st;
    memcpy(a.b, c->fpu.xmm[in->op[0].reg & 15], 16);
    imm = (unsigned)in->op[2].val & 0xff;
    n = (imm & 1) ? 8 : 16;
    if (expl) {
        int w = (in->prefix & V3_PFX_REX_W) != 0;
        la = explicit_len(c->gpr[V3_RAX], w, n);
        lb = explicit_len(c->gpr[V3_RDX], w, n);
    } else {
        la = implicit_len(&a, n, imm);
        lb = implicit_len(&b, n, imm);
    }
    switch ((imm >> 2) & 3) {
    case 0:    /* equal any: b[j] is one of the valid a[i] */
        for (unsigned j = 0; j < lb; j++)
            for (unsigned i = 0; i < la; i++)
                if (elem(&a, i, imm) == elem(&b, j, imm)) {
                    res1 |= 1u << j;
                    break;
                }
        break;
    case 1:    /* ranges: a[i] <= b[j] <= a[i+1] for an even i */
        for (unsigned j = 0; j < lb; j++)
            for (unsigned i = 0; i + 1 < la; i += 2)
                if (elem(&a, i, imm) <= elem(&b, j, imm) && elem(&b, j, imm) <= elem(&a, i + 1, imm)) {
                    res1 |= 1u << j;
                    break;
                }
        break;
    case 2:    /* equal each: both invalid -> true, one invalid -> false */
        for (unsigned i = 0; i < n; i++) {
            int va = i < la, vb = i < lb;
            if ((!va && !vb) || (va && vb && elem(&a, i, imm) == elem(&b, i, imm)))
                res1 |= 1u << i;
        }
        break;
    default:   /* equal ordered: the valid part of a occurs in b at j */
        for (unsigned j = 0; j < n; j++) {
            unsigned ok = 1;
            for (unsigned k = 0; k < n - j && k < la; k++) {
                if (j + k >= lb || elem(&a, k, imm) != elem(&b, j + k, imm)) {
                    ok = 0;
                    break;
                }
            }
            res1 |= ok << j;
        }
        break;
    }
    unsigned all = (1u << n) - 1;
    switch ((imm >> 4) & 3) {
    case 1: res2 = ~res1 & all; break;
    case 3: res2 = (res1 ^ ((1u << lb) - 1)) & all; break;
    default: res2 = res1; break;
    }
    if (idx) {
        unsigned r = n;
        if (res2)
            r = (imm & 0x40) ? 31u - (unsigned)__builtin_clz(res2) : (unsigned)__builtin_ctz(res2);
        c->gpr[V3_RCX] = r;
    } else {
        union vv m;
        memset(&m, 0, sizeof(m));
        if (!(imm & 0x40))
            m.w[0] = (uint16_t)res2;
        else
            for (unsigned i = 0; i < n; i++) {
                if (n == 16) m.b[i] = (res2 >> i & 1) ? 0xff : 0;
                else m.w[i] = (res2 >> i & 1) ? 0xffff : 0;
            }
        memcpy(c->fpu.xmm[0], m.b, 16);
    }
    v3_flags_replace_arith(c, (res2 ? V3_FLAG_CF : 0) | (lb < n ? V3_FLAG_ZF : 0) |
                              (la < n ? V3_FLAG_SF : 0) | ((res2 & 1) ? V3_FLAG_OF : 0));
    return V3_X_NEXT;
}

#define L(m) { ZYDIS_MNEMONIC_##m, 0, op_lanes }
const struct v3_op_entry v3_ops_vint[] = {
    L(PAND), L(PANDN), L(POR), L(PXOR), L(ANDPS), L(ANDPD), L(ANDNPS), L(ANDNPD), L(ORPS), L(ORPD),
    L(XORPS), L(XORPD),
    L(PADDB), L(PADDW), L(PADDD), L(PADDQ), L(PSUBB), L(PSUBW), L(PSUBD), L(PSUBQ),
    L(PADDSB), L(PADDSW), L(PADDUSB), L(PADDUSW), L(PSUBSB), L(PSUBSW), L(PSUBUSB), L(PSUBUSW),
    L(PMULLW), L(PMULHW), L(PMULHUW), L(PMULHRSW), L(PMULUDQ), L(PMULDQ), L(PMULLD), L(PMADDWD),
    L(PMADDUBSW), L(PAVGB), L(PAVGW),
    L(PMINUB), L(PMAXUB), L(PMINSB), L(PMAXSB), L(PMINUW), L(PMAXUW), L(PMINSW), L(PMAXSW),
    L(PMINUD), L(PMAXUD), L(PMINSD), L(PMAXSD), L(PSADBW), L(MPSADBW),
    L(PCMPEQB), L(PCMPEQW), L(PCMPEQD), L(PCMPEQQ), L(PCMPGTB), L(PCMPGTW), L(PCMPGTD), L(PCMPGTQ),
    L(PSLLW), L(PSLLD), L(PSLLQ), L(PSRLW), L(PSRLD), L(PSRLQ), L(PSRAW), L(PSRAD), L(PSLLDQ), L(PSRLDQ),
    L(PACKSSWB), L(PACKUSWB), L(PACKSSDW), L(PACKUSDW),
    L(PUNPCKLBW), L(PUNPCKHBW), L(PUNPCKLWD), L(PUNPCKHWD), L(PUNPCKLDQ), L(PUNPCKHDQ),
    L(PUNPCKLQDQ), L(PUNPCKHQDQ), L(UNPCKLPS), L(UNPCKHPS), L(UNPCKLPD), L(UNPCKHPD),
    L(PSHUFB), L(PSHUFW), L(PSHUFD), L(PSHUFLW), L(PSHUFHW), L(SHUFPS), L(SHUFPD), L(PALIGNR),
    L(PHADDW), L(PHADDD), L(PHADDSW), L(PHSUBW), L(PHSUBD), L(PHSUBSW),
    L(PSIGNB), L(PSIGNW), L(PSIGND), L(PABSB), L(PABSW), L(PABSD),
    L(PBLENDVB), L(BLENDVPS), L(BLENDVPD), L(PBLENDW), L(BLENDPS), L(BLENDPD),
    L(PMOVSXBW), L(PMOVSXBD), L(PMOVSXBQ), L(PMOVSXWD), L(PMOVSXWQ), L(PMOVSXDQ),
    L(PMOVZXBW), L(PMOVZXBD), L(PMOVZXBQ), L(PMOVZXWD), L(PMOVZXWQ), L(PMOVZXDQ),
    L(PHMINPOSUW), L(MOVHLPS), L(MOVLHPS), L(MOVQ2DQ), L(MOVDQ2Q), L(MOVNTDQA), L(MOVDDUP), L(MOVSHDUP), L(MOVSLDUP),
    { ZYDIS_MNEMONIC_EMMS, 0, op_emms },
    { ZYDIS_MNEMONIC_PEXTRB, 0, op_extract }, { ZYDIS_MNEMONIC_PEXTRW, 0, op_extract },
    { ZYDIS_MNEMONIC_PEXTRD, 0, op_extract }, { ZYDIS_MNEMONIC_PEXTRQ, 0, op_extract },
    { ZYDIS_MNEMONIC_EXTRACTPS, 0, op_extract },
    { ZYDIS_MNEMONIC_PINSRB, 0, op_insert }, { ZYDIS_MNEMONIC_PINSRW, 0, op_insert },
    { ZYDIS_MNEMONIC_PINSRD, 0, op_insert }, { ZYDIS_MNEMONIC_PINSRQ, 0, op_insert },
    { ZYDIS_MNEMONIC_INSERTPS, 0, op_insertps },
    { ZYDIS_MNEMONIC_PMOVMSKB, 0, op_movmsk }, { ZYDIS_MNEMONIC_MOVMSKPS, 0, op_movmsk },
    { ZYDIS_MNEMONIC_MOVMSKPD, 0, op_movmsk },
    { ZYDIS_MNEMONIC_PTEST, 0, op_ptest },
    { ZYDIS_MNEMONIC_MOVHPS, 0, op_movhl }, { ZYDIS_MNEMONIC_MOVLPS, 0, op_movhl },
    { ZYDIS_MNEMONIC_MOVHPD, 0, op_movhl }, { ZYDIS_MNEMONIC_MOVLPD, 0, op_movhl },
    { ZYDIS_MNEMONIC_MOVNTQ, 0, op_movntq },
    { ZYDIS_MNEMONIC_MASKMOVQ, 0, op_maskmov }, { ZYDIS_MNEMONIC_MASKMOVDQU, 0, op_maskmov },
    { ZYDIS_MNEMONIC_CRC32, 0, op_crc32 },
    { ZYDIS_MNEMONIC_PCMPESTRI, 0, op_pcmpstr }, { ZYDIS_MNEMONIC_PCMPESTRM, 0, op_pcmpstr },
    { ZYDIS_MNEMONIC_PCMPISTRI, 0, op_pcmpstr }, { ZYDIS_MNEMONIC_PCMPISTRM, 0, op_pcmpstr },
    { 0, 0, NULL },
};
#undef L
