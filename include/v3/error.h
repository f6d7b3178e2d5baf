/* SPDX-License-Identifier: MIT */
/**
 * @file v3/error.h
 * Error codes returned by every v3vmm function.
 *
 * Functions that can fail return 0 (or a non-negative count) on success and
 * one of the negative codes below on failure.  Each code names one cause, so
 * a caller can tell, say, an overlap from a misaligned range without parsing
 * log text.  v3_strerror() turns a code into a short English description.
 */
#ifndef V3_ERROR_H
#define V3_ERROR_H

enum v3_error {
    V3_OK            =   0,
    V3_EINVAL        =  -1,  /**< an argument is invalid (NULL object, bad flag, ...) */
    V3_ERANGE_ORDER  =  -2,  /**< a range has start >= end */
    V3_EALIGN        =  -3,  /**< an address or size is not 4 KiB aligned */
    V3_ELIMIT        =  -4,  /**< an address is beyond the 52-bit guest physical space */
    V3_EOVERLAP      =  -5,  /**< the range overlaps an existing region */
    V3_ENOCALLBACK   =  -6,  /**< a hook kind was given a NULL callback it needs */
    V3_ENOENT        =  -7,  /**< no such region / hook / handler */
    V3_ENOMEM        =  -8,  /**< the host could not allocate memory */
    V3_ESIZE         =  -9,  /**< a memory size is zero or not a multiple of 4 KiB */
    V3_EHOOKED       = -10,  /**< the address is fully hooked: it has no host memory */
    V3_EUNMAPPED     = -11,  /**< no region (nor guest RAM) covers the address */
    V3_ECALLBACK     = -12,  /**< a hook callback reported failure */
    V3_EFAULT        = -13,  /**< the guest access raised an exception (see the fault record) */
    V3_EUNSUPPORTED  = -14,  /**< the instruction or feature is not supported */
    V3_EBUSY         = -15,  /**< the object is in use */
    V3_EEXIST        = -16,  /**< it is already registered */
    V3_ENOTHOOK      = -17,  /**< the region at that address is not a hook */
    V3_ENOTINIT      = -18,  /**< v3_init() has not been called */
    V3_EPTE          = -19,  /**< a page-table entry lies outside RAM-backed memory */
    V3_EIMAGE        = -20,  /**< a guest image is malformed */
    V3_EIO           = -21,  /**< a host I/O operation failed */
    V3_ENOFIT        = -22,  /**< a guest image (or part of it) does not fit in guest RAM */
    V3_ENOACCEL      = -23,  /**< the hardware accelerator (KVM) is missing, not accessible or lacks a capability */
    V3_ESNAPVER      = -24,  /**< a snapshot has another format version (v3/snapshot.h) */
    V3_ECHECKSUM     = -25,  /**< a snapshot's checksum does not match its contents */
    V3_EMISMATCH     = -26,  /**< a snapshot was taken of a differently configured VM */
};

/**
 * Describe an error code.
 * @param err a value from enum v3_error (any int is accepted).
 * @return a static, NUL-terminated string; never NULL.
 */
const char *v3_strerror(int err);

#endif
