/* SPDX-License-Identifier: MIT */
/* The CPU model behind CPUID (the architectural layer: every back end answers from it). */
#include "internal/host.h"
#include <v3/cpuid.h>
#include "internal/clock.h"
#include "internal/vm.h"
#include <v3/paging.h>

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

/*
 * The default model is an AMD-compatible 64-bit CPU (the undefined flags of
 * the emulator follow AMD).  Family 17h model 31h (a Zen 2 EPYC signature)
 * for AuthenticAMD; family 6 model 5Ch (Goldmont: SMEP, SMAP, XSAVE and no
 * AVX, like this model) for GenuineIntel.  Only features the software CPU
 * implements are reported.
 */
void v3_cpu_vendor_model(struct v3_cpu_model *m, enum v3_cpu_vendor vendor)
{
    memset(m, 0, sizeof(*m));
    m->max_leaf = 0x16;               /* 0x15/0x16: the fixed TSC frequency */
    m->max_ext_leaf = 0x80000008;
    /* ECX: SSE3(0) SSSE3(9) CX16(13) SSE4.1(19) SSE4.2(20) MOVBE(22) POPCNT(23) XSAVE(26)
     * HYPERVISOR(31); OSXSAVE(27) mirrors CR4; not MONITOR(3).  The SSE levels also need
     * the host's (see host_leaf1_ecx). */
    const uint32_t sse_levels = 1u | (1u << 9) | (1u << 19) | (1u << 20);
    m->feat_ecx = (sse_levels & host_leaf1_ecx()) | (1u << 13) | (1u << 22) | (1u << 23) | (1u << 26) |
                  (1u << 31);
    /* EDX: FPU DE(2) PSE(3) TSC(4) MSR(5) PAE(6) CX8(8) APIC(9) SEP(11) MTRR(12) PGE(13)
     * CMOV(15) PAT(16) CLFSH(19) MMX(23) FXSR(24) SSE(25) SSE2(26) */
    m->feat_edx = 1u | (1u << 2) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 8) |
                  (1u << 9) | (1u << 11) | (1u << 12) | (1u << 13) | (1u << 15) | (1u << 16) |
                  (1u << 19) | (1u << 23) | (1u << 24) | (1u << 25) | (1u << 26);
    /* 0x80000001 ECX: LAHF/SAHF(0) ABM/LZCNT(5) 3DNowPrefetch(8);
     * EDX: SYSCALL(11) NX(20) 1GB pages(26) RDTSCP(27) LM(29) */
    m->ext_feat_ecx = 1u | (1u << 5) | (1u << 8);
    m->ext_feat_edx = (1u << 11) | (1u << 20) | (1u << 26) | (1u << 27) | (1u << 29);
    m->leaf7_ebx = (1u << 3) | (1u << 7) | (1u << 20);  /* BMI1 (TZCNT), SMEP, SMAP */
    m->leaf7_ecx = (1u << 2);          /* UMIP */
    m->leaf_d1_eax = 1;                /* XSAVEOPT */
    if (v3_host.entropy) {             /* RDRAND, RDSEED: only with the host's entropy source */
        m->feat_ecx |= 1u << 30;
        m->leaf7_ebx |= 1u << 18;
    }
    m->phys_bits = V3_PAGING_MAXPHYADDR;   /* 40 */
    m->virt_bits = 48;
    if (vendor == V3_CPU_VENDOR_INTEL) {
        copy_str(m->vendor, "GenuineIntel", sizeof(m->vendor));
        m->signature = 0x000506c9;     /* family 6, model 5Ch, stepping 9 */
    } else {
        copy_str(m->vendor, "AuthenticAMD", sizeof(m->vendor));
        m->signature = 0x00830f10;     /* family 17h (0Fh + 08h), model 31h, stepping 0 */
        /* AMD repeats these leaf-1 EDX bits in 0x80000001 EDX (FPU..APIC, MTRR..PSE36, MMX, FXSR) */
        m->ext_feat_edx |= m->feat_edx & 0x0183f3ffu;
    }
    copy_str(m->brand, "v3vmm software CPU", sizeof(m->brand));
}

void v3_cpu_default_model(struct v3_cpu_model *m)
{
    v3_cpu_vendor_model(m, V3_CPU_VENDOR_AMD);
}

bool v3_cpu_model_is_intel(const struct v3_cpu_model *m)
{
    return m && !memcmp(m->vendor, "GenuineIntel", 12);
}

/* The model of @p core: its own once set, else the default (into @p local). */
static const struct v3_cpu_model *model_of(const struct v3_core *core, struct v3_cpu_model *local)
{
    if (core && core->model.max_leaf)
        return &core->model;
    v3_cpu_default_model(local);
    return local;
}

