/* SPDX-License-Identifier: MIT */
/* The VM object.  Subsystems add their per-VM state here. */
#ifndef V3_INTERNAL_VM_H
#define V3_INTERNAL_VM_H

#include <v3/vm.h>
#include "mem/memmap.h"

struct v3_vm {
    struct v3_mem_map mem;           /* guest physical memory map (src/mem) */
    unsigned num_cores;
    struct v3_core *cores;           /* array of num_cores, 64-byte aligned */
    struct v3_vm_config config;
};

#endif
