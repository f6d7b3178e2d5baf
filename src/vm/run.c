/* SPDX-License-Identifier: MIT */
/* The run loop: run vCPU 0 on the back end and dispatch its exits. */
#include "internal/host.h"
#include "internal/vm.h"
#include "internal/clock.h"
#include <v3/paging.h>

#include <v3/cpu.h>

_Static_assert(V3_EXIT_DEBUG + 1 == V3_STAT_EXIT_REASONS, "v3_vm_stats::exits must cover every exit reason");

static int is_emu(const struct v3_vm *vm)
{
    return vm->backend == &v3_emu_backend;
}

const char *v3_exit_reason_str(int reason)
{
    switch (reason) {
    case V3_EXIT_NONE:       return "none";
    case V3_EXIT_IO:         return "io";
    case V3_EXIT_HYPERCALL:  return "hypercall";
    case V3_EXIT_HLT:        return "hlt";
    case V3_EXIT_MSR_READ:   return "msr-read";
    case V3_EXIT_MSR_WRITE:  return "msr-write";
    case V3_EXIT_CPUID:      return "cpuid";
    case V3_EXIT_SHUTDOWN:   return "shutdown";
    case V3_EXIT_INSN_LIMIT: return "insn-limit";
    case V3_EXIT_STOP:       return "stop";
    case V3_EXIT_INTR_WINDOW: return "intr-window";
    case V3_EXIT_SLICE:      return "slice";
    case V3_EXIT_KICK:       return "kick";
    case V3_EXIT_ERROR:      return "error";
    case V3_EXIT_DEBUG:      return "debug";
    default:                 return "unknown";
    }
}

const char *v3_stop_reason_str(enum v3_stop_reason r)
{
    switch (r) {
    case V3_STOP_NONE:       return "none";
    case V3_STOP_DEBUG_EXIT: return "debug-exit";
    case V3_STOP_SHUTDOWN:   return "shutdown";
    case V3_STOP_HLT:        return "hlt";
    case V3_STOP_INSN_LIMIT: return "insn-limit";
    case V3_STOP_REQUESTED:  return "requested";
    case V3_STOP_ERROR:      return "error";
    case V3_STOP_POWEROFF:   return "poweroff";
    case V3_STOP_RESET:      return "reset";
    case V3_STOP_DEBUG:      return "debugger";
    default:                 return "unknown";
    }
}

void v3_stop_vm(struct v3_vm *vm)
{
    if (!vm)
        return;
    __atomic_store_n(&vm->stop_requested, 1, __ATOMIC_SEQ_CST);
    if (is_emu(vm))
        for (unsigned i = 0; i < vm->num_cores; i++)
            v3_cpu_request_stop(&vm->cores[i]);
    else if (vm->backend && vm->backend->kick)
        for (unsigned i = 0; i < vm->num_cores; i++)
            if (vm->cores[i].backend)
                vm->backend->kick(&vm->cores[i]);
    if (vm->wake)
        for (unsigned i = 0; i < vm->num_cores; i++)
            v3_host.event_signal(vm->wake[i]);
}