int v3_cpu_set_model(struct v3_core *core, const struct v3_cpu_model *m)
{
    if (!core || !m) {
        V3_ERROR("cpu: set_model with a NULL argument");
        return V3_EINVAL;
    }
    if (m->max_leaf < 1 || m->max_ext_leaf < 0x80000000u) {
        V3_ERROR("cpu: CPU model with max leaf %#x / ext %#x", m->max_leaf, m->max_ext_leaf);
        return V3_EINVAL;
    }
    if (m->phys_bits < 36 || m->phys_bits > 52 || (m->virt_bits != 48 && m->virt_bits != 57)) {
        V3_ERROR("cpu: CPU model with %u physical / %u linear address bits (36..52 / 48)",
                 m->phys_bits, m->virt_bits);
        return V3_EINVAL;
    }
    if (core->tlb) {
        int rc = v3_paging_set_maxphyaddr(core, m->phys_bits);
        if (rc < 0)
            return rc;
    }
    core->model = *m;
    core->model_gen++;       /* instructions decoded under the old model are stale */
    return V3_OK;
}

static uint32_t *word_ptr(struct v3_cpu_model *m, unsigned word)
{
    switch (word) {
    case V3_CPUID_1_ECX:  return &m->feat_ecx;
    case V3_CPUID_1_EDX:  return &m->feat_edx;
    case V3_CPUID_7_EBX:  return &m->leaf7_ebx;
    case V3_CPUID_7_ECX:  return &m->leaf7_ecx;
    case V3_CPUID_X1_ECX: return &m->ext_feat_ecx;
    case V3_CPUID_X1_EDX: return &m->ext_feat_edx;
    case V3_CPUID_D1_EAX: return &m->leaf_d1_eax;
    default:              return NULL;
    }
}

bool v3_cpu_model_has(const struct v3_cpu_model *m, unsigned word, unsigned bit)
{
    if (!m || bit >= 32)
        return false;
    const uint32_t *w = word_ptr((struct v3_cpu_model *)m, word);
    if (!w || !((*w >> bit) & 1))
        return false;
    return word != V3_CPUID_D1_EAX || ((m->feat_ecx >> 26) & 1);   /* leaf 0xD needs XSAVE */
}

/* Feature names (Linux /proc/cpuinfo spelling) a model can set or clear. */
static const struct {
    const char *name;
    uint8_t word, bit;
    const char *desc;
} feature_names[] = {
    { "tsc",      V3_CPUID_1_EDX, 4,  "RDTSC" },
    { "cx8",      V3_CPUID_1_EDX, 8,  "CMPXCHG8B" },
    { "sep",      V3_CPUID_1_EDX, 11, "SYSENTER/SYSEXIT" },
    { "pge",      V3_CPUID_1_EDX, 13, "global pages" },
    { "cmov",     V3_CPUID_1_EDX, 15, "CMOVcc (and FCMOVcc)" },
    { "clflush",  V3_CPUID_1_EDX, 19, "CLFLUSH" },
    { "mmx",      V3_CPUID_1_EDX, 23, "MMX" },
    { "fxsr",     V3_CPUID_1_EDX, 24, "FXSAVE/FXRSTOR" },
    { "sse",      V3_CPUID_1_EDX, 25, "SSE" },
    { "sse2",     V3_CPUID_1_EDX, 26, "SSE2" },
    { "sse3",     V3_CPUID_1_ECX, 0,  "SSE3" },
    { "pni",      V3_CPUID_1_ECX, 0,  "SSE3 (alias)" },
    { "ssse3",    V3_CPUID_1_ECX, 9,  "SSSE3" },
    { "cx16",     V3_CPUID_1_ECX, 13, "CMPXCHG16B" },
    { "sse4_1",   V3_CPUID_1_ECX, 19, "SSE4.1" },
    { "sse4_2",   V3_CPUID_1_ECX, 20, "SSE4.2 (with CRC32)" },
    { "movbe",    V3_CPUID_1_ECX, 22, "MOVBE" },
    { "popcnt",   V3_CPUID_1_ECX, 23, "POPCNT" },
    { "xsave",    V3_CPUID_1_ECX, 26, "XSAVE/XRSTOR/XGETBV/XSETBV" },
    { "rdrand",   V3_CPUID_1_ECX, 30, "RDRAND" },
    { "hypervisor", V3_CPUID_1_ECX, 31, "running under a hypervisor" },
    { "bmi1",     V3_CPUID_7_EBX, 3,  "BMI1 (TZCNT; without it TZCNT runs as BSF)" },
    { "smep",     V3_CPUID_7_EBX, 7,  "CR4.SMEP" },
    { "rdseed",   V3_CPUID_7_EBX, 18, "RDSEED" },
    { "smap",     V3_CPUID_7_EBX, 20, "CR4.SMAP, CLAC/STAC" },
    { "umip",     V3_CPUID_7_ECX, 2,  "CR4.UMIP" },
    { "lahf_lm",  V3_CPUID_X1_ECX, 0, "LAHF/SAHF in 64-bit mode" },
    { "abm",      V3_CPUID_X1_ECX, 5, "LZCNT (without it LZCNT runs as BSR)" },
    { "lzcnt",    V3_CPUID_X1_ECX, 5, "LZCNT (alias of abm)" },
    { "3dnowprefetch", V3_CPUID_X1_ECX, 8, "PREFETCHW" },
    { "syscall",  V3_CPUID_X1_EDX, 11, "SYSCALL/SYSRET" },
    { "nx",       V3_CPUID_X1_EDX, 20, "no-execute pages (EFER.NXE)" },
    { "pdpe1gb",  V3_CPUID_X1_EDX, 26, "1 GiB pages" },
    { "rdtscp",   V3_CPUID_X1_EDX, 27, "RDTSCP" },
    { "xsaveopt", V3_CPUID_D1_EAX, 0, "XSAVEOPT" },
};

