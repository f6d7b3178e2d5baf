/* SPDX-License-Identifier: MIT */
/*
 * The 8259A pair ("pic") against the Intel 8259A datasheet: initialisation
 * (ICW1-ICW4), IMR, IRR/ISR reads, edge and level triggering (ELCR),
 * fixed and rotating priority, EOI commands, special mask mode, special
 * fully nested mode, automatic EOI, poll mode, the cascade, spurious
 * interrupts, bad guest accesses, save/load.
 * Requests come through the VM's IRQ router (dt_irq), the CPU side through
 * v3_vm_extint_pending()/v3_vm_extint_ack() (the INTA cycle).
 */
#include "devtest.h"

#define MB 0x20
#define SB 0x28

static struct v3_vm *pic_vm(void)
{
    static const char *const specs[] = { "pic" };
    return dt_vm(specs, 1);
}

/* The usual PC initialisation: master vectors 0x20, slave 0x28, cascade on IR2. */
static void pic_init(unsigned micw4, unsigned sicw4)
{
    outb(0x20, 0x11); outb(0x21, MB); outb(0x21, 0x04); outb(0x21, (uint8_t)micw4);
    outb(0xa0, 0x11); outb(0xa1, SB); outb(0xa1, 0x02); outb(0xa1, (uint8_t)sicw4);
}

static uint8_t irr(uint16_t base) { outb(base, 0x0a); return inb(base); }
static uint8_t isr(uint16_t base) { outb(base, 0x0b); return inb(base); }

static void test_init_vectors(void **state)
{
    struct v3_vm *vm = pic_vm();
    (void)state;

    pic_init(0x01, 0x01);
    assert_int_equal(inb(0x21), 0x00);              /* ICW1 clears the IMR */
    outb(0x21, 0xa5);
    outb(0xa1, 0x5a);
    assert_int_equal(inb(0x21), 0xa5);
    assert_int_equal(inb(0xa1), 0x5a);
    outb(0x21, 0x00);
    outb(0xa1, 0x00);
    assert_false(v3_vm_extint_pending(vm));
    dt_irq(vm, 3, 1);
    assert_true(v3_vm_extint_pending(vm));
    assert_int_equal(irr(0x20), 0x08);
    assert_int_equal(v3_vm_extint_ack(vm), MB + 3);
    assert_int_equal(isr(0x20), 0x08);
    assert_int_equal(irr(0x20), 0x00);              /* edge: IRR cleared by INTA */
    assert_false(v3_vm_extint_pending(vm));
    outb(0x20, 0x20);
    assert_int_equal(isr(0x20), 0x00);
    assert_false(v3_vm_extint_pending(vm));         /* line still high: no new edge */
    dt_irq(vm, 3, 0);
    /* ICW2 low bits are ignored: base 0x47 means 0x40 */
    outb(0x20, 0x11); outb(0x21, 0x47); outb(0x21, 0x04); outb(0x21, 0x01);
    outb(0x21, 0x00);
    dt_irq(vm, 6, 1);
    assert_int_equal(v3_vm_extint_ack(vm), 0x46);
    dt_irq(vm, 6, 0);
    v3_free_vm(vm);
}

static void test_priority_nesting(void **state)
{
    struct v3_vm *vm = pic_vm();
    (void)state;

    pic_init(0x01, 0x01);
    outb(0x21, 0x00);
    outb(0xa1, 0xff);
    dt_irq(vm, 5, 1);
    dt_irq(vm, 3, 1);
    assert_int_equal(v3_vm_extint_ack(vm), MB + 3);
    assert_false(v3_vm_extint_pending(vm));         /* 5 waits behind 3 in service */
    dt_irq(vm, 1, 1);
    assert_true(v3_vm_extint_pending(vm));          /* 1 outranks 3: nests */
    assert_int_equal(v3_vm_extint_ack(vm), MB + 1);
    assert_int_equal(isr(0x20), 0x0a);
    outb(0x20, 0x20);                               /* non-specific EOI: highest (1) */
    assert_int_equal(isr(0x20), 0x08);
    assert_false(v3_vm_extint_pending(vm));
    outb(0x20, 0x63);                               /* specific EOI of 3 */
    assert_int_equal(isr(0x20), 0x00);
    assert_int_equal(v3_vm_extint_ack(vm), MB + 5);
    outb(0x20, 0x65);
    /* masking: a masked request stays in IRR and is not taken */
    dt_irq(vm, 7, 1);
    outb(0x21, 0x80);
    assert_false(v3_vm_extint_pending(vm));
    assert_int_equal(irr(0x20), 0x80);
    outb(0x21, 0x00);
    assert_int_equal(v3_vm_extint_ack(vm), MB + 7);
    v3_free_vm(vm);
}

