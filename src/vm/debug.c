/* SPDX-License-Identifier: MIT */
/* Debugger breakpoints, watchpoints and single-stepping (v3/debug.h). */
#include "internal/host.h"
#include "internal/vm.h"
#include <v3/debug.h>

static void update_flags(struct v3_vm *vm)
{
    uint8_t f = (vm->debug.nbreak ? V3_DBG_F_BREAK : 0) | (vm->debug.nwatch ? V3_DBG_F_WATCH : 0);

    for (unsigned i = 0; i < vm->num_cores; i++) {
        struct v3_core *c = &vm->cores[i];
        c->dbg = &vm->debug;
        c->dbg_flags = (uint8_t)((c->dbg_flags & V3_DBG_F_STEP) | f);
    }
}

int v3_debug_breakpoint(struct v3_vm *vm, uint64_t la, bool on)
{
    struct v3_debug *d;
    unsigned i;

    if (!vm)
        return V3_EINVAL;
    d = &vm->debug;
    for (i = 0; i < d->nbreak && d->brk[i] != la; i++)
        ;
    if (on && i == d->nbreak) {
        if (d->nbreak == V3_DBG_MAX_BREAK)
            return V3_ENOMEM;
        d->brk[d->nbreak++] = la;
    } else if (!on && i < d->nbreak) {
        d->brk[i] = d->brk[--d->nbreak];
    }
    update_flags(vm);
    return V3_OK;
}

int v3_debug_watchpoint(struct v3_vm *vm, uint64_t la, uint64_t len, unsigned type, bool on)
{
    struct v3_debug *d;
    unsigned i;

    if (!vm || !len || type < V3_WATCH_WRITE || type > V3_WATCH_ACCESS || la + len - 1 < la)
        return V3_EINVAL;
    d = &vm->debug;
    for (i = 0; i < d->nwatch; i++)
        if (d->watch[i].la == la && d->watch[i].len == len && d->watch[i].type == type)
            break;
    if (on) {
        if (i == d->nwatch) {
            if (d->nwatch == V3_DBG_MAX_WATCH)
                return V3_ENOMEM;
            d->watch[d->nwatch].la = la;
            d->watch[d->nwatch].len = len;
            d->watch[d->nwatch].type = type;
            d->nwatch++;
        }
    } else {
        if (i == d->nwatch)
            return V3_ENOENT;
        d->watch[i] = d->watch[--d->nwatch];
    }
    update_flags(vm);
    return V3_OK;
}

int v3_debug_step(struct v3_core *core, bool on)
{
    if (!core)
        return V3_EINVAL;
    if (on)
        core->dbg_flags |= V3_DBG_F_STEP;
    else
        core->dbg_flags &= (uint8_t)~V3_DBG_F_STEP;
    core->dbg_stepped = 0;
    return V3_OK;
}

void v3_debug_clear(struct v3_vm *vm)
{
    if (!vm)
        return;
    memset(&vm->debug, 0, sizeof(vm->debug));
    for (unsigned i = 0; i < vm->num_cores; i++) {
        vm->cores[i].dbg_flags = 0;
        vm->cores[i].dbg_stepped = 0;
        vm->cores[i].dbg_watch_type = 0;
    }
}
