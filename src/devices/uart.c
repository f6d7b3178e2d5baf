/* SPDX-License-Identifier: MIT */
/*
 * 16550A UART ("uart"; options port=0x3f8, irq=4, input=on|off).
 *
 * Registers: RBR/THR, IER, IIR/FCR, LCR, MCR, LSR, MSR, SCR and the divisor
 * latch.  Transmitted bytes go to v3_vm_config::serial.output at once, so
 * the transmitter is always empty (LSR.THRE|TEMT).  Received bytes come from
 * serial.input into a 16-byte FIFO: polled when the guest reads LSR or RBR,
 * and every 2 ms of VM clock while the receive interrupt is enabled (the
 * device's deadline), so a halted guest still hears its input.  Loopback
 * (MCR bit 4) sends THR to the receiver and the modem outputs to the modem
 * inputs.
 *
 * Interrupts, highest priority first as IIR reports them: line status
 * (overrun; IER bit 2), received data (IER bit 0), THR empty (IER bit 1;
 * set when the bit is enabled and after each transmitted byte, cleared by
 * a THR write or by reading IIR while it is the reported cause), modem
 * status (IER bit 3, a change of the inputs in loopback).  The IRQ line
 * follows "a cause is pending" gated by MCR.OUT2, as on a PC, where OUT2
 * enables the UART's interrupt driver.
 */
#include "internal/host.h"
#include "internal/vm.h"

#define RX_FIFO      16
#define RX_POLL_NS   2000000ull

#define IER_RDA   0x01
#define IER_THRE  0x02
#define IER_RLS   0x04
#define IER_MS    0x08
#define LSR_DR    0x01
#define LSR_OE    0x02
#define LSR_THRE  0x20
#define LSR_TEMT  0x40
#define MCR_OUT2  0x08
#define MCR_LOOP  0x10

struct uart {
    struct v3_device *dev;
    struct v3_irq_line *irq;
    const struct v3_serial_io *io;      /* NULL: no host side */
    bool no_input;                      /* input=off */
    uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
    uint8_t lsr_err;                    /* overrun, cleared by an LSR read */
    uint8_t msr_delta;                  /* MSR bits 3:0 */
    uint8_t thri;                       /* THR-empty interrupt pending */
    uint8_t rx[RX_FIFO];
    uint8_t rx_head, rx_count;
    uint64_t next_poll;
};

static void rx_push(struct uart *u, uint8_t b)
{
    if (u->rx_count == RX_FIFO) {
        u->lsr_err |= LSR_OE;           /* overrun: the byte is lost */
        return;
    }
    u->rx[(u->rx_head + u->rx_count) % RX_FIFO] = b;
    u->rx_count++;
}

static void rx_poll(struct uart *u)
{
    uint8_t b;

    if ((u->mcr & MCR_LOOP) || !u->io || !u->io->input || u->no_input)
        return;
    while (u->rx_count < RX_FIFO && u->io->input(u->io->priv, &b) == 1)
        rx_push(u, b);
}

static uint8_t modem_in(const struct uart *u)
{
    if (u->mcr & MCR_LOOP)              /* DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD */
        return (uint8_t)(((u->mcr & 2) ? 0x10 : 0) | ((u->mcr & 1) ? 0x20 : 0) |
                         ((u->mcr & 4) ? 0x40 : 0) | ((u->mcr & 8) ? 0x80 : 0));
    return 0xb0;                        /* DCD | DSR | CTS */
}

/* IIR cause bits 3:0 (1 = none). */
static uint8_t cause(const struct uart *u)
{
    if ((u->ier & IER_RLS) && u->lsr_err)
        return 0x06;
    if ((u->ier & IER_RDA) && u->rx_count)
        return 0x04;
    if ((u->ier & IER_THRE) && u->thri)
        return 0x02;
    if ((u->ier & IER_MS) && u->msr_delta)
        return 0x00;
    return 0x01;
}

static void update_irq(struct uart *u)
{
    v3_irq_set(u->irq, (u->mcr & MCR_OUT2) && cause(u) != 0x01);
}

static void set_mcr(struct uart *u, uint8_t v)
{
    uint8_t before = modem_in(u), after;

    u->mcr = v & 0x1f;
    after = modem_in(u);
    /* delta bits: CTS, DSR, trailing edge of RI, DCD */
    u->msr_delta |= (uint8_t)((((before ^ after) & 0x10) ? 1 : 0) | (((before ^ after) & 0x20) ? 2 : 0) |
                              (((before & ~after) & 0x40) ? 4 : 0) | (((before ^ after) & 0x80) ? 8 : 0));
}

static uint64_t uart_read(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size)
{
    struct uart *u = v3_dev_state(dev);
    uint8_t v;

    (void)core;
    switch (off & 7) {
    case 0:
        if (u->lcr & 0x80) {
            v = u->dll;
            break;
        }
        rx_poll(u);
        v = 0;
        if (u->rx_count) {
            v = u->rx[u->rx_head];
            u->rx_head = (uint8_t)((u->rx_head + 1) % RX_FIFO);
            u->rx_count--;
        }
        break;
    case 1:
        v = (u->lcr & 0x80) ? u->dlm : u->ier;
        break;
    case 2:
        rx_poll(u);
        v = (uint8_t)(((u->fcr & 1) ? 0xc0 : 0) | cause(u));
        if (cause(u) == 0x02)
            u->thri = 0;                /* reading IIR acknowledges THR empty */
        break;
    case 3:
        v = u->lcr;
        break;
    case 4:
        v = u->mcr;
        break;
    case 5:
        rx_poll(u);
        v = (uint8_t)(LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0) | u->lsr_err);
        u->lsr_err = 0;
        break;
    case 6:
        v = (uint8_t)(modem_in(u) | u->msr_delta);
        u->msr_delta = 0;
        break;
    default:
        v = u->scr;
        break;
    }
    update_irq(u);
    (void)size;                         /* a wider IN reads the register in its low byte */
    return v;
}

