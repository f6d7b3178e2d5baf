/* SPDX-License-Identifier: MIT */
/*
 * What an instruction without a handler does: the architectural answer of a
 * CPU whose CPUID is the model's (src/cpu/model.c), never a VMM stop.
 *
 * The decision, per mnemonic (v3_emu_classify, applied by the decoder):
 *   1. a handler registered in a family of ops_table.c runs;
 *   2. else, a rule of v3_arch_rules[] below runs: the few mnemonics whose
 *      architectural behaviour on such a CPU is not #UD (hint-space NOPs,
 *      instructions that execute as an older one, SALC, CLAC/STAC...);
 *   3. else #UD (v3_op_ud_unreported): the instruction belongs to a feature
 *      the model does not report (AVX/AVX-512 in VEX/EVEX, XOP, 3DNow!, VMX,
 *      SVM, SMX/GETSEC, TSX, SGX, MONITOR/MWAIT, RDPID, RDPRU, INVPCID,
 *      WAITPKG, CET shadow-stack updates, ...), or is defined to give #UD in
 *      the state the model allows (RSM outside SMM, VMX instructions with
 *      CPUID.1:ECX.VMX = 0, SVM instructions with EFER.SVME = 0 - the model
 *      reports no SVM so EFER.SVME cannot be set).
 *
 * Adding a handler for a mnemonic needs only its line in a family table: it
 * wins over a rule here and over the #UD fallback.  A mnemonic whose feature
 * the model reports but that has no handler yet falls to #UD too; the test
 * tests/emulate/test_emu_isa_rules.c lists such gaps explicitly.
 */
#include <Zydis/Zydis.h>
#include "emu/insn.h"
#include <v3/cpuid.h>

static inline bool pmode(const struct v3_core *c) { return (c->cr0 & V3_CR0_PE) != 0; }
static inline bool vm86(const struct v3_core *c) { return (c->rflags & V3_FLAG_VM) != 0; }

int v3_op_ud_unreported(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    (void)in;
    return v3_exc_ud(ctx);
}

/* Hint space (0F 0D, 0F 18-0F 1F) executed as a NOP by a CPU without the
 * feature: no operand is accessed, nothing faults. */
static int rule_hint_nop(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    (void)ctx; (void)in;
    return V3_X_NEXT;
}

/* SALC (D6): AL = CF ? FFH : 00H, flags unchanged; #UD in 64-bit mode. */
static int rule_salc(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    if (in->mode == V3_MODE_LONG64)
        return v3_exc_ud(ctx);
    v3_gpr_set(c, V3_RAX, 1, v3_flags_cf(c) ? 0xff : 0);
    return V3_X_NEXT;
}

/* CLAC/STAC (SMAP): #UD without CPUID.7.0:EBX.SMAP or at CPL > 0 (VM86 is CPL 3). */
static int rule_clac_stac(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint32_t id[4];
    v3_cpu_cpuid(c, 7, 0, id);
    if (!((id[1] >> 20) & 1) || (pmode(c) && (vm86(c) || c->cpl != 0)))
        return v3_exc_ud(ctx);
    if (in->mnemonic == ZYDIS_MNEMONIC_STAC)
        c->rflags |= V3_FLAG_AC;
    else
        c->rflags &= ~V3_FLAG_AC;
    return V3_X_NEXT;
}

/* The 8087/80287 control instructions a 387 and later execute as FNOP:
 * #NM with CR0.EM or CR0.TS, otherwise nothing. */
static int rule_x87_nop(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    (void)in;
    if (ctx->core->cr0 & (V3_CR0_EM | V3_CR0_TS))
        return v3_exc_nm(ctx);
    return V3_X_NEXT;
}

const struct v3_arch_rule v3_arch_rules[] = {
    { ZYDIS_MNEMONIC_BNDMK, rule_hint_nop, "MPX not reported: 0F 1A/1B hint space, NOP" },
    { ZYDIS_MNEMONIC_BNDMOV, rule_hint_nop, "MPX not reported: 0F 1A/1B hint space, NOP" },
    { ZYDIS_MNEMONIC_BNDCL, rule_hint_nop, "MPX not reported: 0F 1A/1B hint space, NOP" },
    { ZYDIS_MNEMONIC_BNDCU, rule_hint_nop, "MPX not reported: 0F 1A/1B hint space, NOP" },
    { ZYDIS_MNEMONIC_BNDCN, rule_hint_nop, "MPX not reported: 0F 1A/1B hint space, NOP" },
    { ZYDIS_MNEMONIC_BNDLDX, rule_hint_nop, "MPX not reported: 0F 1A/1B hint space, NOP" },
    { ZYDIS_MNEMONIC_BNDSTX, rule_hint_nop, "MPX not reported: 0F 1A/1B hint space, NOP" },
    { ZYDIS_MNEMONIC_CLDEMOTE, rule_hint_nop, "CLDEMOTE not reported: 0F 1C hint space, NOP" },
    { ZYDIS_MNEMONIC_RDSSPD, rule_hint_nop, "CET shadow stack not enabled: F3 0F 1E /1 is a NOP" },
    { ZYDIS_MNEMONIC_RDSSPQ, rule_hint_nop, "CET shadow stack not enabled: F3 0F 1E /1 is a NOP" },
    { ZYDIS_MNEMONIC_PREFETCH, rule_hint_nop, "0F 0D /0: prefetch hint (3DNowPrefetch), NOP" },
    { ZYDIS_MNEMONIC_PREFETCHWT1, rule_hint_nop, "0F 0D /2: prefetch hint space, NOP" },
    { ZYDIS_MNEMONIC_SALC, rule_salc, "SALC: AL = CF ? FFh : 0 in legacy modes, #UD in 64-bit mode" },
    { ZYDIS_MNEMONIC_CLAC, rule_clac_stac, "SMAP: clear RFLAGS.AC, #UD at CPL > 0" },
    { ZYDIS_MNEMONIC_STAC, rule_clac_stac, "SMAP: set RFLAGS.AC, #UD at CPL > 0" },
    { ZYDIS_MNEMONIC_FENI8087_NOP, rule_x87_nop, "8087 FENI: FNOP on a 387 or later (#NM with EM/TS)" },
    { ZYDIS_MNEMONIC_FDISI8087_NOP, rule_x87_nop, "8087 FDISI: FNOP on a 387 or later (#NM with EM/TS)" },
    { ZYDIS_MNEMONIC_FSETPM287_NOP, rule_x87_nop, "80287 FSETPM: FNOP on a 387 or later (#NM with EM/TS)" },
    { 0, NULL, NULL },
};
