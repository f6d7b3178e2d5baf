/* SPDX-License-Identifier: MIT */
/* v3vm's command line (see args.h). */
#include "args.h"
#include <v3/device.h>
#include <v3/vm.h>
#include <v3/cpuid.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return V3VM_ARGS_ERROR;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (!s || !*s || *s == '-')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 0);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    unsigned shift = 20;

    if (!s || !*s || *s == '-')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    if (*end) {
        switch (*end) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        default: return -1;
        }
        if (end[1] && !((end[1] == 'B' || end[1] == 'b') && !end[2]) && strcmp(end + 1, "iB"))
            return -1;
    }
    if (v == 0 || v > (1ull << (52 - shift)))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

/*
 * One feature of -cpu: "+NAME", "-NAME", or QEMU's "NAME=on" / "NAME=off".
 * The name goes to @p name (NUL-terminated), the sign to *on.  -1: bad syntax.
 */
int v3vm_cpu_feature(const char *s, size_t n, char *name, size_t namelen, int *on)
{
    const char *eq = memchr(s, '=', n);
    size_t k;
    if (n >= 2 && (s[0] == '+' || s[0] == '-') && !eq) {
        *on = s[0] == '+';
        s++;
        k = n - 1;
    } else if (eq && (size_t)(eq - s) >= 1) {
        size_t vl = n - (size_t)(eq - s) - 1;
        if (vl == 2 && !strncmp(eq + 1, "on", 2))
            *on = 1;
        else if (vl == 3 && !strncmp(eq + 1, "off", 3))
            *on = 0;
        else
            return -1;
        k = (size_t)(eq - s);
    } else {
        return -1;
    }
    if (k + 1 > namelen)
        return -1;
    memcpy(name, s, k);
    name[k] = 0;
    return 0;
}

/* -cpu NAME[,+feat|-feat|feat=on|feat=off...]: NAME amd (default), intel; names: v3_cpu_feature_name */
static int check_cpu(const char *s, char *err, size_t errlen)
{
    size_t n = strcspn(s, ",");
    if (!((n == 3 && !strncmp(s, "amd", 3)) || (n == 5 && !strncmp(s, "intel", 5)) ||
          (n == 7 && !strncmp(s, "default", 7))))
        return fail(err, errlen, "unknown CPU model '%.*s' (amd, intel; -cpu help lists them)", (int)n, s);
    for (s += n; *s; s += n) {
        char name[64];
        int on;
        s++;                                    /* the comma */
        n = strcspn(s, ",");
        if (v3vm_cpu_feature(s, n, name, sizeof(name), &on) < 0)
            return fail(err, errlen, "invalid -cpu feature '%.*s' (+NAME, -NAME, NAME=on or NAME=off)",
                        (int)n, s);
        int known = 0;
        const char *f;
        for (unsigned i = 0; (f = v3_cpu_feature_name(i, NULL)); i++) {
            size_t k = 0;
            for (; name[k] && f[k] && (name[k] == f[k] || (name[k] == '.' && f[k] == '_')); k++)
                ;
            known |= !name[k] && !f[k];
        }
        if (!known && on)
            return fail(err, errlen, "-cpu: cannot add '%s': the software CPU does not implement it "
                        "(-cpu help lists the features)", name);
        if (!known)
            return fail(err, errlen, "unknown CPU feature '%s' (-cpu help lists them)", name);
    }
    return 0;
}

/* --flat ADDR[:ENTRY] */
static int parse_flat(const char *s, uint64_t *addr, uint64_t *entry)
{
    const char *colon = strchr(s, ':');
    char a[32];

    if (!colon)
        return parse_u64(s, addr) < 0 ? -1 : (*entry = *addr, 0);
    if ((size_t)(colon - s) >= sizeof(a))
        return -1;
    memcpy(a, s, (size_t)(colon - s));
    a[colon - s] = 0;
    if (parse_u64(a, addr) < 0 || parse_u64(colon + 1, entry) < 0)
        return -1;
    return 0;
}