static void uart_write(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size, uint64_t val)
{
    struct uart *u = v3_dev_state(dev);
    uint8_t v = (uint8_t)val;

    (void)core;
    (void)size;
    switch (off & 7) {
    case 0:
        if (u->lcr & 0x80) {
            u->dll = v;
            break;
        }
        if (u->mcr & MCR_LOOP)
            rx_push(u, v);
        else if (u->io && u->io->output)
            u->io->output(u->io->priv, v);
        u->thri = 1;                    /* sent at once: THR is empty again */
        break;
    case 1:
        if (u->lcr & 0x80) {
            u->dlm = v;
            break;
        }
        if ((v & IER_THRE) && !(u->ier & IER_THRE))
            u->thri = 1;
        u->ier = v & 0x0f;
        v3_dev_deadline_changed(dev);
        break;
    case 2:
        if ((v ^ u->fcr) & 1)
            v |= 2;                     /* entering or leaving FIFO mode clears the FIFOs */
        u->fcr = v & 0xc9;
        if (v & 2) {
            u->rx_head = 0;
            u->rx_count = 0;
        }
        break;
    case 3:
        u->lcr = v;
        break;
    case 4:
        set_mcr(u, v);
        break;
    case 5:
    case 6:
        break;                          /* LSR/MSR: read only */
    default:
        u->scr = v;
        break;
    }
    update_irq(u);
}

static uint64_t uart_deadline(struct v3_device *dev)
{
    struct uart *u = v3_dev_state(dev);

    if (!(u->ier & IER_RDA) || !u->io || !u->io->input || u->no_input || (u->mcr & MCR_LOOP) || u->rx_count)
        return V3_NO_DEADLINE;
    return u->next_poll;
}

static void uart_timer(struct v3_device *dev, uint64_t now)
{
    struct uart *u = v3_dev_state(dev);

    rx_poll(u);
    u->next_poll = now + RX_POLL_NS;
    update_irq(u);
}

static void uart_reset(struct v3_device *dev)
{
    struct uart *u = v3_dev_state(dev);

    u->ier = u->mcr = u->scr = u->fcr = u->dlm = 0;
    u->dll = 12;                        /* 9600 baud */
    u->lcr = 0x03;
    u->lsr_err = u->msr_delta = u->thri = 0;
    u->rx_head = u->rx_count = 0;
    u->next_poll = 0;
    update_irq(u);
}

static int uart_create(struct v3_device *dev, struct v3_dev_args *args)
{
    struct uart *u = v3_dev_state(dev);
    uint64_t port = V3_UART_COM1, irq = 4;
    bool input = true;
    int rc;

    if (v3_dev_arg_u64(args, "port", &port) < 0 || v3_dev_arg_u64(args, "irq", &irq) < 0 ||
        v3_dev_arg_bool(args, "input", &input) < 0)
        return V3_EINVAL;
    if (port > 0xfff8 || irq > 15) {
        V3_ERROR("device %s: port 0x%llx or irq %llu out of range", v3_dev_name(dev),
                 (unsigned long long)port, (unsigned long long)irq);
        return V3_EINVAL;
    }
    u->dev = dev;
    /* the VM's serial stream belongs to the first UART */
    if (v3_str_eq(v3_dev_name(dev), "uart"))
        u->io = &v3_dev_vm(dev)->config.serial;
    u->no_input = !input;
    u->irq = v3_dev_irq(dev, (unsigned)irq);
    if (!u->irq)
        return V3_ENOMEM;
    rc = v3_dev_claim_io(dev, (uint16_t)port, 8, uart_read, uart_write);
    return rc;
}

static int uart_save(struct v3_device *dev, struct v3_snap *s)
{
    struct uart *u = v3_dev_state(dev);
    return v3_snap_put(s, &u->ier, (size_t)((uint8_t *)&u->next_poll - &u->ier) + sizeof(u->next_poll));
}

static int uart_load(struct v3_device *dev, struct v3_snap *s)
{
    struct uart *u = v3_dev_state(dev);
    int rc = v3_snap_get(s, &u->ier, (size_t)((uint8_t *)&u->next_poll - &u->ier) + sizeof(u->next_poll));
    if (rc == 0 && u->rx_count > RX_FIFO)
        u->rx_count = 0;
    if (rc == 0)
        u->rx_head %= RX_FIFO;
    update_irq(u);
    return rc;
}

const struct v3_device_ops v3_dev_uart = {
    .name = "uart",
    .help = "16550A UART: port=0x3f8 irq=4 input=on (the first one carries the VM's serial stream)",
    .state_size = sizeof(struct uart),
    .create = uart_create,
    .reset = uart_reset,
    .save = uart_save,
    .load = uart_load,
    .deadline = uart_deadline,
    .timer = uart_timer,
};
