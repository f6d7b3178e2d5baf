/* SPDX-License-Identifier: MIT */
/*
 * The gdb stub's packet layer and commands over an in-memory stream:
 * framing and checksums (computed here independently), acks, escapes,
 * corrupt and oversized packets, unknown commands, registers, memory,
 * breakpoints and watchpoints on a tiny real-mode guest.
 *
 * The guest: RAM from 0, the vCPU in real mode at 0:1000 with code
 *   1000: nop; 1001: nop; 1002: mov [0x3000], al; 1005: hlt
 * and IF clear, so a free run ends with V3_STOP_HLT.  The stub's input
 * is a script; at its end the stream reports EOF, the stub detaches and
 * the VM runs to the HLT.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <v3/v3.h>
#include <v3/cpu.h>
#include <v3/paging.h>
#include "v3test.h"

struct stream {
    char in[16384];
    size_t in_len, in_pos;
    size_t chunk;               /* bytes per read() (0: all) */
    char out[65536];
    size_t out_len;
    int write_fail;
};

static long s_read(void *priv, void *buf, size_t len)
{
    struct stream *s = priv;
    size_t n = s->in_len - s->in_pos;
    if (!n)
        return 0;
    if (s->chunk && n > s->chunk)
        n = s->chunk;
    if (n > len)
        n = len;
    memcpy(buf, s->in + s->in_pos, n);
    s->in_pos += n;
    return (long)n;
}

static int s_write(void *priv, const void *buf, size_t len)
{
    struct stream *s = priv;
    if (s->write_fail)
        return -1;
    assert_true(s->out_len + len <= sizeof(s->out));
    memcpy(s->out + s->out_len, buf, len);
    s->out_len += len;
    return 0;
}

/* Append a framed packet for @p body (escaping what the protocol says must be escaped). */
static void add_packet_n(struct stream *s, const char *body, size_t n)
{
    unsigned sum = 0;
    char *o = s->in + s->in_len;
    size_t k = 0;
    o[k++] = '$';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)body[i];
        if (c == '$' || c == '#' || c == '}' || c == '*') {
            o[k++] = '}';
            sum += '}';
            c ^= 0x20;
        }
        o[k++] = (char)c;
        sum += c;
    }
    k += (size_t)sprintf(o + k, "#%02x", sum & 0xff);
    s->in_len += k;
    assert_true(s->in_len < sizeof(s->in));
}

static void add_packet(struct stream *s, const char *body)
{
    add_packet_n(s, body, strlen(body));
}

static void add_raw(struct stream *s, const char *raw)
{
    memcpy(s->in + s->in_len, raw, strlen(raw));
    s->in_len += strlen(raw);
}

/*
 * Split the stub's output into acks and packets: returns the next item at
 * *pos: '+'/'-' as a one-character string, or the unescaped packet body
 * (checksum verified; a wrong one fails the test).  NULL at the end.
 */
static const char *next_item(struct stream *s, size_t *pos, char *buf)
{
    size_t p = *pos, n = 0;
    unsigned sum = 0, want;
    if (p >= s->out_len)
        return NULL;
    if (s->out[p] == '+' || s->out[p] == '-') {
        buf[0] = s->out[p];
        buf[1] = 0;
        *pos = p + 1;
        return buf;
    }
    assert_int_equal(s->out[p], '$');
    p++;
    while (p < s->out_len && s->out[p] != '#') {
        unsigned char c = (unsigned char)s->out[p++];
        sum += c;
        if (c == '}') {
            c = (unsigned char)s->out[p++];
            sum += c;
            c ^= 0x20;
        } else {
            assert_true(c != '$' && c != '*');   /* never unescaped, never run-length encoded */
        }
        buf[n++] = (char)c;
    }
    assert_true(p + 2 < s->out_len + 1);
    assert_int_equal(sscanf(s->out + p + 1, "%2x", &want), 1);
    assert_int_equal(want, sum & 0xff);
    buf[n] = 0;
    *pos = p + 3;
    return buf;
}

struct fix {
    struct v3_vm *vm;
    struct v3_core *core;
    uint8_t *ram;
    struct stream *s;
    struct v3_gdbstub *gs;
    struct v3_vm_result res;
};

static const uint8_t code[] = { 0x90, 0x90, 0xa2, 0x00, 0x30, 0xf4 };

