/* SPDX-License-Identifier: MIT */
/*
 * System Control Port A (port 0x92, the PS/2 "fast A20 and reset" port).
 *   bit 1: A20 gate (1 = enabled).  Writes go to v3_cpu_set_a20(), which sets
 *          core->a20_clear on every vCPU and flushes their TLBs; reads report
 *          the current gate state of the accessing vCPU.
 *   bit 0: fast reset.  v3vmm models no reset: writing 1 stops the VM with
 *          V3_STOP_SHUTDOWN (as a triple fault does; a PC resets on both),
 *          with one log line.  Reads return 0.
 * The other bits are not modelled: written values are ignored, reads give 0.
 * An access wider than a byte uses its low byte for port 0x92; the bytes
 * for the ports above read as 0xff (nothing decodes them).
 */
#include "internal/host.h"
#include "internal/vm.h"
#include "cpu/system/system.h"

static int sysctl_a_in(struct v3_core *core, uint16_t port, void *dst, unsigned size, void *priv)
{
    uint8_t *b = dst;
    (void)port;
    (void)priv;
    memset(dst, 0xff, size);
    b[0] = core->a20_clear ? 0 : V3_SYSCTL_A_A20;
    return 0;
}

static int sysctl_a_out(struct v3_core *core, uint16_t port, const void *src, unsigned size, void *priv)
{
    uint8_t v = *(const uint8_t *)src;
    (void)port;
    (void)size;
    (void)priv;
    v3_cpu_set_a20(core, (v & V3_SYSCTL_A_A20) != 0);
    if (v & V3_SYSCTL_A_RESET) {
        V3_INFO("port 0x92: guest requested a fast reset (value 0x%x): the VM shuts down", v);
        v3_vm_request_stop(core->vm, V3_STOP_SHUTDOWN, 0);
    }
    return 0;
}

int v3_sysctl_a_attach(struct v3_vm *vm)
{
    return v3_hook_io_port(vm, V3_SYSCTL_A_PORT, sysctl_a_in, sysctl_a_out, NULL);
}
