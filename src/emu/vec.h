/* SPDX-License-Identifier: MIT */
/* Helpers shared by the MMX/SSE families (src/emu/ops_vint.c, ops_vfp.c, ops_sse.c). */
#ifndef V3_EMU_VEC_H
#define V3_EMU_VEC_H

#include "emu/insn.h"

/** Availability of an MMX (@p mmx) and/or SSE (@p xmm) instruction:
 *  CR0.EM -> #UD, SSE with CR4.OSFXSR clear -> #UD, CR0.TS -> #NM, MMX with
 *  a pending unmasked x87 exception (FSW.ES) -> #MF. */
int v3_vec_avail(struct v3_emu_ctx *ctx, int mmx, int xmm);
/** v3_vec_avail() for the register classes among @p in's operands. */
int v3_vec_check(struct v3_emu_ctx *ctx, const struct v3_insn *in);
/** Does an operand of @p in name a register of class @p cls? */
int v3_vec_uses(const struct v3_insn *in, unsigned cls);
/** x87 unit to MMX state: TOP = 0, all tags valid. */
void v3_vec_mmx_enter(struct v3_core *c);
/** Read operand @p op (XMM, MMX, GPR, memory of op->size bytes, IMM) zero
 *  padded to 16 bytes; @p aligned: a 16-byte memory operand must be 16-byte
 *  aligned (#GP(0)). */
int v3_vec_read(struct v3_emu_ctx *ctx, const struct v3_insn *in, const struct v3_operand *op,
                int aligned, uint8_t out[16]);
/** Write an XMM (16 bytes) or MMX (8 bytes, bits 79:64 set) register operand. */
void v3_vec_set(struct v3_core *c, const struct v3_operand *op, const uint8_t v[16]);

#endif
