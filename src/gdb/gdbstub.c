/* SPDX-License-Identifier: MIT */
/*
 * The gdb remote serial protocol stub (v3/gdbstub.h).
 *
 * Packets: $data#cc with cc the modulo-256 sum of data (as sent, escapes
 * included); '}' escapes the next byte XOR 0x20.  Each packet is
 * acknowledged with '+' (or '-' to ask for it again) until the debugger
 * asks for QStartNoAckMode.  Replies escape '$', '#', '}' and '*' (the
 * run-length marker) and are never run-length encoded.
 *
 * Running: c/s/vCont set the back end's debugger step state (v3/debug.h)
 * and call v3_run_vm(); a V3_STOP_DEBUG stop becomes a T stop reply with
 * the reason (swbreak, hwbreak, watch/rwatch/awatch).  Everything here is
 * libc-free: the hex and text helpers are local.
 */
#include "internal/host.h"
#include "internal/vm.h"
#include <v3/cpu.h>
#include <v3/debug.h>
#include <v3/gdbstub.h>
#include <v3/paging.h>

#define PKT_MAX V3_GDB_PACKET_SIZE
#define OUT_MAX (2 * PKT_MAX + 64)
#define NACK_RETRIES 8

struct gdb_bp {
    uint64_t addr;
    uint8_t sw, hw;                  /* set by Z0 / Z1 */
};

struct v3_gdbstub {
    struct v3_vm *vm;
    struct v3_gdb_io io;

    uint8_t in[PKT_MAX];             /* bytes read, not yet consumed */
    unsigned in_pos, in_len;
    char pkt[PKT_MAX + 1];           /* the received command, unescaped */
    unsigned pkt_len;
    char out[OUT_MAX];               /* the reply being built (before escaping) */
    unsigned out_len;
    bool out_overflow;
    uint8_t frame[2 * OUT_MAX + 8];  /* the framed reply */

    bool noack;                      /* QStartNoAckMode */
    bool phys;                       /* monitor phys: m/M/X use guest physical addresses */
    bool attached;                   /* a debugger drives the VM */
    bool io_dead;                    /* the stream ended or failed */
    bool done;                       /* serve() returns */
    unsigned g_core, c_core;         /* Hg / Hc */
    int running;                     /* atomic: inside v3_run_vm() */
    int interrupt;                   /* atomic: v3_gdb_interrupt() called while running */

    struct gdb_bp bp[V3_DBG_MAX_BREAK];
    unsigned nbp;

    char stop[48];                   /* the last stop reply, for '?' */
    struct v3_vm_result res;         /* the last v3_run_vm() result */
    uint64_t bad_packets;
};

/* ------------------------------------------------------------ text helpers */

static const char hexdig[] = "0123456789abcdef";

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static size_t slen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

/* Does the command start with @p pfx? */
static bool starts(const char *s, size_t len, const char *pfx)
{
    size_t n = slen(pfx);
    return len >= n && memcmp(s, pfx, n) == 0;
}

/* Parse a hex number at *p (up to end); at least one digit, at most 16.  Advances *p. */
static bool parse_hex(const char **p, const char *end, uint64_t *v)
{
    const char *s = *p;
    uint64_t x = 0;
    unsigned n = 0;
    while (s < end && hexval(*s) >= 0) {
        if (++n > 16)
            return false;
        x = (x << 4) | (uint64_t)hexval(*s++);
    }
    if (!n)
        return false;
    *p = s;
    *v = x;
    return true;
}

/* A thread id: hex, "-1" (all, as -1) or "0" (any).  Advances *p. */
static bool parse_tid(const char **p, const char *end, int64_t *tid)
{
    uint64_t v;
    if (*p < end && **p == '-') {
        if (end - *p < 2 || (*p)[1] != '1')
            return false;
        *p += 2;
        *tid = -1;
        return true;
    }
    if (!parse_hex(p, end, &v) || v > 0xffffffffu)
        return false;
    *tid = (int64_t)v;
    return true;
}

static void out_reset(struct v3_gdbstub *gs)
{
    gs->out_len = 0;
    gs->out_overflow = false;
}

static void out_bytes(struct v3_gdbstub *gs, const void *p, size_t n)
{
    if (gs->out_len + n > OUT_MAX) {
        gs->out_overflow = true;
        return;
    }
    memcpy(gs->out + gs->out_len, p, n);
    gs->out_len += (unsigned)n;
}

static void out_str(struct v3_gdbstub *gs, const char *s)
{
    out_bytes(gs, s, slen(s));
}

static void out_hex8(struct v3_gdbstub *gs, uint8_t b)
{
    char t[2] = { hexdig[b >> 4], hexdig[b & 15] };
    out_bytes(gs, t, 2);
}

/* A number in hex without leading zeros. */
static void out_num(struct v3_gdbstub *gs, uint64_t v)
{
    char t[16];
    int n = 0;
    do {
        t[15 - n++] = hexdig[v & 15];
        v >>= 4;
    } while (v);
    out_bytes(gs, t + 16 - n, (size_t)n);
}

static void out_memhex(struct v3_gdbstub *gs, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out_hex8(gs, b[i]);
}

/* Decode @p n hex digit pairs at @p s into @p dst.  False on a bad digit. */
static bool unhex(const char *s, size_t n, uint8_t *dst)
{
    for (size_t i = 0; i < n; i++) {
        int h = hexval(s[2 * i]), l = hexval(s[2 * i + 1]);
        if (h < 0 || l < 0)
            return false;
        dst[i] = (uint8_t)(h << 4 | l);
    }
    return true;
}

/* ------------------------------------------------------------ the stream */

/* Next input byte, or -1 when the stream ended or failed. */
static int get_byte(struct v3_gdbstub *gs)
{
    if (gs->in_pos == gs->in_len) {
        long n;
        if (gs->io_dead)
            return -1;
        n = gs->io.read(gs->io.priv, gs->in, sizeof(gs->in));
        if (n <= 0 || (unsigned long)n > sizeof(gs->in)) {
            gs->io_dead = true;
            return -1;
        }
        gs->in_pos = 0;
        gs->in_len = (unsigned)n;
    }
    return gs->in[gs->in_pos++];
}

static int put(struct v3_gdbstub *gs, const void *p, size_t n)
{
    if (gs->io_dead)
        return V3_EIO;
    if (gs->io.write(gs->io.priv, p, n) < 0) {
        gs->io_dead = true;
        return V3_EIO;
    }
    return V3_OK;
}

