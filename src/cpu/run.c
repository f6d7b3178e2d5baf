/* SPDX-License-Identifier: MIT */
/*
 * The software CPU back end: the interpreter loop over the decode cache.
 *
 * Loop structure (one iteration per block dispatch):
 *   1. boundary work, only when something asks for it: cpu->brk (stop,
 *      injected event, self-modified code, kick), a pending event, an
 *      interrupt shadow, RFLAGS.TF, active DR7 breakpoints, a debugger's
 *      step or watchpoints (v3/debug.h; then blocks run one instruction at
 *      a time; debugger breakpoints alone end a block before them), the
 *      instruction limit;
 *   2. translate CS:RIP through the software TLB, find the block for that
 *      guest physical address and mode or decode it;
 *   3. run the block's handlers back to back; a handler that jumps, an
 *      exit, an exception or cpu->brk ends it.
 */
#include <Zydis/Zydis.h>
#include "internal/host.h"
#include "internal/vm.h"
#include "paging/tlb.h"
#include "cpu/cpu.h"
#include "arch/system.h"
#include <v3/debug.h>

/* System-level services (src/arch/): used when linked in. */
#pragma weak v3_cpu_deliver_event
#pragma weak v3_cpu_debug_trap
#pragma weak v3_cpu_exec_breakpoint
#pragma weak v3_cpu_dbg_mem_ops

int cpu_op_ud(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    (void)in;
    return v3_exc_ud(ctx);
}

int cpu_op_gp0(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    (void)in;
    return v3_exc_gp0(ctx);
}

/* ------------------------------------------------------------ API */

static void cpu_stop_at_update(struct v3_cpu *cpu)
{
    uint64_t l = cpu->limit ? cpu->limit : ~0ull;
    cpu->stop_at = l < cpu->slice_end ? l : cpu->slice_end;
}

int v3_cpu_set_insn_limit(struct v3_core *core, uint64_t max)
{
    if (!core || !core->backend)
        return V3_EINVAL;
    cpu_of(core)->limit = max;
    cpu_stop_at_update(cpu_of(core));
    return V3_OK;
}

void v3_cpu_request_stop(struct v3_core *core)
{
    if (core && core->backend)
        __atomic_or_fetch(&cpu_of(core)->brk, CPU_BRK_STOP, __ATOMIC_RELEASE);
}

void v3_cpu_kick(struct v3_core *core)
{
    if (core && core->backend)
        __atomic_or_fetch(&cpu_of(core)->brk, CPU_BRK_KICK, __ATOMIC_RELAXED);
}

void v3_cpu_discard_kick(struct v3_core *core)
{
    if (core && core->backend)
        __atomic_and_fetch(&cpu_of(core)->brk, ~CPU_BRK_EXIT, __ATOMIC_ACQ_REL);
}

bool v3_cpu_event_pending(struct v3_core *core)
{
    return core && core->backend && cpu_of(core)->ev_pending;
}

void v3_cpu_invalidate_code(struct v3_core *core, uint64_t start, uint64_t end)
{
    if (!core || !core->backend || end <= start)
        return;
    cpu_cache_invalidate(cpu_of(core), start, end);
}

int v3_cpu_get_stats(struct v3_core *core, struct v3_cpu_stats *out)
{
    if (!core || !core->backend || !out)
        return V3_EINVAL;
    *out = cpu_of(core)->stats;
    return V3_OK;
}

/* ------------------------------------------------------------ back-end ops */

static void map_listener(struct v3_vm *vm, uint64_t start, uint64_t end, void *priv)
{
    struct v3_cpu *cpu = priv;
    (void)vm;
    cpu->stats.map_invalidations++;
    cpu_hc_drop(cpu, start, end);
    cpu_cache_invalidate(cpu, start, end);
}

static void emu_free_core(struct v3_core *core);

static int emu_init_core(struct v3_core *core)
{
    struct v3_cpu *cpu;
    int rc;

    if (!core || !core->vm) {
        V3_ERROR("cpu: init_core without a core or VM");
        return V3_EINVAL;
    }
    if (core->backend) {
        V3_ERROR("cpu: vCPU %u already has back-end state", core->id);
        return V3_EBUSY;
    }
    cpu = v3_zalloc(sizeof(*cpu));
    if (!cpu) {
        V3_ERROR("cpu: out of memory for vCPU %u", core->id);
        return V3_ENOMEM;
    }
    cpu->core = core;
    cpu->ctx.core = core;
    cpu->ctx.mem = &cpu_mem_ops;
    cpu->ctx.mem_priv = cpu;
    cpu->ctx.rep_limit = CPU_REP_CHUNK;
    cpu->slice_end = ~0ull;
    cpu->stop_at = ~0ull;
    core->backend = cpu;
    if (!core->model.max_leaf)
        v3_cpu_default_model(&core->model);
    cpu->model_gen = core->model_gen;
    v3_emu_init_table();

    rc = cpu_cache_init(cpu);
    if (rc < 0)
        goto fail;
    if (!core->tlb) {
        rc = v3_paging_init_core(core);
        if (rc < 0)
            goto fail;
    }
    rc = v3_paging_set_maxphyaddr(core, core->model.phys_bits);   /* one MAXPHYADDR: CPUID and walker */
    if (rc < 0)
        goto fail;
    rc = v3_mem_add_listener(core->vm, map_listener, cpu);
    if (rc < 0) {
        V3_ERROR("cpu: cannot register the memory-map listener (%d)", rc);
        goto fail;
    }
    cpu->listener = true;
    return V3_OK;
fail:
    emu_free_core(core);
    return rc;
}

