/* SPDX-License-Identifier: MIT */
/* A scripted back end for VM-layer tests: replays a list of exits, records injected events. */
#ifndef V3_TEST_FAKECPU_H
#define V3_TEST_FAKECPU_H

#include <string.h>
#include "v3test.h"
#include <v3/backend.h>
#include <v3/vm.h>

struct fake_step {
    struct v3_exit exit;                    /* what run() returns */
    void (*before)(struct v3_core *core);   /* called before returning the exit */
    uint64_t insns;                         /* instructions "retired" before the exit */
};

#define FAKE_MAX_EVENTS 32
struct fake_cpu {
    const struct fake_step *script;
    int nsteps, pos;
    int runs, init_calls, free_calls;
    struct v3_event events[FAKE_MAX_EVENTS];
    int nevents;
    int init_rc;                            /* init_core() result */
};
static struct fake_cpu fake;

static int fake_init_core(struct v3_core *core)
{
    fake.init_calls++;
    if (fake.init_rc < 0)
        return fake.init_rc;
    core->backend = &fake;
    return 0;
}

static void fake_free_core(struct v3_core *core)
{
    fake.free_calls++;
    core->backend = NULL;
}

/* Past the end of the script the guest "shuts down". */
static int fake_run(struct v3_core *core, struct v3_exit *ex)
{
    fake.runs++;
    if (fake.pos >= fake.nsteps) {
        memset(ex, 0, sizeof(*ex));
        ex->reason = V3_EXIT_SHUTDOWN;
        ex->insn_rip = core->rip;
        return 0;
    }
    const struct fake_step *s = &fake.script[fake.pos++];
    core->insn_count += s->insns ? s->insns : 1;
    if (s->before)
        s->before(core);
    *ex = s->exit;
    return 0;
}

static int fake_inject(struct v3_core *core, const struct v3_event *ev)
{
    if (fake.nevents < FAKE_MAX_EVENTS)
        fake.events[fake.nevents++] = *ev;
    return 0;
}

static const struct v3_backend_ops fake_ops = {
    .name = "fake",
    .init_core = fake_init_core,
    .free_core = fake_free_core,
    .run = fake_run,
    .inject = fake_inject,
};

static inline void fake_load(const struct fake_step *steps, int n)
{
    memset(&fake, 0, sizeof(fake));
    fake.script = steps;
    fake.nsteps = n;
}

static inline struct v3_vm *fake_vm(uint64_t mem, unsigned devices, const struct v3_serial_io *serial)
{
    struct v3_vm_config cfg;
    int err = 0;
    struct v3_vm *vm;

    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = mem;
    cfg.backend_ops = &fake_ops;
    cfg.devices = devices;
    if (serial)
        cfg.serial = *serial;
    vm = v3_create_vm(&cfg, &err);
    assert_non_null(vm);
    assert_int_equal(err, V3_OK);
    return vm;
}

/* A vCPU in flat 32-bit protected mode (as after a multiboot load). */
static inline void flat32(struct v3_core *core)
{
    core->cr0 = V3_CR0_PE | V3_CR0_ET;
    for (int s = V3_ES; s <= V3_GS; s++) {
        core->seg[s].base = 0;
        core->seg[s].limit = 0xffffffffu;
        core->seg[s].attrib = V3_SEG_P | V3_SEG_S | V3_SEG_DB | V3_SEG_G | (s == V3_CS ? 0xb : 0x3);
    }
    v3_core_update_mode(core);
}

#endif
