/* SPDX-License-Identifier: MIT */
/**
 * @file v3/irqchip.h
 * How interrupt controllers plug into the VM.
 *
 * The path of an interrupt on a PC, and the call that carries each step:
 *
 *   device --v3_irq_set()--> router --set_pin()--> 8259A pair (PIC) and IOAPIC
 *   PIC INTR output --v3_vm_extint_changed()--> the vCPU that takes ExtINT
 *   IOAPIC --v3_vm_apic_send()--> local APIC(s): deliver()
 *   vCPU at an instruction boundary, IF=1 --pending()/ack()--> local APIC
 *        (a LAPIC whose LINT0 is ExtINT asks the PIC: v3_vm_extint_ack())
 *   LAPIC EOI of a level-triggered vector --v3_vm_apic_eoi()--> IOAPIC eoi()
 *   PIC INTA of IRQ n, or LAPIC IRR->ISR of an IOAPIC edge's vector
 *        (--v3_vm_apic_taken()--> IOAPIC taken()) --v3_vm_irq_taken()-->
 *        per-IRQ count that devices read with v3_irq_taken() (v3/device.h)
 *
 * Without a local interrupt controller (no LAPIC in the machine), vCPU 0
 * takes the PIC's INTR directly, as a PC without an APIC does.
 *
 * Each controller is a device (v3/device.h) and registers the operations
 * below from its create().  The VM calls them with no device lock held; a
 * controller takes its own lock inside and must not hold it while it calls
 * the next controller (collect, unlock, then send).
 */
#ifndef V3_IRQCHIP_H
#define V3_IRQCHIP_H

#include <stdbool.h>
#include <stdint.h>
#include <v3/vcpu.h>

struct v3_vm;

/** Pins of an interrupt controller fed by the router. */
struct v3_irqchip_ops {
    /** The level of input @p pin is now @p level (0 or 1). */
    void (*set_pin)(void *chip, unsigned pin, int level);
    /** IOAPIC only (may be NULL): a local APIC signalled EOI for @p vector (Remote IRR). */
    void (*eoi)(void *chip, uint8_t vector);
    /**
     * IOAPIC only (may be NULL): a local APIC moved @p vector from IRR to
     * ISR; the chip reports the IRQs of its unmasked edge-triggered pins
     * with that vector through v3_vm_irq_taken().
     */
    void (*taken)(void *chip, uint8_t vector);
};

enum v3_irqchip_kind {
    V3_IRQCHIP_PIC,      /**< 8259A pair: ISA IRQs 0-15 on pins 0-15 */
    V3_IRQCHIP_IOAPIC,   /**< IOAPIC: pins 0-23 (IRQ 0 on pin 2) */
};

/** Register the controller of @p kind.  V3_EEXIST if the VM has one, V3_EINVAL for NULL. */
int v3_vm_set_irqchip(struct v3_vm *vm, enum v3_irqchip_kind kind,
                      const struct v3_irqchip_ops *ops, void *chip);

/** The 8259A's output side: its INTR line and the INTA cycle. */
struct v3_extint_ops {
    /** True while INTR is asserted (an unmasked request would win arbitration). */
    bool (*intr)(void *pic);
    /** INTA: the vector of the highest request (moved to ISR), or the spurious vector. */
    uint8_t (*ack)(void *pic);
};

/** Register the PIC's output side.  V3_EEXIST if registered, V3_EINVAL for NULL. */
int v3_vm_set_extint(struct v3_vm *vm, const struct v3_extint_ops *ops, void *pic);
/** The PIC's INTR may have changed: wakes the vCPU(s) that take ExtINT.  Any thread. */
void v3_vm_extint_changed(struct v3_vm *vm);
/** True if a PIC is registered and its INTR is asserted. */
bool v3_vm_extint_pending(struct v3_vm *vm);
/** INTA cycle on the PIC: the vector it answers (0xFF, a floating bus, without a PIC). */
uint8_t v3_vm_extint_ack(struct v3_vm *vm);

/** An interrupt message from the IOAPIC (or an IPI) to local APICs. */
struct v3_apic_msg {
    uint8_t vector;
    uint8_t delivery;       /**< 0 fixed, 1 lowest priority, 2 SMI, 4 NMI, 5 INIT, 6 SIPI, 7 ExtINT */
    bool logical;           /**< destination mode: logical (true) or physical */
    bool level;             /**< trigger mode: level (true) or edge */
    uint32_t dest;          /**< destination APIC ID or logical mask */
};

/** The local interrupt controller of every vCPU (the local APICs). */
struct v3_lapic_ops {
    /** Vector @p core would take now if RFLAGS.IF allowed it, or -1 (no side effect). */
    int (*pending)(void *lapic, struct v3_core *core);
    /** The INTA of @p core: the vector it takes (IRR -> ISR), or -1 if none is left. */
    int (*ack)(void *lapic, struct v3_core *core);
    /** Deliver a message from the IOAPIC. */
    void (*deliver)(void *lapic, const struct v3_apic_msg *msg);
    /**
     * Optional: the NMI, INIT and SIPI messages pending for @p core, as
     * V3_APIC_NMI / V3_APIC_INIT / V3_APIC_SIPI bits.  The bits of @p take
     * that are pending are cleared (taken): the vCPU acts on them.  With
     * V3_APIC_INIT taken the APIC itself goes through INIT (registers reset,
     * ID and IA32_APIC_BASE kept).  *sipi_vector receives the vector of a
     * pending SIPI.  Any thread.
     */
    unsigned (*special)(void *lapic, struct v3_core *core, unsigned take, uint8_t *sipi_vector);
};
#define V3_APIC_NMI  1u
#define V3_APIC_INIT 2u
#define V3_APIC_SIPI 4u

/** Register the local APICs.  V3_EEXIST if registered, V3_EINVAL for NULL. */
int v3_vm_set_lapic(struct v3_vm *vm, const struct v3_lapic_ops *ops, void *lapic);
/** Send @p msg to the local APICs (IOAPIC side).  Ignored without LAPICs. */
void v3_vm_apic_send(struct v3_vm *vm, const struct v3_apic_msg *msg);
/** EOI of @p vector to the IOAPIC (LAPIC side, for level-triggered vectors). */
void v3_vm_apic_eoi(struct v3_vm *vm, uint8_t vector);
/** A local APIC moved @p vector from IRR to ISR (LAPIC side; call with no lock held). */
void v3_vm_apic_taken(struct v3_vm *vm, uint8_t vector);
/**
 * A vCPU took an interrupt of IRQ @p irq (0-23, the router's numbering:
 * IOAPIC pin 2 is IRQ 0): the PIC's INTA answered it, or the IOAPIC's vector
 * for it went from a LAPIC's IRR to its ISR.  Counted per IRQ for
 * v3_irq_taken().  Any thread; out-of-range IRQs are ignored.
 */
void v3_vm_irq_taken(struct v3_vm *vm, unsigned irq);

/**
 * Something for vCPU @p core_id changed (an interrupt became pending): the
 * vCPU leaves its current block, and a halted vCPU wakes.  Any thread.
 */
void v3_vm_kick(struct v3_vm *vm, unsigned core_id);

#endif
