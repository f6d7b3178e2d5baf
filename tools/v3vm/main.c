/* SPDX-License-Identifier: MIT */
/* v3vm: boot a multiboot (or flat) guest on v3vmm with a serial console. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <v3/v3.h>
#include <v3/devices.h>
#include <v3/loader.h>
#include <v3/platform.h>
#include "gdbsock.h"
#include "args.h"
#include "console.h"

/* Exit statuses other than the guest's debug-exit status (which is always odd). */
enum {
    EXIT_SHUTDOWN   = 4,    /* triple fault or reset request (port 0x92 bit 0) */
    EXIT_HLT        = 6,    /* HLT with no interrupt that could wake the vCPU */
    EXIT_INSN_LIMIT = 8,    /* --max-insns reached */
    EXIT_VM_ERROR   = 10,   /* the VM stopped on an error */
    EXIT_USAGE      = 2,    /* bad command line */
    EXIT_SETUP      = 12,   /* cannot read a file, bad image, VM creation failed */
    EXIT_STOPPED    = 130,  /* stopped by SIGINT/SIGTERM */
};

static const char *prog = "v3vm";
static int log_level = V3_LOG_WARN;
static int log_raw;                  /* print log lines without prefix (stats, map) */
static struct v3_vm *the_vm;

static void usage(FILE *f)
{
    fprintf(f,
"Usage: %s [options] -kernel FILE\n"
"Boot a kernel on v3vmm: a Linux bzImage, a vmlinux with a PVH entry note, or a\n"
"multiboot v1 kernel (ELF32 or a.out-kludge image); the type is detected.\n"
"\n"
"  -m SIZE              guest RAM; suffix K, M or G, no suffix means MiB (default 128M)\n"
"  -smp N               N vCPUs (1-64, default 1), each on its own host thread; vCPU 0\n"
"                       starts at the image's entry, the others wait for INIT/SIPI\n"
"  -kernel FILE         the kernel image (required)\n"
"  -append CMDLINE      kernel command line (multiboot: given as 'FILE CMDLINE', as\n"
"                       QEMU and GRUB do; --raw-cmdline passes CMDLINE alone)\n"
"  -initrd FILE[,FILE]  Linux: the initramfs (one file); multiboot: modules, each as\n"
"                       'path args' (the whole text is the module string)\n"
"  -serial MODE         stdio (default), file:PATH, or none; stdio on a terminal is\n"
"                       raw: Ctrl-A X quits, Ctrl-A H lists the escapes\n"
"  -machine NAME        pc (default: PIC, PIT, RTC, LAPIC, IOAPIC, UART, ...) or none\n"
"                       (UART, debug exit, port 0x92, VGA text, test device); help lists them\n"
"  -device NAME[,K=V..] add a device (repeatable); -device help lists the models\n"
"  -accel ACCEL         execution back end: emu (default, the software CPU), kvm\n"
"                       (Linux KVM; V3_KVM_DEVICE names another device than\n"
"                       /dev/kvm) or auto (kvm when usable, else emu)\n"
"  -clock MODE          VM clock: realtime (default, host time) or virtual\n"
"                       (advanced by guest instructions: deterministic runs,\n"
"                       no RDRAND/RDSEED)\n"
"  --dump-devices       print the devices with their ports, MMIO ranges and IRQs\n"
"  --flat ADDR[:ENTRY]  load FILE as a flat binary at ADDR, start at ENTRY (default ADDR)\n"
"                       in 32-bit protected mode (--real: real mode)\n"
"  --real               with --flat: start in real mode\n"
"  --dump-map           print the guest physical memory map before running\n"
"  --stats              print statistics when the VM stops\n"
"  --vga                print the VGA text screen when the VM stops\n"
"  --trace exits        log every VM exit\n"
"  --max-insns N        stop after N guest instructions\n"
"  --snapshot-at-insn N FILE\n"
"                       run N guest instructions, save the VM to FILE and stop\n"
"  -loadvm FILE         continue from a snapshot (give the same -kernel, -m,\n"
"                       -machine, -device and -clock as when it was saved)\n"
"  -gdb tcp::PORT       serve gdb's remote protocol on PORT ([tcp:][HOST]:PORT)\n"
"  -s                   shorthand for -gdb tcp::1234\n"
"  -S                   with -gdb: wait for gdb before the first instruction\n"
"  --reboot             a guest reset (triple fault, 0xCF9, 8042, port 0x92) boots\n"
"                       the guest again instead of exiting with status 4\n"
"  --strict-mem         stop the VM on a guest access to unbacked guest-physical\n"
"                       memory (default: reads give all ones, writes are dropped)\n"
"  --enable-mem-offset-hypercall\n"
"                       let hypercall 0x1000 reveal the host address of guest RAM\n"
"  -v, --verbose        more log output (repeat for debug)\n"
"  -q, --quiet          only errors in the log\n"
"  -h, --help           this help\n"
"  --version            print the version\n"
"\n"
"Exit status: the guest's debug-exit status (value v written to port 0xf4\n"
"gives (v << 1) | 1), 0 when the guest powers off (ACPI S5), or %d shutdown\n"
"(triple fault or reset), %d HLT with no possible\n"
"wake-up, %d instruction limit, %d VM error, %d usage error, %d bad image or\n"
"setup failure, %d interrupted.\n",
            prog, EXIT_SHUTDOWN, EXIT_HLT, EXIT_INSN_LIMIT, EXIT_VM_ERROR, EXIT_USAGE, EXIT_SETUP,
            EXIT_STOPPED);
}

