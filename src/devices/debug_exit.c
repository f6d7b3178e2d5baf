/* SPDX-License-Identifier: MIT */
/* Debug-exit port (0xF4-0xF7), as QEMU's isa-debug-exit: writing v stops the VM with (v << 1) | 1. */
#include "internal/host.h"
#include "internal/vm.h"

static int dbgexit_in(struct v3_core *core, uint16_t port, void *dst, unsigned size, void *priv)
{
    memset(dst, 0, size);
    return 0;
}

static int dbgexit_out(struct v3_core *core, uint16_t port, const void *src, unsigned size, void *priv)
{
    uint32_t v = 0;

    memcpy(&v, src, size);
    V3_DEBUG("debug-exit: guest wrote 0x%x: exit status %d", v, (int)((v << 1) | 1));
    v3_vm_request_stop(core->vm, V3_STOP_DEBUG_EXIT, (int)((v << 1) | 1));
    return 0;
}

int v3_debug_exit_attach(struct v3_vm *vm)
{
    for (unsigned i = 0; i < 4; i++) {
        int rc = v3_hook_io_port(vm, (uint16_t)(V3_DEBUG_EXIT_PORT + i), dbgexit_in, dbgexit_out, NULL);
        if (rc < 0)
            return rc;
    }
    return V3_OK;
}
