/* SPDX-License-Identifier: MIT */
/**
 * @file v3/vm.h
 * Virtual machines: creation, vCPUs, teardown.
 */
#ifndef V3_VM_H
#define V3_VM_H

#include <stdbool.h>
#include <stdint.h>
#include <v3/vcpu.h>

struct v3_vm;

/** VM configuration.  Zero-initialise, then set what you need. */
struct v3_vm_config {
    uint64_t mem_size;      /**< guest RAM in bytes: non-zero multiple of 4 KiB */
    unsigned num_cores;     /**< vCPUs; 0 means 1.  Only 1 is supported for now. */
};

/**
 * Create a VM with zeroed guest RAM [0, mem_size) and its vCPUs in the
 * reset state.  Requires v3_init().
 * @param err if non-NULL, receives V3_OK or the error (V3_ESIZE for a bad
 *            mem_size, V3_ENOMEM, V3_ENOTINIT, V3_EINVAL).
 * @return the VM (owned by the caller, release with v3_free_vm()) or NULL.
 */
struct v3_vm *v3_create_vm(const struct v3_vm_config *cfg, int *err);

/** Free a VM: every overlay region record, guest RAM, vCPUs.  NULL is ignored. */
void v3_free_vm(struct v3_vm *vm);

/** vCPU @p idx, or NULL if out of range. */
struct v3_core *v3_get_core(struct v3_vm *vm, unsigned idx);

/** Number of vCPUs. */
unsigned v3_vm_num_cores(const struct v3_vm *vm);

#endif
