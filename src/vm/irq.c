/* SPDX-License-Identifier: MIT */
/*
 * The IRQ router and the registration of interrupt controllers
 * (include/v3/irqchip.h), and waking a vCPU.
 */
#include "internal/host.h"
#include "internal/vm.h"

/* Called with the router lock held, by line_apply() (src/vm/devmodel.c). */
void v3_irq_route(struct v3_vm *vm, unsigned irq, int level)
{
    struct v3_devmodel *dm = &vm->dm;

    if (irq < 16 && dm->pic_ops)
        dm->pic_ops->set_pin(dm->pic, irq, level);
    if (dm->ioapic_ops && irq != 2)
        dm->ioapic_ops->set_pin(dm->ioapic, irq == 0 ? 2 : irq, level);
}

int v3_vm_set_irqchip(struct v3_vm *vm, enum v3_irqchip_kind kind,
                      const struct v3_irqchip_ops *ops, void *chip)
{
    if (!vm || !ops || !ops->set_pin) {
        V3_ERROR("v3_vm_set_irqchip: NULL argument");
        return V3_EINVAL;
    }
    switch (kind) {
    case V3_IRQCHIP_PIC:
        if (vm->dm.pic_ops)
            goto exists;
        vm->dm.pic_ops = ops;
        vm->dm.pic = chip;
        return V3_OK;
    case V3_IRQCHIP_IOAPIC:
        if (vm->dm.ioapic_ops)
            goto exists;
        vm->dm.ioapic_ops = ops;
        vm->dm.ioapic = chip;
        return V3_OK;
    }
    V3_ERROR("v3_vm_set_irqchip: unknown kind %d", (int)kind);
    return V3_EINVAL;
exists:
    V3_ERROR("v3_vm_set_irqchip: the VM has a %s already", kind == V3_IRQCHIP_PIC ? "PIC" : "IOAPIC");
    return V3_EEXIST;
}

int v3_vm_set_extint(struct v3_vm *vm, const struct v3_extint_ops *ops, void *pic)
{
    if (!vm || !ops || !ops->intr || !ops->ack) {
        V3_ERROR("v3_vm_set_extint: NULL argument");
        return V3_EINVAL;
    }
    if (vm->dm.extint_ops) {
        V3_ERROR("v3_vm_set_extint: the VM has an ExtINT source already");
        return V3_EEXIST;
    }
    vm->dm.extint_ops = ops;
    vm->dm.extint = pic;
    return V3_OK;
}

void v3_vm_extint_changed(struct v3_vm *vm)
{
    if (!vm)
        return;
    /* The BSP takes ExtINT (LINT0 of the other LAPICs is masked by firmware
       convention); with LAPICs the LAPIC decides in pending(). */
    v3_vm_kick(vm, 0);
}

bool v3_vm_extint_pending(struct v3_vm *vm)
{
    return vm && vm->dm.extint_ops && vm->dm.extint_ops->intr(vm->dm.extint);
}

uint8_t v3_vm_extint_ack(struct v3_vm *vm)
{
    if (!vm || !vm->dm.extint_ops)
        return 0xff;
    return vm->dm.extint_ops->ack(vm->dm.extint);
}

int v3_vm_set_lapic(struct v3_vm *vm, const struct v3_lapic_ops *ops, void *lapic)
{
    if (!vm || !ops || !ops->pending || !ops->ack || !ops->deliver) {
        V3_ERROR("v3_vm_set_lapic: NULL argument");
        return V3_EINVAL;
    }
    if (vm->dm.lapic_ops) {
        V3_ERROR("v3_vm_set_lapic: the VM has local APICs already");
        return V3_EEXIST;
    }
    vm->dm.lapic_ops = ops;
    vm->dm.lapic = lapic;
    return V3_OK;
}

void v3_vm_apic_send(struct v3_vm *vm, const struct v3_apic_msg *msg)
{
    if (vm && msg && vm->dm.lapic_ops)
        vm->dm.lapic_ops->deliver(vm->dm.lapic, msg);
}

void v3_vm_apic_eoi(struct v3_vm *vm, uint8_t vector)
{
    if (vm && vm->dm.ioapic_ops && vm->dm.ioapic_ops->eoi)
        vm->dm.ioapic_ops->eoi(vm->dm.ioapic, vector);
}

void v3_vm_apic_taken(struct v3_vm *vm, uint8_t vector)
{
    if (vm && vm->dm.ioapic_ops && vm->dm.ioapic_ops->taken)
        vm->dm.ioapic_ops->taken(vm->dm.ioapic, vector);
}

void v3_vm_irq_taken(struct v3_vm *vm, unsigned irq)
{
    if (vm && irq < V3_NR_IRQS)
        __atomic_add_fetch(&vm->dm.irq_taken[irq], 1, __ATOMIC_RELEASE);
}

void v3_vm_kick(struct v3_vm *vm, unsigned core_id)
{
    struct v3_core *core;

    if (!vm || core_id >= vm->num_cores)
        return;
    core = &vm->cores[core_id];
    if (vm->backend && vm->backend->kick && core->backend)
        vm->backend->kick(core);
    if (vm->wake && v3_host.event_signal)
        v3_host.event_signal(vm->wake[core_id]);
}

/*
 * The interrupt @p core should take next: its vector, or -1.  With @p ack
 * the interrupt controller performs the INTA (the vector moves to service).
 */
int v3_vm_intr_next(struct v3_vm *vm, struct v3_core *core, bool ack)
{
    struct v3_devmodel *dm = &vm->dm;

    if (dm->lapic_ops)
        return ack ? dm->lapic_ops->ack(dm->lapic, core) : dm->lapic_ops->pending(dm->lapic, core);
    if (core->id == 0 && dm->extint_ops && dm->extint_ops->intr(dm->extint))
        return ack ? dm->extint_ops->ack(dm->extint) : 0;
    return -1;
}