/* Equal names; '.' matches '_' (QEMU spells sse4.1 what Linux spells sse4_1). */
static bool name_eq(const char *a, const char *b)
{
    for (; *a && (*a == *b || (*a == '.' && *b == '_')); a++, b++)
        ;
    return *a == *b;
}

int v3_cpu_model_set_feature(struct v3_cpu_model *m, const char *name, bool on)
{
    if (!m || !name)
        return V3_EINVAL;
    for (unsigned i = 0; i < sizeof(feature_names) / sizeof(feature_names[0]); i++) {
        if (!name_eq(name, feature_names[i].name))
            continue;
        unsigned word = feature_names[i].word, bit = feature_names[i].bit;
        uint32_t *w = word_ptr(m, word);
        bool intel = v3_cpu_model_is_intel(m);
        if (on) {
            struct v3_cpu_model full;
            v3_cpu_vendor_model(&full, intel ? V3_CPU_VENDOR_INTEL : V3_CPU_VENDOR_AMD);
            if (!((*word_ptr(&full, word) >> bit) & 1))
                return V3_EUNSUPPORTED;   /* not implemented by the software CPU */
            *w |= 1u << bit;
            if (!intel && word == V3_CPUID_1_EDX && ((0x0183f3ffu >> bit) & 1))
                m->ext_feat_edx |= 1u << bit;
        } else {
            *w &= ~(1u << bit);
            if (!intel && word == V3_CPUID_1_EDX && ((0x0183f3ffu >> bit) & 1))
                m->ext_feat_edx &= ~(1u << bit);
        }
        return V3_OK;
    }
    return V3_ENOENT;
}

const char *v3_cpu_feature_name(unsigned i, const char **desc)
{
    if (i >= sizeof(feature_names) / sizeof(feature_names[0]))
        return NULL;
    if (desc)
        *desc = feature_names[i].desc;
    return feature_names[i].name;
}

int v3_cpu_set_cpuid_exit(struct v3_core *core, uint32_t leaf, bool on)
{
    if (!core || leaf >= 32)
        return V3_EINVAL;
    if (!core->model.max_leaf)
        v3_cpu_default_model(&core->model);
    if (on)
        core->model.exit_leaves |= 1ull << leaf;
    else
        core->model.exit_leaves &= ~(1ull << leaf);
    return V3_OK;
}

static uint32_t word_of(const char *s, unsigned i)
{
    uint32_t v;
    memcpy(&v, s + 4 * i, 4);
    return v;
}

/* vCPUs in the package (the VM's vCPU count; 1 outside a VM) and the bits of
 * an APIC ID that number them (ceil(log2(n))). */
static unsigned pkg_cpus(const struct v3_core *core)
{
    return core && core->vm && core->vm->num_cores ? core->vm->num_cores : 1;
}
static unsigned id_bits(unsigned n)
{
    unsigned b = 0;
    while ((1u << b) < n)
        b++;
    return b;
}

