/* SPDX-License-Identifier: MIT */
/**
 * @file v3/cpuid.h
 * The CPU model: what CPUID reports, the vendor, MAXPHYADDR.
 *
 * The model is part of the architectural state of every vCPU
 * (struct v3_core::model), kept by the architectural layer (src/arch), so
 * every back end answers CPUID from the same model (the software CPU
 * directly; a hardware back end hands it to the hardware).  A vCPU whose
 * model was never set (max_leaf 0) answers with the default model.
 */
#ifndef V3_CPUID_H
#define V3_CPUID_H

#include <stdbool.h>
#include <stdint.h>

struct v3_core;

/** The CPU model CPUID reports. */
struct v3_cpu_model {
    char vendor[13];            /**< 12 characters + NUL, e.g. "GenuineIntel" */
    uint32_t max_leaf;          /**< highest basic leaf (>= 1) */
    uint32_t max_ext_leaf;      /**< highest extended leaf (>= 0x80000000) */
    uint32_t signature;         /**< leaf 1 EAX: family/model/stepping */
    uint32_t feat_ecx, feat_edx;        /**< leaf 1 ECX/EDX feature bits */
    uint32_t ext_feat_ecx, ext_feat_edx;/**< leaf 0x80000001 ECX/EDX */
    uint32_t leaf7_ebx;         /**< leaf 7 subleaf 0 EBX */
    uint32_t leaf7_ecx;         /**< leaf 7 subleaf 0 ECX */
    char brand[49];             /**< brand string (leaves 0x80000002-4) */
    uint32_t leaf_d1_eax;       /**< leaf 0xD subleaf 1 EAX: bit 0 XSAVEOPT (others unsupported) */
    uint8_t phys_bits;          /**< MAXPHYADDR, 36..52: CPUID 0x80000008 EAX[7:0] and the page
                                     walker's reserved-bit checks (applied by v3_cpu_set_model) */
    uint8_t virt_bits;          /**< linear-address width, CPUID 0x80000008 EAX[15:8] (48) */
    uint64_t exit_leaves;       /**< bit n: leaf n (n < 32) exits to the VMM as V3_EXIT_CPUID;
                                     bit 63: every leaf beyond max_leaf/max_ext_leaf exits */
};

/** CPU vendors a model can present (CPUID leaf 0 and vendor-specific behaviour). */
enum v3_cpu_vendor {
    V3_CPU_VENDOR_AMD = 0,      /**< "AuthenticAMD" (the default) */
    V3_CPU_VENDOR_INTEL = 1,    /**< "GenuineIntel" */
};

/**
 * Fill @p m with the model of the software CPU as @p vendor presents it:
 * the same implemented features, the vendor string, a plausible
 * family/model/stepping, and vendor-dependent details (AMD repeats leaf-1
 * EDX bits in 0x80000001 EDX; a leaf beyond the range answers zeros on AMD,
 * the highest basic leaf on Intel; PLATFORM_INFO exists only on Intel, the
 * AMD MSRs HWCR/SYSCFG/NB_CFG/PERF_CTL only on AMD).  Never fails.
 */
void v3_cpu_vendor_model(struct v3_cpu_model *m, enum v3_cpu_vendor vendor);

/** True when the model's vendor string is "GenuineIntel" (false for NULL). */
bool v3_cpu_model_is_intel(const struct v3_cpu_model *m);

/** The default model (v3_cpu_vendor_model with V3_CPU_VENDOR_AMD): a 64-bit CPU with the features the software CPU
 *  implements.  The model also bounds CR4: a write that sets a bit whose
 *  feature the model does not report (VME, PSE, PAE, PGE, MCE, OSFXSR,
 *  OSXMMEXCPT, OSXSAVE, FSGSBASE, SMEP, SMAP, UMIP, ...) raises #GP. */
void v3_cpu_default_model(struct v3_cpu_model *m);

/** Replace the model of @p core (copied into core->model) and apply its
 *  MAXPHYADDR to the vCPU's page walker (v3_paging_set_maxphyaddr, which
 *  flushes the TLB).
 *  V3_EINVAL for NULL, a max_leaf < 1, phys_bits outside 36..52 or
 *  virt_bits other than 48/57.  Call between runs of the vCPU. */
int v3_cpu_set_model(struct v3_core *core, const struct v3_cpu_model *m);

/**
 * Make CPUID leaf @p leaf (< 32) exit to the VMM (@p on) or not, for @p core
 * (v3_cpu_model::exit_leaves bit).  v3_hook_cpuid() uses it so that hooked
 * leaves reach their hook.  V3_EINVAL for NULL or leaf >= 32.
 */
int v3_cpu_set_cpuid_exit(struct v3_core *core, uint32_t leaf, bool on);

/**
 * CPUID as the model answers it (what the instruction puts in EAX..EDX).
 * On a V3_EXIT_CPUID the registers already hold these values.
 */
void v3_cpu_cpuid(struct v3_core *core, uint32_t leaf, uint32_t subleaf, uint32_t out[4]);

/** True when CPUID @p leaf must exit to the VMM (v3_cpu_model::exit_leaves). */
bool v3_cpu_cpuid_exits(struct v3_core *core, uint32_t leaf);

#endif