static void emu_free_core(struct v3_core *core)
{
    struct v3_cpu *cpu;
    if (!core || !core->backend)
        return;
    cpu = cpu_of(core);
    if (cpu->listener)
        v3_mem_remove_listener(core->vm, map_listener, cpu);
    cpu_cache_free(cpu);
    v3_free(cpu);
    core->backend = NULL;
}

static int emu_inject(struct v3_core *core, const struct v3_event *ev)
{
    struct v3_cpu *cpu;
    if (!core || !core->backend || !ev) {
        V3_ERROR("cpu: inject with a NULL argument");
        return V3_EINVAL;
    }
    cpu = cpu_of(core);
    if (cpu->ev_pending) {
        V3_ERROR("cpu: vCPU %u already has an event pending (vector %u)", core->id, cpu->ev.vector);
        return V3_EBUSY;
    }
    if (ev->type != V3_EVENT_EXCEPTION && ev->type != V3_EVENT_INTERRUPT && ev->type != V3_EVENT_NMI) {
        V3_ERROR("cpu: inject of unknown event type %d", (int)ev->type);
        return V3_EINVAL;
    }
    cpu->ev = *ev;
    cpu->ev_pending = true;
    __atomic_or_fetch(&cpu->brk, CPU_BRK_EVENT, __ATOMIC_RELEASE);
    return V3_OK;
}

static void emu_kick(struct v3_core *core)
{
    if (core && core->backend)
        __atomic_or_fetch(&cpu_of(core)->brk, CPU_BRK_EXIT, __ATOMIC_RELEASE);
}

static bool emu_intr_ready(struct v3_core *core)
{
    struct v3_cpu *cpu = cpu_of(core);
    return !cpu->ev_pending && !core->intr_shadow && (core->rflags & V3_FLAG_IF);
}

static void emu_intr_window(struct v3_core *core, bool on)
{
    struct v3_cpu *cpu = cpu_of(core);
    cpu->want_window = on;
    if (on)
        __atomic_or_fetch(&cpu->brk, CPU_BRK_WINDOW, __ATOMIC_RELEASE);
}

static void emu_set_slice(struct v3_core *core, uint64_t insns)
{
    struct v3_cpu *cpu = cpu_of(core);
    cpu->slice_end = insns ? core->insn_count + insns : ~0ull;
    cpu_stop_at_update(cpu);
}

/* ------------------------------------------------------------ loop helpers */

static inline uint64_t ip_mask(enum v3_cpu_mode mode)
{
    switch (mode) {
    case V3_MODE_LONG64: return ~0ull;
    case V3_MODE_PROT32:
    case V3_MODE_COMPAT32: return 0xffffffffull;
    default: return 0xffffull;
    }
}

static inline uint64_t fetch_la(const struct v3_core *core)
{
    if (core->mode == V3_MODE_LONG64)
        return core->rip;
    return (core->seg[V3_CS].base + core->rip) & 0xffffffffull;
}

/* Read up to @p len instruction bytes at @p la (stops quietly at a page that does not translate). */
static unsigned fetch_bytes(struct v3_cpu *cpu, uint64_t la, uint8_t *buf, unsigned len,
                            struct v3_exception *exc, int *rc_out)
{
    unsigned got = 0;
    *rc_out = V3_OK;
    while (got < len) {
        uint64_t a = la + got, gpa;
        uint8_t *hva;
        unsigned room = 4096 - (unsigned)(a & 0xfff), l = len - got < room ? len - got : room;
        int rc = cpu_fetch_xlate(cpu, a, &gpa, &hva, exc);
        if (rc < 0) {
            *rc_out = rc;
            break;
        }
        if (hva) {
            memcpy(buf + got, hva, l);
        } else {
            int64_t r = v3_guest_read_gpa(cpu->core->vm, cpu->core, gpa, l, buf + got);
            if (r < 0) {
                *rc_out = (int)r;
                break;
            }
        }
        got += l;
    }
    return got;
}

static __attribute__((noinline, cold)) int exit_error(struct v3_cpu *cpu, struct v3_exit *exit, int code, const char *msg)
{
    struct v3_core *core = cpu->core;
    struct v3_exception exc;
    int rc;
    exit->reason = V3_EXIT_ERROR;
    exit->insn_rip = core->rip;
    exit->error.code = code;
    exit->error.msg = msg;
    exit->error.len = (uint8_t)fetch_bytes(cpu, fetch_la(core), exit->error.bytes, 15, &exc, &rc);
    V3_ERROR("cpu: vCPU %u stops at %s RIP %#llx: %s (%d)", core->id, v3_cpu_mode_str(core->mode),
             (unsigned long long)core->rip, msg, code);
    return code < 0 ? code : V3_EINVAL;
}