static void cli_log(enum v3_log_level level, const char *fmt, va_list ap)
{
    static const char *names[] = { "error", "warning", "info", "debug" };

    if (!log_raw && (int)level > log_level)
        return;
    flockfile(stderr);
    if (!log_raw)
        fprintf(stderr, "%s: %s: ", prog, names[level <= V3_LOG_DEBUG ? level : V3_LOG_DEBUG]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    funlockfile(stderr);
}

static void die_usage(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help'.\n", prog);
    exit(EXIT_USAGE);
}

/*
 * Read a whole file of at most @p max bytes (guest RAM: nothing larger can be
 * loaded).  A regular file's size is checked before reading; other files
 * (pipes, devices such as /dev/zero) are read until EOF or max + 1 bytes.
 */
static void *read_file(const char *path, size_t *len, uint64_t max)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;
    struct stat st;

    if (!f) {
        fprintf(stderr, "%s: cannot open '%s': %s\n", prog, path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "%s: cannot read '%s': %s\n", prog, path, strerror(EISDIR));
        fclose(f);
        return NULL;
    }
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size > max) {
        fprintf(stderr, "%s: '%s' (%llu bytes) is larger than guest RAM (%llu bytes): not loaded\n", prog,
                path, (unsigned long long)st.st_size, (unsigned long long)max);
        fclose(f);
        return NULL;
    }
    for (;;) {
        size_t r;
        if (n == cap) {
            char *nb;
            if (n > max) {
                fprintf(stderr, "%s: '%s' is larger than guest RAM (%llu bytes): not loaded\n", prog, path,
                        (unsigned long long)max);
                free(buf);
                fclose(f);
                return NULL;
            }
            cap = cap ? cap * 2 : 1 << 16;
            if (cap > max + 1)
                cap = (size_t)max + 1;      /* one byte more tells a file that is too large */
            nb = realloc(buf, cap);
            if (!nb) {
                fprintf(stderr, "%s: out of memory reading '%s'\n", prog, path);
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    if (ferror(f)) {
        fprintf(stderr, "%s: cannot read '%s': %s\n", prog, path, strerror(errno));
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    if (n > max) {
        fprintf(stderr, "%s: '%s' is larger than guest RAM (%llu bytes): not loaded\n", prog, path,
                (unsigned long long)max);
        free(buf);
        return NULL;
    }
    *len = n;
    return buf ? buf : malloc(1);
}

/* ---- serial back ends ---- */

static void serial_out_file(void *priv, uint8_t b)
{
    FILE *f = priv;
    static int warned;

    if ((fputc(b, f) == EOF || (b == '\n' && fflush(f) == EOF)) && !warned) {
        warned = 1;                 /* once: the guest may print a lot */
        fprintf(stderr, "%s: warning: serial output: write failed: %s (further output is lost)\n", prog,
                strerror(errno));
    }
}

/* What a loader error means for the user (the log line above has the details). */
static const char *load_error(int rc)
{
    switch (rc) {
    case V3_EIMAGE:       return "malformed guest image";
    case V3_ENOFIT:       return "the image does not fit in guest RAM";
    case V3_EHOOKED:      return "the image would land on device memory (MMIO), not RAM";
    case V3_EOVERLAP:     return "overlapping segments";
    case V3_EUNSUPPORTED: return "the kernel requires a boot feature v3vm does not provide";
    default:              return v3_strerror(rc);
    }
}

static void console_quit(void)
{
    if (the_vm)
        v3_stop_vm(the_vm);
}

/*
 * Read the -initrd list "PATH[ ARGS][,PATH[ ARGS]...]" (at most 16 modules;
 * each entry whole is the module string).  0, or the exit status after a
 * message: EXIT_USAGE for a bad list, EXIT_SETUP for a file that cannot be
 * read.  Modules read so far stay in the arrays (*nmods) for the caller to free.
 */
static int read_modules(const char *list, uint64_t mem, struct v3_boot_module *mods, char **strings,
                        void **data, unsigned *nmods)
{
    static struct v3vm_module_spec specs[V3VM_MAX_MODULES];
    char err[512];
    unsigned n;

    if (v3vm_parse_initrd(list, specs, &n, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return EXIT_USAGE;
    }
    for (unsigned i = 0; i < n; i++) {
        data[*nmods] = read_file(specs[i].path, &mods[*nmods].len, mem);
        if (!data[*nmods])
            return EXIT_SETUP;
        strings[*nmods] = strndup(specs[i].string, specs[i].string_len);
        if (!strings[*nmods]) {
            free(data[*nmods]);
            fprintf(stderr, "%s: out of memory\n", prog);
            return EXIT_SETUP;
        }
        mods[*nmods].data = data[*nmods];
        mods[*nmods].string = strings[*nmods];
        (*nmods)++;
    }
    return 0;
}

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    (void)sig;
    got_signal = 1;
    console_restore();
    if (the_vm)
        v3_stop_vm(the_vm);
}

/* ---- reports on stderr ---- */

static void dump_map(struct v3_vm *vm)
{
    fprintf(stderr, "guest physical memory map:\n");
    fprintf(stderr, "  %-18s %-18s %-10s %s\n", "start", "end", "type", "hook calls");
    fprintf(stderr, "  0x%016llx 0x%016llx %-10s -\n", 0ull, (unsigned long long)v3_mem_size(vm),
            v3_shdw_region_type_to_str(V3_REGION_BASE));
    for (struct v3_mem_region *r = v3_mem_first(vm); r; r = v3_mem_next(vm, r))
        fprintf(stderr, "  0x%016llx 0x%016llx %-10s %llu\n", (unsigned long long)r->guest_start,
                (unsigned long long)r->guest_end, v3_shdw_region_type_to_str(r->type),
                (unsigned long long)r->hook_calls);
}

/* Snapshot file I/O (-loadvm, --snapshot-at-insn). */
static int snap_write(void *opaque, const void *data, size_t len)
{
    return fwrite(data, 1, len, (FILE *)opaque) == len ? 0 : V3_EIO;
}

static int64_t snap_read(void *opaque, void *data, size_t len)
{
    size_t n = fread(data, 1, len, (FILE *)opaque);
    return (n == 0 && ferror((FILE *)opaque)) ? V3_EIO : (int64_t)n;
}

static void print_stats(struct v3_vm *vm)
{
    fflush(stdout);
    log_raw = 1;
    v3_vm_print_stats(vm, V3_LOG_ERROR);
    log_raw = 0;
}

static void print_vga(struct v3_vm *vm)
{
    char buf[V3_VGA_ROWS * (V3_VGA_COLS + 1) + 1];
    unsigned row = 0, col = 0;

    if (v3_vga_render(vm, buf, sizeof(buf)) < 0)
        return;
    v3_vga_cursor(vm, &row, &col);
    fflush(stdout);
    fprintf(stderr, "VGA text screen (%llu cell changes, cursor at row %u column %u):\n%s",
            (unsigned long long)v3_vga_cells_changed(vm), row, col, buf);
}

int main(int argc, char **argv)
{
    const char *kernel, *append, *initrd, *serial;
    uint64_t mem, max_insns;
    int flat, dump, stats, vga, real, trace, memoff, strict_mem;
    struct v3vm_args args;
    char errbuf[512];
    struct v3_pc_layout layout;
    const char *gdb;
    int gdb_wait;
    struct v3_os_hooks hooks;
    struct v3_vm_config cfg;
    struct v3_vm_result res;
    struct v3_boot_module mods[16];
    char *mod_strings[16];
    void *mod_data[16];
    unsigned nmods = 0;
    FILE *serial_file = NULL;
    void *image = NULL;
    size_t image_len;
    int err, rc, status;
    const char *machine = "pc", *devargs[32], *accel = "emu";
    unsigned ndevargs = 0;
    int clock_mode = V3_CLOCK_REALTIME, dump_devices = 0, raw_cmdline = 0;
    char *mb_cmdline = NULL;
    char gdb_host[256];
    struct v3_cpu_model cpu_model;
    unsigned gdb_port = 0;

    if (argc > 0 && argv[0]) {
        const char *s = strrchr(argv[0], '/');
        prog = s ? s + 1 : argv[0];
    }
    switch (v3vm_parse_args(argc, argv, &args, errbuf, sizeof(errbuf))) {
    case V3VM_ARGS_HELP:
        usage(stdout);
        return 0;
    case V3VM_ARGS_VERSION:
        printf("v3vm (v3vmm) 0.1.0\n");
        return 0;
    case V3VM_ARGS_LIST_DEVICES:
        printf("Device models (-device NAME[,key=value...]):\n");
        for (const struct v3_device_ops *const *d = v3_device_models(); *d; d++)
            printf("  %-12s %s\n", (*d)->name, (*d)->help ? (*d)->help : "");
        return 0;
    case V3VM_ARGS_LIST_MACHINES:
        printf("Machines (-machine NAME):\n");
        for (const char *const *m = v3_machine_names(); *m; m++)
            printf("  %s\n", *m);
        return 0;
    case V3VM_ARGS_LIST_CPU: {
        const char *name, *desc;
        printf("CPU models (-cpu NAME[,+FEAT|-FEAT...]): amd (default), intel\n"
               "Features (+FEAT only for one the software CPU implements):\n");
        for (unsigned f = 0; (name = v3_cpu_feature_name(f, &desc)); f++)
            printf("  %-14s %s\n", name, desc);
        return 0;
    }
    case V3VM_ARGS_ERROR:
        die_usage("%s", errbuf);
        break;
    default:
        break;
    }
    kernel = args.kernel;
    append = args.append;
    initrd = args.initrd;
    serial = args.serial;
    flat = args.flat;
    mem = args.mem;
    max_insns = args.max_insns;
    dump = args.dump;
    stats = args.stats;
    vga = args.vga;
    real = args.real;
    trace = args.trace;
    memoff = args.memoff;
    strict_mem = args.strict_mem;
    machine = args.machine;
    ndevargs = args.ndevices;
    for (unsigned d = 0; d < ndevargs; d++)
        devargs[d] = args.devices[d];
    clock_mode = args.clock_virtual ? V3_CLOCK_VIRTUAL : V3_CLOCK_REALTIME;
    raw_cmdline = args.raw_cmdline;
    dump_devices = args.dump_devices;
    gdb = args.gdb;
    gdb_wait = args.gdb_wait;
    accel = args.accel;
    for (int v = 0; v < args.verbose && log_level < V3_LOG_DEBUG; v++)
        log_level++;
    if (args.quiet)
        log_level = V3_LOG_ERROR;
    if (gdb && gdbsock_parse(gdb, gdb_host, sizeof(gdb_host), &gdb_port) < 0)
        die_usage("invalid -gdb '%s' (tcp::PORT or tcp:HOST:PORT)", gdb);
    if (trace && log_level < V3_LOG_INFO)
        log_level = V3_LOG_INFO;

    hooks = *v3_posix_os_hooks();
    hooks.log = cli_log;
    if (clock_mode == V3_CLOCK_VIRTUAL)
        hooks.entropy = NULL;       /* no RDRAND/RDSEED: the same run twice gives the same result */
    if (v3_init(&hooks) < 0) {
        fprintf(stderr, "%s: cannot initialise v3vmm\n", prog);
        return EXIT_SETUP;
    }

    if (args.cpu) {
        /* after v3_init: the model depends on the host (SSE levels, entropy) */
        const char *p = args.cpu;
        size_t n = strcspn(p, ",");
        v3_cpu_vendor_model(&cpu_model, !strncmp(p, "intel", n) ? V3_CPU_VENDOR_INTEL : V3_CPU_VENDOR_AMD);
        for (p += n; *p; p += n) {
            char feat[64];
            int on = 0;
            p++;
            n = strcspn(p, ",");
            if (v3vm_cpu_feature(p, n, feat, sizeof(feat), &on) < 0)
                die_usage("-cpu: invalid feature '%.*s'", (int)n, p);
            int rc = v3_cpu_model_set_feature(&cpu_model, feat, on);
            if (rc == V3_EUNSUPPORTED)
                die_usage("-cpu: cannot add '%s': the software CPU does not implement it on this host "
                          "(only clearing is possible)", feat);
            if (rc < 0)
                die_usage("-cpu: invalid feature '%s' (-cpu help lists them)", feat);
        }
    }

    status = EXIT_SETUP;
    image = read_file(kernel, &image_len, mem);
    if (!image)
        goto out;
    if (initrd) {
        status = read_modules(initrd, mem, mods, mod_strings, mod_data, &nmods);
        if (status)
            goto out;
        status = EXIT_SETUP;
    }

    memset(&cfg, 0, sizeof(cfg));
    /* -machine pc moves RAM above 3 GiB to 4 GiB (v3_create_vm; the layout of v3/platform.h) */
    cfg.mem_size = mem;
    cfg.num_cores = args.smp;
    cfg.devices = V3_DEV_ALL;
    cfg.machine = machine;
    cfg.device_args = devargs;
    cfg.num_device_args = ndevargs;
    cfg.clock = clock_mode;
    cfg.backend = accel;
    cfg.enable_mem_offset_hypercall = memoff;
    cfg.max_insns = max_insns;
    if (args.snapshot_at)
        cfg.max_insns = args.snapshot_at;
    cfg.strict_mem = strict_mem;
    cfg.cpu_model = args.cpu ? &cpu_model : NULL;
    cfg.trace = trace ? V3_TRACE_EXITS : 0;
    if (!strcmp(serial, "stdio")) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        cfg.serial.output = serial_out_file;
        cfg.serial.priv = stdout;
        cfg.serial.input = console_input;
    } else if (!strncmp(serial, "file:", 5)) {
        serial_file = fopen(serial + 5, "wb");
        if (!serial_file) {
            fprintf(stderr, "%s: cannot open serial output '%s': %s\n", prog, serial + 5, strerror(errno));
            goto out;
        }
        cfg.serial.output = serial_out_file;
        cfg.serial.priv = serial_file;
    }
boot:
    free(mb_cmdline);
    mb_cmdline = NULL;
    the_vm = v3_create_vm(&cfg, &err);
    if (the_vm && got_signal)           /* a signal came while --reboot started the guest again */
        v3_stop_vm(the_vm);
    if (!the_vm) {
        fprintf(stderr, "%s: cannot create the VM: %s\n", prog, v3_strerror(err));
        goto out;
    }
    if (!strcmp(accel, "auto"))
        fprintf(stderr, "%s: accelerator: %s\n", prog, v3_vm_config(the_vm)->backend);
    if (dump_devices) {
        log_raw = 1;
        v3_vm_dump_devices(the_vm, V3_LOG_ERROR);
        log_raw = 0;
    }
    if (flat) {
        rc = v3_load_flat(the_vm, image, image_len, args.flat_addr, args.flat_entry, real ? V3_FLAT_REAL : V3_FLAT_PROT32);
    } else {
        enum v3_image_type type = v3_detect_image(image, image_len);
        struct v3_linux_boot lb = { .cmdline = append, .layout = &layout };
        if ((type == V3_IMAGE_BZIMAGE || type == V3_IMAGE_PVH) && v3_pc_layout_init(&layout, mem, args.smp) < 0) {
            fprintf(stderr, "%s: a Linux guest needs 2 MiB of RAM at least\n", prog);
            status = EXIT_USAGE;
            goto out;
        }
        if ((type == V3_IMAGE_BZIMAGE || type == V3_IMAGE_PVH) && nmods > 1) {
            fprintf(stderr, "%s: a Linux kernel takes one -initrd file\n", prog);
            status = EXIT_USAGE;
            goto out;
        }
        if (nmods) {
            lb.initrd = mods[0].data;
            lb.initrd_len = mods[0].len;
        }
        if (type == V3_IMAGE_BZIMAGE)
            rc = v3_load_bzimage(the_vm, image, image_len, &lb, NULL);
        else if (type == V3_IMAGE_PVH)
            rc = v3_load_pvh(the_vm, image, image_len, &lb, NULL);
        else {
            if (!raw_cmdline) {
                /* argv[0] of the guest is the kernel's file name, as QEMU and GRUB give it */
                size_t n = strlen(kernel) + 2 + (append ? strlen(append) : 0);
                mb_cmdline = malloc(n);
                if (!mb_cmdline) {
                    fprintf(stderr, "%s: out of memory\n", prog);
                    goto out;
                }
                snprintf(mb_cmdline, n, "%s %s", kernel, append ? append : "");
            }
            rc = v3_load_multiboot(the_vm, image, image_len, raw_cmdline ? append : mb_cmdline,
                                   nmods ? mods : NULL, nmods, NULL);
        }
    }
    if (rc < 0) {
        fprintf(stderr, "%s: cannot load '%s': %s\n", prog, kernel, load_error(rc));
        goto out;
    }
    if (!args.reboot) {                 /* --reboot loads them again on a reset */
        free(image);
        image = NULL;
        for (unsigned i = 0; i < nmods; i++) {
            free(mod_data[i]);
            free(mod_strings[i]);
        }
        nmods = 0;
    }
    if (args.loadvm) {
        FILE *f = fopen(args.loadvm, "rb");
        if (!f) {
            fprintf(stderr, "%s: cannot open snapshot '%s': %s\n", prog, args.loadvm, strerror(errno));
            status = EXIT_SETUP;
            goto out;
        }
        rc = v3_vm_restore_cb(the_vm, snap_read, f);
        fclose(f);
        if (rc < 0) {
            fprintf(stderr, "%s: cannot restore '%s': %s\n", prog, args.loadvm, v3_strerror(rc));
            status = EXIT_SETUP;
            goto out;
        }
    }
    if (dump)
        dump_map(the_vm);

    {
        /* first signal: stop the VM cleanly; a second one kills as usual */
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESETHAND;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
    }
    if (!strcmp(serial, "stdio") && !gdb)
        console_init(console_quit);
    if (gdb) {
        if (gdbsock_run(the_vm, gdb_host, gdb_port, gdb_wait, &res) < 0)
            goto out;
    } else {
        v3_run_vm(the_vm, &res);
    }
    console_restore();
    fflush(stdout);
    if (args.reboot && !got_signal && (res.reason == V3_STOP_RESET || res.reason == V3_STOP_SHUTDOWN)) {
        fprintf(stderr, "%s: guest %s at rip %#llx: booting it again (--reboot)\n", prog,
                res.reason == V3_STOP_RESET ? "reset the machine" : "shut down",
                (unsigned long long)res.rip);
        {   /* the signal handler must not see a VM being freed */
            struct v3_vm *old = the_vm;
            the_vm = NULL;
            v3_free_vm(old);
        }
        goto boot;
    }
    if (args.reboot && got_signal && (res.reason == V3_STOP_RESET || res.reason == V3_STOP_SHUTDOWN))
        res.reason = V3_STOP_REQUESTED;     /* the signal ended the reboot loop */
    if (serial_file)
        fflush(serial_file);

    switch (res.reason) {
    case V3_STOP_DEBUG_EXIT:
        status = res.exit_code & 0xff;
        break;
    case V3_STOP_SHUTDOWN:
        fprintf(stderr, "%s: guest shut down (triple fault or reset request) at rip %#llx\n", prog, (unsigned long long)res.rip);
        status = EXIT_SHUTDOWN;
        break;
    case V3_STOP_POWEROFF:
        if (log_level >= V3_LOG_INFO)
            fprintf(stderr, "%s: guest powered off\n", prog);
        status = 0;
        break;
    case V3_STOP_RESET:
        fprintf(stderr, "%s: guest reset the machine at rip %#llx\n", prog, (unsigned long long)res.rip);
        status = EXIT_SHUTDOWN;
        break;
    case V3_STOP_HLT:
        fprintf(stderr, "%s: guest halted at rip %#llx with no interrupt that could wake it\n", prog,
                (unsigned long long)res.rip);
        status = EXIT_HLT;
        break;
    case V3_STOP_INSN_LIMIT:
        if (args.snapshot_at) {
            FILE *f = fopen(args.snapshot_file, "wb");
            rc = f ? v3_vm_save(the_vm, snap_write, f) : V3_EIO;
            if (f && fclose(f) != 0 && rc == 0)
                rc = V3_EIO;
            if (rc < 0) {
                fprintf(stderr, "%s: cannot save the VM to '%s': %s%s%s\n", prog, args.snapshot_file,
                        v3_strerror(rc), f ? "" : ": ", f ? "" : strerror(errno));
                status = EXIT_VM_ERROR;
            } else {
                if (log_level >= V3_LOG_INFO)
                    fprintf(stderr, "%s: saved the VM after %llu instructions to '%s'\n", prog,
                            (unsigned long long)args.snapshot_at, args.snapshot_file);
                status = 0;
            }
            break;
        }
        fprintf(stderr, "%s: instruction limit (%llu) reached at rip %#llx\n", prog,
                (unsigned long long)max_insns, (unsigned long long)res.rip);
        status = EXIT_INSN_LIMIT;
        break;
    case V3_STOP_REQUESTED:
        if (console_quit_requested()) {     /* Ctrl-A X, as QEMU: a normal end */
            fprintf(stderr, "\n%s: terminated (Ctrl-A X)\n", prog);
            status = 0;
            break;
        }
        fprintf(stderr, "%s: stopped\n", prog);
        status = EXIT_STOPPED;
        break;
    default: {
        char hex[64] = "";
        for (unsigned i = 0; i < res.len; i++)
            sprintf(hex + strlen(hex), "%s%02x", i ? " " : "", res.bytes[i]);
        fprintf(stderr, "%s: VM error: %s (%s) at rip %#llx, bytes [%s]\n", prog,
                res.msg ? res.msg : "error", v3_strerror(res.error), (unsigned long long)res.rip, hex);
        status = EXIT_VM_ERROR;
        break;
    }
    }
    if (vga)
        print_vga(the_vm);
    if (stats)
        print_stats(the_vm);
out:
    free(image);
    free(mb_cmdline);
    for (unsigned i = 0; i < nmods; i++) {
        free(mod_data[i]);
        free(mod_strings[i]);
    }
    if (the_vm) {
        struct v3_vm *old = the_vm;
        the_vm = NULL;                  /* before the free: the signal handler reads it */
        v3_free_vm(old);
    }
    if (serial_file)
        fclose(serial_file);
    v3_deinit();
    return status;
}
