/* SPDX-License-Identifier: MIT */
/*
 * RDRAND and RDSEED, from the host interface's optional entropy() member.
 * Reported by the CPU model (CPUID.1:ECX.RDRAND, CPUID.7.0:EBX.RDSEED) only
 * when the host provides it; otherwise #UD, as on a CPU without them.
 * Success: the destination gets the random value, CF = 1; a host failure is
 * the architectural "no value available": destination 0, CF = 0.  OF, SF,
 * ZF, AF and PF are cleared either way.
 */
#include <Zydis/Zydis.h>
#include "internal/host.h"
#include "emu/insn.h"
#include <v3/cpuid.h>

#define ARITH (V3_FLAG_CF | V3_FLAG_PF | V3_FLAG_AF | V3_FLAG_ZF | V3_FLAG_SF | V3_FLAG_OF)

static int op_rdrand(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint32_t id[4];
    uint64_t v = 0;
    bool seed = in->mnemonic == ZYDIS_MNEMONIC_RDSEED;
    unsigned size = in->op[0].size;

    v3_cpu_cpuid(c, seed ? 7 : 1, 0, id);
    if (!(seed ? (id[1] >> 18) & 1 : (id[2] >> 30) & 1) || !v3_host.entropy ||
        in->op[0].kind != V3_OPK_REG || in->op[0].cls != V3_RC_GPR)
        return v3_exc_ud(ctx);
    bool ok = v3_host.entropy(&v, size) == 0;
    if (!ok)
        v = 0;
    v3_gpr_set(c, in->op[0].reg, size, v);
    v3_flags_set(c, ARITH, ok ? V3_FLAG_CF : 0);
    return V3_X_NEXT;
}

const struct v3_op_entry v3_ops_rand[] = {
    { ZYDIS_MNEMONIC_RDRAND, 0, op_rdrand },
    { ZYDIS_MNEMONIC_RDSEED, 0, op_rdrand },
    { 0, 0, NULL },
};