int v3vm_parse_args(int argc, char *const argv[], struct v3vm_args *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof(*o));
    o->serial = "stdio";
    o->machine = "pc";
    o->accel = "emu";
    o->mem = 128ull << 20;
    o->smp = 1;
    if (errlen)
        err[0] = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define NEED_ARG() do { if (i + 1 >= argc || !argv[i + 1]) \
                            return fail(err, errlen, "option '%s' needs an argument", a); } while (0)
        if (!a)
            return fail(err, errlen, "NULL argument");
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            return V3VM_ARGS_HELP;
        } else if (!strcmp(a, "--version")) {
            return V3VM_ARGS_VERSION;
        } else if (!strcmp(a, "-m")) {
            NEED_ARG();
            if (parse_size(argv[++i], &o->mem) < 0 || (o->mem & 0xfff))
                return fail(err, errlen, "invalid memory size '%s' (a positive multiple of 4 KiB, e.g. 64M)",
                            argv[i]);
        } else if (!strcmp(a, "-smp")) {
            uint64_t n;
            NEED_ARG();
            i++;
            /* QEMU's spelling "-smp N" or "-smp cpus=N" */
            if (parse_u64(!strncmp(argv[i], "cpus=", 5) ? argv[i] + 5 : argv[i], &n) < 0 || n < 1 ||
                n > V3_MAX_CORES)
                return fail(err, errlen, "invalid vCPU count '%s' (1 to %u)", argv[i], V3_MAX_CORES);
            o->smp = (unsigned)n;
        } else if (!strcmp(a, "-kernel")) {
            NEED_ARG();
            o->kernel = argv[++i];
        } else if (!strcmp(a, "-append")) {
            NEED_ARG();
            o->append = argv[++i];
        } else if (!strcmp(a, "-initrd")) {
            NEED_ARG();
            o->initrd = argv[++i];
        } else if (!strcmp(a, "-serial")) {
            NEED_ARG();
            o->serial = argv[++i];
            if (strcmp(o->serial, "stdio") && strcmp(o->serial, "none") &&
                (strncmp(o->serial, "file:", 5) || !o->serial[5]))
                return fail(err, errlen, "invalid serial back end '%s' (stdio, file:PATH or none)", o->serial);
        } else if (!strcmp(a, "-machine") || !strcmp(a, "-M")) {
            int known = 0;
            NEED_ARG();
            o->machine = argv[++i];
            if (!strcmp(o->machine, "help"))
                return V3VM_ARGS_LIST_MACHINES;
            for (const char *const *m = v3_machine_names(); *m; m++)
                known |= !strcmp(*m, o->machine);
            if (!known)
                return fail(err, errlen, "unknown machine '%s' (-machine help lists them)", o->machine);
        } else if (!strcmp(a, "-device")) {
            NEED_ARG();
            if (!strcmp(argv[i + 1], "help"))
                return V3VM_ARGS_LIST_DEVICES;
            if (o->ndevices == sizeof(o->devices) / sizeof(o->devices[0]))
                return fail(err, errlen, "at most %zu -device options", sizeof(o->devices) / sizeof(o->devices[0]));
            o->devices[o->ndevices++] = argv[++i];
        } else if (!strcmp(a, "-cpu")) {
            NEED_ARG();
            o->cpu = argv[++i];
            if (!strcmp(o->cpu, "help"))
                return V3VM_ARGS_LIST_CPU;
            if (check_cpu(o->cpu, err, errlen))
                return V3VM_ARGS_ERROR;
        } else if (!strcmp(a, "-clock")) {
            NEED_ARG();
            i++;
            if (!strcmp(argv[i], "realtime"))
                o->clock_virtual = 0;
            else if (!strcmp(argv[i], "virtual"))
                o->clock_virtual = 1;
            else
                return fail(err, errlen, "invalid clock '%s' (realtime or virtual)", argv[i]);
        } else if (!strcmp(a, "--raw-cmdline")) {
            o->raw_cmdline = 1;
        } else if (!strcmp(a, "--dump-devices")) {
            o->dump_devices = 1;
        } else if (!strcmp(a, "-accel")) {
            NEED_ARG();
            o->accel = argv[++i];
            if (strcmp(o->accel, "emu") && strcmp(o->accel, "kvm") && strcmp(o->accel, "auto"))
                return fail(err, errlen, "invalid accelerator '%s' (emu, kvm or auto)", o->accel);
        } else if (!strcmp(a, "-gdb")) {
            NEED_ARG();
            o->gdb = argv[++i];
        } else if (!strcmp(a, "-s")) {
            o->gdb = "tcp::1234";
        } else if (!strcmp(a, "-S")) {
            o->gdb_wait = 1;
        } else if (!strcmp(a, "--flat")) {
            NEED_ARG();
            if (parse_flat(argv[++i], &o->flat_addr, &o->flat_entry) < 0)
                return fail(err, errlen, "invalid --flat address '%s' (ADDR[:ENTRY])", argv[i]);
            o->flat = 1;
        } else if (!strcmp(a, "--real")) {
            o->real = 1;
        } else if (!strcmp(a, "--dump-map")) {
            o->dump = 1;
        } else if (!strcmp(a, "--stats")) {
            o->stats = 1;
        } else if (!strcmp(a, "--vga")) {
            o->vga = 1;
        } else if (!strcmp(a, "--trace")) {
            NEED_ARG();
            if (strcmp(argv[++i], "exits"))
                return fail(err, errlen, "unknown trace '%s' (supported: exits)", argv[i]);
            o->trace = 1;
        } else if (!strcmp(a, "--max-insns")) {
            NEED_ARG();
            if (parse_u64(argv[++i], &o->max_insns) < 0 || !o->max_insns)
                return fail(err, errlen, "invalid instruction count '%s'", argv[i]);
        } else if (!strcmp(a, "--snapshot-at-insn")) {
            if (i + 2 >= argc || !argv[i + 1] || !argv[i + 2])
                return fail(err, errlen, "option '%s' needs an instruction count and a file", a);
            if (parse_u64(argv[++i], &o->snapshot_at) < 0 || !o->snapshot_at)
                return fail(err, errlen, "invalid instruction count '%s'", argv[i]);
            o->snapshot_file = argv[++i];
            if (!o->snapshot_file[0])
                return fail(err, errlen, "empty snapshot file name");
        } else if (!strcmp(a, "-loadvm")) {
            NEED_ARG();
            o->loadvm = argv[++i];
            if (!o->loadvm[0])
                return fail(err, errlen, "empty snapshot file name");
        } else if (!strcmp(a, "--strict-mem")) {
            o->strict_mem = 1;
        } else if (!strcmp(a, "--reboot")) {
            o->reboot = 1;
        } else if (!strcmp(a, "--enable-mem-offset-hypercall")) {
            o->memoff = 1;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            o->verbose++;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            o->quiet = 1;
        } else {
            return fail(err, errlen, "unknown option '%s'", a);
        }