/* Deliver an exception the current instruction raised (RIP at it). 0 go on, 1 exit filled. */
static __attribute__((noinline)) int take_exception(struct v3_cpu *cpu, const struct v3_exception *exc, struct v3_exit *exit,
                          int *ret)
{
    struct v3_event ev;
    int rc;
    memset(&ev, 0, sizeof(ev));
    ev.type = V3_EVENT_EXCEPTION;
    ev.vector = exc->vector;
    ev.has_error_code = exc->has_error_code;
    ev.error_code = exc->error_code;
    ev.cr2 = exc->cr2;
    if (!v3_cpu_deliver_event) {
        *ret = exit_error(cpu, exit, V3_EFAULT, "guest exception and no event delivery in this build");
        exit->error.code = V3_EFAULT;
        /* keep the vector visible to the VMM through the message's companion field */
        exit->insn_rip = cpu->core->rip;
        V3_ERROR("cpu: exception vector %u error code %#x cr2 %#llx", exc->vector,
                 exc->error_code, (unsigned long long)exc->cr2);
        return 1;
    }
    rc = v3_cpu_deliver_event(cpu->core, &ev);
    if (cpu->core->dbg_flags & V3_DBG_F_STEP)
        cpu->core->dbg_stepped = 1;     /* a debugger's step ends at the handler */
    if (rc == V3_CPU_SHUTDOWN) {
        exit->reason = V3_EXIT_SHUTDOWN;
        exit->insn_rip = cpu->core->rip;
        *ret = 0;
        return 1;
    }
    if (rc < 0) {
        *ret = exit_error(cpu, exit, rc, "event delivery failed");
        return 1;
    }
    return 0;
}

/* Convert a handler's V3_X_EXIT into a back-end exit; RIP of the instruction is @p rip. */
static __attribute__((noinline)) void make_exit(struct v3_cpu *cpu, const struct v3_insn *in, uint64_t rip, struct v3_exit *exit)
{
    struct v3_core *core = cpu->core;
    struct v3_emu_ctx *ctx = &cpu->ctx;
    exit->reason = (enum v3_exit_reason)ctx->exit_reason;
    exit->insn_rip = rip;
    switch (ctx->exit_reason) {
    case V3_EXIT_IO: {
        uint64_t i = ctx->exit_info[0];
        exit->io.port = (uint16_t)i;
        exit->io.size = (uint8_t)(i >> 16);
        exit->io.in = (i >> 24) & 1;
        exit->io.string = (i >> 25) & 1;
        exit->io.rep = (i >> 26) & 1;
        exit->io.addr_size = (uint8_t)((i >> 28) & 0xf);
        if (exit->io.string)
            exit->io.seg = (uint8_t)ctx->exit_info[1];
        else
            exit->io.data = (uint32_t)ctx->exit_info[1];
        if (exit->io.string && exit->io.in) {
            /* the VMM will store into ES:rDI behind the CPU's back */
            unsigned as = exit->io.addr_size ? exit->io.addr_size : 8;
            cpu->ins_pending = true;
            cpu->ins_asize = (uint8_t)as;
            cpu->ins_rdi = core->gpr[V3_RDI] & v3_size_mask(as);
            cpu->ins_base = core->mode == V3_MODE_LONG64 ? 0 : core->seg[V3_ES].base;
        }
        break;
    }
    case V3_EXIT_MSR_READ:
    case V3_EXIT_MSR_WRITE:
        exit->msr.index = (uint32_t)ctx->exit_info[0];
        exit->msr.value = ctx->exit_info[1];
        break;
    case V3_EXIT_CPUID:
        exit->cpuid.leaf = (uint32_t)ctx->exit_info[0];
        exit->cpuid.subleaf = (uint32_t)ctx->exit_info[1];
        break;
    default:
        break;
    }
    /* the exiting instruction retires: RIP past it, except where the handler moved it */
    if (core->rip == rip && ctx->exit_reason != V3_EXIT_SHUTDOWN)
        core->rip = (rip + in->len) & ip_mask(core->mode);
    if (ctx->exit_reason != V3_EXIT_SHUTDOWN)
        core->insn_count++;
}

/* After an INS exit: drop decoded code in the pages the VMM's transfer covered. */
static __attribute__((noinline)) void ins_done(struct v3_cpu *cpu)
{
    struct v3_core *core = cpu->core;
    uint64_t a = cpu->ins_rdi, b = core->gpr[V3_RDI] & v3_size_mask(cpu->ins_asize);
    uint64_t lo = (a < b ? a : b) + cpu->ins_base, hi = (a < b ? b : a) + cpu->ins_base + 4;
    cpu->ins_pending = false;
    if (hi - lo > (16u << 20)) {
        cpu_cache_flush(cpu);
        return;
    }
    for (uint64_t la = lo & ~0xfffull; la < hi; la += 4096) {
        uint64_t gpa;
        void *hva;
        struct v3_exception exc;
        if (v3_tlb_fill(core, la, V3_ACCESS_READ, &hva, &gpa, &exc) == V3_OK)
            cpu_cache_invalidate(cpu, gpa & ~0xfffull, (gpa & ~0xfffull) + 4096);
    }
}

