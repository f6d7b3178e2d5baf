/* SPDX-License-Identifier: MIT */
/**
 * @file v3/hypercall.h
 * Hypercalls: VMCALL (Intel) and VMMCALL (AMD) both trap to the VMM.
 *
 * The hypercall ID is in RAX (EAX outside 64-bit mode).  The handler
 * registered for that ID runs with the calling vCPU and may read and write
 * its registers; the value it stores in *result goes back in RAX.  An ID
 * with no handler sets RAX to -1 (all ones) and the guest continues.
 * Handlers are kept in a red-black tree keyed by ID.
 *
 * Privilege: a hypercall made at CPL > 0 (user mode, and virtual-8086
 * mode) does not run its handler unless the handler was registered with
 * V3_HCALL_USER; RAX is set to -1 (as KVM's -KVM_EPERM) and the guest
 * continues.  This keeps guest user space from reaching VMM services that
 * are meant for the guest kernel.
 */
#ifndef V3_HYPERCALL_H
#define V3_HYPERCALL_H

#include <stdint.h>
#include <v3/vcpu.h>

struct v3_vm;

/**
 * The hypercall doorbell: an OUT of any size to this port is a hypercall,
 * exactly as VMCALL/VMMCALL (ID in RAX, result in RAX), on every back end.
 * Linux KVM answers VMCALL/VMMCALL in the kernel, so under the KVM back end
 * the doorbell is the way a guest reaches the VM's hypercall table.
 */
#define V3_HCALL_DOORBELL_PORT 0x0599u

/** Hypercall IDs defined by v3vmm. */
#define V3_HCALL_MEM_OFFSET  0x1000u   /**< RBX <- host address of guest RAM; off unless enabled (then -1) */
#define V3_HCALL_TEST_SUM    0x5633u   /**< test device: RAX <- RBX + RCX + RDX */
#define V3_HCALL_TEST_COUNT  0x5634u   /**< test device: RAX <- hypercalls handled by the VM so far */

/**
 * A hypercall handler.  Set *result (the guest's new RAX).
 * @return 0, or a negative enum v3_error: the VM then stops with an error.
 */
typedef int (*v3_hypercall_fn)(struct v3_core *core, uint64_t id, uint64_t *result, void *priv);

/**
 * Register @p fn for @p id.
 * @return V3_OK; V3_EEXIST if @p id has a handler; V3_ENOCALLBACK for a NULL
 *         @p fn; V3_EINVAL for a NULL VM; V3_ENOMEM.
 */
int v3_register_hypercall(struct v3_vm *vm, uint64_t id, v3_hypercall_fn fn, void *priv);

/** v3_register_hypercall_flags(): the handler also runs for calls made at CPL > 0. */
#define V3_HCALL_USER  (1u << 0)

/**
 * Register @p fn for @p id with V3_HCALL_* @p flags (v3_register_hypercall()
 * is this with flags 0: kernel-mode callers only).
 * @return as v3_register_hypercall(); V3_EINVAL for unknown flag bits.
 */
int v3_register_hypercall_flags(struct v3_vm *vm, uint64_t id, v3_hypercall_fn fn, void *priv,
                                unsigned flags);

/** Remove the handler of @p id.  V3_ENOENT if none, V3_EINVAL for a NULL VM. */
int v3_remove_hypercall(struct v3_vm *vm, uint64_t id);

/**
 * Run the hypercall in the calling vCPU's RAX as a VMCALL/VMMCALL exit
 * does (the run loop calls this; exposed for back ends and tests).
 * @return 0, or the handler's negative error.
 */
int v3_handle_hypercall(struct v3_core *core);

#endif
