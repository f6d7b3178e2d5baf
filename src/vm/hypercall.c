/* SPDX-License-Identifier: MIT */
/* Hypercall table (red-black tree keyed by ID), built-in hypercalls, MSR and CPUID hooks. */
#include "internal/host.h"
#include "internal/vm.h"
#include <v3/cpu.h>

static struct v3_hypercall *hc_find(struct v3_vm *vm, uint64_t id)
{
    struct v3_rb_node *n = vm->hypercalls.node;

    while (n) {
        struct v3_hypercall *h = v3_rb_entry(n, struct v3_hypercall, node);
        if (id < h->id)
            n = n->left;
        else if (id > h->id)
            n = n->right;
        else
            return h;
    }
    return NULL;
}

int v3_register_hypercall(struct v3_vm *vm, uint64_t id, v3_hypercall_fn fn, void *priv)
{
    return v3_register_hypercall_flags(vm, id, fn, priv, 0);
}

int v3_register_hypercall_flags(struct v3_vm *vm, uint64_t id, v3_hypercall_fn fn, void *priv,
                                unsigned flags)
{
    struct v3_rb_node **link, *parent = NULL;
    struct v3_hypercall *h;

    if (!vm) {
        V3_ERROR("v3_register_hypercall: NULL VM");
        return V3_EINVAL;
    }
    if (flags & ~V3_HCALL_USER) {
        V3_ERROR("v3_register_hypercall: ID 0x%llx: unknown flags 0x%x", (unsigned long long)id,
                 flags & ~V3_HCALL_USER);
        return V3_EINVAL;
    }
    if (!fn) {
        V3_ERROR("v3_register_hypercall: ID 0x%llx: NULL handler", (unsigned long long)id);
        return V3_ENOCALLBACK;
    }
    link = &vm->hypercalls.node;
    while (*link) {
        struct v3_hypercall *o = v3_rb_entry(*link, struct v3_hypercall, node);
        parent = *link;
        if (id < o->id) {
            link = &(*link)->left;
        } else if (id > o->id) {
            link = &(*link)->right;
        } else {
            V3_ERROR("v3_register_hypercall: ID 0x%llx already has a handler", (unsigned long long)id);
            return V3_EEXIST;
        }
    }
    h = v3_zalloc(sizeof(*h));
    if (!h) {
        V3_ERROR("v3_register_hypercall: out of memory");
        return V3_ENOMEM;
    }
    h->id = id;
    h->fn = fn;
    h->priv = priv;
    h->flags = flags;
    v3_rb_link(&h->node, parent, link);
    v3_rb_insert_fixup(&h->node, &vm->hypercalls);
    return V3_OK;
}

int v3_remove_hypercall(struct v3_vm *vm, uint64_t id)
{
    struct v3_hypercall *h;

    if (!vm) {
        V3_ERROR("v3_remove_hypercall: NULL VM");
        return V3_EINVAL;
    }
    h = hc_find(vm, id);
    if (!h) {
        V3_ERROR("v3_remove_hypercall: no handler for ID 0x%llx", (unsigned long long)id);
        return V3_ENOENT;
    }
    v3_rb_erase(&h->node, &vm->hypercalls);
    v3_free(h);
    return V3_OK;
}

void v3_hypercall_free_all(struct v3_vm *vm)
{
    struct v3_rb_node *n;

    while ((n = v3_rb_first(&vm->hypercalls)) != NULL) {
        v3_rb_erase(n, &vm->hypercalls);
        v3_free(v3_rb_entry(n, struct v3_hypercall, node));
    }
}

int v3_handle_hypercall(struct v3_core *core)
{
    struct v3_vm *vm;
    struct v3_hypercall *h;
    uint64_t id, result = ~0ull;
    int rc;

    if (!core || !core->vm)
        return V3_EINVAL;
    vm = core->vm;
    id = core->gpr[V3_RAX];
    if (core->mode != V3_MODE_LONG64)
        id &= 0xffffffffull;
    h = hc_find(vm, id);
    if (!h) {
        __atomic_add_fetch(&vm->stats.hypercalls_unknown, 1, __ATOMIC_RELAXED);
        V3_DEBUG("hypercall: unknown ID 0x%llx -> -1", (unsigned long long)id);
        core->gpr[V3_RAX] = ~0ull;
        return 0;
    }
    if (core->cpl > 0 && !(h->flags & V3_HCALL_USER)) {
        __atomic_add_fetch(&vm->stats.hypercalls_denied, 1, __ATOMIC_RELAXED);
        V3_DEBUG("hypercall: ID 0x%llx from CPL %u denied -> -1", (unsigned long long)id, core->cpl);
        core->gpr[V3_RAX] = ~0ull;
        return 0;
    }
    rc = h->fn(core, id, &result, h->priv);
    if (rc < 0) {
        V3_ERROR("hypercall: handler of ID 0x%llx failed: %s", (unsigned long long)id, v3_strerror(rc));
        return rc;
    }
    vm->hypercalls_done++;
    core->gpr[V3_RAX] = result;
    return 0;
}