/* Frame and send the reply in gs->out; in ack mode wait for '+' (resend on '-'). */
static int send_reply(struct v3_gdbstub *gs)
{
    unsigned n = 0;
    uint8_t sum = 0;

    if (gs->out_overflow) {
        V3_WARN("gdb: reply too long, sending an error instead");
        out_reset(gs);
        out_str(gs, "E22");
    }
    gs->frame[n++] = '$';
    for (unsigned i = 0; i < gs->out_len; i++) {
        uint8_t c = (uint8_t)gs->out[i];
        if (c == '$' || c == '#' || c == '}' || c == '*') {
            gs->frame[n++] = '}';
            sum += '}';
            c ^= 0x20;
        }
        gs->frame[n++] = c;
        sum += c;
    }
    gs->frame[n++] = '#';
    gs->frame[n++] = (uint8_t)hexdig[sum >> 4];
    gs->frame[n++] = (uint8_t)hexdig[sum & 15];
    for (int tries = 0;; tries++) {
        int rc = put(gs, gs->frame, n);
        if (rc < 0 || gs->noack)
            return rc;
        for (;;) {
            int c = get_byte(gs);
            if (c < 0)
                return V3_EIO;
            if (c == '+')
                return V3_OK;
            if (c == '-')
                break;
            if (c == '$') {
                /* a new packet instead of an ack: take it as one */
                gs->in_pos--;
                return V3_OK;
            }
        }
        if (tries == NACK_RETRIES) {
            V3_WARN("gdb: reply refused %d times, giving up on it", NACK_RETRIES + 1);
            return V3_OK;
        }
    }
}

static int reply_str(struct v3_gdbstub *gs, const char *s)
{
    out_reset(gs);
    out_str(gs, s);
    return send_reply(gs);
}

/*
 * Receive one packet into gs->pkt.  Returns its length, or -1 when the
 * stream ended.  Bytes outside packets ('+', '-', 0x03 while stopped,
 * noise) are skipped; a packet with a bad checksum or too long is refused
 * with '-' (ack mode) and dropped.
 */
static int recv_packet(struct v3_gdbstub *gs)
{
    for (;;) {
        int c;
        unsigned len = 0;
        uint8_t sum = 0;
        bool esc = false, overflow = false;
        int h, l;

        do {
            c = get_byte(gs);
            if (c < 0)
                return -1;
        } while (c != '$');
restart:
        for (;;) {
            c = get_byte(gs);
            if (c < 0)
                return -1;
            if (c == '#')
                break;
            if (c == '$') {         /* a fresh start: the previous one was cut */
                len = 0;
                sum = 0;
                esc = false;
                overflow = false;
                goto restart;
            }
            sum += (uint8_t)c;
            if (esc) {
                c ^= 0x20;
                esc = false;
            } else if (c == '}') {
                esc = true;
                continue;
            }
            if (len < PKT_MAX)
                gs->pkt[len++] = (char)c;
            else
                overflow = true;
        }
        h = get_byte(gs);
        l = h < 0 || h == '$' ? h : get_byte(gs);
        if (h < 0 || l < 0)
            return -1;
        if (h == '$' || l == '$') {
            /* a cut packet ran into the next one: count it bad, take the new one */
            gs->bad_packets++;
            if (!gs->noack && put(gs, "-", 1) < 0)
                return -1;
            len = 0;
            sum = 0;
            esc = false;
            overflow = false;
            goto restart;
        }
        if (hexval(h) < 0 || hexval(l) < 0 || (uint8_t)(hexval(h) << 4 | hexval(l)) != sum || overflow || esc) {
            gs->bad_packets++;
            V3_DEBUG("gdb: %s packet refused", overflow ? "oversized" : "corrupt");
            if (!gs->noack && put(gs, "-", 1) < 0)
                return -1;
            continue;
        }
        if (!gs->noack && put(gs, "+", 1) < 0)
            return -1;
        gs->pkt[len] = 0;
        gs->pkt_len = len;
        return (int)len;
    }
}

/* ------------------------------------------------------------ target description */