static void test_edge_level_elcr(void **state)
{
    struct v3_vm *vm = pic_vm();
    (void)state;

    pic_init(0x01, 0x01);
    outb(0x21, 0xff);
    /* edge: a pulse is latched while masked and stays after the line drops */
    dt_irq(vm, 4, 1);
    dt_irq(vm, 4, 0);
    assert_int_equal(irr(0x20), 0x10);
    /* ELCR: IRQ 0, 1, 2, 8, 13 are read-only 0 */
    outb(0x4d0, 0xff);
    outb(0x4d1, 0xff);
    assert_int_equal(inb(0x4d0), 0xf8);
    assert_int_equal(inb(0x4d1), 0xde);
    assert_int_equal(irr(0x20), 0x00);              /* level: IRR follows the low line */
    dt_irq(vm, 4, 1);
    assert_int_equal(irr(0x20), 0x10);
    outb(0x21, 0x00);
    assert_int_equal(v3_vm_extint_ack(vm), MB + 4);
    assert_int_equal(irr(0x20), 0x10);              /* level: still requested */
    assert_false(v3_vm_extint_pending(vm));         /* but in service */
    outb(0x20, 0x20);
    assert_true(v3_vm_extint_pending(vm));          /* line high after EOI: again */
    dt_irq(vm, 4, 0);
    assert_false(v3_vm_extint_pending(vm));
    assert_int_equal(irr(0x20), 0x00);
    /* slave level pin (IRQ 9 = slave IR1) */
    outb(0xa1, 0x00);
    dt_irq(vm, 9, 1);
    assert_int_equal(irr(0xa0), 0x02);
    dt_irq(vm, 9, 0);
    assert_int_equal(irr(0xa0), 0x00);
    outb(0x4d0, 0x00);
    outb(0x4d1, 0x00);
    /* ICW1.LTIM makes every pin of that chip level triggered */
    outb(0x20, 0x19); outb(0x21, MB); outb(0x21, 0x04); outb(0x21, 0x01);
    outb(0x21, 0x00);
    dt_irq(vm, 0, 1);
    assert_int_equal(irr(0x20), 0x01);
    dt_irq(vm, 0, 0);
    assert_int_equal(irr(0x20), 0x00);
    v3_free_vm(vm);
}

static void test_cascade_sfnm(void **state)
{
    struct v3_vm *vm = pic_vm();
    (void)state;

    pic_init(0x01, 0x01);
    outb(0x21, 0x00);
    outb(0xa1, 0x00);
    dt_irq(vm, 12, 1);                              /* slave IR4 */
    assert_int_equal(irr(0xa0), 0x10);
    assert_int_equal(irr(0x20), 0x04);              /* slave INTR on master IR2 */
    assert_int_equal(v3_vm_extint_ack(vm), SB + 4);
    assert_int_equal(vm->dm.irq_taken[12], 1);      /* the INTA took IRQ 12 (not 2) */
    assert_int_equal(vm->dm.irq_taken[2], 0);
    assert_int_equal(isr(0x20), 0x04);
    assert_int_equal(isr(0xa0), 0x10);
    /* fully nested: a higher slave request waits (master IR2 is in service) */
    dt_irq(vm, 9, 1);
    assert_false(v3_vm_extint_pending(vm));
    /* a master request above IR2 nests */
    dt_irq(vm, 1, 1);
    assert_int_equal(v3_vm_extint_ack(vm), MB + 1);
    assert_int_equal(vm->dm.irq_taken[1], 1);
    outb(0x20, 0x20);
    outb(0xa0, 0x20);                               /* slave EOI: IR4 */
    outb(0x20, 0x20);                               /* master EOI: IR2 */
    assert_int_equal(v3_vm_extint_ack(vm), SB + 1);
    outb(0xa0, 0x20);
    outb(0x20, 0x20);
    dt_irq(vm, 1, 0); dt_irq(vm, 9, 0); dt_irq(vm, 12, 0);

    /* special fully nested mode on the master: the higher slave request gets through */
    pic_init(0x11, 0x01);
    outb(0x21, 0x00);
    outb(0xa1, 0x00);
    dt_irq(vm, 12, 1);
    assert_int_equal(v3_vm_extint_ack(vm), SB + 4);
    dt_irq(vm, 9, 1);
    assert_true(v3_vm_extint_pending(vm));
    assert_int_equal(v3_vm_extint_ack(vm), SB + 1);
    assert_int_equal(isr(0xa0), 0x12);
    dt_irq(vm, 14, 1);                              /* lower than 12 in service: waits */
    assert_false(v3_vm_extint_pending(vm));
    v3_free_vm(vm);
}

