/* SPDX-License-Identifier: MIT */
/* VM creation and teardown. */
#include "internal/host.h"
#include "internal/vm.h"
#include "emu/fault_cache.h"
#include <v3/paging.h>

#include <v3/cpu.h>

static int name_eq(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

static int select_backend(struct v3_vm *vm, const struct v3_vm_config *cfg)
{
    if (cfg->backend_ops) {
        vm->backend = cfg->backend_ops;
        return V3_OK;
    }
    if (!cfg->backend || name_eq(cfg->backend, "emu")) {
        vm->backend = &v3_emu_backend;
        return V3_OK;
    }
    V3_ERROR("v3_create_vm: unknown back end \"%.32s\"", cfg->backend);
    return V3_ENOENT;
}

/* Tear down whatever part of the VM exists (creation failure or v3_free_vm). */
static void vm_destroy(struct v3_vm *vm)
{
    for (unsigned i = vm->cores_ready; i-- > 0;) {
        struct v3_core *core = &vm->cores[i];
        /* back-end state, then the software TLB (v3/paging.h) */
        if (vm->backend && vm->backend->free_core)
            vm->backend->free_core(core);
        v3_paging_free_core(core);
        v3_emu_fault_free_core(core);
    }
    vm->cores_ready = 0;
    v3_testdev_detach(vm);
    v3_vga_detach(vm);
    v3_uart_detach(vm);
    v3_io_free_all(vm);
    v3_hypercall_free_all(vm);
    v3_msr_cpuid_free_all(vm);
    if (vm->mem_ready)
        v3_mem_map_deinit(vm);
    v3_free(vm->io_warned);
    v3_free(vm->cores);
    v3_free(vm);
}

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
    if (cfg->num_regions && !cfg->regions) {
        V3_ERROR("v3_create_vm: %u extra regions but no region array", cfg->num_regions);
        rc = V3_EINVAL;
        goto fail_noalloc;
    }
    if (cfg->devices & ~V3_DEV_ALL) {
        V3_ERROR("v3_create_vm: unknown device bits 0x%x", cfg->devices & ~V3_DEV_ALL);
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
    vm->config.regions = NULL;
    vm->config.num_regions = 0;
    vm->config.backend = NULL;
    vm->num_cores = n;
    rc = select_backend(vm, cfg);
    if (rc < 0)
        goto fail_vm;
    vm->config.backend = vm->backend->name;
    vm->cores = v3_zalloc(sizeof(struct v3_core) * n);
    vm->io_warned = v3_zalloc(65536 / 8);
    if (!vm->cores || !vm->io_warned) {
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
        goto fail_vm;
    vm->mem_ready = 1;
    for (unsigned i = 0; i < cfg->num_regions; i++) {
        const struct v3_vm_region_config *r = &cfg->regions[i];
        rc = v3_add_shadow_mem(vm, r->start, r->end, r->host_addr);
        if (rc < 0)
            goto fail_vm;
    }
    rc = v3_hypercall_builtin_init(vm);
    if (rc < 0)
        goto fail_vm;
    if ((cfg->devices & V3_DEV_UART) && (rc = v3_uart_attach(vm)) < 0)
        goto fail_vm;
    if ((cfg->devices & V3_DEV_DEBUG_EXIT) && (rc = v3_debug_exit_attach(vm)) < 0)
        goto fail_vm;
    if ((cfg->devices & V3_DEV_VGA_TEXT) && (rc = v3_vga_attach(vm)) < 0)
        goto fail_vm;
    if ((cfg->devices & V3_DEV_TESTDEV) && (rc = v3_testdev_attach(vm)) < 0)
        goto fail_vm;
    if ((cfg->devices & V3_DEV_SYSCTL_A) && (rc = v3_sysctl_a_attach(vm)) < 0)
        goto fail_vm;

    /* Per-vCPU state of the translation layer and of the back end. */
    for (unsigned i = 0; i < n; i++) {
        struct v3_core *core = &vm->cores[i];
        rc = v3_paging_init_core(core);
        if (rc < 0)
            goto fail_vm;
        if (vm->backend->init_core) {
            rc = vm->backend->init_core(core);
            if (rc < 0) {
                V3_ERROR("v3_create_vm: back end %s could not set up vCPU %u: %s",
                         vm->backend->name ? vm->backend->name : "?", i, v3_strerror(rc));
                v3_paging_free_core(core);
                goto fail_vm;
            }
        }
        vm->cores_ready = i + 1;
    }
    v3_host_vm_created();
    return vm;

fail_vm:
    vm_destroy(vm);
fail_noalloc:
    if (err)
        *err = rc;
    return NULL;
}

void v3_free_vm(struct v3_vm *vm)
{
    if (!vm)
        return;
    vm_run_quiesce(vm);
    vm_destroy(vm);
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

const struct v3_vm_config *v3_vm_config(const struct v3_vm *vm)
{
    return vm ? &vm->config : NULL;
}