static const char target_xml[] =
    "<?xml version=\"1.0\"?>\n"
    "<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
    "<target version=\"1.0\">\n"
    "<architecture>i386:x86-64</architecture>\n"
    "<feature name=\"org.gnu.gdb.i386.core\">\n"
    "<flags id=\"i386_eflags\" size=\"4\">"
    "<field name=\"CF\" start=\"0\" end=\"0\"/><field name=\"\" start=\"1\" end=\"1\"/>"
    "<field name=\"PF\" start=\"2\" end=\"2\"/><field name=\"AF\" start=\"4\" end=\"4\"/>"
    "<field name=\"ZF\" start=\"6\" end=\"6\"/><field name=\"SF\" start=\"7\" end=\"7\"/>"
    "<field name=\"TF\" start=\"8\" end=\"8\"/><field name=\"IF\" start=\"9\" end=\"9\"/>"
    "<field name=\"DF\" start=\"10\" end=\"10\"/><field name=\"OF\" start=\"11\" end=\"11\"/>"
    "<field name=\"NT\" start=\"14\" end=\"14\"/><field name=\"RF\" start=\"16\" end=\"16\"/>"
    "<field name=\"VM\" start=\"17\" end=\"17\"/><field name=\"AC\" start=\"18\" end=\"18\"/>"
    "<field name=\"VIF\" start=\"19\" end=\"19\"/><field name=\"VIP\" start=\"20\" end=\"20\"/>"
    "<field name=\"ID\" start=\"21\" end=\"21\"/></flags>\n"
    "<reg name=\"rax\" bitsize=\"64\" type=\"int64\"/>\n"
    "<reg name=\"rbx\" bitsize=\"64\" type=\"int64\"/>\n"
    "<reg name=\"rcx\" bitsize=\"64\" type=\"int64\"/>\n"
    "<reg name=\"rdx\" bitsize=\"64\" type=\"int64\"/>\n"
    "<reg name=\"rsi\" bitsize=\"64\" type=\"int64\"/>\n"
    "<reg name=\"rdi\" bitsize=\"64\" type=\"int64\"/>\n"
    "<reg name=\"rbp\" bitsize=\"64\" type=\"data_ptr\"/>\n"
    "<reg name=\"rsp\" bitsize=\"64\" type=\"data_ptr\"/>\n"
    "<reg name=\"r8\" bitsize=\"64\" type=\"int64\"/>\n"
    "<reg name=\"r9\" bitsize=\"64\" type=\"int64\"/>\n"
    "<reg name=\"r10\" bitsize=\"64\" type=\"int64\"/>\n"
    "<reg name=\"r11\" bitsize=\"64\" type=\"int64\"/>\n"
    "<reg name=\"r12\" bitsize=\"64\" type=\"int64\"/>\n"
    "<reg name=\"r13\" bitsize=\"64\" type=\"int64\"/>\n"
    "<reg name=\"r14\" bitsize=\"64\" type=\"int64\"/>\n"
    "<reg name=\"r15\" bitsize=\"64\" type=\"int64\"/>\n"
    "<reg name=\"rip\" bitsize=\"64\" type=\"code_ptr\"/>\n"
    "<reg name=\"eflags\" bitsize=\"32\" type=\"i386_eflags\"/>\n"
    "<reg name=\"cs\" bitsize=\"32\" type=\"int32\"/>\n"
    "<reg name=\"ss\" bitsize=\"32\" type=\"int32\"/>\n"
    "<reg name=\"ds\" bitsize=\"32\" type=\"int32\"/>\n"
    "<reg name=\"es\" bitsize=\"32\" type=\"int32\"/>\n"
    "<reg name=\"fs\" bitsize=\"32\" type=\"int32\"/>\n"
    "<reg name=\"gs\" bitsize=\"32\" type=\"int32\"/>\n"
    "<reg name=\"st0\" bitsize=\"80\" type=\"i387_ext\"/>\n"
    "<reg name=\"st1\" bitsize=\"80\" type=\"i387_ext\"/>\n"
    "<reg name=\"st2\" bitsize=\"80\" type=\"i387_ext\"/>\n"
    "<reg name=\"st3\" bitsize=\"80\" type=\"i387_ext\"/>\n"
    "<reg name=\"st4\" bitsize=\"80\" type=\"i387_ext\"/>\n"
    "<reg name=\"st5\" bitsize=\"80\" type=\"i387_ext\"/>\n"
    "<reg name=\"st6\" bitsize=\"80\" type=\"i387_ext\"/>\n"
    "<reg name=\"st7\" bitsize=\"80\" type=\"i387_ext\"/>\n"
    "<reg name=\"fctrl\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
    "<reg name=\"fstat\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
    "<reg name=\"ftag\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
    "<reg name=\"fiseg\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
    "<reg name=\"fioff\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
    "<reg name=\"foseg\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
    "<reg name=\"fooff\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
    "<reg name=\"fop\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
    "</feature>\n"
    "<feature name=\"org.gnu.gdb.i386.sse\">\n"
    "<vector id=\"v4f\" type=\"ieee_single\" count=\"4\"/>\n"
    "<vector id=\"v2d\" type=\"ieee_double\" count=\"2\"/>\n"
    "<vector id=\"v16i8\" type=\"int8\" count=\"16\"/>\n"
    "<vector id=\"v8i16\" type=\"int16\" count=\"8\"/>\n"
    "<vector id=\"v4i32\" type=\"int32\" count=\"4\"/>\n"
    "<vector id=\"v2i64\" type=\"int64\" count=\"2\"/>\n"
    "<union id=\"vec128\"><field name=\"v4_float\" type=\"v4f\"/><field name=\"v2_double\" type=\"v2d\"/>"
    "<field name=\"v16_int8\" type=\"v16i8\"/><field name=\"v8_int16\" type=\"v8i16\"/>"
    "<field name=\"v4_int32\" type=\"v4i32\"/><field name=\"v2_int64\" type=\"v2i64\"/>"
    "<field name=\"uint128\" type=\"uint128\"/></union>\n"
    "<flags id=\"i386_mxcsr\" size=\"4\">"
    "<field name=\"IE\" start=\"0\" end=\"0\"/><field name=\"DE\" start=\"1\" end=\"1\"/>"
    "<field name=\"ZE\" start=\"2\" end=\"2\"/><field name=\"OE\" start=\"3\" end=\"3\"/>"
    "<field name=\"UE\" start=\"4\" end=\"4\"/><field name=\"PE\" start=\"5\" end=\"5\"/>"
    "<field name=\"DAZ\" start=\"6\" end=\"6\"/><field name=\"IM\" start=\"7\" end=\"7\"/>"
    "<field name=\"DM\" start=\"8\" end=\"8\"/><field name=\"ZM\" start=\"9\" end=\"9\"/>"
    "<field name=\"OM\" start=\"10\" end=\"10\"/><field name=\"UM\" start=\"11\" end=\"11\"/>"
    "<field name=\"PM\" start=\"12\" end=\"12\"/><field name=\"FZ\" start=\"15\" end=\"15\"/></flags>\n"
    "<reg name=\"xmm0\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"xmm1\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"xmm2\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"xmm3\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"xmm4\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"xmm5\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"xmm6\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"xmm7\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"xmm8\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"xmm9\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"xmm10\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"xmm11\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"xmm12\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"xmm13\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"xmm14\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"xmm15\" bitsize=\"128\" type=\"vec128\"/>\n"
    "<reg name=\"mxcsr\" bitsize=\"32\" type=\"i386_mxcsr\" group=\"vector\"/>\n"
    "</feature>\n"
    "<feature name=\"org.gnu.gdb.i386.segments\">\n"
    "<reg name=\"fs_base\" bitsize=\"64\" type=\"int\"/>\n"
    "<reg name=\"gs_base\" bitsize=\"64\" type=\"int\"/>\n"
    "<reg name=\"k_gs_base\" bitsize=\"64\" type=\"int\"/>\n"
    "</feature>\n"
    "<feature name=\"org.v3vmm.i386.sys\">\n"
    "<reg name=\"cr0\" bitsize=\"64\" type=\"int\"/>\n"
    "<reg name=\"cr2\" bitsize=\"64\" type=\"int\"/>\n"
    "<reg name=\"cr3\" bitsize=\"64\" type=\"int\"/>\n"
    "<reg name=\"cr4\" bitsize=\"64\" type=\"int\"/>\n"
    "<reg name=\"cr8\" bitsize=\"64\" type=\"int\"/>\n"
    "<reg name=\"efer\" bitsize=\"64\" type=\"int\"/>\n"
    "</feature>\n"
    "</target>\n";

/* ------------------------------------------------------------ registers */

/* Register numbers in the description's order. */
enum {
    R_GPR = 0,          /* 16 */
    R_RIP = 16, R_EFLAGS, R_SEG,            /* 6 selectors: cs ss ds es fs gs */
    R_ST = 24,          /* 8 */
    R_FCTRL = 32, R_FSTAT, R_FTAG, R_FISEG, R_FIOFF, R_FOSEG, R_FOOFF, R_FOP,
    R_XMM = 40,         /* 16 */
    R_MXCSR = 56, R_FS_BASE, R_GS_BASE, R_KGS_BASE,
    R_CR0 = 60, R_CR2, R_CR3, R_CR4, R_CR8, R_EFER,
    R_COUNT
};

static const uint8_t gpr_map[16] = { V3_RAX, V3_RBX, V3_RCX, V3_RDX, V3_RSI, V3_RDI, V3_RBP, V3_RSP,
                                     V3_R8, V3_R9, V3_R10, V3_R11, V3_R12, V3_R13, V3_R14, V3_R15 };
static const uint8_t seg_map[6] = { V3_CS, V3_SS, V3_DS, V3_ES, V3_FS, V3_GS };

static unsigned reg_size(unsigned r)
{
    if (r < R_RIP || r == R_RIP || (r >= R_FS_BASE && r < R_COUNT))
        return 8;
    if (r >= R_ST && r < R_FCTRL)
        return 10;
    if (r >= R_XMM && r < R_MXCSR)
        return 16;
    return 4;
}

