/* SPDX-License-Identifier: MIT */
/* Small x86 instruction encoder for generating test instructions. */
#include <string.h>
#include "v3native.h"

int v3n_emit(struct v3n_insn *out, const void *bytes, int n)
{
    if (out->len + n > 15)
        return -1;
    memcpy(out->b + out->len, bytes, (size_t)n);
    out->len += n;
    return 0;
}

static int fits8(int64_t v) { return v >= -128 && v <= 127; }

int v3n_encode(struct v3n_insn *out, int addr_size, const uint8_t *prefixes, int nprefixes,
               unsigned rex, bool force_rex, const uint8_t *opcode, int oplen,
               int reg, int rm_reg, const struct v3n_mem *m,
               int imm_bytes, uint64_t imm, uint64_t insn_addr)
{
    uint8_t b[32];
    int n = 0, mod = 0, rm = 0, has_sib = 0, sib = 0, dbytes = 0;
    int64_t disp = 0;
    int riprel = 0;

    rex &= 8;
    if (reg & 8)
        rex |= 4;
    if (rm_reg >= 0) {
        mod = 3;
        rm = rm_reg & 7;
        if (rm_reg & 8)
            rex |= 1;
    } else if (!m) {
        return -1;
    } else if (addr_size == 16) {
        if (m->rm16 < 0 || m->rm16 > 8)
            return -1;
        if (m->rm16 == 8) {        /* [disp16] */
            rm = 6;
            mod = 0;
            dbytes = 2;
            disp = m->disp;
            goto modrm_done;
        }
        rm = m->rm16;
        disp = m->disp;
        dbytes = m->disp_bytes;
        if (dbytes < 0)
            dbytes = (disp == 0 && rm != 6) ? 0 : fits8(disp) ? 1 : 2;
        if (rm == 6 && dbytes == 0)
            dbytes = 1;            /* [bp] needs a displacement */
        if (dbytes == 4)
            return -1;
        mod = dbytes == 0 ? 0 : dbytes == 1 ? 1 : 2;
    modrm_done:;
    } else if (m->base == V3N_RIPREL) {
        if (addr_size == 16 || m->index != V3N_NOREG)
            return -1;
        riprel = 1;
        mod = 0;
        rm = 5;
        dbytes = 4;
    } else {
        int base = m->base, index = m->index;
        disp = m->disp;
        dbytes = m->disp_bytes;
        if (index == 4)
            return -1;
        if (base == V3N_NOREG) {
            /* [index*s + disp32] or [disp32] via SIB with base=101 */
            has_sib = 1;
            mod = 0;
            rm = 4;
            dbytes = 4;
            int ss = m->scale == 8 ? 3 : m->scale == 4 ? 2 : m->scale == 2 ? 1 : 0;
            sib = (ss << 6) | (((index == V3N_NOREG) ? 4 : (index & 7)) << 3) | 5;
            if (index != V3N_NOREG && (index & 8))
                rex |= 2;
        } else {
            if (dbytes < 0)
                dbytes = (disp == 0 && (base & 7) != 5) ? 0 : fits8(disp) ? 1 : 4;
            if ((base & 7) == 5 && dbytes == 0)
                dbytes = 1;
            mod = dbytes == 0 ? 0 : dbytes == 1 ? 1 : 2;
            if (base & 8)
                rex |= 1;
            if (index != V3N_NOREG || (base & 7) == 4) {
                has_sib = 1;
                rm = 4;
                int ss = m->scale == 8 ? 3 : m->scale == 4 ? 2 : m->scale == 2 ? 1 : 0;
                sib = (ss << 6) | (((index == V3N_NOREG) ? 4 : (index & 7)) << 3) | (base & 7);
                if (index != V3N_NOREG && (index & 8))
                    rex |= 2;
            } else {
                rm = base & 7;
            }
        }
        if (dbytes == 1 && !fits8(disp))
            return -1;
        if (dbytes == 2)
            return -1;
    }

    for (int i = 0; i < nprefixes; i++)
        b[n++] = prefixes[i];
    if (rex || force_rex) {
        if (addr_size == 16)
            return -1;         /* REX exists only in 64-bit mode (32/64-bit addressing) */
        b[n++] = (uint8_t)(0x40 | rex);
    }
    for (int i = 0; i < oplen; i++)
        b[n++] = opcode[i];
    b[n++] = (uint8_t)((mod << 6) | ((reg & 7) << 3) | rm);
    if (has_sib)
        b[n++] = (uint8_t)sib;
    int disp_at = n;
    n += dbytes;
    for (int i = 0; i < imm_bytes; i++)
        b[n + i] = (uint8_t)(imm >> (8 * i));
    n += imm_bytes;
    if (riprel)
        disp = m->disp - (int64_t)(insn_addr + (uint64_t)n);
    if (dbytes == 4 && (disp < INT32_MIN || disp > INT32_MAX))
        return -1;
    for (int i = 0; i < dbytes; i++)
        b[disp_at + i] = (uint8_t)((uint64_t)disp >> (8 * i));
    if (n > 15)
        return -1;
    memcpy(out->b, b, (size_t)n);
    out->len = n;
    return 0;
}
