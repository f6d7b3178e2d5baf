/* SPDX-License-Identifier: MIT */
/**
 * @file v3/io.h
 * I/O port hooks.
 *
 * Each port (0-0xFFFF) has at most one hook.  An IN or OUT of 1, 2 or 4
 * bytes at port P calls the hook of P once with that size (a device that
 * spans several ports hooks each of them).  INS/OUTS, with or without REP,
 * are performed by the VMM element by element through the same callbacks,
 * moving data through guest linear memory (v3_read/write_gva_memory),
 * honouring RFLAGS.DF, the address size (16/32/64) and rCX.
 *
 * An access to a port with no hook reads as all ones and the write is
 * ignored; the first access to each such port is logged (warning level).
 */
#ifndef V3_IO_H
#define V3_IO_H

#include <stdint.h>
#include <v3/vcpu.h>

struct v3_vm;

/**
 * IN: fill @p dst (size bytes, little endian) with the value read at @p port.
 * @return 0, or a negative enum v3_error (the VM then stops with an error).
 */
typedef int (*v3_io_read_fn)(struct v3_core *core, uint16_t port, void *dst, unsigned size, void *priv);
/** OUT: @p src holds @p size bytes written to @p port.  0 or a negative error. */
typedef int (*v3_io_write_fn)(struct v3_core *core, uint16_t port, const void *src, unsigned size, void *priv);

/**
 * Hook @p port.  Either callback may be NULL (reads then return all ones,
 * writes are ignored), not both.
 * @return V3_OK; V3_EEXIST if the port is already hooked; V3_ENOCALLBACK if
 *         both callbacks are NULL; V3_EINVAL for a NULL VM; V3_ENOMEM.
 */
int v3_hook_io_port(struct v3_vm *vm, uint16_t port, v3_io_read_fn read, v3_io_write_fn write, void *priv);

/** Remove the hook of @p port.  V3_ENOENT if it has none, V3_EINVAL for a NULL VM. */
int v3_unhook_io_port(struct v3_vm *vm, uint16_t port);

/** Number of calls made to the hook of @p port so far (0 if unhooked). */
uint64_t v3_io_port_calls(struct v3_vm *vm, uint16_t port);

/* ---- MSR and CPUID hooks ---- */

/** RDMSR of a hooked MSR: set *value.  0; V3_EFAULT to make the RDMSR raise #GP(0)
 *  (as hardware does for a reserved or illegal access); another negative error stops
 *  the VM. */
typedef int (*v3_msr_read_fn)(struct v3_core *core, uint32_t msr, uint64_t *value, void *priv);
/** WRMSR of a hooked MSR.  0, V3_EFAULT (#GP(0) at the WRMSR), or a negative error. */
typedef int (*v3_msr_write_fn)(struct v3_core *core, uint32_t msr, uint64_t value, void *priv);

/**
 * Hook an MSR the back end does not model (its MSR exits; the software CPU
 * also exits for every WRMSR of IA32_APIC_BASE, 0x1B, which a local APIC
 * hooks; unhooked, the VMM stores it in core->apic_base).  An MSR exit for
 * an MSR with no hook injects #GP(0) at the RDMSR/WRMSR, as hardware does.
 * A NULL callback makes that direction raise #GP.
 * @return V3_OK, V3_EEXIST, V3_ENOCALLBACK (both NULL), V3_EINVAL, V3_ENOMEM.
 */
int v3_hook_msr(struct v3_vm *vm, uint32_t msr, v3_msr_read_fn read, v3_msr_write_fn write, void *priv);
/** Remove an MSR hook.  V3_ENOENT if none. */
int v3_unhook_msr(struct v3_vm *vm, uint32_t msr);

/** CPUID of a hooked leaf: set regs[0..3] = EAX, EBX, ECX, EDX (preset to the back end's values). */
typedef int (*v3_cpuid_fn)(struct v3_core *core, uint32_t leaf, uint32_t subleaf, uint32_t regs[4], void *priv);
/** Hook a CPUID leaf (a CPUID exit for an unhooked leaf leaves the registers as the back end set them). */
int v3_hook_cpuid(struct v3_vm *vm, uint32_t leaf, v3_cpuid_fn fn, void *priv);
/** Remove a CPUID hook.  V3_ENOENT if none. */
int v3_unhook_cpuid(struct v3_vm *vm, uint32_t leaf);

#endif
