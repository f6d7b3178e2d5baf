/* SPDX-License-Identifier: MIT */
/*
 * v3vm's command line, parsed without side effects (no file is opened, no VM
 * made, nothing printed), so that it can be tested and fuzzed on its own.
 */
#ifndef V3VM_ARGS_H
#define V3VM_ARGS_H

#include <stddef.h>
#include <stdint.h>

#define V3VM_MAX_MODULES  16
#define V3VM_MAX_PATH     4095

struct v3vm_args {
    const char *kernel, *append, *initrd, *serial;  /* point into argv; serial defaults to "stdio" */
    uint64_t mem;                   /* bytes (default 128 MiB) */
    unsigned smp;                   /* vCPUs (default 1) */
    uint64_t max_insns;             /* 0: none */
    int flat;                       /* --flat given: flat_addr, flat_entry */
    uint64_t flat_addr, flat_entry;
    int real, dump, stats, vga, trace, memoff, strict_mem;
    int reboot;                     /* --reboot: a guest reset starts it again */
    int verbose;                    /* -v count */
    int quiet;                      /* -q given */
    const char *machine;            /* -machine (default "pc") */
    const char *devices[32];        /* -device specs */
    unsigned ndevices;
    int clock_virtual;              /* -clock virtual */
    int raw_cmdline;                /* --raw-cmdline */
    int dump_devices;               /* --dump-devices */
    const char *gdb;                /* -gdb SPEC or -s */
    int gdb_wait;                   /* -S */
    const char *accel;              /* -accel emu (default), kvm or auto */
    uint64_t snapshot_at;           /* --snapshot-at-insn N FILE: N (0: not given) */
    const char *snapshot_file;      /* ... FILE */
    const char *loadvm;             /* -loadvm FILE */
    const char *cpu;                /* -cpu NAME[,+feat|-feat...] (checked for syntax and names) */
};

enum {
    V3VM_ARGS_RUN = 0,              /* boot with *a */
    V3VM_ARGS_HELP,                 /* --help: print the usage, exit 0 */
    V3VM_ARGS_VERSION,              /* --version */
    V3VM_ARGS_ERROR,                /* usage error: message in err */
    V3VM_ARGS_LIST_DEVICES,         /* -device help */
    V3VM_ARGS_LIST_MACHINES,        /* -machine help */
    V3VM_ARGS_LIST_CPU,             /* -cpu help */
};

/* Parse argv[1..argc-1].  Returns a V3VM_ARGS_* value; on V3VM_ARGS_ERROR
   @p err (errlen > 0) holds the message, NUL-terminated. */
int v3vm_parse_args(int argc, char *const argv[], struct v3vm_args *a, char *err, size_t errlen);

/* One element of the -initrd list: the path (up to the first space) and the
   whole element (the module string). */
struct v3vm_module_spec {
    char path[V3VM_MAX_PATH + 1];
    const char *string;             /* points into the list */
    size_t string_len;
};

/* Split an -initrd list "PATH[ ARGS][,PATH[ ARGS]...]" into @p specs (at most
   V3VM_MAX_MODULES).  0 and *n, or -1 with the message in err. */
int v3vm_parse_initrd(const char *list, struct v3vm_module_spec *specs, unsigned *n, char *err,
                      size_t errlen);

/* One -cpu feature of @p n bytes at @p s: "+NAME", "-NAME", "NAME=on" or
   "NAME=off".  0 with the name in @p name and *on, or -1 (bad syntax). */
int v3vm_cpu_feature(const char *s, size_t n, char *name, size_t namelen, int *on);

#endif