/* The x87 tag of physical register @p i in the two-bit form (from FXSAVE's abridged tags). */
static unsigned x87_tag(const struct v3_fpu_state *f, unsigned i)
{
    unsigned top = (f->fsw >> 11) & 7;
    const uint8_t *r = f->st[(i - top) & 7];
    unsigned exp = (unsigned)(r[9] & 0x7f) << 8 | r[8];
    bool mant_zero = true;

    if (!((f->ftw >> i) & 1))
        return 3;                               /* empty */
    for (int k = 0; k < 8; k++)
        if (r[k])
            mant_zero = false;
    if (exp == 0x7fff)
        return 2;                               /* special */
    if (exp == 0)
        return mant_zero ? 1 : 2;               /* zero, or denormal */
    return (r[7] & 0x80) ? 0 : 2;               /* valid, or unnormal */
}

static void put_le(uint8_t *b, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *b, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

/* Register @p r of @p core as target bytes into @p b; returns its size. */
static unsigned reg_read(struct v3_core *c, unsigned r, uint8_t *b)
{
    struct v3_fpu_state *f = &c->fpu;
    unsigned n = reg_size(r);
    uint64_t v = 0;

    if (r < R_RIP)
        v = c->gpr[gpr_map[r]];
    else if (r == R_RIP)
        v = c->rip;
    else if (r == R_EFLAGS)
        v = v3_core_get_rflags(c);
    else if (r < R_ST)
        v = c->seg[seg_map[r - R_SEG]].selector;
    else if (r < R_FCTRL) {
        memcpy(b, f->st[r - R_ST], 10);
        return n;
    } else if (r == R_FCTRL)
        v = f->fcw;
    else if (r == R_FSTAT)
        v = f->fsw;
    else if (r == R_FTAG) {
        for (unsigned i = 0; i < 8; i++)
            v |= (uint64_t)x87_tag(f, i) << (2 * i);
    } else if (r == R_FISEG)
        v = (f->fip >> 32) & 0xffff;
    else if (r == R_FIOFF)
        v = f->fip & 0xffffffffu;
    else if (r == R_FOSEG)
        v = (f->fdp >> 32) & 0xffff;
    else if (r == R_FOOFF)
        v = f->fdp & 0xffffffffu;
    else if (r == R_FOP)
        v = f->fop & 0x7ff;
    else if (r < R_MXCSR) {
        memcpy(b, f->xmm[r - R_XMM], 16);
        return n;
    } else if (r == R_MXCSR)
        v = f->mxcsr;
    else if (r == R_FS_BASE)
        v = c->seg[V3_FS].base;
    else if (r == R_GS_BASE)
        v = c->seg[V3_GS].base;
    else if (r == R_KGS_BASE)
        v = c->kernel_gs_base;
    else if (r == R_CR0)
        v = c->cr0;
    else if (r == R_CR2)
        v = c->cr2;
    else if (r == R_CR3)
        v = c->cr3;
    else if (r == R_CR4)
        v = c->cr4;
    else if (r == R_CR8)
        v = c->cr8;
    else
        v = c->efer;
    put_le(b, v, n);
    return n;
}

/* Write register @p r of @p core from target bytes @p b (the debugger's word: no architectural checks). */
static void reg_write(struct v3_core *c, unsigned r, const uint8_t *b)
{
    struct v3_fpu_state *f = &c->fpu;
    uint64_t v = get_le(b, reg_size(r) > 8 ? 8 : reg_size(r));
    uint64_t cr0 = c->cr0, cr4 = c->cr4, efer = c->efer;

    if (r < R_RIP)
        c->gpr[gpr_map[r]] = v;
    else if (r == R_RIP)
        c->rip = v;
    else if (r == R_EFLAGS) {
        v3_core_set_rflags(c, (v & 0x3f7fd5) | 2);
        v3_core_update_mode(c);
    } else if (r < R_ST) {
        struct v3_segment *s = &c->seg[seg_map[r - R_SEG]];
        s->selector = (uint16_t)v;
        if (c->mode == V3_MODE_REAL || c->mode == V3_MODE_VM86)
            s->base = (uint64_t)(uint16_t)v << 4;
    } else if (r < R_FCTRL)
        memcpy(f->st[r - R_ST], b, 10);
    else if (r == R_FCTRL)
        f->fcw = (uint16_t)v;
    else if (r == R_FSTAT)
        f->fsw = (uint16_t)v;
    else if (r == R_FTAG) {
        uint8_t t = 0;
        for (unsigned i = 0; i < 8; i++)
            if (((v >> (2 * i)) & 3) != 3)
                t |= (uint8_t)(1u << i);
        f->ftw = t;
    } else if (r == R_FISEG)
        f->fip = (f->fip & 0xffffffffu) | (v & 0xffff) << 32;
    else if (r == R_FIOFF)
        f->fip = (f->fip & ~0xffffffffull) | (v & 0xffffffffu);
    else if (r == R_FOSEG)
        f->fdp = (f->fdp & 0xffffffffu) | (v & 0xffff) << 32;
    else if (r == R_FOOFF)
        f->fdp = (f->fdp & ~0xffffffffull) | (v & 0xffffffffu);
    else if (r == R_FOP)
        f->fop = (uint16_t)(v & 0x7ff);
    else if (r < R_MXCSR)
        memcpy(f->xmm[r - R_XMM], b, 16);
    else if (r == R_MXCSR)
        f->mxcsr = (uint32_t)v;
    else if (r == R_FS_BASE)
        c->seg[V3_FS].base = v;
    else if (r == R_GS_BASE)
        c->seg[V3_GS].base = v;
    else if (r == R_KGS_BASE)
        c->kernel_gs_base = v;
    else if (r == R_CR2)
        c->cr2 = v;
    else if (r == R_CR8)
        c->cr8 = v & 0xf;
    else if (r == R_CR3) {
        c->cr3 = v;
        v3_paging_cr3_written(c);
    } else {
        if (r == R_CR0)
            c->cr0 = v;
        else if (r == R_CR4)
            c->cr4 = v;
        else
            c->efer = v;
        v3_core_update_mode(c);
        v3_paging_controls_changed(c, cr0, cr4, efer);
    }
}

/* ------------------------------------------------------------ memory */

/* Guest physical address of debugger address @p addr on @p core (no A/D bits set).  V3_OK or error. */
static int xlate(struct v3_gdbstub *gs, struct v3_core *c, uint64_t addr, uint64_t *gpa)
{
    struct v3_exception exc;
    int rc;

    if (gs->phys) {
        *gpa = addr;
        return V3_OK;
    }
    if (c->mode != V3_MODE_LONG64)
        addr &= 0xffffffffull;
    rc = v3_gva_check(c, addr, V3_ACCESS_READ, gpa, &exc);
    if (rc == V3_EFAULT)    /* a user-mode vCPU: try as the kernel would see it */
        rc = v3_gva_check(c, addr, V3_ACCESS_READ | V3_ACCESS_SUPERVISOR, gpa, &exc);
    return rc;
}

static bool is_emu(const struct v3_vm *vm)
{
    return vm->backend == &v3_emu_backend;
}

/* Memory the debugger may touch at guest physical @p gpa (to the end of its
 * page; regions are page aligned): RAM, shadow or write-hooked memory.  MMIO
 * (full hooks) is refused, so that a debugger's look never has a device's
 * side effects. */
static bool plain_memory(struct v3_vm *vm, uint64_t gpa)
{
    struct v3_mem_region *r = v3_get_shadow_region(vm, gpa);
    return r && r->type != V3_REGION_FULL_HOOK;
}

/* Read (@p wbuf NULL) or write debugger memory, page by page.  Returns bytes done (stops at the first failure). */
static size_t mem_access(struct v3_gdbstub *gs, struct v3_core *c, uint64_t addr, size_t len,
                         uint8_t *rbuf, const uint8_t *wbuf)
{
    size_t done = 0;

    while (done < len) {
        uint64_t a = addr + done, gpa;
        size_t piece = 4096 - (size_t)(a & 0xfff);
        int64_t r;
        if (piece > len - done)
            piece = len - done;
        if (xlate(gs, c, a, &gpa) < 0 || !plain_memory(gs->vm, gpa))
            break;
        if (wbuf) {
            r = v3_write_gpa_memory(gs->vm, NULL, gpa, piece, wbuf + done);
            if (r >= 0 && is_emu(gs->vm))
                for (unsigned i = 0; i < gs->vm->num_cores; i++)
                    v3_cpu_invalidate_code(&gs->vm->cores[i], gpa, gpa + piece);
        } else {
            r = v3_read_gpa_memory(gs->vm, NULL, gpa, piece, rbuf + done);
        }
        if (r < 0)
            break;
        done += piece;
    }
    return done;
}

/* ------------------------------------------------------------ commands */

static struct v3_core *gcore(struct v3_gdbstub *gs)
{
    return &gs->vm->cores[gs->g_core < gs->vm->num_cores ? gs->g_core : 0];
}

static int cmd_read_regs(struct v3_gdbstub *gs)
{
    uint8_t b[16];
    struct v3_core *c = gcore(gs);

    out_reset(gs);
    for (unsigned r = 0; r < R_COUNT; r++)
        out_memhex(gs, b, reg_read(c, r, b));
    return send_reply(gs);
}

static int cmd_write_regs(struct v3_gdbstub *gs, const char *p, size_t len)
{
    struct v3_core *c = gcore(gs);
    uint8_t b[16];

    for (unsigned r = 0; r < R_COUNT && len; r++) {
        size_t n = reg_size(r);
        if (len < 2 * n)
            break;                      /* a shorter G leaves the rest alone */
        if (!unhex(p, n, b))
            return reply_str(gs, "E22");
        reg_write(c, r, b);
        p += 2 * n;
        len -= 2 * n;
    }
    return reply_str(gs, "OK");
}

static int cmd_reg(struct v3_gdbstub *gs, const char *p, const char *end, bool write)
{
    uint64_t r;
    uint8_t b[16];
    struct v3_core *c = gcore(gs);

    if (!parse_hex(&p, end, &r))
        return reply_str(gs, "E22");
    if (r >= R_COUNT)
        return reply_str(gs, write ? "E22" : "E45");
    if (!write) {
        out_reset(gs);
        out_memhex(gs, b, reg_read(c, (unsigned)r, b));
        return send_reply(gs);
    }
    if (p >= end || *p != '=' || (size_t)(end - p - 1) != 2 * reg_size((unsigned)r) ||
        !unhex(p + 1, reg_size((unsigned)r), b))
        return reply_str(gs, "E22");
    reg_write(c, (unsigned)r, b);
    return reply_str(gs, "OK");
}

/* m addr,len / M addr,len:hex / X addr,len:binary */
static int cmd_mem(struct v3_gdbstub *gs, char op, const char *p, const char *end)
{
    uint64_t addr, len;
    uint8_t buf[PKT_MAX / 2];
    struct v3_core *c = gcore(gs);

    if (!parse_hex(&p, end, &addr) || p >= end || *p++ != ',' || !parse_hex(&p, end, &len))
        return reply_str(gs, "E22");
    if (op == 'm') {
        size_t n;
        if (p != end)
            return reply_str(gs, "E22");
        if (len > sizeof(buf))
            len = sizeof(buf);          /* a partial reply is allowed */
        n = mem_access(gs, c, addr, (size_t)len, buf, NULL);
        if (!n && len)
            return reply_str(gs, "E14");
        out_reset(gs);
        out_memhex(gs, buf, n);
        return send_reply(gs);
    }
    if (p >= end || *p++ != ':' || len > sizeof(buf))
        return reply_str(gs, "E22");
    if (op == 'M') {
        if ((uint64_t)(end - p) != 2 * len || !unhex(p, (size_t)len, buf))
            return reply_str(gs, "E22");
    } else {
        if ((uint64_t)(end - p) != len)  /* escapes were undone by the packet layer */
            return reply_str(gs, "E22");
        memcpy(buf, p, (size_t)len);
    }
    if (mem_access(gs, c, addr, (size_t)len, NULL, buf) != len)
        return reply_str(gs, "E14");
    return reply_str(gs, "OK");
}

static struct gdb_bp *bp_find(struct v3_gdbstub *gs, uint64_t addr)
{
    for (unsigned i = 0; i < gs->nbp; i++)
        if (gs->bp[i].addr == addr)
            return &gs->bp[i];
    return NULL;
}

/* Z/z type,addr,kind */
static int cmd_point(struct v3_gdbstub *gs, bool set, const char *p, const char *end)
{
    uint64_t type, addr, kind;
    int rc;

    if (!parse_hex(&p, end, &type) || p >= end || *p++ != ',' || !parse_hex(&p, end, &addr) ||
        p >= end || *p++ != ',' || !parse_hex(&p, end, &kind))
        return reply_str(gs, "E22");
    /* conditions and commands after ';' (not advertised) are ignored */
    if (type <= 1) {
        struct gdb_bp *b = bp_find(gs, addr);
        if (set) {
            if (!b) {
                if (gs->nbp == V3_DBG_MAX_BREAK)
                    return reply_str(gs, "E28");
                rc = v3_debug_breakpoint(gs->vm, addr, true);
                if (rc < 0)
                    return reply_str(gs, "E28");
                b = &gs->bp[gs->nbp++];
                b->addr = addr;
                b->sw = b->hw = 0;
            }
            if (type == 0)
                b->sw = 1;
            else
                b->hw = 1;
        } else if (b) {
            if (type == 0)
                b->sw = 0;
            else
                b->hw = 0;
            if (!b->sw && !b->hw) {
                v3_debug_breakpoint(gs->vm, addr, false);
                *b = gs->bp[--gs->nbp];
            }
        }
        return reply_str(gs, "OK");
    }
    if (type <= 4) {
        static const unsigned wt[3] = { V3_WATCH_WRITE, V3_WATCH_READ, V3_WATCH_ACCESS };
        rc = v3_debug_watchpoint(gs->vm, addr, kind, wt[type - 2], set);
        if (rc == V3_ENOENT)
            return reply_str(gs, "OK");
        return reply_str(gs, rc < 0 ? (rc == V3_ENOMEM ? "E28" : "E22") : "OK");
    }
    return reply_str(gs, "");
}

static int qxfer_features(struct v3_gdbstub *gs, const char *p, const char *end)
{
    static const char name[] = "target.xml:";
    uint64_t off, len;
    size_t total = sizeof(target_xml) - 1;

    if ((size_t)(end - p) < sizeof(name) - 1 || memcmp(p, name, sizeof(name) - 1))
        return reply_str(gs, "E00");
    p += sizeof(name) - 1;
    if (!parse_hex(&p, end, &off) || p >= end || *p++ != ',' || !parse_hex(&p, end, &len) || p != end)
        return reply_str(gs, "E00");
    out_reset(gs);
    if (off >= total) {
        out_str(gs, "l");
    } else {
        if (len > PKT_MAX - 8)
            len = PKT_MAX - 8;
        if (len >= total - off) {
            out_str(gs, "l");
            len = total - off;
        } else {
            out_str(gs, "m");
        }
        out_bytes(gs, target_xml + off, (size_t)len);
    }
    return send_reply(gs);
}

/* Append text to a hex-encoded monitor reply. */
static void out_texthex(struct v3_gdbstub *gs, const char *s)
{
    while (*s)
        out_hex8(gs, (uint8_t)*s++);
}

static const char *skip_sp(const char *s)
{
    while (*s == ' ')
        s++;
    return s;
}

/* qRcmd: monitor commands. */
static int cmd_monitor(struct v3_gdbstub *gs, const char *p, const char *end)
{
    char text[256];
    size_t n = (size_t)(end - p) / 2;
    const char *t, *tend;

    if ((end - p) % 2 || n >= sizeof(text) || !unhex(p, n, (uint8_t *)text))
        return reply_str(gs, "E22");
    text[n] = 0;
    t = skip_sp(text);
    out_reset(gs);
    if (!slen(t) || starts(t, slen(t), "help")) {
        out_texthex(gs, "v3vmm monitor commands:\n"
                        "  phys [on|off]   memory commands (m/M/X) use guest physical addresses\n"
                        "  xp ADDR [LEN]   dump LEN bytes (default 10, at most 100) of guest physical memory;\n"
                        "                  numbers are hex\n");
    } else if (starts(t, slen(t), "phys")) {
        const char *a = skip_sp(t + 4);
        if (!*a)
            gs->phys = !gs->phys;
        else if (starts(a, slen(a), "on"))
            gs->phys = true;
        else if (starts(a, slen(a), "off"))
            gs->phys = false;
        else
            return reply_str(gs, "E22");
        out_texthex(gs, gs->phys ? "memory access: guest physical\n" : "memory access: guest virtual\n");
    } else if (starts(t, slen(t), "xp ") || starts(t, slen(t), "xp\t")) {
        uint64_t addr, len = 16;
        uint8_t buf[256];
        int64_t r;
        const char *a = skip_sp(t + 3);
        tend = text + n;
        if (a + 1 < tend && a[0] == '0' && (a[1] == 'x' || a[1] == 'X'))
            a += 2;
        if (!parse_hex(&a, tend, &addr))
            return reply_str(gs, "E22");
        a = skip_sp(a);
        if (*a) {
            if (a + 1 < tend && a[0] == '0' && (a[1] == 'x' || a[1] == 'X'))
                a += 2;
            if (!parse_hex(&a, tend, &len) || *skip_sp(a))
                return reply_str(gs, "E22");
        }
        if (!len)
            len = 1;
        if (len > sizeof(buf))
            len = sizeof(buf);
        r = V3_EUNMAPPED;
        if (plain_memory(gs->vm, addr) && plain_memory(gs->vm, addr + len - 1) &&
            ((addr ^ (addr + len - 1)) >> 12 == 0 || plain_memory(gs->vm, (addr | 0xfff) + 1)))
            r = v3_read_gpa_memory(gs->vm, NULL, addr, (size_t)len, buf);
        if (r < 0) {
            out_texthex(gs, "cannot read guest physical memory there\n");
        } else {
            for (uint64_t i = 0; i < len; i += 16) {
                char line[16 + 2 + 16 * 3 + 2];
                unsigned k = 0;
                uint64_t a16 = addr + i;
                for (int s = 60; s >= 0; s -= 4)
                    line[k++] = hexdig[(a16 >> s) & 15];
                line[k++] = ':';
                for (uint64_t j = i; j < len && j < i + 16; j++) {
                    line[k++] = ' ';
                    line[k++] = hexdig[buf[j] >> 4];
                    line[k++] = hexdig[buf[j] & 15];
                }
                line[k++] = '\n';
                line[k] = 0;
                out_texthex(gs, line);
            }
        }
    } else {
        out_texthex(gs, "unknown monitor command; try 'monitor help'\n");
    }
    return send_reply(gs);
}

static bool valid_tid(struct v3_gdbstub *gs, int64_t tid)
{
    return tid == -1 || tid == 0 || (tid >= 1 && (uint64_t)tid <= gs->vm->num_cores);
}

/* Hg / Hc */
static int cmd_thread_select(struct v3_gdbstub *gs, char which, const char *p, const char *end)
{
    int64_t tid;
    if (!parse_tid(&p, end, &tid) || p != end || !valid_tid(gs, tid))
        return reply_str(gs, "E22");
    if (which == 'g')
        gs->g_core = tid > 0 ? (unsigned)(tid - 1) : 0;
    else
        gs->c_core = tid > 0 ? (unsigned)(tid - 1) : 0;
    return reply_str(gs, "OK");
}

/* ------------------------------------------------------------ running */

static void set_stop(struct v3_gdbstub *gs, unsigned sig, unsigned core, const char *reason, uint64_t addr)
{
    out_reset(gs);
    out_str(gs, "T");
    out_hex8(gs, (uint8_t)sig);
    out_str(gs, "thread:");
    out_num(gs, core + 1);
    out_str(gs, ";");
    if (reason) {
        out_str(gs, reason);
        out_str(gs, ":");
        if (addr != ~0ull)
            out_num(gs, addr);
        out_str(gs, ";");
    }
    if (gs->out_len < sizeof(gs->stop)) {
        memcpy(gs->stop, gs->out, gs->out_len);
        gs->stop[gs->out_len] = 0;
    }
    gs->g_core = core;
}

/*
 * Input arrived while the VM ran (or is about to run): 2 = Ctrl-C, 1 = a
 * packet (a debugger attaching), 0 = nothing to stop for.  With @p may_read,
 * one read() appends to what is buffered (when the stream says it would not
 * block).  Bytes before the first '$' or 0x03 (acks, noise) are dropped,
 * so a buffered leftover can never hide a later Ctrl-C.
 */
static int scan_input(struct v3_gdbstub *gs, bool may_read)
{
    if (gs->in_pos > 0 && gs->in_pos < gs->in_len)
        memmove(gs->in, gs->in + gs->in_pos, gs->in_len - gs->in_pos);
    gs->in_len -= gs->in_pos;
    gs->in_pos = 0;
    if (may_read && gs->in_len == sizeof(gs->in))
        gs->in_len = 0;                 /* a full buffer while running: nothing gdb would send */
    if (may_read && !gs->io_dead && (!gs->io.ready || gs->io.ready(gs->io.priv))) {
        long n = gs->io.read(gs->io.priv, gs->in + gs->in_len, sizeof(gs->in) - gs->in_len);
        if (n <= 0 || (unsigned long)n > sizeof(gs->in) - gs->in_len)
            gs->io_dead = true;
        else
            gs->in_len += (unsigned)n;
    }
    for (unsigned i = 0; i < gs->in_len; i++) {
        if (gs->in[i] == 0x03) {
            gs->in_pos = i + 1;         /* consumed, with what came before it */
            return 2;
        }
        if (gs->in[i] == '$') {
            gs->in_pos = i;
            return 1;
        }
    }
    gs->in_pos = gs->in_len;            /* acks and noise */
    return 0;
}

/*
 * Run the VM until something for the debugger (or the end).  Fills the stop
 * reply in gs->out and returns 0, or returns 1 when the VM stopped for good
 * (gs->res says why; the reply, if any, is in gs->out).
 */
static int run_vm(struct v3_gdbstub *gs)
{
    struct v3_vm_result *res = &gs->res;

    for (;;) {
        int in = 0;
        if (!gs->io_dead && (in = scan_input(gs, false)) != 0 && (in == 2 || !gs->attached)) {
            /* Ctrl-C already waiting */
            memset(res, 0, sizeof(*res));
            res->reason = V3_STOP_REQUESTED;
            gs->attached = true;
            set_stop(gs, in == 2 ? 2 : 5, gs->c_core, NULL, 0);
            return 0;
        }
        __atomic_store_n(&gs->running, 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&gs->interrupt, __ATOMIC_SEQ_CST))
            v3_stop_vm(gs->vm);
        v3_run_vm(gs->vm, res);
        __atomic_store_n(&gs->running, 0, __ATOMIC_SEQ_CST);

        switch (res->reason) {
        case V3_STOP_REQUESTED:
            if (!__atomic_exchange_n(&gs->interrupt, 0, __ATOMIC_SEQ_CST)) {
                /* v3_stop_vm() from the embedder: the end */
                out_reset(gs);
                out_str(gs, "X02");
                return 1;
            }
            in = gs->io_dead ? 0 : scan_input(gs, true);
            if (in) {
                /* Ctrl-C; a debugger attaching; or (not in all-stop gdb) a
                   packet sent while the VM ran, which would otherwise hide a
                   later Ctrl-C */
                gs->attached = true;
                set_stop(gs, in == 2 ? 2 : 5, gs->c_core, NULL, 0);
                return 0;
            }
            continue;                   /* nothing for us: resume */
        case V3_STOP_DEBUG: {
            static const char *const wname[4] = { NULL, "watch", "rwatch", "awatch" };
            if (!gs->attached)
                continue;               /* left over from a detached debugger */
            if (res->debug_kind == V3_DEBUG_BREAK) {
                const char *why = "swbreak";
                uint64_t la = res->rip;
                struct v3_core *c = &gs->vm->cores[res->core];
                struct gdb_bp *b;
                if (c->mode != V3_MODE_LONG64)
                    la = (c->seg[V3_CS].base + c->rip) & 0xffffffffull;
                b = bp_find(gs, la);
                if (b && !b->sw && b->hw)
                    why = "hwbreak";
                set_stop(gs, 5, res->core, why, ~0ull);
            } else if (res->debug_kind == V3_DEBUG_WATCH) {
                set_stop(gs, 5, res->core, wname[res->debug_watch_type & 3] ? wname[res->debug_watch_type & 3]
                                                                           : "watch", res->debug_addr);
            } else {
                set_stop(gs, 5, res->core, NULL, 0);
            }
            return 0;
        }
        case V3_STOP_HLT:
            if (!gs->attached)
                return 1;
            set_stop(gs, 5, res->core, NULL, 0);
            return 0;
        case V3_STOP_DEBUG_EXIT:
            out_reset(gs);
            out_str(gs, "W");
            out_hex8(gs, (uint8_t)res->exit_code);
            return 1;
        case V3_STOP_SHUTDOWN:
            out_reset(gs);
            out_str(gs, "X0b");
            return 1;
        case V3_STOP_INSN_LIMIT:
            out_reset(gs);
            out_str(gs, "X18");
            return 1;
        default:
            out_reset(gs);
            out_str(gs, "X06");
            return 1;
        }
    }
}