/* MEM_OFFSET: RBX <- host address of guest RAM, if the configuration allows it. */
static int hc_mem_offset(struct v3_core *core, uint64_t id, uint64_t *result, void *priv)
{
    struct v3_vm *vm = core->vm;
    void *hva;

    if (!vm->config.enable_mem_offset_hypercall || v3_gpa_to_hva(vm, 0, &hva) < 0) {
        *result = ~0ull;
        return 0;
    }
    core->gpr[V3_RBX] = (uint64_t)(uintptr_t)hva;
    *result = 0;
    return 0;
}

/* The doorbell port (v3/hypercall.h): the software CPU gets here; the KVM
 * back end turns the port write into a V3_EXIT_HYPERCALL itself. */
static int hc_doorbell_write(struct v3_core *core, uint16_t port, const void *src, unsigned len, void *priv)
{
    (void)port; (void)src; (void)len; (void)priv;
    return v3_handle_hypercall(core);
}

int v3_hypercall_builtin_init(struct v3_vm *vm)
{
    int rc = v3_register_hypercall(vm, V3_HCALL_MEM_OFFSET, hc_mem_offset, NULL);
    if (rc < 0)
        return rc;
    return v3_hook_io_port(vm, V3_HCALL_DOORBELL_PORT, NULL, hc_doorbell_write, NULL);
}

/* ---- MSR and CPUID hooks: short lists ---- */

int v3_hook_msr(struct v3_vm *vm, uint32_t msr, v3_msr_read_fn read, v3_msr_write_fn write, void *priv)
{
    struct v3_msr_hook *h;

    if (!vm) {
        V3_ERROR("v3_hook_msr: NULL VM");
        return V3_EINVAL;
    }
    if (!read && !write) {
        V3_ERROR("v3_hook_msr: MSR 0x%x: no callback", msr);
        return V3_ENOCALLBACK;
    }
    for (h = vm->msr_hooks; h; h = h->next) {
        if (h->msr == msr) {
            V3_ERROR("v3_hook_msr: MSR 0x%x is already hooked", msr);
            return V3_EEXIST;
        }
    }
    h = v3_zalloc(sizeof(*h));
    if (!h) {
        V3_ERROR("v3_hook_msr: out of memory");
        return V3_ENOMEM;
    }
    h->msr = msr;
    h->read = read;
    h->write = write;
    h->priv = priv;
    h->next = vm->msr_hooks;
    vm->msr_hooks = h;
    __atomic_add_fetch(&vm->msr_hooks_gen, 1, __ATOMIC_RELEASE);
    return V3_OK;
}

int v3_unhook_msr(struct v3_vm *vm, uint32_t msr)
{
    if (!vm)
        return V3_EINVAL;
    for (struct v3_msr_hook **p = &vm->msr_hooks; *p; p = &(*p)->next) {
        if ((*p)->msr == msr) {
            struct v3_msr_hook *h = *p;
            *p = h->next;
            v3_free(h);
            __atomic_add_fetch(&vm->msr_hooks_gen, 1, __ATOMIC_RELEASE);
            return V3_OK;
        }
    }
    V3_ERROR("v3_unhook_msr: MSR 0x%x is not hooked", msr);
    return V3_ENOENT;
}

/* The software CPU answers CPUID from its model unless the leaf exits: make a
 * hooked basic leaf exit on every vCPU. */
static void cpuid_exits(struct v3_vm *vm, uint32_t leaf, bool on)
{
    if (vm->backend != &v3_emu_backend || leaf >= 32)
        return;
    for (unsigned i = 0; i < vm->cores_ready; i++)
        v3_cpu_set_cpuid_exit(&vm->cores[i], leaf, on);
}

int v3_hook_cpuid(struct v3_vm *vm, uint32_t leaf, v3_cpuid_fn fn, void *priv)
{
    struct v3_cpuid_hook *h;

    if (!vm) {
        V3_ERROR("v3_hook_cpuid: NULL VM");
        return V3_EINVAL;
    }
    if (!fn) {
        V3_ERROR("v3_hook_cpuid: leaf 0x%x: NULL callback", leaf);
        return V3_ENOCALLBACK;
    }
    for (h = vm->cpuid_hooks; h; h = h->next) {
        if (h->leaf == leaf) {
            V3_ERROR("v3_hook_cpuid: leaf 0x%x is already hooked", leaf);
            return V3_EEXIST;
        }
    }
    h = v3_zalloc(sizeof(*h));
    if (!h) {
        V3_ERROR("v3_hook_cpuid: out of memory");
        return V3_ENOMEM;
    }
    h->leaf = leaf;
    h->fn = fn;
    h->priv = priv;
    h->next = vm->cpuid_hooks;
    vm->cpuid_hooks = h;
    cpuid_exits(vm, leaf, true);
    return V3_OK;
}

