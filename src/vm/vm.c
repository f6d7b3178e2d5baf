/* SPDX-License-Identifier: MIT */
/* VM creation and teardown. */
#include "internal/host.h"
#include "internal/vm.h"

struct v3_vm *v3_create_vm(const struct v3_vm_config *cfg, int *err)
{
    struct v3_vm *vm;
    unsigned n;
    int rc;

    if (err)
        *err = V3_OK;
    if (!v3_host_ready) {
        rc = V3_ENOTINIT;
        goto fail_noalloc;
    }
    if (!cfg) {
        V3_ERROR("v3_create_vm: NULL configuration");
        rc = V3_EINVAL;
        goto fail_noalloc;
    }
    n = cfg->num_cores ? cfg->num_cores : 1;
    if (n != 1) {
        V3_ERROR("v3_create_vm: %u vCPUs requested, only 1 is supported", n);
        rc = V3_EINVAL;
        goto fail_noalloc;
    }
    vm = v3_zalloc(sizeof(*vm));
    if (!vm) {
        V3_ERROR("v3_create_vm: out of memory for the VM object");
        rc = V3_ENOMEM;
        goto fail_noalloc;
    }
    vm->config = *cfg;
    vm->num_cores = n;
    vm->cores = v3_zalloc(sizeof(struct v3_core) * n);
    if (!vm->cores) {
        V3_ERROR("v3_create_vm: out of memory for vCPUs");
        rc = V3_ENOMEM;
        goto fail_vm;
    }
    for (unsigned i = 0; i < n; i++) {
        vm->cores[i].vm = vm;
        vm->cores[i].id = i;
        v3_core_reset(&vm->cores[i]);
    }
    rc = v3_mem_map_init(vm, cfg->mem_size);
    if (rc < 0)
        goto fail_cores;
    v3_host_vm_created();
    return vm;

fail_cores:
    v3_free(vm->cores);
fail_vm:
    v3_free(vm);
fail_noalloc:
    if (err)
        *err = rc;
    return NULL;
}

void v3_free_vm(struct v3_vm *vm)
{
    if (!vm)
        return;
    v3_mem_map_deinit(vm);
    v3_free(vm->cores);
    v3_free(vm);
    v3_host_vm_freed();
}

struct v3_core *v3_get_core(struct v3_vm *vm, unsigned idx)
{
    if (!vm || idx >= vm->num_cores)
        return NULL;
    return &vm->cores[idx];
}

unsigned v3_vm_num_cores(const struct v3_vm *vm)
{
    return vm ? vm->num_cores : 0;
}
