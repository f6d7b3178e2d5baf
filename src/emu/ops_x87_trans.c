/* SPDX-License-Identifier: MIT */
#include <Zydis/Zydis.h>
#include "emu/x87.h"
const struct v3_op_entry v3_ops_x87_trans[] = {
    { 0, 0, NULL },
};
