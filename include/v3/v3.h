/* SPDX-License-Identifier: MIT */
/** @file v3/v3.h  Umbrella header: everything public in v3vmm. */
#ifndef V3_V3_H
#define V3_V3_H
#include <v3/error.h>
#include <v3/host.h>
#include <v3/rbtree.h>
#include <v3/vcpu.h>
#include <v3/mem.h>
#include <v3/vm.h>
#include <v3/io.h>
#include <v3/hypercall.h>
#include <v3/devices.h>
#include <v3/device.h>
#include <v3/irqchip.h>
#include <v3/loader.h>
#include <v3/debug.h>
#include <v3/gdbstub.h>
#include <v3/snapshot.h>
#endif