/* Resume: step vCPU @p step_core (or none: -1) and run the others. */
static int resume(struct v3_gdbstub *gs, int step_core)
{
    int end;

    for (unsigned i = 0; i < gs->vm->num_cores; i++)
        v3_debug_step(&gs->vm->cores[i], (int)i == step_core);
    end = run_vm(gs);
    for (unsigned i = 0; i < gs->vm->num_cores; i++)
        v3_debug_step(&gs->vm->cores[i], false);
    if (end) {
        gs->done = true;
        if (gs->attached)
            send_reply(gs);
        return 1;
    }
    return send_reply(gs);
}

/* c [addr] / s [addr] / C sig[;addr] / S sig[;addr] */
static int cmd_cont(struct v3_gdbstub *gs, char op, const char *p, const char *end)
{
    uint64_t v;
    struct v3_core *c = &gs->vm->cores[gs->c_core];

    if (op == 'C' || op == 'S') {
        if (!parse_hex(&p, end, &v))
            return reply_str(gs, "E22");
        if (p < end && *p == ';')
            p++;
    }
    if (p < end) {
        if (!parse_hex(&p, end, &v) || p != end)
            return reply_str(gs, "E22");
        c->rip = v;
    }
    return resume(gs, (op == 's' || op == 'S') ? (int)gs->c_core : -1);
}

