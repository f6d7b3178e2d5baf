/* SPDX-License-Identifier: MIT */
/* The CPU model behind CPUID. */
#include "internal/host.h"
#include "cpu/cpu.h"

static void copy_str(char *dst, const char *src, unsigned max)
{
    unsigned i = 0;
    for (; i + 1 < max && src[i]; i++)
        dst[i] = src[i];
    for (; i < max; i++)
        dst[i] = 0;
}

/* CPUID.1:ECX of the host: the SSE floating-point instructions run on the
 * host's SSE unit (src/emu/ops_vfp.c), so the model reports an SSE level
 * only if the host has it */
static uint32_t host_leaf1_ecx(void)
{
    uint32_t a = 1, b, c = 0, d;
    __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    return c;
}

void v3_cpu_default_model(struct v3_cpu_model *m)
{
    memset(m, 0, sizeof(*m));
    copy_str(m->vendor, "V3vmmV3vmmV3", sizeof(m->vendor));
    m->max_leaf = 7;
    m->max_ext_leaf = 0x80000008;
    m->signature = 0x000606a0;         /* family 6 */
    /* ECX: SSE3(0) SSSE3(9) CX16(13) SSE4.1(19) SSE4.2(20) MOVBE(22) POPCNT(23) HYPERVISOR(31);
     * not MONITOR(3).  The SSE levels also need the host's (see host_leaf1_ecx). */
    const uint32_t sse_levels = 1u | (1u << 9) | (1u << 19) | (1u << 20);
    m->feat_ecx = (sse_levels & host_leaf1_ecx()) | (1u << 13) | (1u << 22) | (1u << 23) | (1u << 31);
    /* EDX: FPU TSC(4) MSR(5) PAE(6) CX8(8) APIC(9) SEP(11) MTRR(12) PGE(13) CMOV(15)
     * PAT(16) PSE(3) MMX(23) FXSR(24) SSE(25) SSE2(26) DE(2) */
    m->feat_edx = 1u | (1u << 2) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 8) |
                  (1u << 9) | (1u << 11) | (1u << 12) | (1u << 13) | (1u << 15) | (1u << 16) |
                  (1u << 23) | (1u << 24) | (1u << 25) | (1u << 26);
    /* 0x80000001 ECX: LAHF/SAHF(0) ABM/LZCNT(5); EDX: SYSCALL(11) NX(20) 1GB(26) RDTSCP(27) LM(29) */
    m->ext_feat_ecx = 1u | (1u << 5);
    m->ext_feat_edx = (1u << 11) | (1u << 20) | (1u << 27) | (1u << 29);
    m->leaf7_ebx = (1u << 3) | (1u << 7) | (1u << 20);  /* BMI1 (TZCNT), SMEP, SMAP */
    m->leaf7_ecx = (1u << 2);          /* UMIP */
    copy_str(m->brand, "v3vmm software CPU", sizeof(m->brand));
}

void cpu_model_init(struct v3_cpu *cpu)
{
    v3_cpu_default_model(&cpu->model);
}

int v3_cpu_set_model(struct v3_core *core, const struct v3_cpu_model *m)
{
    if (!core || !core->backend || !m) {
        V3_ERROR("cpu: set_model with a NULL argument or no back-end state");
        return V3_EINVAL;
    }
    if (m->max_leaf < 1 || m->max_ext_leaf < 0x80000000u) {
        V3_ERROR("cpu: CPU model with max leaf %#x / ext %#x", m->max_leaf, m->max_ext_leaf);
        return V3_EINVAL;
    }
    cpu_of(core)->model = *m;
    return V3_OK;
}

static uint32_t word_of(const char *s, unsigned i)
{
    uint32_t v;
    memcpy(&v, s + 4 * i, 4);
    return v;
}

void v3_cpu_cpuid(struct v3_core *core, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
    struct v3_cpu_model local;
    const struct v3_cpu_model *m;
    if (core && core->backend) {
        m = &cpu_of(core)->model;
    } else {
        v3_cpu_default_model(&local);
        m = &local;
    }
    out[0] = out[1] = out[2] = out[3] = 0;
    if (leaf >= 0x80000000u) {
        if (leaf > m->max_ext_leaf)
            leaf = m->max_leaf;          /* as Intel: beyond range answers the highest basic leaf */
        else
            goto ext;
    } else if (leaf > m->max_leaf) {
        leaf = m->max_leaf;
    }
    switch (leaf) {
    case 0:
        out[0] = m->max_leaf;
        out[1] = word_of(m->vendor, 0);
        out[3] = word_of(m->vendor, 1);
        out[2] = word_of(m->vendor, 2);
        break;
    case 1:
        out[0] = m->signature;
        out[1] = (core ? core->id : 0) << 24 | (1u << 16) | (8u << 8);   /* APIC id, 1 logical, clflush 64 */
        out[2] = m->feat_ecx;
        out[3] = m->feat_edx;
        break;
    case 7:
        if (subleaf == 0) {
            out[1] = m->leaf7_ebx;
            out[2] = m->leaf7_ecx;
        }
        break;
    default:
        break;
    }
    return;
ext:
    switch (leaf) {
    case 0x80000000u:
        out[0] = m->max_ext_leaf;
        break;
    case 0x80000001u:
        out[2] = m->ext_feat_ecx;
        out[3] = m->ext_feat_edx;
        break;
    case 0x80000002u: case 0x80000003u: case 0x80000004u: {
        unsigned base = (leaf - 0x80000002u) * 4;
        for (unsigned i = 0; i < 4; i++)
            out[i] = word_of(m->brand, base + i);
        break;
    }
    case 0x80000008u:
        out[0] = 0x3028;                  /* 48-bit linear, 40-bit physical */
        break;
    default:
        break;
    }
}

bool v3_cpu_cpuid_exits(struct v3_core *core, uint32_t leaf)
{
    const struct v3_cpu_model *m;
    if (!core || !core->backend)
        return false;
    m = &cpu_of(core)->model;
    if (leaf < 32 && ((m->exit_leaves >> leaf) & 1))
        return true;
    if (m->exit_leaves >> 63) {
        if (leaf >= 0x80000000u ? leaf > m->max_ext_leaf : leaf > m->max_leaf)
            return true;
    }
    return false;
}
