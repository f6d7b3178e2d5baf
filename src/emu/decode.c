/* SPDX-License-Identifier: MIT */
/* Zydis 4 -> struct v3_insn, and the mnemonic -> handler index. */
#include <Zydis/Zydis.h>
#include "internal/host.h"
#include "emu/insn.h"

/* ------------------------------------------------------------ handler index */

extern const struct v3_op_entry *const v3_op_families[];   /* ops_table.c */

static const struct v3_op_entry *op_index[V3_MN_COUNT];
static const struct v3_arch_rule *rule_index[V3_MN_COUNT];   /* only where op_index is NULL */
static int op_index_state;   /* 0 none, 1 building, 2 ready */

void v3_emu_init_table(void)
{
    if (__atomic_load_n(&op_index_state, __ATOMIC_ACQUIRE) == 2)
        return;
    int expect = 0;
    if (!__atomic_compare_exchange_n(&op_index_state, &expect, 1, 0, __ATOMIC_ACQ_REL,
                                      __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(&op_index_state, __ATOMIC_ACQUIRE) != 2)
            __builtin_ia32_pause();
        return;
    }
    for (unsigned f = 0; v3_op_families[f]; f++) {
        for (const struct v3_op_entry *e = v3_op_families[f]; e->mnemonic; e++) {
            if (e->mnemonic >= V3_MN_COUNT || !e->fn) {
                V3_ERROR("emu: bad handler table entry (mnemonic %u)", e->mnemonic);
                continue;
            }
            if (op_index[e->mnemonic]) {
                V3_ERROR("emu: mnemonic %u registered twice, keeping the first", e->mnemonic);
                continue;
            }
            op_index[e->mnemonic] = e;
        }
    }
    /* rules apply to mnemonics no family handles (a handler silently wins) */
    for (const struct v3_arch_rule *r = v3_arch_rules; r->mnemonic; r++)
        if (r->mnemonic < V3_MN_COUNT && r->fn && !op_index[r->mnemonic] && !rule_index[r->mnemonic])
            rule_index[r->mnemonic] = r;
    __atomic_store_n(&op_index_state, 2, __ATOMIC_RELEASE);
}

const struct v3_op_entry *v3_emu_lookup(unsigned mnemonic)
{
    v3_emu_init_table();
    return mnemonic < V3_MN_COUNT ? op_index[mnemonic] : NULL;
}

int v3_emu_classify(unsigned mnemonic, const char **rule)
{
    v3_emu_init_table();
    if (mnemonic < V3_MN_COUNT && op_index[mnemonic])
        return V3_MNC_HANDLER;
    if (mnemonic < V3_MN_COUNT && rule_index[mnemonic]) {
        if (rule)
            *rule = rule_index[mnemonic]->rule;
        return V3_MNC_RULE;
    }
    return V3_MNC_UD;
}

int v3_op_unsupported(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    (void)ctx;
    (void)in;
    return V3_X_UNSUPPORTED;
}

/* ------------------------------------------------------------ decoder */

static ZydisDecoder decoders[3];   /* 16, 32, 64 */
static int decoders_ready;