/* vCont;action[:tid]... */
static int cmd_vcont(struct v3_gdbstub *gs, const char *p, const char *end)
{
    int step = -1;
    bool run = false;
    bool decided[64] = { false };
    unsigned nc = gs->vm->num_cores < 64 ? gs->vm->num_cores : 64;

    while (p < end) {
        char a;
        int64_t tid = -1;
        uint64_t sig;
        if (*p++ != ';' || p >= end)
            return reply_str(gs, "E22");
        a = *p++;
        if (a == 'C' || a == 'S') {
            if (!parse_hex(&p, end, &sig))
                return reply_str(gs, "E22");
        } else if (a != 'c' && a != 's' && a != 't') {
            return reply_str(gs, "");       /* r (range step) and others are not supported */
        }
        if (p < end && *p == ':') {
            p++;
            if (!parse_tid(&p, end, &tid) || !valid_tid(gs, tid))
                return reply_str(gs, "E22");
        }
        for (unsigned i = 0; i < nc; i++) {
            if (decided[i] || !(tid <= 0 || (uint64_t)tid == i + 1))
                continue;
            decided[i] = true;
            if (a == 's' || a == 'S') {
                if (step < 0)
                    step = (int)i;
                run = true;
            } else if (a == 'c' || a == 'C') {
                run = true;
            }
        }
    }
    if (!run)
        return reply_str(gs, "OK");
    if (step >= 0)
        gs->c_core = (unsigned)step;
    return resume(gs, step);
}

