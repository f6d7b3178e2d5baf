/* SPDX-License-Identifier: MIT */
/*
 * The list of handler families.  To add a family: one extern line and one
 * array line (see src/emu/insn.h, section 3).  Order matters only for a
 * mnemonic registered twice (the first wins).  A mnemonic in no family
 * runs its architectural rule or raises #UD (src/emu/ops_arch.c).
 */
#include <stddef.h>
#include "emu/insn.h"

extern const struct v3_op_entry v3_ops_mov[];      /* ops_mov.c: MOV family, MOVZX/SX, MOVBE, CMOVcc, SETcc, XCHG, LEA */
extern const struct v3_op_entry v3_ops_alu[];      /* ops_alu.c: ADD..CMP, TEST, INC/DEC/NEG/NOT, XADD, CMPXCHG* */
extern const struct v3_op_entry v3_ops_shift[];    /* ops_shift.c: shifts, rotates, SHLD/SHRD */
extern const struct v3_op_entry v3_ops_bit[];      /* ops_bit.c: BT*, BSF/BSR */
extern const struct v3_op_entry v3_ops_muldiv[];   /* ops_muldiv.c: MUL, IMUL, DIV, IDIV */
extern const struct v3_op_entry v3_ops_stack[];    /* ops_stack.c: PUSH/POP */
extern const struct v3_op_entry v3_ops_string[];   /* ops_string.c: MOVS STOS LODS CMPS SCAS */
extern const struct v3_op_entry v3_ops_sse[];      /* ops_sse.c: MMX/SSE data moves */
extern const struct v3_op_entry v3_ops_branch[];   /* ops_branch.c: JMP Jcc CALL RET LOOP JrCXZ */
extern const struct v3_op_entry v3_ops_misc[];     /* ops_misc.c: XLAT CBW.. LAHF flags PUSHA ENTER PUSHF BCD LZCNT BSWAP NOP UD CPUID RDTSC */
extern const struct v3_op_entry v3_ops_x87[];       /* ops_x87.c: x87 load/store/arithmetic, FNSAVE/FRSTOR */
extern const struct v3_op_entry v3_ops_system[];    /* ops_system.c: system instructions, I/O, interrupts, x87 control */
extern const struct v3_op_entry v3_ops_x87_trans[]; /* ops_x87_trans.c: x87 transcendentals */
extern const struct v3_op_entry v3_ops_bmi[];      /* ops_bmi.c: BMI1 ANDN BEXTR BLSI BLSMSK BLSR, CLFLUSH(OPT) */
extern const struct v3_op_entry v3_ops_simd[];     /* ops_simd.c: FXSAVE, MXCSR */
extern const struct v3_op_entry v3_ops_xsave[];    /* ops_xsave.c: XSAVE/XRSTOR/XSAVEOPT, XGETBV/XSETBV */
extern const struct v3_op_entry v3_ops_rand[];     /* ops_rand.c: RDRAND, RDSEED (host entropy) */
extern const struct v3_op_entry v3_ops_vint[];     /* ops_vint.c: MMX, SSE-SSE4.2 integer SIMD, CRC32 */
extern const struct v3_op_entry v3_ops_vfp[];      /* ops_vfp.c: SSE-SSE4.1 floating point */

const struct v3_op_entry *const v3_op_families[] = {
    v3_ops_mov,
    v3_ops_alu,
    v3_ops_shift,
    v3_ops_bit,
    v3_ops_muldiv,
    v3_ops_stack,
    v3_ops_string,
    v3_ops_sse,
    v3_ops_branch,
    v3_ops_misc,
    v3_ops_simd,
    v3_ops_vint,
    v3_ops_vfp,
    v3_ops_system,
    v3_ops_x87,
    v3_ops_x87_trans,
    v3_ops_bmi,
    v3_ops_xsave,
    v3_ops_rand,
    NULL,
};
