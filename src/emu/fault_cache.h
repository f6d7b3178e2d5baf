/* SPDX-License-Identifier: MIT */
/*
 * src/emu/fault_cache.h - per-vCPU caches of the hooked-access fault path
 * (src/emu/fault.c).
 *
 * Decoded instructions: a small direct-mapped cache indexed by the linear
 * address of the instruction.  An entry keeps the instruction bytes and the
 * CPU mode it was decoded for; a hit needs the freshly fetched bytes to be
 * equal, so a changed instruction (self-modifying code, a remapped page, a
 * different address space) is decoded again, and so is one decoded under
 * another CPU model (struct v3_core::model_gen: the decoder's feature gates).
 * Nothing else invalidates it: v3_decode_model() depends only on the mode,
 * the bytes and the model.
 *
 * Operand translations: linear page -> guest physical page for one access
 * kind and privilege context, for pages the software TLB does not cache
 * (hooked memory).  Valid while the vCPU's TLB has seen no invalidation of
 * any kind (flush, INVLPG, memory-map change: the TLB statistics counters
 * are compared) and CR0/CR3/CR4/EFER and the A20 mask are unchanged, i.e.
 * exactly as long as a hardware TLB could keep the translation.  Only
 * vCPUs with a software TLB use it.
 *
 * The cache is allocated on the first fault of a vCPU that belongs to a VM
 * and freed with the VM (v3_emu_fault_free_core(), called by vm.c).
 */
#ifndef V3_EMU_FAULT_CACHE_H
#define V3_EMU_FAULT_CACHE_H

#include <v3/vcpu.h>

/** Release the fault-path caches of @p core (safe when it has none). */
void v3_emu_fault_free_core(struct v3_core *core);

#endif