#undef NEED_ARG
    }
    if (!o->kernel)
        return fail(err, errlen, "no kernel given (-kernel FILE)");
    if (o->real && !o->flat)
        return fail(err, errlen, "--real needs --flat");
    if (o->flat && o->initrd)
        return fail(err, errlen, "-initrd needs a multiboot kernel, not --flat");
    if (o->gdb_wait && !o->gdb)
        return fail(err, errlen, "-S needs -gdb or -s");
    if (o->snapshot_at && o->max_insns)
        return fail(err, errlen, "--snapshot-at-insn and --max-insns cannot be combined");
    if (o->snapshot_at && o->gdb)
        return fail(err, errlen, "--snapshot-at-insn and -gdb cannot be combined");
    return V3VM_ARGS_RUN;
}

int v3vm_parse_initrd(const char *list, struct v3vm_module_spec *specs, unsigned *n, char *err,
                      size_t errlen)
{
    const char *p = list;
    unsigned idx = 0;

    *n = 0;
    for (;;) {
        size_t elen = strcspn(p, ","), pl = strcspn(p, " ");

        if (pl > elen)
            pl = elen;
        idx++;
        if (elen == 0) {
            fail(err, errlen, "-initrd: module %u is empty (the list is PATH[ ARGS][,PATH[ ARGS]...])", idx);
            return -1;
        }
        if (pl == 0) {
            fail(err, errlen, "-initrd: module %u has an empty path", idx);
            return -1;
        }
        if (pl > V3VM_MAX_PATH) {
            fail(err, errlen, "-initrd: the path of module %u is too long (%zu bytes, at most %d)", idx, pl,
                 V3VM_MAX_PATH);
            return -1;
        }
        if (*n == V3VM_MAX_MODULES) {
            fail(err, errlen, "-initrd: too many modules (at most %d)", V3VM_MAX_MODULES);
            return -1;
        }
        memcpy(specs[*n].path, p, pl);
        specs[*n].path[pl] = 0;
        specs[*n].string = p;
        specs[*n].string_len = elen;
        (*n)++;
        if (!p[elen])
            return 0;
        p += elen + 1;
    }
}
