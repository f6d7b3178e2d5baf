/* SPDX-License-Identifier: MIT */
/**
 * @file v3/gdbstub.h
 * A gdb remote-serial-protocol stub for a VM, over any byte stream.
 *
 * The embedder connects a debugger however it likes (a TCP socket, a pipe,
 * a serial line) and gives the stub two callbacks to read and write bytes;
 * the stub speaks the protocol and runs the VM (v3_run_vm()) on the
 * calling thread when the debugger continues or steps it.
 *
 * What the debugger sees: vCPUs are threads 1..N; registers follow the
 * i386:x86-64 target description the stub serves (general registers, RIP,
 * EFLAGS, segment selectors, FS/GS/kernel-GS bases, x87, SSE, CR0/2/3/4/8,
 * EFER); memory addresses are guest linear (virtual) addresses translated
 * through the guest's page tables without setting accessed/dirty bits
 * (`monitor phys` switches them to guest physical addresses; `monitor xp
 * ADDR [LEN]` dumps physical memory).  Breakpoints (Z0/Z1) and watchpoints
 * (Z2/Z3/Z4) use the back end's debugger state (v3/debug.h): guest memory
 * and the guest's debug registers are never modified.
 *
 * Interrupting a running VM: while the VM runs, the stub does not read the
 * stream.  An embedder that wants Ctrl-C (byte 0x03) or a debugger that
 * attaches to a running VM to work watches the stream itself (e.g. poll()
 * on another thread) and calls v3_gdb_interrupt() when input is waiting;
 * the stub stops the VM at the next instruction boundary and reads it.
 *
 * Bad input never crashes the stub: a packet with a wrong checksum or
 * longer than the advertised PacketSize is answered with '-' (and dropped),
 * unknown commands get the empty reply, malformed ones an "E" error reply.
 */
#ifndef V3_GDBSTUB_H
#define V3_GDBSTUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <v3/vm.h>

/** The byte stream to the debugger (callbacks run on the thread that called v3_gdb_serve()). */
struct v3_gdb_io {
    /** Read up to @p len bytes into @p buf, blocking until at least one is
     *  available.  Return the count, 0 at the end of the stream, negative on error. */
    long (*read)(void *priv, void *buf, size_t len);
    /** Write all @p len bytes of @p buf.  Return 0, or negative on error. */
    int (*write)(void *priv, const void *buf, size_t len);
    /** Optional: return non-zero when read() would not block.  NULL: the stub
     *  trusts v3_gdb_interrupt() to be called only when input is waiting. */
    int (*ready)(void *priv);
    void *priv;
};

struct v3_gdbstub;

/** v3_gdb_serve() flags */
#define V3_GDB_WAIT 0x1u   /**< wait for the debugger before the first instruction (else run until it attaches) */

/** Largest packet the stub accepts (advertised as PacketSize). */
#define V3_GDB_PACKET_SIZE 4096

/**
 * Create a stub for @p vm talking over @p io (copied; the callbacks' priv
 * must outlive the stub).  The VM stays the caller's.
 * @param err if non-NULL receives V3_OK, V3_EINVAL (NULL argument or
 *            callback) or V3_ENOMEM.
 * @return the stub (free with v3_gdb_free()) or NULL.
 */
struct v3_gdbstub *v3_gdb_create(struct v3_vm *vm, const struct v3_gdb_io *io, int *err);

/** Free a stub (not its VM; the debugger state it set in the VM is cleared).  NULL is ignored. */
void v3_gdb_free(struct v3_gdbstub *gs);

/**
 * Serve the debugger and run the VM for it until the VM stops for good or
 * the debugger kills it.  Returns when:
 *  - the VM stopped with debug-exit, shutdown, an error or the instruction
 *    limit (the debugger, if attached, is told the program exited: W/X);
 *  - the debugger sent 'k' (@p res->reason = V3_STOP_REQUESTED);
 *  - v3_stop_vm() was called from elsewhere (V3_STOP_REQUESTED);
 *  - the VM halted for good while no debugger is attached (V3_STOP_HLT).
 * A debugger that detaches ('D') or whose stream ends leaves the VM running
 * on without breakpoints.  A HLT with nothing to wake the vCPU is reported
 * to an attached debugger as a SIGTRAP stop.
 * @param flags V3_GDB_WAIT or 0.
 * @return V3_OK with @p res filled, or V3_EINVAL for NULL arguments.
 */
int v3_gdb_serve(struct v3_gdbstub *gs, unsigned flags, struct v3_vm_result *res);

/**
 * Input is waiting on the stream while the VM may be running (any thread,
 * also a signal handler): stop the VM at its next instruction boundary so
 * that the stub reads it.  A byte 0x03 then stops the VM for the debugger
 * (SIGINT); a packet from a debugger attaching to a running VM stops it
 * too; anything else is kept for later and the VM resumes.  Does nothing
 * while the stub is not running the VM.
 */
void v3_gdb_interrupt(struct v3_gdbstub *gs);

#endif