static int fix_setup(void **state)
{
    struct fix *f = calloc(1, sizeof(*f));
    struct v3_gdb_io io = { .read = s_read, .write = s_write };
    int err;

    f->s = calloc(1, sizeof(*f->s));
    f->vm = v3t_create_vm(1 << 20, NULL, &f->core, &f->ram);
    assert_non_null(f->vm);
    memcpy(f->ram + 0x1000, code, sizeof(code));
    for (int i = 0; i < V3_NR_SREGS; i++) {
        f->core->seg[i].selector = 0;
        f->core->seg[i].base = 0;
    }
    f->core->rip = 0x1000;
    f->core->gpr[V3_RAX] = 0x5a;
    v3_core_update_mode(f->core);
    io.priv = f->s;
    f->gs = v3_gdb_create(f->vm, &io, &err);
    assert_non_null(f->gs);
    assert_int_equal(err, V3_OK);
    *state = f;
    return 0;
}

static int fix_teardown(void **state)
{
    struct fix *f = *state;
    v3_gdb_free(f->gs);
    v3_free_vm(f->vm);
    free(f->s);
    free(f);
    return 0;
}

static void serve(struct fix *f)
{
    assert_int_equal(v3_gdb_serve(f->gs, V3_GDB_WAIT, &f->res), V3_OK);
}

/* The next item must be @p want. */
static void want_item(struct fix *f, size_t *pos, const char *want)
{
    static char buf[70000];
    const char *got = next_item(f->s, pos, buf);
    assert_non_null(got);
    assert_string_equal(got, want);
}

static void test_ack_and_checksum(void **state)
{
    struct fix *f = *state;
    size_t pos = 0;

    add_packet(f->s, "?");
    add_packet(f->s, "qFooBarUnknown");
    add_packet(f->s, "QStartNoAckMode");
    add_packet(f->s, "qC");
    f->s->chunk = 1;              /* one byte per read: framing across reads */
    serve(f);
    want_item(f, &pos, "+");
    want_item(f, &pos, "T05thread:1;");
    want_item(f, &pos, "+");
    want_item(f, &pos, "");       /* unknown command: the empty reply */
    want_item(f, &pos, "+");
    want_item(f, &pos, "OK");
    want_item(f, &pos, "QC1");    /* no ack any more */
    assert_int_equal(pos, f->s->out_len);
    /* the stream ended: detached, the VM ran to its HLT */
    assert_int_equal(f->res.reason, V3_STOP_HLT);
}