void v3_vm_request_stop(struct v3_vm *vm, enum v3_stop_reason reason, int exit_code)
{
    if (!vm)
        return;
    uint64_t none = 0;

    if (reason == V3_STOP_NONE)
        return;
    /* the first request wins; reason and code travel in one atomic word */
    __atomic_compare_exchange_n(&vm->pending_stop, &none,
                                (uint64_t)(uint32_t)reason | (uint64_t)(uint32_t)exit_code << 32, false,
                                __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

int v3_vm_raise_interrupt(struct v3_vm *vm, uint8_t vector)
{
    if (!vm || vector < 32) {
        V3_ERROR("v3_vm_raise_interrupt: %s", vm ? "vector below 32" : "NULL VM");
        return V3_EINVAL;
    }
    __atomic_store_n(&vm->pending_irq, vector + 1, __ATOMIC_SEQ_CST);
    v3_vm_kick(vm, 0);
    return V3_OK;
}

void v3_vm_interrupt_sources(struct v3_vm *vm, int delta)
{
    if (vm)
        __atomic_add_fetch(&vm->irq_sources, delta, __ATOMIC_SEQ_CST);
}

/* Instruction bytes at @rip of @core, as far as readable. */
static uint8_t fetch_bytes(struct v3_core *core, uint64_t rip, uint8_t *buf)
{
    struct v3_exception exc;
    uint64_t la = rip;
    uint8_t n;

    if (core->mode != V3_MODE_LONG64)
        la = (core->seg[V3_CS].base + rip) & 0xffffffffull;
    for (n = 0; n < 15; n++)
        if (v3_read_gva_memory(core, la + n, 1, &buf[n], V3_ACCESS_EXEC, &exc) != 1)
            break;
    return n;
}

void v3_vm_print_core(struct v3_core *core, int level)
{
    static const char *const names[V3_NR_GPRS] = {
        "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
        "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };
    static const char *const snames[V3_NR_SREGS] = { "es", "cs", "ss", "ds", "fs", "gs", "ldtr", "tr" };

    if (!core)
        return;
    v3_log(level, "vcpu %u: mode %s cpl %u rip %016llx rflags %016llx", core->id,
           v3_cpu_mode_str(core->mode), core->cpl, (unsigned long long)core->rip,
           (unsigned long long)v3_core_get_rflags(core));
    for (int i = 0; i < V3_NR_GPRS; i += 4)
        v3_log(level, "  %-3s %016llx  %-3s %016llx  %-3s %016llx  %-3s %016llx",
               names[i], (unsigned long long)core->gpr[i], names[i + 1], (unsigned long long)core->gpr[i + 1],
               names[i + 2], (unsigned long long)core->gpr[i + 2], names[i + 3], (unsigned long long)core->gpr[i + 3]);
    for (int s = 0; s < V3_NR_SREGS; s++)
        v3_log(level, "  %-4s sel %04x base %016llx limit %08x attr %03x", snames[s],
               core->seg[s].selector, (unsigned long long)core->seg[s].base, core->seg[s].limit,
               core->seg[s].attrib);
    v3_log(level, "  cr0 %016llx cr2 %016llx cr3 %016llx cr4 %016llx efer %016llx",
           (unsigned long long)core->cr0, (unsigned long long)core->cr2, (unsigned long long)core->cr3,
           (unsigned long long)core->cr4, (unsigned long long)core->efer);
    v3_log(level, "  gdtr %016llx/%04x idtr %016llx/%04x insns %llu",
           (unsigned long long)core->gdtr.base, core->gdtr.limit,
           (unsigned long long)core->idtr.base, core->idtr.limit, (unsigned long long)core->insn_count);
}

static void bytes_hex(const uint8_t *b, unsigned n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    unsigned j = 0;

    for (unsigned i = 0; i < n; i++) {
        out[j++] = hex[b[i] >> 4];
        out[j++] = hex[b[i] & 15];
        if (i + 1 < n)
            out[j++] = ' ';
    }
    out[j] = 0;
}

static void stop_error(struct v3_core *core, struct v3_vm_result *res, int code, const char *msg,
                       uint64_t rip, const uint8_t *bytes, uint8_t len)
{
    char hex[15 * 3 + 1];

    res->reason = V3_STOP_ERROR;
    res->error = code;
    res->msg = msg;
    res->rip = rip;
    if (bytes && len) {
        res->len = len > 15 ? 15 : len;
        memcpy(res->bytes, bytes, res->len);
    } else {
        res->len = fetch_bytes(core, rip, res->bytes);
    }
    bytes_hex(res->bytes, res->len, hex);
    V3_ERROR("vm: stopped on error: %s (%s) at rip %016llx, bytes [%s]", msg ? msg : "error",
             v3_strerror(code), (unsigned long long)rip, hex);
    v3_vm_print_core(core, V3_LOG_ERROR);
}

static void trace_exit(struct v3_core *core, const struct v3_exit *ex)
{
    switch (ex->reason) {
    case V3_EXIT_IO:
        V3_INFO("exit io %s%s port %04x size %u data %08x rip %016llx",
                ex->io.in ? "in" : "out", ex->io.string ? (ex->io.rep ? " rep-string" : " string") : "",
                ex->io.port, ex->io.size, ex->io.in ? 0 : ex->io.data, (unsigned long long)ex->insn_rip);
        break;
    case V3_EXIT_HYPERCALL:
        V3_INFO("exit hypercall id %llx rip %016llx", (unsigned long long)core->gpr[V3_RAX],
                (unsigned long long)ex->insn_rip);
        break;
    case V3_EXIT_MSR_READ:
    case V3_EXIT_MSR_WRITE:
        V3_INFO("exit %s msr %08x rip %016llx", v3_exit_reason_str(ex->reason), ex->msr.index,
                (unsigned long long)ex->insn_rip);
        break;
    case V3_EXIT_CPUID:
        V3_INFO("exit cpuid leaf %08x.%u rip %016llx", ex->cpuid.leaf, ex->cpuid.subleaf,
                (unsigned long long)ex->insn_rip);
        break;
    default:
        V3_INFO("exit %s rip %016llx", v3_exit_reason_str(ex->reason), (unsigned long long)ex->insn_rip);
        break;
    }
}

static bool peek_pending_stop(struct v3_vm *vm);

/*
 * Before a run of @p core: run the device timers that are due, offer the
 * vCPU the interrupt it should take (inject it when the back end can take
 * it now, else ask for an interrupt window), and bound the run by the next
 * device deadline.  Returns the deadline (VM clock ns, V3_NO_DEADLINE if
 * none), or a negative error when injection failed.
 */
static int vcpu_prepare(struct v3_vm *vm, struct v3_core *core, uint64_t *deadline)
{
    const struct v3_backend_ops *be = vm->backend;
    uint64_t now = v3_clock_now(&vm->clock);
    uint64_t next = v3_devmodel_poll(vm, now);

    if (is_emu(vm)) {
        /* A kick made before this point (most often by the device timers just
         * run, or by the exit just handled, on this thread) announces a deadline
         * change, an interrupt or pending_irq.  Interrupts are looked at below
         * and the other two right here, so the run need not end at its first
         * instruction for it; a kick made after this point still ends it. */
        v3_cpu_discard_kick(core);
        if (__atomic_load_n(&vm->dm.deadline_dirty, __ATOMIC_ACQUIRE))
            next = v3_devmodel_poll(vm, now);
        if (__atomic_load_n(&vm->pending_irq, __ATOMIC_SEQ_CST) && be->kick)
            be->kick(core);
    }
    *deadline = next;
    if (peek_pending_stop(vm))
        return 0;                   /* a device timer asked to stop: nothing more happens */
    if (v3_vm_intr_next(vm, core, false) >= 0) {
        if (!be->intr_ready || be->intr_ready(core)) {
            int vec = v3_vm_intr_next(vm, core, true);
            if (vec >= 0 && be->inject) {
                struct v3_event ev;
                int rc;
                memset(&ev, 0, sizeof(ev));
                ev.type = V3_EVENT_INTERRUPT;
                ev.vector = (uint8_t)vec;
                rc = be->inject(core, &ev);
                if (rc < 0)
                    return rc;
                /* another one waiting: come back as soon as the vCPU could take it */
                if (be->intr_window && v3_vm_intr_next(vm, core, false) >= 0)
                    be->intr_window(core, true);
            }
        } else if (be->intr_window) {
            be->intr_window(core, true);
        }
    }
    if (be->set_slice) {
        uint64_t insns = 0;
        if (next != V3_NO_DEADLINE) {
            uint64_t ns = next > now ? next - now : 0;
            if (ns > 1000000000ull)
                ns = 1000000000ull;
            if (vm->clock.mode == V3_CLOCK_VIRTUAL)
                insns = (ns * 1000u + vm->clock.insn_ps - 1) / vm->clock.insn_ps;
            else
                insns = (ns * __atomic_load_n(&vm->rate_ipns_q16, __ATOMIC_RELAXED)) >> 16;
            if (insns == 0)
                insns = 1;
        }
        be->set_slice(core, insns);
    }
    *deadline = next;
    return 0;
}

/* Realtime mode: learn how many instructions a nanosecond holds (16.16), to size slices. */
static void rate_update(struct v3_vm *vm, uint64_t insns, uint64_t ns)
{
    uint64_t r;

    if (vm->clock.mode != V3_CLOCK_REALTIME || ns < 20000 || insns < 1000)
        return;
    r = (insns << 16) / ns;
    if (r < 64)
        r = 64;
    if (r > (64u << 16))
        r = 64u << 16;
    /* vCPU 0 writes, every vCPU reads: a relaxed word (an estimate, not a protocol) */
    __atomic_store_n(&vm->rate_ipns_q16, (__atomic_load_n(&vm->rate_ipns_q16, __ATOMIC_RELAXED) * 3 + r) / 4,
                     __ATOMIC_RELAXED);
}

/*
 * HLT with nothing to deliver: 1 to go on (an interrupt can come or came,
 * after sleeping until the next deadline or a kick), 0 to stop the VM.
 */
static int hlt_wait(struct v3_vm *vm, struct v3_core *core, uint64_t deadline)
{
    uint64_t now, wait;

    if (!(v3_core_get_rflags(core) & V3_FLAG_IF))
        return 0;                   /* only an NMI could wake it, and none is wired */
    if (__atomic_load_n(&vm->pending_irq, __ATOMIC_SEQ_CST) ||
        __atomic_load_n(&vm->stop_requested, __ATOMIC_SEQ_CST) ||
        __atomic_load_n(&vm->dm.deadline_dirty, __ATOMIC_ACQUIRE) ||
        v3_vm_intr_next(vm, core, false) >= 0)
        return 1;
    if (deadline == V3_NO_DEADLINE && __atomic_load_n(&vm->irq_sources, __ATOMIC_SEQ_CST) <= 0)
        return 0;                   /* no timer and nobody outside that could raise one */
    now = v3_clock_now(&vm->clock);
    if (deadline != V3_NO_DEADLINE && deadline <= now)
        return 1;
    if (vm->clock.mode == V3_CLOCK_VIRTUAL && deadline != V3_NO_DEADLINE) {
        /* nothing runs until the deadline: the clock jumps there */
        __atomic_add_fetch(&vm->clock.skip_ns, deadline - now, __ATOMIC_RELAXED);
        return 1;
    }
    wait = deadline == V3_NO_DEADLINE ? 50000000ull : deadline - now;
    if (wait > 50000000ull)
        wait = 50000000ull;         /* wake now and then to recheck the sources */
    if (vm->wake) {
        v3_host.event_wait(vm->wake[core->id], wait);
    } else {
        unsigned long spins = 0;
        while (v3_clock_now(&vm->clock) < now + wait && !__atomic_load_n(&vm->pending_irq, __ATOMIC_SEQ_CST) &&
               !__atomic_load_n(&vm->stop_requested, __ATOMIC_SEQ_CST))
            v3_wait_step(&spins);
    }
    return 1;
}

static uint64_t total_insns(struct v3_vm *vm)
{
    uint64_t n = 0;

    for (unsigned i = 0; i < vm->num_cores; i++)
        n += vm->cores[i].insn_count;
    return n;
}

static int run_vm(struct v3_vm *vm, struct v3_vm_result *res);

/* One thread at a time runs a VM: a second caller gets V3_EBUSY, and
   v3_free_vm() waits for the running one (see vm_run_quiesce()). */
int v3_run_vm(struct v3_vm *vm, struct v3_vm_result *res)
{
    int idle = VM_IDLE, rc;

    if (!vm || !res) {
        V3_ERROR("v3_run_vm: NULL %s", vm ? "result" : "VM");
        return V3_EINVAL;
    }
    if (!__atomic_compare_exchange_n(&vm->run_state, &idle, VM_RUNNING, false, __ATOMIC_ACQUIRE,
                                     __ATOMIC_ACQUIRE)) {
        V3_ERROR("v3_run_vm: the VM is %s", idle == VM_RUNNING ? "already running in another thread"
                                                               : "being freed");
        return V3_EBUSY;
    }
    rc = run_vm(vm, res);
    __atomic_store_n(&vm->run_state, VM_IDLE, __ATOMIC_RELEASE);
    return rc;
}

void vm_run_quiesce(struct v3_vm *vm)
{
    unsigned long spins = 0;
    int idle;

    for (;;) {
        idle = VM_IDLE;
        if (__atomic_compare_exchange_n(&vm->run_state, &idle, VM_FREEING, false, __ATOMIC_ACQUIRE,
                                        __ATOMIC_ACQUIRE) || idle == VM_FREEING)
            return;
        /* running in another thread: ask it to stop, wait until v3_run_vm() returns */
        if (!spins)
            V3_WARN("v3_free_vm: the VM is running in another thread; stopping it first");
        v3_stop_vm(vm);
        v3_wait_step(&spins);
    }
}

/* A device's stop request, packed: reason | exit code << 32 (one atomic word). */
static bool take_pending_stop(struct v3_vm *vm, struct v3_vm_result *res, uint64_t rip)
{
    uint64_t w = __atomic_exchange_n(&vm->pending_stop, 0, __ATOMIC_ACQ_REL);

    if (!w)
        return false;
    res->reason = (enum v3_stop_reason)(uint32_t)w;
    res->exit_code = (int)(uint32_t)(w >> 32);
    res->rip = rip;
    return true;
}

static bool peek_pending_stop(struct v3_vm *vm)
{
    return __atomic_load_n(&vm->pending_stop, __ATOMIC_ACQUIRE) != 0;
}

static bool smp(const struct v3_vm *vm)
{
    return vm->num_cores > 1;
}

static unsigned apic_special(struct v3_vm *vm, struct v3_core *core, unsigned take, uint8_t *vec)
{
    if (!vm->dm.lapic_ops || !vm->dm.lapic_ops->special)
        return 0;
    return vm->dm.lapic_ops->special(vm->dm.lapic, core, take, vec);
}

/*
 * Something that ends the wait of vCPU @p vr (HLT, wait-for-SIPI) is
 * pending: an INIT or SIPI; for a halted vCPU also an NMI, or an interrupt
 * RFLAGS.IF lets in.  Any thread (the vCPU sleeps while others look).
 */
static bool core_wakeup(struct v3_vm *vm, struct v3_vcpu_run *vr)
{
    struct v3_core *core = vr->core;
    unsigned sp = apic_special(vm, core, 0, NULL);

    if (vr->wait_sipi)
        return (sp & (V3_APIC_INIT | V3_APIC_SIPI)) != 0;
    if (sp)
        return true;
    if (!(__atomic_load_n(&core->rflags, __ATOMIC_RELAXED) & V3_FLAG_IF))
        return false;
    if (core->id == 0 && __atomic_load_n(&vm->pending_irq, __ATOMIC_SEQ_CST))
        return true;
    return v3_vm_intr_next(vm, core, false) >= 0;
}

/* The first vCPU to stop the VM: its result is the VM's.  Then every vCPU leaves. */
static void smp_claim_stop(struct v3_vm *vm, struct v3_vcpu_run *vr)
{
    int none = 0;

    if (!smp(vm))
        return;
    __atomic_compare_exchange_n(&vm->smp_stopping, &none, (int)vr->core->id + 1, false,
                                __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    for (unsigned i = 0; i < vm->num_cores; i++)
        if (i != vr->core->id)
            v3_vm_kick(vm, i);
}

static bool smp_leaving(struct v3_vm *vm)
{
    return smp(vm) && __atomic_load_n(&vm->smp_stopping, __ATOMIC_SEQ_CST) != 0;
}

/*
 * Every vCPU waits with nothing that could ever wake it (each is in
 * wait-for-SIPI or halted with nothing pending, no device deadline, no
 * outside interrupt source): the VM is dead.  Called with vm->smp_lock held.
 */
static bool smp_all_dead(struct v3_vm *vm)
{
    if (__atomic_load_n(&vm->smp_idle, __ATOMIC_SEQ_CST) != (int)vm->num_cores)
        return false;
    if (__atomic_load_n(&vm->irq_sources, __ATOMIC_SEQ_CST) > 0 ||
        __atomic_load_n(&vm->dm.deadline_dirty, __ATOMIC_ACQUIRE) ||
        v3_devmodel_poll(vm, v3_clock_now(&vm->clock)) != V3_NO_DEADLINE)
        return false;
    for (unsigned i = 0; i < vm->num_cores; i++)
        if (core_wakeup(vm, &vm->vrun[i]))
            return false;
    return true;
}

/*
 * SMP: vCPU @p vr waits (wait-for-SIPI, or HLT that only another vCPU can
 * end) until something for it arrives, the VM stops, or a device deadline
 * appears (the caller then goes back to the HLT path, which sleeps until
 * it).  Returns 0, or 1 when every vCPU is dead (the VM stops with HLT).
 */
static int idle_wait(struct v3_vm *vm, struct v3_vcpu_run *vr)
{
    struct v3_core *core = vr->core;
    int dead = 0;

    __atomic_add_fetch(&vm->smp_idle, 1, __ATOMIC_SEQ_CST);
    for (;;) {
        if (smp_leaving(vm) || (core->id == 0 && __atomic_load_n(&vm->stop_requested, __ATOMIC_SEQ_CST)) ||
            peek_pending_stop(vm) || core_wakeup(vm, vr))
            break;
        if (!vr->wait_sipi && (core->rflags & V3_FLAG_IF) &&
            (__atomic_load_n(&vm->dm.deadline_dirty, __ATOMIC_ACQUIRE) ||
             __atomic_load_n(&vm->irq_sources, __ATOMIC_SEQ_CST) > 0 ||
             __atomic_load_n(&vm->dm.next_deadline, __ATOMIC_RELAXED) != V3_NO_DEADLINE))
            break;
        if (__atomic_load_n(&vm->smp_idle, __ATOMIC_SEQ_CST) == (int)vm->num_cores) {
            v3_host.mutex_lock(vm->smp_lock);
            dead = smp_all_dead(vm);
            v3_host.mutex_unlock(vm->smp_lock);
            if (dead)
                break;
        }
        if (vm->wake) {
            v3_host.event_wait(vm->wake[core->id], 50000000ull);
        } else {
            unsigned long spins = 0;
            uint64_t t = v3_time_ns() + 1000000ull;
            while (v3_time_ns() < t)
                v3_wait_step(&spins);
        }
    }
    __atomic_sub_fetch(&vm->smp_idle, 1, __ATOMIC_SEQ_CST);
    return dead;
}

/*
 * NMI, INIT and SIPI from the local APIC, at a boundary of vCPU @p vr.
 * INIT: the vCPU goes through INIT (state as after reset; an AP then waits
 * for a SIPI, the BSP starts at the reset vector).  SIPI to a vCPU in
 * wait-for-SIPI: real mode at CS = vector << 8, IP = 0 (vector << 12);
 * a SIPI to any other vCPU is dropped.  NMI: injected when the back end's
 * event slot is free (the CPU honours NMI blocking), else left pending.
 */
static int apic_events(struct v3_vm *vm, struct v3_vcpu_run *vr)
{
    struct v3_core *core = vr->core;
    uint8_t vec = 0;
    unsigned sp = apic_special(vm, core, 0, NULL);

    if (!sp)
        return 0;
    if (sp & V3_APIC_INIT) {
        uint64_t apic_base = core->apic_base;
        apic_special(vm, core, V3_APIC_INIT, NULL);
        v3_core_reset(core);
        core->apic_base = apic_base;
        if (is_emu(vm))
            v3_cpu_invalidate_code(core, 0, ~0ull);
        vr->wait_sipi = core->id != 0;
        sp = apic_special(vm, core, 0, NULL);
    }
    if (sp & V3_APIC_SIPI) {
        apic_special(vm, core, V3_APIC_SIPI, &vec);
        if (vr->wait_sipi) {
            vr->wait_sipi = 0;
            core->halted = 0;
            core->seg[V3_CS].selector = (uint16_t)(vec << 8);
            core->seg[V3_CS].base = (uint64_t)vec << 12;
            core->rip = 0;
        }
    }
    if ((sp & (V3_APIC_INIT | V3_APIC_SIPI)) && vm->backend->set_state)
        vm->backend->set_state(core);      /* a hardware back end loads the whole new state */
    if ((sp & V3_APIC_NMI) && !vr->wait_sipi && vm->backend->inject &&
        !(is_emu(vm) && v3_cpu_event_pending(core))) {
        struct v3_event ev;
        apic_special(vm, core, V3_APIC_NMI, NULL);
        memset(&ev, 0, sizeof(ev));
        ev.type = V3_EVENT_NMI;
        ev.vector = 2;
        return vm->backend->inject(core, &ev);
    }
    return 0;
}

static void run_core(struct v3_vm *vm, struct v3_vcpu_run *vr)
{
    struct v3_core *core = vr->core;
    struct v3_vm_result *res = &vr->res;
    int rc;

    while (res->reason == V3_STOP_NONE) {
        struct v3_exit ex;
        uint64_t deadline, run_t0 = 0, run_i0 = 0;
        int irq;

        if (smp_leaving(vm))
            break;
        /* v3_stop_vm(): vCPU 0 reports it (it is woken like every other) */
        if (core->id == 0 && __atomic_exchange_n(&vm->stop_requested, 0, __ATOMIC_SEQ_CST)) {
            res->reason = V3_STOP_REQUESTED;
            res->rip = core->rip;
            break;
        }
        if (vm->config.max_insns && core->insn_count >= vm->config.max_insns) {
            res->reason = V3_STOP_INSN_LIMIT;
            res->rip = core->rip;
            break;
        }
        if (core->id == 0 && __atomic_load_n(&vm->pending_irq, __ATOMIC_SEQ_CST)) {
            /* v3_vm_raise_interrupt(): only into a free event slot (KVM holds one queued
               interrupt and a second would replace it); else the window brings the vCPU back */
            if (vm->backend->inject && vm->backend->intr_ready && !vm->backend->intr_ready(core)) {
                if (vm->backend->intr_window)
                    vm->backend->intr_window(core, true);
            } else {
                irq = __atomic_exchange_n(&vm->pending_irq, 0, __ATOMIC_SEQ_CST);
                if (irq && vm->backend->inject) {
                    struct v3_event ev;
                    memset(&ev, 0, sizeof(ev));
                    ev.type = V3_EVENT_INTERRUPT;
                    ev.vector = (uint8_t)(irq - 1);
                    rc = vm->backend->inject(core, &ev);
                    if (rc < 0) {
                        stop_error(core, res, rc, "interrupt injection failed", core->rip, NULL, 0);
                        break;
                    }
                }
            }
        }
        if (apic_events(vm, vr) < 0) {
            stop_error(core, res, V3_EBUSY, "NMI injection failed", core->rip, NULL, 0);
            break;
        }
        if (vr->wait_sipi) {
            if (idle_wait(vm, vr)) {
                res->reason = V3_STOP_HLT;
                res->rip = core->rip;
                V3_INFO("vm: every vCPU waits with nothing that could wake it");
            }
            continue;
        }

        if (smp(vm))
            v3_host.mutex_lock(vm->smp_lock);
        rc = vcpu_prepare(vm, core, &deadline);
        if (smp(vm))
            v3_host.mutex_unlock(vm->smp_lock);
        if (rc < 0) {
            stop_error(core, res, V3_EBUSY, "interrupt injection failed", core->rip, NULL, 0);
            break;
        }
        if (take_pending_stop(vm, res, core->rip))
            break;          /* a device timer asked to stop */

        memset(&ex, 0, sizeof(ex));
        if (vm->clock.mode == V3_CLOCK_REALTIME) {
            run_t0 = v3_time_ns();
            run_i0 = core->insn_count;
        }
        rc = vm->backend->run(core, &ex);
        if (vm->clock.mode == V3_CLOCK_REALTIME && core->id == 0)
            rate_update(vm, core->insn_count - run_i0, v3_time_ns() - run_t0);
        if (rc < 0 && ex.reason != V3_EXIT_ERROR) {
            ex.reason = V3_EXIT_ERROR;
            ex.error.code = rc;
            ex.error.msg = "back end failed";
            ex.insn_rip = core->rip;
        }
        if ((unsigned)ex.reason < V3_STAT_EXIT_REASONS)
            vr->stats.exits[ex.reason]++;
        vr->stats.exits_total++;
        if (vm->config.trace & V3_TRACE_EXITS)
            trace_exit(core, &ex);

        rc = 0;
        switch (ex.reason) {
        case V3_EXIT_NONE:
            break;
        case V3_EXIT_IO:
            rc = v3_handle_io_exit(core, &ex);
            if (rc < 0)
                stop_error(core, res, rc, "I/O port hook failed", ex.insn_rip, NULL, 0);
            break;
        case V3_EXIT_HYPERCALL:
            rc = v3_handle_hypercall(core);
            if (rc < 0)
                stop_error(core, res, rc, "hypercall handler failed", ex.insn_rip, NULL, 0);
            break;
        case V3_EXIT_HLT:
            if (smp(vm) && core_wakeup(vm, vr))
                break;
            if (!hlt_wait(vm, core, deadline)) {
                if (smp(vm)) {
                    /* another vCPU may still wake it */
                    if (!idle_wait(vm, vr))
                        break;
                }
                res->reason = V3_STOP_HLT;
                res->rip = ex.insn_rip;
                V3_INFO("vm: HLT at rip %016llx with no interrupt that could wake the vCPU",
                        (unsigned long long)ex.insn_rip);
            }
            break;
        case V3_EXIT_MSR_READ:
        case V3_EXIT_MSR_WRITE:
            rc = v3_handle_msr_exit(core, &ex, ex.reason == V3_EXIT_MSR_WRITE);
            if (rc < 0)
                stop_error(core, res, rc, "MSR access failed", ex.insn_rip, NULL, 0);
            break;
        case V3_EXIT_CPUID:
            rc = v3_handle_cpuid_exit(core, &ex);
            if (rc < 0)
                stop_error(core, res, rc, "CPUID hook failed", ex.insn_rip, NULL, 0);
            break;
        case V3_EXIT_SHUTDOWN:
            res->reason = V3_STOP_SHUTDOWN;
            res->rip = ex.insn_rip;
            V3_INFO("vm: shutdown (triple fault) of vCPU %u at rip %016llx", core->id,
                    (unsigned long long)ex.insn_rip);
            break;
        case V3_EXIT_INSN_LIMIT:
            res->reason = V3_STOP_INSN_LIMIT;
            res->rip = core->rip;
            break;
        case V3_EXIT_STOP:
            break;          /* the stop flag is checked at the top of the loop */
        case V3_EXIT_INTR_WINDOW:
        case V3_EXIT_SLICE:
        case V3_EXIT_KICK:
            break;          /* timers and interrupts are looked at before the next run */
        case V3_EXIT_DEBUG:
            res->reason = V3_STOP_DEBUG;
            res->rip = core->rip;
            res->core = core->id;
            res->debug_kind = ex.debug.kind;
            res->debug_watch_type = ex.debug.watch_type;
            res->debug_addr = ex.debug.addr;
            break;
        case V3_EXIT_ERROR:
            stop_error(core, res, ex.error.code ? ex.error.code : V3_EUNSUPPORTED,
                       ex.error.msg ? ex.error.msg : "back end error", ex.insn_rip,
                       ex.error.bytes, ex.error.len);
            break;
        default:
            stop_error(core, res, V3_EINVAL, "unknown exit reason", ex.insn_rip, NULL, 0);
            break;
        }
        if (res->reason == V3_STOP_NONE)
            take_pending_stop(vm, res, ex.insn_rip);
    }
    if (res->reason != V3_STOP_NONE) {
        res->core = core->id;
        smp_claim_stop(vm, vr);
    }
}

static void vcpu_thread(void *arg)
{
    struct v3_vcpu_run *vr = arg;
    run_core(vr->vm, vr);
}

static int run_vm(struct v3_vm *vm, struct v3_vm_result *res)
{
    uint64_t t0;
    unsigned started = 1;
    int rc;

    memset(res, 0, sizeof(*res));
    t0 = v3_time_ns();
    for (unsigned i = 0; i < vm->num_cores; i++) {
        struct v3_vcpu_run *vr = &vm->vrun[i];
        memset(&vr->res, 0, sizeof(vr->res));
        if (is_emu(vm)) {
            rc = v3_cpu_set_insn_limit(vr->core, vm->config.max_insns);
            if (rc < 0) {
                stop_error(vr->core, res, rc, "cannot set the instruction limit", vr->core->rip, NULL, 0);
                return V3_OK;
            }
        }
    }

    vm->has_run = 1;
    if (!smp(vm)) {
        run_core(vm, &vm->vrun[0]);
        *res = vm->vrun[0].res;
    } else {
        __atomic_store_n(&vm->smp_stopping, 0, __ATOMIC_SEQ_CST);
        __atomic_store_n(&vm->smp_idle, 0, __ATOMIC_SEQ_CST);
        for (; started < vm->num_cores; started++) {
            struct v3_vcpu_run *vr = &vm->vrun[started];
            vr->thread = v3_host.thread_create(vcpu_thread, vr);
            if (!vr->thread)
                break;
        }
        if (started < vm->num_cores) {
            struct v3_vcpu_run *vr = &vm->vrun[0];
            stop_error(vr->core, &vr->res, V3_ENOMEM, "cannot start a host thread for a vCPU",
                       vr->core->rip, NULL, 0);
            smp_claim_stop(vm, vr);
        } else {
            run_core(vm, &vm->vrun[0]);
        }
        /* whoever stopped, every vCPU leaves at its next boundary */
        smp_claim_stop(vm, &vm->vrun[0]);
        for (unsigned i = 1; i < started; i++) {
            v3_host.thread_join(vm->vrun[i].thread);
            vm->vrun[i].thread = NULL;
        }
        {
            int w = __atomic_load_n(&vm->smp_stopping, __ATOMIC_SEQ_CST);
            *res = vm->vrun[w > 0 ? w - 1 : 0].res;
        }
    }
    vm->stats.run_ns += v3_time_ns() - t0;
    return V3_OK;
}

int v3_vm_get_stats(struct v3_vm *vm, struct v3_vm_stats *st)
{
    if (!vm || !st)
        return V3_EINVAL;
    vm->stats.insns = total_insns(vm);
    *st = vm->stats;
    for (unsigned i = 0; i < vm->num_cores; i++) {
        const struct v3_vm_stats *c = &vm->vrun[i].stats;
        for (int r = 0; r < V3_STAT_EXIT_REASONS; r++)
            st->exits[r] += c->exits[r];
        st->exits_total += c->exits_total;
    }
    return V3_OK;
}

int v3_vm_get_vcpu_stats(struct v3_vm *vm, unsigned idx, struct v3_vm_stats *st)
{
    if (!vm || !st || idx >= vm->num_cores)
        return V3_EINVAL;
    *st = vm->vrun[idx].stats;
    st->insns = vm->cores[idx].insn_count;
    st->run_ns = vm->stats.run_ns;
    return V3_OK;
}

void v3_vm_print_stats(struct v3_vm *vm, int level)
{
    struct v3_vm_stats st;
    uint64_t us;

    if (v3_vm_get_stats(vm, &st) < 0)
        return;
    us = st.run_ns / 1000;
    v3_log(level, "statistics: %llu instructions in %llu.%06llu s (%llu per second), %llu exits",
           (unsigned long long)st.insns, (unsigned long long)(us / 1000000), (unsigned long long)(us % 1000000),
           (unsigned long long)(us ? st.insns * 1000000 / us : 0), (unsigned long long)st.exits_total);
    for (int r = 1; r < V3_STAT_EXIT_REASONS; r++)
        if (st.exits[r])
            v3_log(level, "  exits %-10s %llu", v3_exit_reason_str(r), (unsigned long long)st.exits[r]);
    if (vm->num_cores > 1)
        for (unsigned i = 0; i < vm->num_cores; i++) {
            struct v3_vm_stats c;
            v3_vm_get_vcpu_stats(vm, i, &c);
            v3_log(level, "  vcpu %-3u %llu instructions (%llu per second), %llu exits (hlt %llu, kick %llu, io %llu)",
                   i, (unsigned long long)c.insns, (unsigned long long)(us ? c.insns * 1000000 / us : 0),
                   (unsigned long long)c.exits_total, (unsigned long long)c.exits[V3_EXIT_HLT],
                   (unsigned long long)c.exits[V3_EXIT_KICK], (unsigned long long)c.exits[V3_EXIT_IO]);
        }
    if (st.io_unhooked)
        v3_log(level, "  unhooked port accesses %llu", (unsigned long long)st.io_unhooked);
    if (st.mem_unbacked)
        v3_log(level, "  unbacked memory accesses %llu", (unsigned long long)st.mem_unbacked);
    if (st.hypercalls_denied)
        v3_log(level, "  hypercalls denied at CPL > 0 %llu", (unsigned long long)st.hypercalls_denied);
    if (st.hypercalls_unknown)
        v3_log(level, "  unknown hypercalls %llu", (unsigned long long)st.hypercalls_unknown);
    for (struct v3_rb_node *n = v3_rb_first(&vm->io_hooks); n; n = v3_rb_next(n)) {
        struct v3_io_hook *h = v3_rb_entry(n, struct v3_io_hook, node);
        if (h->calls)
            v3_log(level, "  port %04x hook calls %llu", h->port, (unsigned long long)h->calls);
    }
    for (struct v3_mem_region *r = v3_mem_first(vm); r; r = v3_mem_next(vm, r))
        v3_log(level, "  region %013llx-%013llx %-10s hook calls %llu",
               (unsigned long long)r->guest_start, (unsigned long long)r->guest_end,
               v3_shdw_region_type_to_str(r->type), (unsigned long long)r->hook_calls);
}