void v3_cpu_cpuid(struct v3_core *core, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
    struct v3_cpu_model local;
    const struct v3_cpu_model *m = model_of(core, &local);

    out[0] = out[1] = out[2] = out[3] = 0;
    if ((leaf & 0xffffff00u) == 0x40000000u) {
        /* the hypervisor range, reported with CPUID.1:ECX bit 31 */
        if (!(m->feat_ecx & (1u << 31)))
            return;
        if (leaf == 0x40000000u) {
            out[0] = 0x40000010u;
            out[1] = word_of(V3_HV_SIGNATURE, 0);
            out[2] = word_of(V3_HV_SIGNATURE, 1);
            out[3] = word_of(V3_HV_SIGNATURE, 2);
        } else if (leaf == 0x40000010u) {
            out[0] = (uint32_t)V3_TSC_KHZ;        /* timing leaf: TSC and local APIC bus in kHz */
            out[1] = (uint32_t)V3_APIC_BUS_KHZ;
        }
        return;
    }
    if (leaf >= 0x80000000u ? leaf > m->max_ext_leaf : leaf > m->max_leaf) {
        /* beyond the range: Intel answers its highest basic leaf, AMD zeros */
        if (!v3_cpu_model_is_intel(m))
            return;
        leaf = m->max_leaf;
        subleaf = 0;
    } else if (leaf >= 0x80000000u) {
        goto ext;
    }
    switch (leaf) {
    case 0:
        out[0] = m->max_leaf;
        out[1] = word_of(m->vendor, 0);
        out[3] = word_of(m->vendor, 1);
        out[2] = word_of(m->vendor, 2);
        break;
    case 1: {
        unsigned n = pkg_cpus(core);
        out[0] = m->signature;
        /* initial APIC ID, logical processors per package, CLFLUSH line 64 bytes */
        out[1] = (core ? core->id : 0) << 24 | (n & 0xff) << 16 | (8u << 8);
        out[2] = m->feat_ecx & ~(1u << 27);
        if ((m->feat_ecx & (1u << 26)) && core && (core->cr4 & V3_CR4_OSXSAVE))
            out[2] |= 1u << 27;        /* OSXSAVE mirrors CR4.OSXSAVE */
        if (!v3_host.entropy)
            out[2] &= ~(1u << 30);     /* RDRAND needs the host's entropy() */
        out[3] = m->feat_edx;
        if (n > 1)
            out[3] |= 1u << 28;        /* HTT: EBX[23:16] counts the package's logical processors */
        break;
    }
    case 0xb: {
        /* extended topology: one thread per core, all vCPUs cores of one package */
        unsigned n = pkg_cpus(core), id = core ? core->id : 0;
        out[3] = id;                   /* x2APIC ID */
        out[2] = subleaf & 0xff;
        if (subleaf == 0) {
            out[0] = 0;
            out[1] = 1;
            out[2] |= 1u << 8;         /* SMT level */
        } else if (subleaf == 1) {
            out[0] = id_bits(n);
            out[1] = n;
            out[2] |= 2u << 8;         /* core level */
        }
        break;
    }
    case 7:
        if (subleaf == 0) {
            out[1] = m->leaf7_ebx & (v3_host.entropy ? ~0u : ~(1u << 18));   /* RDSEED: likewise */
            out[2] = m->leaf7_ecx;
        }
        break;
    case 0x15:
        /* TSC = crystal (ECX, Hz) * EBX / EAX: 25 MHz * 80 = 2 GHz, the VM clock's TSC */
        out[0] = 1;
        out[1] = (uint32_t)(V3_TSC_KHZ / 25000u);
        out[2] = 25000000u;
        break;
    case 0x16:
        out[0] = (uint32_t)(V3_TSC_KHZ / 1000u);   /* base and maximum MHz, bus MHz */
        out[1] = (uint32_t)(V3_TSC_KHZ / 1000u);
        out[2] = 100;
        break;
    case 0xd:
        /* XSAVE: x87 and SSE components, standard format (legacy region + header = 576 bytes) */
        if (!(m->feat_ecx & (1u << 26)))
            break;
        if (subleaf == 0) {
            out[0] = 3;
            out[1] = 576;                 /* for the components enabled in XCR0 (both fit the same) */
            out[2] = 576;
        } else if (subleaf == 1) {
            out[0] = m->leaf_d1_eax & 1u; /* XSAVEOPT only: no XSAVEC/XGETBV(1)/XSAVES */
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
    case 0x80000008u: {
        unsigned n = pkg_cpus(core);
        out[0] = (uint32_t)m->virt_bits << 8 | m->phys_bits;
        if (!v3_cpu_model_is_intel(m))
            out[2] = (id_bits(n) << 12) | (n - 1);   /* AMD: ApicIdSize, NC (cores - 1) */
        break;
    }
    default:
        break;
    }
}

bool v3_cpu_cpuid_exits(struct v3_core *core, uint32_t leaf)
{
    const struct v3_cpu_model *m;
    if (!core || !core->model.max_leaf)
        return false;
    m = &core->model;
    if (leaf < 32 && ((m->exit_leaves >> leaf) & 1))
        return true;
    if (m->exit_leaves >> 63) {
        if (leaf >= 0x80000000u ? leaf > m->max_ext_leaf : leaf > m->max_leaf)
            return true;
    }
    return false;
}
