/* SPDX-License-Identifier: GPL-2.0-only WITH Linux-syscall-note */
/*
 * kscribe: userspace ABI of the /dev/kscribe control device.
 *
 * All structures use fixed-size fields only and are laid out so that they
 * are identical on 32-bit and 64-bit ABIs (no implicit padding, 64-bit
 * fields at 8-byte offsets, sizes multiple of 8): one ioctl handler serves
 * native and compat callers.
 */
#ifndef _UAPI_LINUX_KSCRIBE_H
#define _UAPI_LINUX_KSCRIBE_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* Bumped on any incompatible change of the structures or ioctls below. */
#define KSCRIBE_ABI_VERSION	1

/* Size of kscribe_event_info.name, including the terminating NUL. */
#define KSCRIBE_NAME_LEN	64

/**
 * struct kscribe_version - KSCRIBE_IOCTL_VERSION result
 * @major:	core module major version
 * @minor:	core module minor version
 * @patchlevel:	core module patch level
 * @abi:	KSCRIBE_ABI_VERSION of the running core module
 */
struct kscribe_version {
	__u32 major;
	__u32 minor;
	__u32 patchlevel;
	__u32 abi;
};

/**
 * struct kscribe_event_info - KSCRIBE_IOCTL_EVENT_INFO argument
 * @index:	in: index of the event, 0 to (number of events - 1)
 * @flags:	in: must be 0
 * @hits:	out: number of times the event fired, summed over all CPUs
 * @name:	out: "subsystem:event", NUL-terminated
 */
struct kscribe_event_info {
	__u32 index;
	__u32 flags;
	__u64 hits;
	char name[KSCRIBE_NAME_LEN];
};

/* 'J' 00-1F: unused in Documentation/userspace-api/ioctl/ioctl-number.rst */
#define KSCRIBE_IOC_MAGIC	'J'

#define KSCRIBE_IOCTL_VERSION		_IOR(KSCRIBE_IOC_MAGIC, 0x00, struct kscribe_version)
#define KSCRIBE_IOCTL_EVENT_INFO	_IOWR(KSCRIBE_IOC_MAGIC, 0x01, struct kscribe_event_info)

#endif /* _UAPI_LINUX_KSCRIBE_H */