int v3_unhook_cpuid(struct v3_vm *vm, uint32_t leaf)
{
    if (!vm)
        return V3_EINVAL;
    for (struct v3_cpuid_hook **p = &vm->cpuid_hooks; *p; p = &(*p)->next) {
        if ((*p)->leaf == leaf) {
            struct v3_cpuid_hook *h = *p;
            *p = h->next;
            v3_free(h);
            cpuid_exits(vm, leaf, false);
            return V3_OK;
        }
    }
    V3_ERROR("v3_unhook_cpuid: leaf 0x%x is not hooked", leaf);
    return V3_ENOENT;
}

void v3_msr_cpuid_free_all(struct v3_vm *vm)
{
    while (vm->msr_hooks) {
        struct v3_msr_hook *h = vm->msr_hooks;
        vm->msr_hooks = h->next;
        v3_free(h);
    }
    while (vm->cpuid_hooks) {
        struct v3_cpuid_hook *h = vm->cpuid_hooks;
        vm->cpuid_hooks = h->next;
        v3_free(h);
    }
}

/* MSR exit: hooked -> callback; otherwise #GP(0) at the instruction. */
int v3_msr_access(struct v3_core *core, uint32_t msr, bool write, uint64_t *value)
{
    struct v3_vm *vm = core->vm;
    struct v3_msr_hook *h;
    int rc;

    for (h = vm->msr_hooks; h; h = h->next)
        if (h->msr == msr)
            break;
    if (h && (write ? h->write != NULL : h->read != NULL)) {
        if (write) {
            rc = h->write(core, msr, *value, h->priv);
        } else {
            *value = 0;
            rc = h->read(core, msr, value, h->priv);
        }
        if (rc == V3_EFAULT)
            return V3_EFAULT;        /* the hook refuses the access: #GP(0) */
        if (rc < 0)
            V3_ERROR("msr: hook of MSR 0x%x failed: %s", msr, v3_strerror(rc));
        return rc < 0 ? rc : 0;
    }
    if (write && msr == 0x1b) {
        /* IA32_APIC_BASE without a local APIC device: plain state (the back end
         * checked the reserved bits) */
        core->apic_base = *value;
        return 0;
    }
    V3_DEBUG("msr: %s of unhooked MSR 0x%x -> #GP", write ? "WRMSR" : "RDMSR", msr);
    return V3_EFAULT;
}

int v3_handle_msr_exit(struct v3_core *core, const struct v3_exit *ex, bool write)
{
    struct v3_vm *vm = core->vm;
    uint64_t v = ex->msr.value;
    int rc = v3_msr_access(core, ex->msr.index, write, &v);

    if (rc == 0 && !write) {
        core->gpr[V3_RAX] = (uint32_t)v;
        core->gpr[V3_RDX] = v >> 32;
    }
    if (rc != V3_EFAULT)
        return rc;
    {
        struct v3_event ev;
        memset(&ev, 0, sizeof(ev));
        ev.type = V3_EVENT_EXCEPTION;
        ev.vector = V3_EXC_GP;
        ev.has_error_code = true;
        ev.error_code = 0;
        core->rip = ex->insn_rip;
        if (!vm->backend || !vm->backend->inject)
            return V3_EUNSUPPORTED;
        return vm->backend->inject(core, &ev);
    }
}

int v3_cpuid_apply_hooks(struct v3_core *core, uint32_t leaf, uint32_t subleaf, uint32_t regs[4])
{
    for (struct v3_cpuid_hook *h = core->vm->cpuid_hooks; h; h = h->next)
        if (h->leaf == leaf) {
            uint32_t r[4] = { regs[0], regs[1], regs[2], regs[3] };
            int rc = h->fn(core, leaf, subleaf, r, h->priv);
            if (rc < 0)
                return rc;
            memcpy(regs, r, sizeof(r));
            return 1;
        }
    return 0;
}

int v3_handle_cpuid_exit(struct v3_core *core, const struct v3_exit *ex)
{
    uint32_t regs[4] = { (uint32_t)core->gpr[V3_RAX], (uint32_t)core->gpr[V3_RBX],
                         (uint32_t)core->gpr[V3_RCX], (uint32_t)core->gpr[V3_RDX] };
    int rc = v3_cpuid_apply_hooks(core, ex->cpuid.leaf, ex->cpuid.subleaf, regs);

    if (rc < 0) {
        V3_ERROR("cpuid: hook of leaf 0x%x failed: %s", ex->cpuid.leaf, v3_strerror(rc));
        return rc;
    }
    if (rc > 0) {
        core->gpr[V3_RAX] = regs[0];
        core->gpr[V3_RBX] = regs[1];
        core->gpr[V3_RCX] = regs[2];
        core->gpr[V3_RDX] = regs[3];
    }
    return 0;
}