/* Boundary work before a dispatch.  Returns 1 when an exit was filled. */
static __attribute__((noinline)) int boundary(struct v3_cpu *cpu, struct v3_exit *exit, unsigned shadow, int *ret)
{
    struct v3_core *core = cpu->core;
    uint32_t brk = __atomic_fetch_and(&cpu->brk, CPU_BRK_STOP, __ATOMIC_ACQ_REL);

    if (brk & CPU_BRK_STOP) {
        __atomic_and_fetch(&cpu->brk, ~CPU_BRK_STOP, __ATOMIC_ACQ_REL);
        exit->reason = V3_EXIT_STOP;
        exit->insn_rip = core->rip;
        *ret = 0;
        return 1;
    }
    if (brk & CPU_BRK_XMC)
        cpu_xmc_process(cpu);
    if (brk & CPU_BRK_EXIT) {
        exit->reason = V3_EXIT_KICK;
        exit->insn_rip = core->rip;
        *ret = 0;
        return 1;
    }
    if (cpu->want_window) {
        if (!shadow && !cpu->ev_pending && (core->rflags & V3_FLAG_IF)) {
            cpu->want_window = false;
            exit->reason = V3_EXIT_INTR_WINDOW;
            exit->insn_rip = core->rip;
            *ret = 0;
            return 1;
        }
        /* keep coming back to the boundary until IF allows */
        __atomic_or_fetch(&cpu->brk, CPU_BRK_WINDOW, __ATOMIC_RELEASE);
    }
    if (cpu->ev_pending) {
        bool take;
        switch (cpu->ev.type) {
        case V3_EVENT_EXCEPTION: take = true; break;
        case V3_EVENT_NMI: take = !core->nmi_blocked && !(shadow & V3_SHADOW_MOVSS); break;
        default: take = !shadow && (core->rflags & V3_FLAG_IF); break;
        }
        if (take) {
            int rc;
            cpu->ev_pending = false;
            if (!v3_cpu_deliver_event) {
                *ret = exit_error(cpu, exit, V3_EUNSUPPORTED, "event injection needs the system level");
                return 1;
            }
            rc = v3_cpu_deliver_event(core, &cpu->ev);
            if (rc == V3_CPU_SHUTDOWN) {
                exit->reason = V3_EXIT_SHUTDOWN;
                exit->insn_rip = core->rip;
                *ret = 0;
                return 1;
            }
            if (rc < 0) {
                *ret = exit_error(cpu, exit, rc, "event delivery failed");
                return 1;
            }
        }
    }
    cpu_cache_reap(cpu);
    return 0;
}

/*
 * Debugger stops (v3/debug.h), checked at every instruction boundary while
 * core->dbg_flags is set: a watchpoint the last instruction hit, a completed
 * single step, a breakpoint at the next instruction.  1 when *exit is filled.
 */
static __attribute__((noinline, cold)) int debug_stop(struct v3_cpu *cpu, struct v3_exit *exit)
{
    struct v3_core *core = cpu->core;
    unsigned kind = V3_DEBUG_NONE;

    if (core->dbg_watch_type) {
        kind = V3_DEBUG_WATCH;
        exit->debug.watch_type = core->dbg_watch_type;
        exit->debug.addr = core->dbg_watch_la;
        core->dbg_watch_type = 0;
        core->dbg_stepped = 0;
    } else if ((core->dbg_flags & V3_DBG_F_STEP) && core->dbg_stepped) {
        kind = V3_DEBUG_STEP;
        core->dbg_stepped = 0;
    } else if ((core->dbg_flags & V3_DBG_F_BREAK) && core->dbg) {
        uint64_t la = fetch_la(core);
        for (unsigned i = 0; i < core->dbg->nbreak; i++)
            if (core->dbg->brk[i] == la)
                kind = V3_DEBUG_BREAK;
    }
    if (kind == V3_DEBUG_NONE)
        return 0;
    exit->reason = V3_EXIT_DEBUG;
    exit->insn_rip = core->rip;
    exit->debug.kind = (uint8_t)kind;
    return 1;
}

/* A debugger breakpoint in linear [la, la + len): the block there runs only up to it, and is not chained into. */
static __attribute__((noinline, cold)) bool break_in(const struct v3_core *core, uint64_t la, uint32_t len)
{
    for (unsigned i = 0; i < core->dbg->nbreak; i++)
        if (core->dbg->brk[i] - la < len)
            return true;
    return false;
}

/* Instructions of block @p b (at linear @p la) before its first debugger breakpoint (at least 1). */
static __attribute__((noinline, cold)) unsigned break_before(const struct v3_core *core, uint64_t la,
                                                             const struct cpu_block *b)
{
    uint64_t a = la;
    for (unsigned i = 0; i < b->n; i++) {
        for (unsigned k = 0; k < core->dbg->nbreak; k++)
            if (core->dbg->brk[k] == a)
                return i ? i : 1;
        a += b->insn[i].len;
    }
    return b->n;        /* a breakpoint inside an instruction is never reached */
}