static const ZydisDecoder *decoder_for(enum v3_cpu_mode mode)
{
    if (!__atomic_load_n(&decoders_ready, __ATOMIC_ACQUIRE)) {
        /* idempotent: concurrent initialisers write identical values */
        ZydisDecoder d[3];
        ZydisDecoderInit(&d[0], ZYDIS_MACHINE_MODE_LEGACY_16, ZYDIS_STACK_WIDTH_16);
        ZydisDecoderInit(&d[1], ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32);
        ZydisDecoderInit(&d[2], ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
        static int lock;
        while (__atomic_exchange_n(&lock, 1, __ATOMIC_ACQUIRE))
            __builtin_ia32_pause();
        if (!decoders_ready) {
            memcpy(decoders, d, sizeof(d));
            __atomic_store_n(&decoders_ready, 1, __ATOMIC_RELEASE);
        }
        __atomic_store_n(&lock, 0, __ATOMIC_RELEASE);
    }
    switch (mode) {
    case V3_MODE_LONG64:
        return &decoders[2];
    case V3_MODE_PROT32:
    case V3_MODE_COMPAT32:
        return &decoders[1];
    default:
        return &decoders[0];
    }
}

static int map_sreg(ZydisRegister r)
{
    switch (r) {
    case ZYDIS_REGISTER_ES: return V3_ES;
    case ZYDIS_REGISTER_CS: return V3_CS;
    case ZYDIS_REGISTER_SS: return V3_SS;
    case ZYDIS_REGISTER_DS: return V3_DS;
    case ZYDIS_REGISTER_FS: return V3_FS;
    case ZYDIS_REGISTER_GS: return V3_GS;
    default: return -1;
    }
}

/* Base/index register of a memory operand: GPR number, RIP, or none. */
static int map_addr_reg(ZydisRegister r, uint8_t *out)
{
    if (r == ZYDIS_REGISTER_NONE) {
        *out = V3_REG_NONE;
        return 0;
    }
    if (r == ZYDIS_REGISTER_RIP || r == ZYDIS_REGISTER_EIP || r == ZYDIS_REGISTER_IP) {
        *out = V3_REG_RIP;
        return 0;
    }
    ZydisRegisterClass c = ZydisRegisterGetClass(r);
    if (c == ZYDIS_REGCLASS_GPR16 || c == ZYDIS_REGCLASS_GPR32 || c == ZYDIS_REGCLASS_GPR64) {
        ZyanI8 id = ZydisRegisterGetId(r);
        if (id < 0 || id > 15)
            return -1;
        *out = (uint8_t)id;
        return 0;
    }
    return -1;   /* vector index (VSIB) and others */
}

static void map_reg(ZydisRegister r, struct v3_operand *o)
{
    ZydisRegisterClass c = ZydisRegisterGetClass(r);
    ZyanI8 id = ZydisRegisterGetId(r);
    o->kind = V3_OPK_REG;
    o->cls = V3_RC_OTHER;
    o->reg = id < 0 ? 0 : (uint8_t)id;
    switch (c) {
    case ZYDIS_REGCLASS_GPR8: {
        unsigned i = (unsigned)(r - ZYDIS_REGISTER_AL);
        if (i >= 4 && i < 8) {
            o->cls = V3_RC_GPR8H;
            o->reg = (uint8_t)(i - 4);
        } else {
            o->cls = V3_RC_GPR;
            o->reg = (uint8_t)(i < 4 ? i : i - 4);
        }
        break;
    }
    case ZYDIS_REGCLASS_GPR16:
    case ZYDIS_REGCLASS_GPR32:
    case ZYDIS_REGCLASS_GPR64:
        o->cls = V3_RC_GPR;
        break;
    case ZYDIS_REGCLASS_XMM:
        o->cls = V3_RC_XMM;
        break;
    case ZYDIS_REGCLASS_MMX:
        o->cls = V3_RC_MMX;
        break;
    case ZYDIS_REGCLASS_SEGMENT: {
        int s = map_sreg(r);
        o->cls = V3_RC_SREG;
        o->reg = (uint8_t)(s < 0 ? 0 : s);
        break;
    }
    case ZYDIS_REGCLASS_CONTROL:
        o->cls = V3_RC_CR;
        break;
    case ZYDIS_REGCLASS_DEBUG:
        o->cls = V3_RC_DR;
        break;
    case ZYDIS_REGCLASS_X87:
        o->cls = V3_RC_X87;
        break;
    default:
        break;
    }
}

int v3_decode(enum v3_cpu_mode mode, const uint8_t *bytes, size_t len, struct v3_insn *out)
{
    ZydisDecodedInstruction zi;
    ZydisDecoderContext zctx;
    ZydisDecodedOperand zo[ZYDIS_MAX_OPERAND_COUNT_VISIBLE];

    v3_emu_init_table();
    if (len > 15)
        len = 15;
    const ZydisDecoder *dec = decoder_for(mode);
    ZyanStatus zs = ZydisDecoderDecodeInstruction(dec, &zctx, bytes, len, &zi);
    if (ZYAN_SUCCESS(zs))   /* only the visible operands: hidden ones are implied by the handler */
        zs = ZydisDecoderDecodeOperands(dec, &zctx, &zi, zo, zi.operand_count_visible);
    if (!ZYAN_SUCCESS(zs)) {
        if (zs == ZYDIS_STATUS_NO_MORE_DATA)
            return len < 15 ? V3_DEC_SHORT : V3_DEC_LONG;
        if (zs == ZYDIS_STATUS_INSTRUCTION_TOO_LONG)
            return V3_DEC_LONG;
        return V3_DEC_UD;
    }

    memset(out, 0, sizeof(*out));
    out->len = zi.length;
    out->mnemonic = (uint16_t)zi.mnemonic;
    out->opsize = (uint8_t)(zi.operand_width / 8);
    out->addrsize = (uint8_t)(zi.address_width / 8);
    out->mode = (uint8_t)mode;
    out->opcode = zi.opcode;
    out->opmap = (uint8_t)zi.opcode_map;
    out->cc = zi.opcode & 0xf;
    out->seg = V3_DS;

    ZydisInstructionAttributes a = zi.attributes;
    if (a & ZYDIS_ATTRIB_HAS_LOCK)
        out->prefix |= V3_PFX_LOCK;
    if (a & (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE))
        out->prefix |= V3_PFX_REP;
    if (a & ZYDIS_ATTRIB_HAS_REPNE)
        out->prefix |= V3_PFX_REPNE;
    if (a & ZYDIS_ATTRIB_HAS_OPERANDSIZE)
        out->prefix |= V3_PFX_OPSIZE;
    if (a & ZYDIS_ATTRIB_HAS_ADDRESSSIZE)
        out->prefix |= V3_PFX_ADSIZE;
    if (zi.raw.rex.W)
        out->prefix |= V3_PFX_REX_W;
    if (a & ZYDIS_ATTRIB_HAS_SEGMENT) {
        /* the effective override (the last one; in 64-bit mode only FS/GS count) */
        ZydisRegister sr = ZYDIS_REGISTER_NONE;
        if (a & ZYDIS_ATTRIB_HAS_SEGMENT_CS) sr = ZYDIS_REGISTER_CS;
        if (a & ZYDIS_ATTRIB_HAS_SEGMENT_SS) sr = ZYDIS_REGISTER_SS;
        if (a & ZYDIS_ATTRIB_HAS_SEGMENT_DS) sr = ZYDIS_REGISTER_DS;
        if (a & ZYDIS_ATTRIB_HAS_SEGMENT_ES) sr = ZYDIS_REGISTER_ES;
        if (a & ZYDIS_ATTRIB_HAS_SEGMENT_FS) sr = ZYDIS_REGISTER_FS;
        if (a & ZYDIS_ATTRIB_HAS_SEGMENT_GS) sr = ZYDIS_REGISTER_GS;
        int s = map_sreg(sr);
        if (s >= 0 && !(mode == V3_MODE_LONG64 && s != V3_FS && s != V3_GS)) {
            out->seg = (uint8_t)s;
            out->prefix |= V3_PFX_SEGOVR;
        }
    }

    unsigned n = zi.operand_count_visible;
    if (n > 4)
        n = 4;
    out->nops = (uint8_t)n;
    int special = -1;
    for (unsigned i = 0; i < n; i++) {
        const ZydisDecodedOperand *z = &zo[i];
        struct v3_operand *o = &out->op[i];
        o->size = (uint8_t)(z->size / 8);
        switch (z->type) {
        case ZYDIS_OPERAND_TYPE_REGISTER:
            map_reg(z->reg.value, o);
            if (o->cls == V3_RC_SREG || o->cls == V3_RC_CR || o->cls == V3_RC_DR)
                special = o->cls;
            break;
        case ZYDIS_OPERAND_TYPE_MEMORY: {
            o->kind = V3_OPK_MEM;
            int s = map_sreg(z->mem.segment);
            o->reg = (uint8_t)(s < 0 ? V3_DS : s);
            if (map_addr_reg(z->mem.base, &o->base) || map_addr_reg(z->mem.index, &o->index)) {
                /* VSIB (AVX2/AVX-512 gathers and scatters): not reported */
                out->handler = v3_op_ud_unreported;
                out->opflags = 0;
                return out->len;
            }
            o->scale = z->mem.index == ZYDIS_REGISTER_NONE ? 1 : z->mem.scale;
            o->val = z->mem.disp.has_displacement ? (uint64_t)z->mem.disp.value : 0;
            if (z->mem.type == ZYDIS_MEMOP_TYPE_AGEN)
                o->size = 0;
            break;
        }
        case ZYDIS_OPERAND_TYPE_IMMEDIATE:
            o->kind = V3_OPK_IMM;
            o->val = z->imm.is_signed ? (uint64_t)z->imm.value.s : z->imm.value.u;
            if (z->imm.is_relative)
                o->cls |= V3_IMMF_REL;
            break;
        case ZYDIS_OPERAND_TYPE_POINTER:
            o->kind = V3_OPK_PTR;
            o->val = (uint64_t)z->ptr.offset | ((uint64_t)z->ptr.segment << 32);
            break;
        default:
            break;
        }
    }

    unsigned mn = out->mnemonic;
    if (mn == ZYDIS_MNEMONIC_MOV && special >= 0)
        mn = special == V3_RC_SREG ? V3_MN_MOV_SREG : special == V3_RC_CR ? V3_MN_MOV_CR
                                                                       : V3_MN_MOV_DR;
    out->mnemonic = (uint16_t)mn;
    const struct v3_op_entry *e = mn < V3_MN_COUNT ? op_index[mn] : NULL;
    if (!e) {
        const struct v3_arch_rule *r = mn < V3_MN_COUNT ? rule_index[mn] : NULL;
        out->handler = r ? r->fn : v3_op_ud_unreported;
        out->opflags = 0;
        if (out->prefix & V3_PFX_LOCK)
            return V3_DEC_UD;
        return out->len;
    }
    out->handler = e->fn;
    out->opflags = (uint8_t)e->flags;
    /* LOCK is valid only on a lockable instruction with a memory destination */
    if ((out->prefix & V3_PFX_LOCK) &&
        (!(e->flags & V3_OPF_LOCK) || n == 0 || out->op[0].kind != V3_OPK_MEM))
        return V3_DEC_UD;
    return out->len;
}