static void test_bad_packets(void **state)
{
    struct fix *f = *state;
    size_t pos = 0;
    char big[6000];

    add_raw(f->s, "$?#00");                 /* wrong checksum */
    add_raw(f->s, "$?#zz");                 /* not hex */
    memset(big, 'm', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    add_packet(f->s, big);                  /* longer than PacketSize */
    add_raw(f->s, "garbage+-\x03");         /* bytes outside packets are skipped */
    add_raw(f->s, "$g#");                   /* cut before its checksum: the next packet wins */
    add_packet(f->s, "?");
    serve(f);
    want_item(f, &pos, "-");
    want_item(f, &pos, "-");
    want_item(f, &pos, "-");
    want_item(f, &pos, "-");
    want_item(f, &pos, "+");
    want_item(f, &pos, "T05thread:1;");
    assert_int_equal(pos, f->s->out_len);
}

static void test_escapes_and_memory(void **state)
{
    struct fix *f = *state;
    size_t pos = 0;
    static const char data[] = "X4000,6:#$}*\x7d\x03";
    char hex[64];

    add_packet(f->s, "QStartNoAckMode");
    add_packet_n(f->s, data, sizeof(data) - 1);   /* binary write, escaped on the wire */
    add_packet(f->s, "m4000,6");
    add_packet(f->s, "M4010,2:a1b2");
    add_packet(f->s, "m4010,2");
    add_packet(f->s, "m40000000,4");             /* beyond RAM (paging off: physical) */
    add_packet(f->s, "m4000");                   /* malformed */
    add_packet(f->s, "qSupported:swbreak+;hwbreak+");
    add_packet(f->s, "qXfer:features:read:target.xml:0,20");
    serve(f);
    assert_memory_equal(f->ram + 0x4000, "#$}*\x7d\x03", 6);
    assert_memory_equal(f->ram + 0x4010, "\xa1\xb2", 2);
    want_item(f, &pos, "+");
    want_item(f, &pos, "OK");
    want_item(f, &pos, "OK");
    for (int i = 0; i < 6; i++)
        sprintf(hex + 2 * i, "%02x", (unsigned char)"#$}*\x7d\x03"[i]);
    want_item(f, &pos, hex);
    want_item(f, &pos, "OK");
    want_item(f, &pos, "a1b2");
    want_item(f, &pos, "E14");
    want_item(f, &pos, "E22");
    want_item(f, &pos, "PacketSize=1000;qXfer:features:read+;swbreak+;hwbreak+;vContSupported+;QStartNoAckMode+");
    want_item(f, &pos, "m<?xml version=\"1.0\"?>\n<!DOCTYPE ");
    assert_int_equal(pos, f->s->out_len);
}

static void test_registers(void **state)
{
    struct fix *f = *state;
    size_t pos = 0;
    static char buf[70000];
    const char *g;

    add_packet(f->s, "QStartNoAckMode");
    add_packet(f->s, "g");
    add_packet(f->s, "p10");                     /* rip */
    add_packet(f->s, "P0=efbeadde00000000");     /* rax */
    add_packet(f->s, "p0");
    add_packet(f->s, "p99");                     /* no such register */
    serve(f);
    want_item(f, &pos, "+");
    want_item(f, &pos, "OK");
    g = next_item(f->s, &pos, buf);
    assert_non_null(g);
    /* 16 GPRs + rip (8), eflags + 6 selectors (4), st0-7 (10), 8 x87 control (4),
       xmm0-15 (16), mxcsr (4), 3 bases (8), cr0/2/3/4/8/efer (8) */
    assert_int_equal(strlen(g), 2 * (17 * 8 + 7 * 4 + 8 * 10 + 8 * 4 + 16 * 16 + 4 + 3 * 8 + 6 * 8));
    assert_memory_equal(g, "5a00000000000000", 16);  /* rax */
    want_item(f, &pos, "0010000000000000");
    want_item(f, &pos, "OK");
    want_item(f, &pos, "efbeadde00000000");
    want_item(f, &pos, "E45");
    assert_int_equal(f->core->gpr[V3_RAX], 0xdeadbeefull);
}

static void test_break_step_watch(void **state)
{
    struct fix *f = *state;
    size_t pos = 0;

    add_packet(f->s, "QStartNoAckMode");
    add_packet(f->s, "Z0,1001,1");
    add_packet(f->s, "m1001,1");                 /* memory is not modified */
    add_packet(f->s, "vCont?");
    add_packet(f->s, "c");
    add_packet(f->s, "z0,1001,1");
    add_packet(f->s, "vCont;s:1");
    add_packet(f->s, "Z2,3000,1");
    add_packet(f->s, "Z1,1005,1");
    add_packet(f->s, "vCont;c");
    add_packet(f->s, "c");
    add_packet(f->s, "z2,3000,1");
    add_packet(f->s, "z1,1005,1");
    add_packet(f->s, "qfThreadInfo");
    add_packet(f->s, "qsThreadInfo");
    add_packet(f->s, "Hg1");
    add_packet(f->s, "Hg7");
    add_packet(f->s, "k");
    serve(f);
    want_item(f, &pos, "+");
    want_item(f, &pos, "OK");
    want_item(f, &pos, "OK");
    want_item(f, &pos, "90");
    want_item(f, &pos, "vCont;c;C;s;S;t");
    want_item(f, &pos, "T05thread:1;swbreak:;");
    want_item(f, &pos, "OK");
    want_item(f, &pos, "T05thread:1;");          /* one step: past the second nop */
    want_item(f, &pos, "OK");
    want_item(f, &pos, "OK");
    want_item(f, &pos, "T05thread:1;watch:3000;");   /* after the store */
    want_item(f, &pos, "T05thread:1;hwbreak:;");
    want_item(f, &pos, "OK");
    want_item(f, &pos, "OK");
    want_item(f, &pos, "m1");
    want_item(f, &pos, "l");
    want_item(f, &pos, "OK");
    want_item(f, &pos, "E22");
    assert_int_equal(pos, f->s->out_len);
    assert_int_equal(f->res.reason, V3_STOP_REQUESTED);   /* killed */
    assert_int_equal(f->core->rip, 0x1005);
    assert_int_equal(f->ram[0x3000], 0x5a);
    assert_int_equal(f->core->dbg_flags, 0);
    assert_int_equal(f->core->dr[7] & 0xff, 0);          /* the guest's DR7 untouched */
}

static void test_exit_reply_and_write_failure(void **state)
{
    struct fix *f = *state;
    size_t pos = 0;

    /* the VM ends while attached: HLT with IF clear is a stop (T05), not an exit */
    add_packet(f->s, "QStartNoAckMode");
    add_packet(f->s, "c");
    add_packet(f->s, "D");
    serve(f);
    want_item(f, &pos, "+");
    want_item(f, &pos, "OK");
    want_item(f, &pos, "T05thread:1;");
    want_item(f, &pos, "OK");
    assert_int_equal(f->res.reason, V3_STOP_HLT);
}

/* The guest's own DR0 data breakpoint on the address gdb watches: both fire, independently. */
static void test_guest_debug_registers(void **state)
{
    struct fix *f = *state;
    size_t pos = 0;
    static const uint8_t handler[] = { 0xc6, 0x06, 0x00, 0x31, 0x77, 0xcf };  /* mov byte [0x3100], 0x77; iret */

    memcpy(f->ram + 0x2000, handler, sizeof(handler));
    f->ram[4] = 0x00;                            /* IVT[1] (#DB) = 0000:2000 */
    f->ram[5] = 0x20;
    f->ram[6] = f->ram[7] = 0;
    f->core->gpr[V3_RSP] = 0x8000;
    f->core->dr[0] = 0x3000;
    f->core->dr[7] = 0x401 | (1u << 16);         /* L0, write, 1 byte */
    add_packet(f->s, "QStartNoAckMode");
    add_packet(f->s, "Z2,3000,1");
    add_packet(f->s, "c");                       /* the store: gdb's watchpoint; the guest's #DB is delivered */
    add_packet(f->s, "p10");
    add_packet(f->s, "z2,3000,1");
    add_packet(f->s, "c");                       /* the handler runs, returns, HLT */
    add_packet(f->s, "p10");
    serve(f);
    want_item(f, &pos, "+");
    want_item(f, &pos, "OK");
    want_item(f, &pos, "OK");
    want_item(f, &pos, "T05thread:1;watch:3000;");
    want_item(f, &pos, "0020000000000000");     /* at the guest's #DB handler */
    want_item(f, &pos, "OK");
    want_item(f, &pos, "T05thread:1;");
    want_item(f, &pos, "0610000000000000");     /* past the HLT */
    assert_int_equal(f->ram[0x3100], 0x77);
    assert_int_equal(f->core->dr[6] & 0xf, 1);  /* B0 */
    assert_int_equal(f->core->dr[7], 0x401 | (1u << 16));
}

/* Read and access watchpoints (Z3/Z4); a write watchpoint ignores reads. */
static void test_read_access_watch(void **state)
{
    struct fix *f = *state;
    size_t pos = 0;
    /* 1000: mov al, [0x3000]; 1003: mov [0x3004], al; 1006: mov al, [0x3000]; 1009: hlt */
    static const uint8_t prog[] = { 0xa0, 0x00, 0x30, 0xa2, 0x04, 0x30, 0xa0, 0x00, 0x30, 0xf4 };

    memcpy(f->ram + 0x1000, prog, sizeof(prog));
    f->ram[0x3000] = 0x66;
    add_packet(f->s, "QStartNoAckMode");
    add_packet(f->s, "Z3,3000,1");
    add_packet(f->s, "Z4,3004,4");
    add_packet(f->s, "Z2,3000,1");               /* never hit: 0x3000 is only read */
    add_packet(f->s, "c");
    add_packet(f->s, "p10");
    add_packet(f->s, "c");
    add_packet(f->s, "z3,3000,1");
    add_packet(f->s, "z3,3000,1");               /* removing it again is not an error */
    add_packet(f->s, "c");
    add_packet(f->s, "p10");
    add_packet(f->s, "Z7,3000,1");               /* unknown kind: unsupported */
    add_packet(f->s, "Z2,3000");                 /* malformed */
    add_packet(f->s, "k");
    serve(f);
    want_item(f, &pos, "+");
    want_item(f, &pos, "OK");
    want_item(f, &pos, "OK");
    want_item(f, &pos, "OK");
    want_item(f, &pos, "OK");
    want_item(f, &pos, "T05thread:1;rwatch:3000;");
    want_item(f, &pos, "0310000000000000");
    want_item(f, &pos, "T05thread:1;awatch:3004;");   /* a write into [3004, 3008) */
    want_item(f, &pos, "OK");
    want_item(f, &pos, "OK");
    want_item(f, &pos, "T05thread:1;");               /* ran to the HLT: Z2 ignored the read */
    want_item(f, &pos, "0a10000000000000");
    want_item(f, &pos, "");
    want_item(f, &pos, "E22");
    assert_int_equal(pos, f->s->out_len);
    assert_int_equal(f->ram[0x3004], 0x66);
}

static void hexstr(char *dst, const char *text)
{
    while (*text)
        dst += sprintf(dst, "%02x", (unsigned char)*text++);
}

/* Virtual addresses go through the guest's page tables (no A/D bits set); monitor phys switches to physical. */
static void test_paging_and_monitor(void **state)
{
    struct fix *f = *state;
    size_t pos = 0;
    char pkt[256], xp[256];
    uint32_t pde = 0x11000 | 3, pte = 0x5000 | 3;

    /* 32-bit paging: linear 0x400000 -> physical 0x5000, nothing else mapped */
    memcpy(f->ram + 0x10000 + 4 * 1, &pde, 4);
    memcpy(f->ram + 0x11000, &pte, 4);
    memcpy(f->ram + 0x5000, "\x11\x22\x33\x44", 4);
    f->core->cr3 = 0x10000;
    f->core->cr0 |= V3_CR0_PE | V3_CR0_PG;
    v3_core_update_mode(f->core);
    v3_tlb_flush_all(f->core);
    add_packet(f->s, "QStartNoAckMode");
    add_packet(f->s, "m400000,4");
    add_packet(f->s, "m5000,4");                 /* not mapped linearly */
    strcpy(pkt, "qRcmd,");
    hexstr(pkt + 6, "phys on");
    add_packet(f->s, pkt);
    add_packet(f->s, "m5000,4");
    strcpy(pkt, "qRcmd,");
    hexstr(pkt + 6, "phys off");
    add_packet(f->s, pkt);
    strcpy(pkt, "qRcmd,");
    hexstr(pkt + 6, "xp 5000 4");
    add_packet(f->s, pkt);
    strcpy(pkt, "qRcmd,");
    hexstr(pkt + 6, "frobnicate");
    add_packet(f->s, pkt);
    add_packet(f->s, "qRcmd,zz");
    add_packet(f->s, "k");
    serve(f);
    want_item(f, &pos, "+");
    want_item(f, &pos, "OK");
    want_item(f, &pos, "11223344");
    want_item(f, &pos, "E14");
    hexstr(xp, "memory access: guest physical\n");
    want_item(f, &pos, xp);
    want_item(f, &pos, "11223344");
    hexstr(xp, "memory access: guest virtual\n");
    want_item(f, &pos, xp);
    hexstr(xp, "0000000000005000: 11 22 33 44\n");
    want_item(f, &pos, xp);
    hexstr(xp, "unknown monitor command; try 'monitor help'\n");
    want_item(f, &pos, xp);
    want_item(f, &pos, "E22");
    assert_int_equal(pos, f->s->out_len);
    /* the debugger's walk set no accessed bit */
    memcpy(&pde, f->ram + 0x10000 + 4, 4);
    memcpy(&pte, f->ram + 0x11000, 4);
    assert_int_equal(pde & 0x20, 0);
    assert_int_equal(pte & 0x20, 0);
}

/*
 * Random input: framed random commands (with arguments that look like the
 * protocol's), raw noise, cut packets.  Commands that would run the VM are
 * renamed, so every stream ends at its final 'k' and the VM never runs
 * off into memory the random writes changed.  Nothing may crash (the
 * sanitizer build checks memory safety); every stream ends killed.
 */
static void test_random_streams(void **state)
{
    struct fix *f = *state;
    static const char *const starts[] = {
        "m", "M", "X", "g", "G", "p", "P", "Z0,", "z0,", "Z2,", "Z4,", "H", "Hg", "Hc", "T", "q",
        "qXfer:features:read:target.xml:", "qXfer:features:read:", "qRcmd,", "qSupported", "vCont",
        "QStartNoAckMode", "?", "qThreadExtraInfo,", "qfThreadInfo", "",
    };
    static const char alphabet[] = "0123456789abcdefABCDEF,:;=-#$}*x \x03";
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    char body[600];
    unsigned replies = 0, nacks = 0;

    for (int iter = 0; iter < 2000; iter++) {
        size_t pos = 0;
        static char item[70000];
        memset(f->s, 0, sizeof(*f->s));
        f->s->chunk = iter % 3 == 0 ? 1 + iter % 7 : 0;
        for (int n = 0; n < 12; n++) {
            size_t len;
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            len = (size_t)(seed >> 33) % 80;
            strcpy(body, starts[(seed >> 20) % (sizeof(starts) / sizeof(starts[0]))]);
            for (size_t k = strlen(body); k < len; k++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                body[k] = alphabet[(seed >> 40) % (sizeof(alphabet) - 1)];
                body[k + 1] = 0;
            }
            if (body[0] == 'c' || body[0] == 'C' || body[0] == 's' || body[0] == 'S' || body[0] == 'D' ||
                body[0] == 'k' || (body[0] == 'v' && strncmp(body, "vCont?", 6)))
                body[0] = 'q';
            switch ((seed >> 50) % 8) {
            case 0:                                  /* raw noise */
                add_raw(f->s, body);
                break;
            case 1:                                  /* a packet cut short */
                add_raw(f->s, "$");
                add_raw(f->s, body);
                break;
            case 2:                                  /* a wrong checksum */
                add_raw(f->s, "$");
                add_raw(f->s, body);
                add_raw(f->s, "#00");
                break;
            default:
                add_packet(f->s, body);
                break;
            }
        }
        add_packet(f->s, "k");
        serve(f);
        if (f->res.reason != V3_STOP_REQUESTED) {
            fwrite(f->s->in, 1, f->s->in_len, stderr);
            fprintf(stderr, "\n(stream %d: the input above did not end killed)\n", iter);
        }
        assert_int_equal(f->res.reason, V3_STOP_REQUESTED);
        while (next_item(f->s, &pos, item)) {   /* every reply well framed */
            replies += item[0] != '+' && item[0] != '-';
            nacks += item[0] == '-' && !item[1];
        }
    }
    /* the streams did exercise the stub: most packets were answered, bad ones refused */
    assert_true(replies > 2000 * 12 / 2);
    assert_true(nacks > 20);
}

static void test_stream_errors(void **state)
{
    struct fix *f = *state;
    struct v3_gdb_io bad = { .read = NULL, .write = s_write };
    int err = 0;

    assert_null(v3_gdb_create(f->vm, &bad, &err));
    assert_int_equal(err, V3_EINVAL);
    assert_null(v3_gdb_create(NULL, &bad, &err));
    assert_int_equal(v3_gdb_serve(NULL, 0, &f->res), V3_EINVAL);
    v3_gdb_interrupt(NULL);
    /* a stream that cannot be written: the stub gives up on the debugger, the VM runs on */
    f->s->write_fail = 1;
    add_packet(f->s, "?");
    add_packet(f->s, "g");
    serve(f);
    assert_int_equal(f->res.reason, V3_STOP_HLT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ack_and_checksum, fix_setup, fix_teardown),
        cmocka_unit_test_setup_teardown(test_bad_packets, fix_setup, fix_teardown),
        cmocka_unit_test_setup_teardown(test_escapes_and_memory, fix_setup, fix_teardown),
        cmocka_unit_test_setup_teardown(test_registers, fix_setup, fix_teardown),
        cmocka_unit_test_setup_teardown(test_break_step_watch, fix_setup, fix_teardown),
        cmocka_unit_test_setup_teardown(test_exit_reply_and_write_failure, fix_setup, fix_teardown),
        cmocka_unit_test_setup_teardown(test_guest_debug_registers, fix_setup, fix_teardown),
        cmocka_unit_test_setup_teardown(test_read_access_watch, fix_setup, fix_teardown),
        cmocka_unit_test_setup_teardown(test_paging_and_monitor, fix_setup, fix_teardown),
        cmocka_unit_test_setup_teardown(test_random_streams, fix_setup, fix_teardown),
        cmocka_unit_test_setup_teardown(test_stream_errors, fix_setup, fix_teardown),
    };
    return cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
}