static void test_spurious(void **state)
{
    struct v3_vm *vm = pic_vm();
    (void)state;

    pic_init(0x01, 0x01);
    outb(0x4d0, 0x20);                              /* IRQ 5 level */
    outb(0x4d1, 0x08);                              /* IRQ 11 level */
    outb(0x21, 0x00);
    outb(0xa1, 0x00);
    dt_irq(vm, 5, 1);
    assert_true(v3_vm_extint_pending(vm));
    dt_irq(vm, 5, 0);                               /* gone before INTA */
    assert_int_equal(v3_vm_extint_ack(vm), MB + 7);
    assert_int_equal(isr(0x20), 0x00);              /* no ISR bit for a spurious IRQ 7 */
    /* masked between INTR and INTA */
    dt_irq(vm, 6, 1);
    outb(0x21, 0x40);
    assert_int_equal(v3_vm_extint_ack(vm), MB + 7);
    assert_int_equal(isr(0x20), 0x00);
    outb(0x21, 0x00);
    assert_int_equal(v3_vm_extint_ack(vm), MB + 6);
    outb(0x20, 0x20);
    dt_irq(vm, 6, 0);
    /* slave spurious: the master still acknowledges IR2, the slave answers 15 */
    dt_irq(vm, 11, 1);
    assert_int_equal(irr(0x20), 0x04);
    outb(0xa1, 0x08);                               /* gone from the slave's view */
    assert_int_equal(irr(0x20), 0x04);              /* master IR2 edge stays latched */
    assert_int_equal(v3_vm_extint_ack(vm), SB + 7);
    assert_int_equal(isr(0x20), 0x04);
    assert_int_equal(isr(0xa0), 0x00);
    v3_free_vm(vm);
}

static void test_poll(void **state)
{
    struct v3_vm *vm = pic_vm();
    (void)state;

    pic_init(0x01, 0x01);
    outb(0x21, 0x00);
    outb(0xa1, 0x00);
    outb(0x20, 0x0c);
    assert_int_equal(inb(0x20), 0x00);              /* nothing requested */
    dt_irq(vm, 6, 1);
    dt_irq(vm, 2 + 8, 1);                           /* IRQ 10: slave IR2 */
    outb(0x20, 0x0c);
    assert_int_equal(inb(0x21), 0x82);              /* either port answers; the cascade wins */
    assert_int_equal(isr(0x20), 0x04);
    outb(0xa0, 0x0c);
    assert_int_equal(inb(0xa0), 0x82);
    assert_int_equal(isr(0xa0), 0x04);
    assert_int_equal(inb(0x20), 0x04);              /* poll is one-shot: ISR select stays */
    outb(0xa0, 0x20);
    outb(0x20, 0x20);
    outb(0x20, 0x0c);
    assert_int_equal(inb(0x20), 0x86);
    outb(0x20, 0x20);
    v3_free_vm(vm);
}

static void test_rotation_aeoi(void **state)
{
    struct v3_vm *vm = pic_vm();
    (void)state;

    pic_init(0x01, 0x01);
    outb(0x21, 0x00);
    outb(0xa1, 0xff);
    outb(0x20, 0xc4);                               /* set priority: 4 lowest, 5 highest */
    dt_irq(vm, 0, 1);
    dt_irq(vm, 6, 1);
    assert_int_equal(v3_vm_extint_ack(vm), MB + 6);
    outb(0x20, 0xa0);                               /* rotate on NS EOI: 6 lowest, 7 highest */
    dt_irq(vm, 5, 1);
    assert_int_equal(v3_vm_extint_ack(vm), MB + 0);
    assert_false(v3_vm_extint_pending(vm));         /* 5 ranks below 0 now */
    outb(0x20, 0xe0);                               /* rotate on specific EOI 0: 1 highest */
    assert_int_equal(v3_vm_extint_ack(vm), MB + 5);
    outb(0x20, 0x65);
    outb(0x20, 0xc7);
    dt_irq(vm, 0, 0); dt_irq(vm, 5, 0); dt_irq(vm, 6, 0);

    /* automatic EOI: nothing stays in service */
    pic_init(0x03, 0x01);
    outb(0x21, 0x00);
    dt_irq(vm, 3, 1);
    dt_irq(vm, 2 + 2, 1);
    assert_int_equal(v3_vm_extint_ack(vm), MB + 3);
    assert_int_equal(isr(0x20), 0x00);
    assert_int_equal(v3_vm_extint_ack(vm), MB + 4);
    dt_irq(vm, 3, 0); dt_irq(vm, 4, 0);
    /* rotate in AEOI mode: the acknowledged level becomes the lowest */
    outb(0x20, 0x80);
    dt_irq(vm, 3, 1);
    assert_int_equal(v3_vm_extint_ack(vm), MB + 3);
    dt_irq(vm, 3, 0);
    dt_irq(vm, 3, 1);
    dt_irq(vm, 6, 1);
    assert_int_equal(v3_vm_extint_ack(vm), MB + 6);
    assert_int_equal(v3_vm_extint_ack(vm), MB + 3);
    outb(0x20, 0x00);                               /* rotate in AEOI mode off */
    dt_irq(vm, 3, 0); dt_irq(vm, 6, 0);
    dt_irq(vm, 3, 1); dt_irq(vm, 6, 1);
    assert_int_equal(v3_vm_extint_ack(vm), MB + 6); /* priority stays where it was */
    v3_free_vm(vm);
}

