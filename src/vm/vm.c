/* SPDX-License-Identifier: MIT */
/* VM creation and teardown. */
#include "internal/host.h"
#include "internal/vm.h"
#include "emu/fault_cache.h"
#include "arch/system.h"
#include <v3/paging.h>

#include <v3/cpu.h>

static int select_backend(struct v3_vm *vm, const struct v3_vm_config *cfg)
{
    if (cfg->backend_ops) {
        vm->backend = cfg->backend_ops;
        return V3_OK;
    }
    if (!cfg->backend || v3_str_eq(cfg->backend, "emu")) {
        vm->backend = &v3_emu_backend;
        return V3_OK;
    }
    if (v3_str_eq(cfg->backend, "kvm")) {
        int rc = v3_kvm_probe(false);
        if (rc < 0)
            return rc;
        vm->backend = &v3_kvm_backend;
        return V3_OK;
    }
    if (v3_str_eq(cfg->backend, "auto")) {
        vm->backend = v3_kvm_probe(true) == V3_OK ? &v3_kvm_backend : &v3_emu_backend;
        V3_INFO("v3_create_vm: accelerator \"auto\" chose %s", vm->backend->name);
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
    v3_devmodel_free(vm);
    if (vm->wake) {
        for (unsigned i = 0; i < vm->num_cores; i++)
            if (vm->wake[i])
                v3_host.event_free(vm->wake[i]);
        v3_free(vm->wake);
    }
    v3_io_free_all(vm);
    v3_hypercall_free_all(vm);
    v3_msr_cpuid_free_all(vm);
    if (vm->mem_ready)
        v3_mem_map_deinit(vm);
    if (vm->high_ram)
        v3_free_pages(vm->high_ram, vm->high_ram_len / V3_PAGE_SIZE);
    v3_free(vm->io_warned);
    if (vm->smp_lock)
        v3_host.mutex_free(vm->smp_lock);
    v3_free(vm->xmc_shared);
    v3_free(vm->vrun);
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
    if (n > V3_MAX_CORES) {
        V3_ERROR("v3_create_vm: %u vCPUs requested, at most %u are supported", n, V3_MAX_CORES);
        rc = V3_EINVAL;
        goto fail_noalloc;
    }
    if (n > 1 && !v3_host.thread_create) {
        V3_ERROR("v3_create_vm: %u vCPUs need host threads (the thread_create/thread_join "
                 "members of struct v3_os_hooks)", n);
        rc = V3_EINVAL;
        goto fail_noalloc;
    }
    if (cfg->num_regions && !cfg->regions) {
        V3_ERROR("v3_create_vm: %u extra regions but no region array", cfg->num_regions);
        rc = V3_EINVAL;
        goto fail_noalloc;
    }
    if (cfg->num_device_args && !cfg->device_args) {
        V3_ERROR("v3_create_vm: %u extra devices but no device array", cfg->num_device_args);
        rc = V3_EINVAL;
        goto fail_noalloc;
    }
    if (cfg->clock != V3_CLOCK_REALTIME && cfg->clock != V3_CLOCK_VIRTUAL) {
        V3_ERROR("v3_create_vm: unknown clock mode %d", cfg->clock);
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
    vm->config.machine = NULL;
    vm->config.device_args = NULL;
    vm->config.num_device_args = 0;
    vm->num_cores = n;
    rc = select_backend(vm, cfg);
    if (rc < 0)
        goto fail_vm;
    vm->config.backend = vm->backend->name;
    vm->cores = v3_zalloc(sizeof(struct v3_core) * n);
    vm->vrun = v3_zalloc(sizeof(struct v3_vcpu_run) * n);
    vm->io_warned = v3_zalloc(65536 / 8);
    vm->smp_lock = v3_host.mutex_alloc();
    if (!vm->cores || !vm->vrun || !vm->io_warned || !vm->smp_lock) {
        V3_ERROR("v3_create_vm: out of memory for vCPUs");
        rc = V3_ENOMEM;
        goto fail_vm;
    }
    vm->clock.mode = cfg->clock;
    vm->clock.insn_ps = cfg->virtual_insn_ps ? cfg->virtual_insn_ps : 1000;
    vm->clock.base_ns = v3_time_ns();
    vm->clock.insns = &vm->cores[0].insn_count;
    vm->rate_ipns_q16 = 1u << 14;       /* 0.25 instructions per ns until measured */
    for (unsigned i = 0; i < n; i++) {
        vm->cores[i].vm = vm;
        vm->cores[i].id = i;
        vm->cores[i].clock = &vm->clock;
        vm->cores[i].dbg = &vm->debug;
        v3_core_reset(&vm->cores[i]);
        vm->vrun[i].vm = vm;
        vm->vrun[i].core = &vm->cores[i];
        vm->vrun[i].wait_sipi = i != 0;   /* application processors wait for a SIPI */
    }
    if (v3_host.event_alloc) {
        vm->wake = v3_zalloc(sizeof(void *) * n);
        if (!vm->wake) {
            V3_ERROR("v3_create_vm: out of memory for wake-up events");
            rc = V3_ENOMEM;
            goto fail_vm;
        }
        for (unsigned i = 0; i < n; i++)
            if (!(vm->wake[i] = v3_host.event_alloc())) {
                V3_ERROR("v3_create_vm: out of memory for a wake-up event");
                rc = V3_ENOMEM;
                goto fail_vm;
            }
    }
    rc = v3_devmodel_init(vm);
    if (rc < 0)
        goto fail_vm;
    {
        /* a machine with a device window below 4 GiB moves the RAM above it past 4 GiB */
        uint64_t hole = v3_machine_ram_hole(cfg->machine), low = cfg->mem_size;
        if (hole && low > hole && !(low & 0xfff)) {
            vm->high_ram_len = low - hole;
            low = hole;
        }
        rc = v3_mem_map_init(vm, low);
        if (rc < 0)
            goto fail_vm;
        vm->mem_ready = 1;
        if (vm->high_ram_len) {
            vm->high_ram = v3_alloc_pages(vm->high_ram_len / V3_PAGE_SIZE);
            if (!vm->high_ram) {
                V3_ERROR("v3_create_vm: out of memory for %llu MiB of RAM above 4 GiB",
                         (unsigned long long)(vm->high_ram_len >> 20));
                rc = V3_ENOMEM;
                goto fail_vm;
            }
            rc = v3_add_shadow_mem(vm, 1ull << 32, (1ull << 32) + vm->high_ram_len, vm->high_ram);
            if (rc < 0)
                goto fail_vm;
        }
        rc = v3_mem_dirty_init(&vm->mem, (1ull << 32) >> 12, vm->high_ram_len >> 12);
        if (rc < 0)
            goto fail_vm;
    }
    for (unsigned i = 0; i < cfg->num_regions; i++) {
        const struct v3_vm_region_config *r = &cfg->regions[i];
        rc = v3_add_shadow_mem(vm, r->start, r->end, r->host_addr);
        if (rc < 0)
            goto fail_vm;
    }
    rc = v3_hypercall_builtin_init(vm);
    if (rc < 0)
        goto fail_vm;

    /* Per-vCPU state of the translation layer and of the back end. */
    for (unsigned i = 0; i < n; i++) {
        struct v3_core *core = &vm->cores[i];
        rc = v3_paging_init_core(core);
        if (rc < 0)
            goto fail_vm;
        if (vm->backend->init_core) {
            rc = vm->backend->init_core(core);
            if (rc < 0 && rc == V3_ENOACCEL) {
                v3_paging_free_core(core);      /* the back end logged the cause */
                goto fail_vm;
            }
            if (rc < 0) {
                V3_ERROR("v3_create_vm: back end %s could not set up vCPU %u: %s",
                         vm->backend->name ? vm->backend->name : "?", i, v3_strerror(rc));
                v3_paging_free_core(core);
                goto fail_vm;
            }
        }
        vm->cores_ready = i + 1;
    }
    rc = v3_devmodel_create_config(vm, cfg);
    if (rc < 0)
        goto fail_vm;
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

void v3_vm_set_a20(struct v3_vm *vm, bool enabled)
{
    /* the KVM back end has no A20 gate: addresses are never masked there */
    if (vm && vm->num_cores && vm->backend != &v3_kvm_backend)
        v3_cpu_set_a20(&vm->cores[0], enabled);
}