static void detach(struct v3_gdbstub *gs)
{
    v3_debug_clear(gs->vm);
    gs->nbp = 0;
    gs->attached = false;
    gs->phys = false;
}

/* One command in gs->pkt.  Returns <0 when the stream failed. */
static int handle(struct v3_gdbstub *gs)
{
    const char *p = gs->pkt, *end = gs->pkt + gs->pkt_len;
    size_t len = gs->pkt_len;

    if (!len)
        return reply_str(gs, "");
    switch (p[0]) {
    case '?':
        return reply_str(gs, gs->stop);
    case 'g':
        return len == 1 ? cmd_read_regs(gs) : reply_str(gs, "E22");
    case 'G':
        return cmd_write_regs(gs, p + 1, len - 1);
    case 'p':
        return cmd_reg(gs, p + 1, end, false);
    case 'P':
        return cmd_reg(gs, p + 1, end, true);
    case 'm': case 'M': case 'X':
        return cmd_mem(gs, p[0], p + 1, end);
    case 'Z': case 'z':
        return cmd_point(gs, p[0] == 'Z', p + 1, end);
    case 'c': case 's': case 'C': case 'S':
        return cmd_cont(gs, p[0], p + 1, end);
    case 'H':
        if (len >= 2 && (p[1] == 'g' || p[1] == 'c'))
            return cmd_thread_select(gs, p[1], p + 2, end);
        return reply_str(gs, "");
    case 'T': {
        int64_t tid;
        p++;
        if (!parse_tid(&p, end, &tid) || p != end || tid <= 0 || !valid_tid(gs, tid))
            return reply_str(gs, "E22");
        return reply_str(gs, "OK");
    }
    case 'D': {
        int rc = reply_str(gs, "OK");
        detach(gs);
        return rc;
    }
    case 'k':
        gs->done = true;
        memset(&gs->res, 0, sizeof(gs->res));
        gs->res.reason = V3_STOP_REQUESTED;
        return 0;
    case 'q':
        if (starts(p, len, "qSupported")) {
            out_reset(gs);
            out_str(gs, "PacketSize=");
            out_num(gs, PKT_MAX);
            out_str(gs, ";qXfer:features:read+;swbreak+;hwbreak+;vContSupported+;QStartNoAckMode+");
            return send_reply(gs);
        }
        if (starts(p, len, "qXfer:features:read:"))
            return qxfer_features(gs, p + 20, end);
        if (len == 2 && p[1] == 'C') {
            out_reset(gs);
            out_str(gs, "QC");
            out_num(gs, gs->g_core + 1);
            return send_reply(gs);
        }
        if (starts(p, len, "qfThreadInfo")) {
            out_reset(gs);
            out_str(gs, "m");
            for (unsigned i = 0; i < gs->vm->num_cores; i++) {
                if (i)
                    out_str(gs, ",");
                out_num(gs, i + 1);
            }
            return send_reply(gs);
        }
        if (starts(p, len, "qsThreadInfo"))
            return reply_str(gs, "l");
        if (starts(p, len, "qAttached"))
            return reply_str(gs, "1");
        if (starts(p, len, "qRcmd,"))
            return cmd_monitor(gs, p + 6, end);
        if (starts(p, len, "qThreadExtraInfo,")) {
            int64_t tid;
            const char *t = p + 17;
            if (!parse_tid(&t, end, &tid) || tid <= 0 || !valid_tid(gs, tid))
                return reply_str(gs, "E22");
            out_reset(gs);
            out_texthex(gs, "vCPU ");
            out_hex8(gs, (uint8_t)('0' + (tid - 1) % 10));
            out_texthex(gs, " ");
            out_texthex(gs, v3_cpu_mode_str(gs->vm->cores[tid - 1].mode));
            return send_reply(gs);
        }
        if (starts(p, len, "qSymbol"))
            return reply_str(gs, "OK");
        return reply_str(gs, "");
    case 'Q':
        if (len == 15 && starts(p, len, "QStartNoAckMode")) {
            int rc = reply_str(gs, "OK");
            gs->noack = true;
            return rc;
        }
        return reply_str(gs, "");
    case 'v':
        if (len == 6 && starts(p, len, "vCont?"))
            return reply_str(gs, "vCont;c;C;s;S;t");
        if (starts(p, len, "vCont"))
            return cmd_vcont(gs, p + 5, end);
        return reply_str(gs, "");
    default:
        return reply_str(gs, "");
    }
}