/* The lookup part of chain_next(): 64-bit code, TLB hit for the fetch, block in the direct-mapped table. */
static inline const struct cpu_block *chain_lookup(struct v3_cpu *cpu, struct v3_core *core)
{
    struct v3_tlb_entry *e = (struct v3_tlb_entry *)core->tlb;
    uint64_t la = core->rip, gpa;
    struct cpu_block *b;
    if (__builtin_expect(core->mode != V3_MODE_LONG64 || !e, 0))
        return NULL;
    e += (la >> 12) & (V3_TLB_SIZE - 1);
    if (__builtin_expect(e->tag != (la & ~0xfffull) ||
                         !((e->perm >> v3_tlb_ctx_shift(core, V3_ACCESS_EXEC)) & V3_ACCESS_EXEC), 0))
        return NULL;
    gpa = e->gpa | (la & 0xfff);
    b = cpu->jc[cpu_jc_index(gpa)];
    if (__builtin_expect(!b || b->gpa != gpa || b->mode != V3_MODE_LONG64, 0))
        return NULL;
    cpu->stats.block_execs++;
    cpu->cur_page = gpa >> 12;
    return b;
}

/* chain_next() when the debugger has breakpoints (and nothing else): the
 * same checks without it, and not into a block holding a breakpoint. */
static __attribute__((noinline)) const struct cpu_block *chain_past_breaks(struct v3_cpu *cpu, struct v3_core *core,
                                                                           uint64_t mask)
{
    const struct cpu_block *b;
    if ((cpu_brk(cpu) | core->intr_shadow) != 0 || cpu->ev_pending || cpu->graveyard ||
        core->insn_count + CPU_BLOCK_MAX > cpu->stop_at ||
        mask != ~0ull || (core->rflags & V3_FLAG_TF) || (core->dr[7] & 0xff) || v3_mem_writer_waiting(core))
        return NULL;
    b = chain_lookup(cpu, core);
    if (b && break_in(core, core->rip, b->bytes))
        return NULL;
    return b;
}

/*
 * Block chaining: the block at the new RIP when the loop's boundary work has
 * nothing to do (no break request, pending event, interrupt shadow, reaping,
 * instruction limit, TF, DR7 breakpoints, debugger state other than
 * breakpoints, and no debugger breakpoint in the next block), the code is
 * 64-bit (no CS limit) as it was, the fetch hits the software TLB and the
 * block is in the direct-mapped table.  NULL: return to the outer loop,
 * which does it all.
 */
static inline const struct cpu_block *chain_next(struct v3_cpu *cpu, struct v3_core *core, uint64_t mask)
{
    if (__builtin_expect((cpu_brk(cpu) | core->intr_shadow) != 0 || cpu->ev_pending || cpu->graveyard ||
                         core->insn_count + CPU_BLOCK_MAX > cpu->stop_at || mask != ~0ull ||
                         (core->rflags & (V3_FLAG_TF | V3_FLAG_RF)) || ((core->dr[7] & 0xff) | core->dbg_flags) ||
                         v3_mem_writer_waiting(core), 0))
        return core->dbg_flags == V3_DBG_F_BREAK ? chain_past_breaks(cpu, core, mask) : NULL;
    return chain_lookup(cpu, core);
}

/* A handler's status other than NEXT/JUMP at @p in: an exception, an exit or an error. */
static int stopped(struct v3_cpu *cpu, int st, const struct v3_insn *in, struct v3_exit *exit, int *ret)
{
    struct v3_core *core = cpu->core;
    struct v3_emu_ctx *ctx = &cpu->ctx;
    switch (st) {
    case V3_X_EXC:
        return take_exception(cpu, &ctx->exc, exit, ret);
    case V3_X_EXIT:
        make_exit(cpu, in, core->rip, exit);
        *ret = 0;
        return 1;
    case V3_X_UNSUPPORTED:
        *ret = exit_error(cpu, exit, V3_EUNSUPPORTED, "instruction not supported by the software CPU");
        return 1;
    default:
        *ret = exit_error(cpu, exit, ctx->error ? ctx->error : V3_EINVAL, "guest memory access failed");
        return 1;
    }
}

static int exec_threaded(struct v3_cpu *cpu, const struct cpu_block *b, uint64_t mask,
                         struct v3_exit *exit, int *ret);

/* Execute @p n decoded instructions starting at @p in; when they end a block
 * and chain_next() allows, go on with whole blocks as threaded code.
 * Returns 0 to go on, 1 when *exit is filled. */
static int exec_insns(struct v3_cpu *cpu, const struct v3_insn *in, unsigned n, uint64_t mask,
                      struct v3_exit *exit, int *ret)
{
    struct v3_core *core = cpu->core;
    struct v3_emu_ctx *ctx = &cpu->ctx;
    const struct v3_insn *end = in + n;
    uint64_t done = 0;
    int st;

