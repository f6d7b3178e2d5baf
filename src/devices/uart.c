/* SPDX-License-Identifier: MIT */
/* 16550A UART at COM1 (0x3F8-0x3FF), polled: no interrupt line is wired. */
#include "internal/host.h"
#include "internal/vm.h"

#define RX_FIFO 16

struct v3_uart {
    struct v3_vm *vm;
    uint16_t base;
    uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
    uint8_t thre_pending;            /* THR-empty interrupt cause not yet acknowledged */
    uint8_t rx[RX_FIFO];
    unsigned rx_head, rx_count;
};

static void rx_push(struct v3_uart *u, uint8_t b)
{
    if (u->rx_count == RX_FIFO)
        return;                      /* overrun: dropped */
    u->rx[(u->rx_head + u->rx_count) % RX_FIFO] = b;
    u->rx_count++;
}

static void rx_poll(struct v3_uart *u)
{
    const struct v3_serial_io *io = &u->vm->config.serial;
    uint8_t b;

    if (u->rx_count || (u->mcr & 0x10) || !io->input)
        return;
    if (io->input(io->priv, &b) == 1)
        rx_push(u, b);
}

static uint8_t uart_read_reg(struct v3_uart *u, unsigned reg)
{
    uint8_t v;

    switch (reg) {
    case 0:
        if (u->lcr & 0x80)
            return u->dll;
        rx_poll(u);
        if (!u->rx_count)
            return 0;
        v = u->rx[u->rx_head];
        u->rx_head = (u->rx_head + 1) % RX_FIFO;
        u->rx_count--;
        return v;
    case 1:
        return (u->lcr & 0x80) ? u->dlm : u->ier;
    case 2:
        v = (u->fcr & 1) ? 0xc0 : 0x00;
        rx_poll(u);
        if ((u->ier & 1) && u->rx_count)
            return v | 0x04;
        if ((u->ier & 2) && u->thre_pending) {
            u->thre_pending = 0;     /* reading IIR acknowledges THRE */
            return v | 0x02;
        }
        return v | 0x01;
    case 3:
        return u->lcr;
    case 4:
        return u->mcr;
    case 5:
        rx_poll(u);
        return (uint8_t)(0x60 | (u->rx_count ? 1 : 0));   /* THRE | TEMT | DR */
    case 6:
        if (u->mcr & 0x10)           /* loopback: modem inputs follow MCR outputs */
            return (uint8_t)(((u->mcr & 2) ? 0x10 : 0) | ((u->mcr & 1) ? 0x20 : 0) |
                             ((u->mcr & 4) ? 0x40 : 0) | ((u->mcr & 8) ? 0x80 : 0));
        return 0xb0;                 /* DCD | DSR | CTS */
    default:
        return u->scr;
    }
}

static void uart_write_reg(struct v3_uart *u, unsigned reg, uint8_t v)
{
    const struct v3_serial_io *io = &u->vm->config.serial;

    switch (reg) {
    case 0:
        if (u->lcr & 0x80) {
            u->dll = v;
            break;
        }
        if (u->mcr & 0x10)
            rx_push(u, v);
        else if (io->output)
            io->output(io->priv, v);
        u->thre_pending = 1;         /* transmitted at once: THR empty again */
        break;
    case 1:
        if (u->lcr & 0x80) {
            u->dlm = v;
        } else {
            if ((v & 2) && !(u->ier & 2))
                u->thre_pending = 1;
            u->ier = v & 0x0f;
        }
        break;
    case 2:
        if ((v ^ u->fcr) & 1)
            v |= 2;                  /* entering or leaving FIFO mode clears the FIFOs */
        u->fcr = v & 0xc9;
        if (v & 2) {                 /* clear the receive FIFO */
            u->rx_head = 0;
            u->rx_count = 0;
        }
        break;
    case 3:
        u->lcr = v;
        break;
    case 4:
        u->mcr = v & 0x1f;
        break;
    case 5:
    case 6:
        break;                       /* LSR/MSR: read only */
    default:
        u->scr = v;
        break;
    }
}

static int uart_in(struct v3_core *core, uint16_t port, void *dst, unsigned size, void *priv)
{
    struct v3_uart *u = priv;
    uint8_t *d = dst;

    memset(dst, 0, size);
    d[0] = uart_read_reg(u, (unsigned)(port - u->base) & 7);
    return 0;
}

static int uart_out(struct v3_core *core, uint16_t port, const void *src, unsigned size, void *priv)
{
    struct v3_uart *u = priv;

    uart_write_reg(u, (unsigned)(port - u->base) & 7, *(const uint8_t *)src);
    return 0;
}

int v3_uart_attach(struct v3_vm *vm)
{
    struct v3_uart *u = v3_zalloc(sizeof(*u));
    int rc;

    if (!u) {
        V3_ERROR("uart: out of memory");
        return V3_ENOMEM;
    }
    u->vm = vm;
    u->base = V3_UART_COM1;
    u->dll = 12;                     /* 9600 baud */
    u->lcr = 0x03;
    vm->uart = u;
    for (unsigned i = 0; i < 8; i++) {
        rc = v3_hook_io_port(vm, (uint16_t)(u->base + i), uart_in, uart_out, u);
        if (rc < 0)
            return rc;               /* v3_uart_detach() cleans up */
    }
    return V3_OK;
}

void v3_uart_detach(struct v3_vm *vm)
{
    struct v3_uart *u = vm->uart;

    if (!u)
        return;
    /* its port hooks go with the VM's hook table (v3_io_free_all) */
    vm->uart = NULL;
    v3_free(u);
}
