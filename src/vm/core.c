/* SPDX-License-Identifier: MIT */
/* vCPU state helpers: mode tracking and reset. */
#include "internal/host.h"
#include <v3/cpu.h>
#include <v3/paging.h>
#include <v3/vcpu.h>

void v3_core_update_mode(struct v3_core *core)
{
    uint16_t cs = core->seg[V3_CS].attrib;

    if ((core->cr0 & V3_CR0_PG) && (core->efer & V3_EFER_LME))
        core->efer |= V3_EFER_LMA;
    else
        core->efer &= ~V3_EFER_LMA;

    if (!(core->cr0 & V3_CR0_PE)) {
        core->mode = V3_MODE_REAL;
        core->cpl = 0;
        return;
    }
    if (core->efer & V3_EFER_LMA) {
        if (cs & V3_SEG_L)
            core->mode = V3_MODE_LONG64;
        else
            core->mode = (cs & V3_SEG_DB) ? V3_MODE_COMPAT32 : V3_MODE_COMPAT16;
    } else if (core->rflags & V3_FLAG_VM) {
        core->mode = V3_MODE_VM86;
        core->cpl = 3;
        return;
    } else {
        core->mode = (cs & V3_SEG_DB) ? V3_MODE_PROT32 : V3_MODE_PROT16;
    }
    core->cpl = V3_SEG_DPL(core->seg[V3_SS].attrib);
}

void v3_core_reset(struct v3_core *core)
{
    struct v3_vm *vm = core->vm;
    unsigned id = core->id;
    void *tlb = core->tlb, *backend = core->backend, *emu_fault = core->emu_fault;
    unsigned mem_read_depth = core->mem_read_depth;  /* a reset from inside a memory callback */
    const struct v3_debug *dbg = core->dbg;           /* the debugger's state survives a reset */
    uint8_t dbg_flags = core->dbg_flags;
    struct v3_clock *clock = core->clock;             /* so do the VM clock the TSC derives from, */
    void (*ferr)(struct v3_core *, void *) = core->ferr;   /* the FERR# wiring */
    void *ferr_opaque = core->ferr_opaque;
    struct v3_cpu_model model = core->model;          /* and the CPU model */

    memset(core, 0, sizeof(*core));
    core->clock = clock;
    core->ferr = ferr;
    core->ferr_opaque = ferr_opaque;
    core->model = model;
    core->vm = vm;
    core->id = id;
    core->tlb = tlb;
    core->backend = backend;
    core->emu_fault = emu_fault;
    core->mem_read_depth = mem_read_depth;
    core->dbg = dbg;
    core->dbg_flags = dbg_flags;

    core->rflags = 0x2;
    core->rip = 0xfff0;
    core->cr0 = V3_CR0_ET | V3_CR0_CD | V3_CR0_NW;
    {
        uint32_t id[4];           /* EDX after reset: the processor signature of the CPU model */
        v3_cpu_cpuid(core, 1, 0, id);
        core->gpr[V3_RDX] = id[0];
    }
    for (int s = 0; s < V3_NR_SREGS; s++) {
        core->seg[s].selector = 0;
        core->seg[s].base = 0;
        core->seg[s].limit = 0xffff;
        core->seg[s].attrib = V3_SEG_P | V3_SEG_S | 0x3;   /* data, read/write, accessed */
    }
    core->seg[V3_CS].selector = 0xf000;
    core->seg[V3_CS].base = 0xffff0000;
    core->seg[V3_CS].attrib = V3_SEG_P | V3_SEG_S | 0xb;   /* code, execute/read, accessed */
    core->seg[V3_LDTR].attrib = V3_SEG_P | 0x2;
    core->seg[V3_TR].attrib = V3_SEG_P | 0xb;
    core->gdtr.limit = 0xffff;
    core->idtr.limit = 0xffff;
    core->dr[6] = 0xffff0ff0;
    core->dr[7] = 0x400;
    core->xcr0 = 1;
    core->pat = 0x0007040600070406ull;
    core->apic_base = 0xfee00900ull;
    core->fpu.fcw = 0x37f;
    core->fpu.mxcsr = 0x1f80;
    core->fpu.mxcsr_mask = 0xffff;
    memset(&core->msr_inert, 0, sizeof(core->msr_inert));
    core->msr_inert.misc_enable = 0x1801;        /* fast strings; BTS and PEBS unavailable */
    core->msr_inert.hwcr = 0x01000010;           /* TscFreqSel (RO), INVD acts as WBINVD */
    core->msr_inert.syscfg = 0x00140000;         /* MtrrFixDramEn, MtrrVarDramEn */
    core->msr_inert.de_cfg = 0x2;                /* LFENCE is dispatch serialising */
    v3_core_update_mode(core);
    v3_tlb_flush_all(core);       /* reset invalidates the TLB (no-op without one) */
}

const char *v3_cpu_mode_str(enum v3_cpu_mode mode)
{
    switch (mode) {
    case V3_MODE_REAL:     return "real";
    case V3_MODE_VM86:     return "vm86";
    case V3_MODE_PROT16:   return "prot16";
    case V3_MODE_PROT32:   return "prot32";
    case V3_MODE_COMPAT16: return "compat16";
    case V3_MODE_COMPAT32: return "compat32";
    case V3_MODE_LONG64:   return "long64";
    default:               return "unknown";
    }
}
