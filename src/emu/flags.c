/* SPDX-License-Identifier: MIT */
/* Placeholder until the lazy-flags engine lands: no lazy records yet. */
#include <v3/vcpu.h>

uint64_t v3_core_get_rflags(struct v3_core *core) { return core->rflags; }
void v3_core_set_rflags(struct v3_core *core, uint64_t rflags)
{
    core->rflags = rflags | 2;
    core->lazy.op = 0;
}