    for (;;) {
        const struct cpu_block *nb;
        st = in->handler(ctx, in);
        if (__builtin_expect(st == V3_X_NEXT, 1)) {
            core->rip = (core->rip + in->len) & mask;
            done++;
            if (++in != end && __builtin_expect((cpu_brk(cpu) | core->intr_shadow) == 0, 1))
                continue;
            if (in != end)
                break;
        } else if (st == V3_X_JUMP) {
            core->rip &= ip_mask(core->mode);   /* a far transfer may have changed the code size */
            done++;
        } else {
            break;
        }
        /* the block ended: go straight on with the next one when nothing needs
           the outer loop, threaded (chain_next() checked what exec_threaded()
           needs: whole blocks, no single-stepping, 64-bit code) */
        if (!(nb = chain_next(cpu, core, mask)))
            break;
        core->insn_count += done;
        return exec_threaded(cpu, nb, mask, exit, ret);
    }
    core->insn_count += done;
    if (__builtin_expect(st <= V3_X_JUMP, 1))
        return 0;
    return stopped(cpu, st, in, exit, ret);
}

/*
 * Run whole blocks as threaded code (cpu_thr_generic() in cpu.h), chaining
 * from block to block while chain_next() allows.  For blocks run in full:
 * no single-stepping, no instruction limit cutting it, inside the CS limit.
 */
static int exec_threaded(struct v3_cpu *cpu, const struct cpu_block *b, uint64_t mask,
                         struct v3_exit *exit, int *ret)
{
    struct v3_core *core = cpu->core;
    struct v3_emu_ctx *ctx = &cpu->ctx;
    const struct v3_insn *in;
    unsigned done;
    int st;

    cpu->blk_mask = mask;
    for (;;) {
        cpu->blk_rip = core->rip;
        st = b->insn[0].thr(ctx, b->insn);
        in = cpu->stop_in;
        if (__builtin_expect(st > V3_X_JUMP, 0)) {
            core->insn_count += in->idx;
            return stopped(cpu, st, in, exit, ret);
        }
        done = in->idx + (st == V3_X_JUMP);
        core->insn_count += done;
        if (done <= b->npure) {
            /* Only specialised forms ran: nothing changed the mode, TF, DR7,
               a shadow or the TLB; an event, a stop request or a store into
               decoded code sets cpu->brk.  A loop back to the block's own
               start needs no lookup. */
            core->rip &= mask;
            /* with debugger state every block ends at the loop or chain_next() */
            if (__builtin_expect(cpu_brk(cpu) || cpu->graveyard || core->insn_count + CPU_BLOCK_MAX > cpu->stop_at ||
                                 core->dbg_flags || v3_mem_writer_waiting(core), 0))
                return 0;
            if (core->rip == cpu->blk_rip) {
                cpu->stats.block_execs++;
                continue;
            }
            if (!(b = chain_lookup(cpu, core)))
                return 0;
            continue;
        }
        if (st == V3_X_JUMP)
            core->rip &= ip_mask(core->mode);   /* a far transfer may have changed the code size */
        if (!(b = chain_next(cpu, core, mask)))
            return 0;
    }
}


/* An instruction that is not cached: it crosses a page end, or its page is not RAM. */
static __attribute__((noinline)) int exec_uncached(struct v3_cpu *cpu, uint64_t la, unsigned mode, uint64_t mask,
                         struct v3_exit *exit, int *ret)
{
    struct v3_insn in;
    struct v3_exception exc;
    uint8_t bytes[15];
    unsigned first = 4096 - (unsigned)(la & 0xfff), got;
    int rc, len;

    if (first > 15)
        first = 15;
    got = fetch_bytes(cpu, la, bytes, first, &exc, &rc);
    if (rc < 0)
        goto fetch_fail;
    len = v3_decode_model((enum v3_cpu_mode)mode, bytes, got, &cpu->core->model, &in);
    if (len == V3_DEC_SHORT) {
        got += fetch_bytes(cpu, la + got, bytes + got, 15 - got, &exc, &rc);
        if (rc < 0)
            goto fetch_fail;
        len = v3_decode_model((enum v3_cpu_mode)mode, bytes, got, &cpu->core->model, &in);
    }
    if (len < 0) {
        memset(&in, 0, sizeof(in));
        in.handler = len == V3_DEC_LONG ? cpu_op_gp0 : cpu_op_ud;
        in.len = 1;
    }
    if (got > first)
        cpu->stats.cross_page_insns++;
    if (mode != V3_MODE_LONG64 && cpu->core->rip + in.len - 1 > cpu->core->seg[V3_CS].limit) {
        struct v3_exception e = { .vector = V3_EXC_GP, .has_error_code = true };
        return take_exception(cpu, &e, exit, ret);
    }
    return exec_insns(cpu, &in, 1, mask, exit, ret);

fetch_fail:
    if (rc == V3_EFAULT)
        return take_exception(cpu, &exc, exit, ret);
    *ret = exit_error(cpu, exit, rc, "instruction fetch failed");
    return 1;
}