/* ------------------------------------------------------------ API */

struct v3_gdbstub *v3_gdb_create(struct v3_vm *vm, const struct v3_gdb_io *io, int *err)
{
    struct v3_gdbstub *gs;

    if (err)
        *err = V3_OK;
    if (!vm || !io || !io->read || !io->write) {
        V3_ERROR("gdb: create with a NULL VM, stream or callback");
        if (err)
            *err = V3_EINVAL;
        return NULL;
    }
    gs = v3_zalloc(sizeof(*gs));
    if (!gs) {
        if (err)
            *err = V3_ENOMEM;
        return NULL;
    }
    gs->vm = vm;
    gs->io = *io;
    memcpy(gs->stop, "S05", 4);
    return gs;
}

void v3_gdb_free(struct v3_gdbstub *gs)
{
    if (!gs)
        return;
    v3_debug_clear(gs->vm);
    v3_free(gs);
}

void v3_gdb_interrupt(struct v3_gdbstub *gs)
{
    if (!gs || !__atomic_load_n(&gs->running, __ATOMIC_SEQ_CST))
        return;
    __atomic_store_n(&gs->interrupt, 1, __ATOMIC_SEQ_CST);
    v3_stop_vm(gs->vm);
}

int v3_gdb_serve(struct v3_gdbstub *gs, unsigned flags, struct v3_vm_result *res)
{
    if (!gs || !res) {
        V3_ERROR("gdb: serve with a NULL %s", gs ? "result" : "stub");
        return V3_EINVAL;
    }
    gs->done = false;
    gs->attached = (flags & V3_GDB_WAIT) != 0;
    set_stop(gs, 5, 0, NULL, 0);
    memset(&gs->res, 0, sizeof(gs->res));
    while (!gs->done) {
        if (!gs->attached) {
            /* no debugger: run until one attaches or the VM ends */
            if (run_vm(gs)) {
                gs->done = true;
                break;
            }
            continue;               /* attached now: its packet is waiting */
        }
        if (recv_packet(gs) < 0 || handle(gs) < 0) {
            if (gs->done)
                break;
            V3_INFO("gdb: the debugger's stream ended; the VM runs on without it");
            detach(gs);
        }
    }
    *res = gs->res;
    return V3_OK;
}