static void test_special_mask(void **state)
{
    struct v3_vm *vm = pic_vm();
    (void)state;

    pic_init(0x01, 0x01);
    outb(0x21, 0x00);
    dt_irq(vm, 2 + 1, 1);
    assert_int_equal(v3_vm_extint_ack(vm), MB + 3);
    dt_irq(vm, 5, 1);
    assert_false(v3_vm_extint_pending(vm));
    outb(0x20, 0x68);                               /* special mask mode on */
    outb(0x21, 0x08);                               /* mask the level in service */
    assert_true(v3_vm_extint_pending(vm));
    assert_int_equal(v3_vm_extint_ack(vm), MB + 5);
    assert_int_equal(isr(0x20), 0x28);
    outb(0x20, 0x20);                               /* NS EOI skips the masked ISR bit */
    assert_int_equal(isr(0x20), 0x08);
    outb(0x20, 0x48);                               /* special mask mode off */
    outb(0x20, 0x20);
    assert_int_equal(isr(0x20), 0x00);
    v3_free_vm(vm);
}

static void test_bad_accesses(void **state)
{
    struct v3_vm *vm = pic_vm();
    long errs = v3t_error_logs();
    (void)state;

    pic_init(0x01, 0x01);
    outb(0x21, 0xee);
    outb(0x20, 0x0a);
    assert_int_equal(inp(0x20, 2), 0xee00);         /* IRR, then the IMR byte at 0x21 */
    assert_int_equal(inp(0x21, 2), 0xffee);         /* 0x22 is not ours: floating */
    assert_int_equal(inp(0xa1, 4), 0xffffff00u | inb(0xa1));
    outp(0x4d0, 2, 0xffff);
    assert_int_equal(inp(0x4d0, 2), 0xdef8);
    outp(0x4d0, 2, 0);
    outp(0x20, 2, 0xff0a);                          /* OCW3 (read IRR) and IMR 0xff */
    assert_int_equal(inb(0x21), 0xff);
    /* an OCW in the middle of the initialisation is taken as such, then ICW2.. go on */
    outb(0x20, 0x11);
    outb(0x20, 0x0b);                               /* OCW3: read ISR */
    outb(0x21, 0x50);
    outb(0x21, 0x04);
    outb(0x21, 0x01);
    outb(0x21, 0x00);
    dt_irq(vm, 1, 1);
    assert_int_equal(v3_vm_extint_ack(vm), 0x51);
    assert_int_equal(inb(0x20), 0x02);              /* ISR selected by that OCW3 */
    outb(0x20, 0x20);
    /* no requests are taken while an initialisation is unfinished */
    dt_irq(vm, 1, 0);
    outb(0x20, 0x11);
    dt_irq(vm, 1, 1);
    assert_false(v3_vm_extint_pending(vm));
    outb(0x21, 0x50); outb(0x21, 0x04); outb(0x21, 0x01);
    assert_true(v3_vm_extint_pending(vm));
    /* single PIC without ICW4: MCS-80 mode, logged once, runs as 8086 */
    outb(0x20, 0x12);
    outb(0x21, 0x60);
    outb(0x21, 0x00);
    assert_false(v3_vm_extint_pending(vm));         /* a high line needs a new edge after ICW1 */
    dt_irq(vm, 1, 0);
    dt_irq(vm, 1, 1);
    assert_int_equal(v3_vm_extint_ack(vm), 0x61);
    outb(0x20, 0x20);
    outb(0x20, 0x12);
    outb(0x21, 0x68);
    dt_irq(vm, 1, 0);
    dt_irq(vm, 1, 1);
    assert_int_equal(v3_vm_extint_ack(vm), 0x69);
    /* nothing a guest does is an error of the VMM */
    assert_int_equal(v3t_error_logs(), errs);
    v3_free_vm(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_vectors),
        cmocka_unit_test(test_priority_nesting),
        cmocka_unit_test(test_edge_level_elcr),
        cmocka_unit_test(test_cascade_sfnm),
        cmocka_unit_test(test_spurious),
        cmocka_unit_test(test_poll),
        cmocka_unit_test(test_rotation_aeoi),
        cmocka_unit_test(test_special_mask),
        cmocka_unit_test(test_bad_accesses),
    };
    return cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
}
