/* SPDX-License-Identifier: MIT */
/* v3vm: the gdb stub (v3/gdbstub.h) over a TCP socket. */
#ifndef V3VM_GDBSOCK_H
#define V3VM_GDBSOCK_H

#include <stdint.h>
#include <v3/gdbstub.h>

/* Parse "tcp::PORT", "tcp:HOST:PORT" or "PORT" (QEMU's -gdb spelling).  0 or -1. */
int gdbsock_parse(const char *spec, char *host, size_t host_len, unsigned *port);

/*
 * Listen on host:port and run the VM under the stub until it ends.  With
 * @p wait, accept the debugger before the first instruction (-S);
 * otherwise the VM runs and a debugger may attach later.  Returns 0 with
 * *res filled, or -1 (socket error, message printed).
 */
int gdbsock_run(struct v3_vm *vm, const char *host, unsigned port, int wait, struct v3_vm_result *res);

#endif