static int emu_run(struct v3_core *core, struct v3_exit *exit)
{
    struct v3_cpu *cpu;
    int ret = 0;

    if (!core || !exit) {
        V3_ERROR("cpu: run with a NULL argument");
        return V3_EINVAL;
    }
    memset(exit, 0, sizeof(*exit));
    if (!core->backend) {
        exit->reason = V3_EXIT_ERROR;
        exit->error.code = V3_EINVAL;
        exit->error.msg = "vCPU has no software-CPU state (init_core not called)";
        V3_ERROR("cpu: run before init_core");
        return V3_EINVAL;
    }
    cpu = cpu_of(core);
    /* The whole run is one read section of the memory map: a map change,
       and the listeners that invalidate this vCPU's TLB, decode cache and
       hook cache, wait until the loop offers a quiescent point (a block
       boundary; see v3_mem_core_quiesce()). */
    v3_mem_core_read_lock(core);
    if (__builtin_expect(cpu->model_gen != core->model_gen, 0)) {
        /* v3_cpu_set_model since the last run: the feature gates were applied at decode time */
        cpu_cache_flush(cpu);
        cpu->model_gen = core->model_gen;
    }
    if (cpu->ins_pending)
        ins_done(cpu);
    cpu->running = 1;

    /*
     * A halted vCPU (HLT retired, core->halted set) stays halted until an
     * event is delivered: boundary() delivers a pending event that may be
     * taken now (which clears core->halted); otherwise report V3_EXIT_HLT
     * again without executing anything (insn_rip is the RIP the vCPU will
     * resume at, past the HLT).
     */
    if (__builtin_expect(core->halted, 0)) {
        if ((cpu_brk(cpu) || cpu->ev_pending || cpu->graveyard) && boundary(cpu, exit, core->intr_shadow, &ret))
            goto out;
        if (core->halted) {
            exit->reason = V3_EXIT_HLT;
            exit->insn_rip = core->rip;
            goto out;
        }
    }

    for (;;) {
        unsigned shadow = core->intr_shadow, n, mode;
        uint64_t la, gpa, mask;
        uint8_t *hva;
        struct v3_exception exc;
        struct cpu_block *b;
        bool single;
        unsigned brk_n;
        int rc;

        if (__builtin_expect(core->dbg_flags != 0, 0) && debug_stop(cpu, exit))
            break;
        if (__builtin_expect(v3_mem_writer_waiting(core), 0))
            v3_mem_core_quiesce(core);          /* let a map change through */
        if (__builtin_expect(cpu_brk(cpu) || cpu->ev_pending || cpu->graveyard, 0)) {
            if (boundary(cpu, exit, shadow, &ret))
                break;
        }
        if (__builtin_expect(core->insn_count >= cpu->stop_at, 0)) {
            exit->reason = cpu->limit && core->insn_count >= cpu->limit ? V3_EXIT_INSN_LIMIT : V3_EXIT_SLICE;
            exit->insn_rip = core->rip;
            if (exit->reason == V3_EXIT_SLICE) {
                cpu->slice_end = ~0ull;
                cpu_stop_at_update(cpu);
            }
            break;
        }
        core->intr_shadow = 0;
        /* debugger breakpoints alone do not force single instructions: a block
           runs whole, or up to its first breakpoint (see brk_n below), and
           chains only to blocks without one */
        single = shadow || (core->rflags & (V3_FLAG_TF | V3_FLAG_RF)) || (core->dr[7] & 0xff) ||
                 (core->dbg_flags & ~V3_DBG_F_BREAK);

        mode = core->mode;
        mask = ip_mask(core->mode);
        la = fetch_la(core);
        if (__builtin_expect(single, 0) && (core->rflags & V3_FLAG_RF)) {
            /* RF suppresses instruction breakpoints for this one instruction only, and
             * is clear after it (a fault pushes it set again; IRET may load it) */
            core->rflags &= ~V3_FLAG_RF;
        } else if (__builtin_expect(single, 0) && (core->dr[7] & 0xff) && v3_cpu_exec_breakpoint) {
            unsigned hits = v3_cpu_exec_breakpoint(core, la);
            if (hits) {
                struct v3_exception e = { .vector = V3_EXC_DB };
                core->dr[6] = (core->dr[6] & ~0xfull) | hits;
                if (take_exception(cpu, &e, exit, &ret))
                    break;
                continue;
            }
        }
        {
            /* software TLB hit for the fetch, inline */
            struct v3_tlb_entry *e = (struct v3_tlb_entry *)core->tlb;
            e = e ? e + ((la >> 12) & (V3_TLB_SIZE - 1)) : NULL;
            if (__builtin_expect(e && e->tag == (la & ~0xfffull) &&
                                 ((e->perm >> v3_tlb_ctx_shift(core, V3_ACCESS_EXEC)) & V3_ACCESS_EXEC), 1)) {
                gpa = e->gpa | (la & 0xfff);
                hva = e->hva + (la & 0xfff);
                rc = V3_OK;
            } else {
                rc = cpu_fetch_xlate(cpu, la, &gpa, &hva, &exc);
            }
        }
        if (__builtin_expect(rc < 0, 0)) {
            if (rc == V3_EFAULT) {
                if (take_exception(cpu, &exc, exit, &ret))
                    break;
                continue;
            }
            ret = exit_error(cpu, exit, rc, "instruction fetch failed");
            break;
        }
        b = hva ? cpu_block_lookup(cpu, gpa, mode) : NULL;
        if (!b && hva)
            b = cpu_block_build(cpu, gpa, hva, 4096 - (unsigned)(gpa & 0xfff), mode);
        brk_n = 0;
        if (__builtin_expect(core->dbg_flags & V3_DBG_F_BREAK, 0) && !single && b &&
            break_in(core, la, b->bytes))
            brk_n = break_before(core, la, b);
        {
            uint64_t rflags_tf = core->rflags & V3_FLAG_TF;
            uint64_t retired = core->insn_count;
            const struct v3_emu_mem_ops *plain_mem = NULL;
            int r;
            if (__builtin_expect(single, 0) && ((core->dr[7] & 0xff) || (core->dbg_flags & V3_DBG_F_WATCH)) &&
                v3_cpu_dbg_mem_ops) {
                /* data breakpoints, the guest's or the debugger's: check this instruction's accesses */
                plain_mem = cpu->ctx.mem;
                cpu->ctx.mem = v3_cpu_dbg_mem_ops(plain_mem);
                core->db_pending = 0;
            }
            if (!b) {
                r = exec_uncached(cpu, la, mode, mask, exit, &ret);
            } else {
                cpu->stats.block_execs++;
                n = single ? 1 : b->n;
                if (__builtin_expect(brk_n != 0, 0) && brk_n < n)
                    n = brk_n;          /* up to a debugger breakpoint in the block */
                if (cpu->stop_at - core->insn_count < n)
                    n = (unsigned)(cpu->stop_at - core->insn_count);
                if (__builtin_expect(mode != V3_MODE_LONG64, 0) &&
                    core->rip + b->bytes - 1 > core->seg[V3_CS].limit) {
                    /* the block runs past the CS limit: one instruction at a time, checked */
                    n = 1;
                    if (core->rip + b->insn[0].len - 1 > core->seg[V3_CS].limit) {
                        struct v3_exception e = { .vector = V3_EXC_GP, .has_error_code = true };
                        if (take_exception(cpu, &e, exit, &ret))
                            break;
                        continue;
                    }
                }
                cpu->cur_page = gpa >> 12;
                if (n == b->n && !single)
                    r = exec_threaded(cpu, b, mask, exit, &ret);
                else
                    r = exec_insns(cpu, b->insn, n, mask, exit, &ret);
                cpu->cur_page = ~0ull;
            }
            if (plain_mem)
                cpu->ctx.mem = plain_mem;
            if (core->dbg_flags & V3_DBG_F_STEP)
                core->dbg_stepped = 1;
            if (r)
                break;
            if (__builtin_expect(single, 0) && core->insn_count == retired) {
                /* The instruction faulted (its exception was delivered): it did
                   not complete, so no single-step or data-breakpoint trap
                   follows it (the trap would land on the handler's first
                   instruction).  Restarted, it will hit its data breakpoints again. */
                core->db_pending = 0;
                core->dbg_watch_type = 0;
                cpu->db_deferred = 0;
                continue;
            }
            if (single && v3_cpu_debug_trap &&
                ((rflags_tf && !(core->intr_shadow & V3_SHADOW_MOVSS)) || (plain_mem && core->db_pending) ||
                 cpu->db_deferred)) {
                unsigned hits = plain_mem ? core->db_pending : 0;
                bool step = rflags_tf && !(core->intr_shadow & V3_SHADOW_MOVSS);
                core->db_pending = 0;
                if (core->intr_shadow & V3_SHADOW_MOVSS) {
                    /* MOV SS / POP SS: its debug exceptions wait for the end of the next
                       instruction, and are reported with that one's (a SYSCALL or INT n
                       there takes them in the new context, as the CPU does) */
                    cpu->db_deferred |= (uint8_t)hits;
                    hits = 0;
                } else {
                    hits |= cpu->db_deferred;
                    cpu->db_deferred = 0;
                }
                if (!hits && !step)
                    continue;
                rc = v3_cpu_debug_trap(core, hits, step);
                if (rc == V3_CPU_SHUTDOWN) {
                    exit->reason = V3_EXIT_SHUTDOWN;
                    exit->insn_rip = core->rip;
                    break;
                }
                if (rc < 0) {
                    ret = exit_error(cpu, exit, rc, "single-step trap delivery failed");
                    break;
                }
            }
        }
    }
out:
    cpu->running = 0;
    cpu_hc_flush(cpu);
    cpu_cache_reap(cpu);
    v3_mem_core_read_unlock(core);
    return ret;
}

const struct v3_backend_ops v3_emu_backend = {
    .name = "emu",
    .init_core = emu_init_core,
    .free_core = emu_free_core,
    .run = emu_run,
    .inject = emu_inject,
    .get_state = NULL,
    .set_state = NULL,
    .kick = emu_kick,
    .intr_ready = emu_intr_ready,
    .intr_window = emu_intr_window,
    .set_slice = emu_set_slice,
};
