// SPDX-License-Identifier: GPL-2.0-only
/*
 * kscribe core: registry of probe modules and the /dev/kscribe device.
 *
 * Probe modules register an array of events, one per tracepoint. The core
 * looks the tracepoints up by name, gives every event a per-CPU hit
 * counter and attaches the event's probe function to its tracepoint.
 * Userspace reads the events and their hit counts through ioctls on
 * /dev/kscribe.
 */

#define pr_fmt(fmt) "kscribe: " fmt

#include <linux/capability.h>
#include <linux/cpumask.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/string.h>
#include <linux/stringify.h>
#include <linux/tracepoint.h>
#include <linux/uaccess.h>
#include <uapi/linux/kscribe.h>

#include "kscribe_core.h"

#define KSCRIBE_VERSION_STRING				\
	__stringify(KSCRIBE_VERSION_MAJOR) "."		\
	__stringify(KSCRIBE_VERSION_MINOR) "."		\
	__stringify(KSCRIBE_VERSION_PATCHLEVEL)

/* Registered probes; protected by kscribe_probes_lock. */
static LIST_HEAD(kscribe_probes);
static DEFINE_MUTEX(kscribe_probes_lock);

struct kscribe_lookup {
	struct kscribe_probe *probe;
	unsigned int missing;
};

static void kscribe_lookup_tracepoint(struct tracepoint *tp, void *priv)
{
	struct kscribe_lookup *lookup = priv;
	struct kscribe_probe *probe = lookup->probe;
	unsigned int i;

	if (!lookup->missing)
		return;

	for (i = 0; i < probe->nr_events; i++) {
		struct kscribe_event *event = &probe->events[i];

		if (!event->tp && !strcmp(tp->name, event->name)) {
			event->tp = tp;
			lookup->missing--;
			return;
		}
	}
}

static bool kscribe_subsystem_registered(const char *subsystem)
{
	struct kscribe_probe *probe;

	lockdep_assert_held(&kscribe_probes_lock);

	list_for_each_entry(probe, &kscribe_probes, list) {
		if (!strcmp(probe->subsystem, subsystem))
			return true;
	}
	return false;
}

static int kscribe_probe_check(const struct kscribe_probe *probe)
{
	size_t len;
	unsigned int i, j;

	if (!probe || !probe->subsystem || !probe->subsystem[0] ||
	    !probe->events || !probe->nr_events)
		return -EINVAL;

	len = strlen(probe->subsystem);
	for (i = 0; i < probe->nr_events; i++) {
		const struct kscribe_event *event = &probe->events[i];

		if (!event->name || !event->name[0] || !event->probe) {
			pr_err("%s: event %u is incomplete\n", probe->subsystem, i);
			return -EINVAL;
		}
		/* "subsystem:event" must fit in kscribe_event_info.name */
		if (len + 1 + strlen(event->name) >= KSCRIBE_NAME_LEN) {
			pr_err("%s:%s: name too long\n", probe->subsystem, event->name);
			return -ENAMETOOLONG;
		}
		for (j = 0; j < i; j++) {
			if (!strcmp(probe->events[j].name, event->name)) {
				pr_err("%s:%s: duplicate event\n",
				       probe->subsystem, event->name);
				return -EINVAL;
			}
		}
	}
	return 0;
}

static u64 kscribe_event_total(const struct kscribe_event *event)
{
	u64 total = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		total += *per_cpu_ptr(event->hits, cpu);
	return total;
}

/* Detach the first @nr events of @probe and wait until no probe runs. */
static void kscribe_probe_detach(struct kscribe_probe *probe, unsigned int nr)
{
	unsigned int i;

	if (!nr)
		return;

	for (i = 0; i < nr; i++) {
		struct kscribe_event *event = &probe->events[i];

		WARN_ON_ONCE(tracepoint_probe_unregister(event->tp, event->probe, event));
	}
	tracepoint_synchronize_unregister();
}

static void kscribe_probe_release(struct kscribe_probe *probe)
{
	unsigned int i;

	for (i = 0; i < probe->nr_events; i++) {
		struct kscribe_event *event = &probe->events[i];

		free_percpu(event->hits);
		event->hits = NULL;
		event->tp = NULL;
	}
}

/**
 * kscribe_probe_register - attach the events of a probe module
 * @probe: the probe; must stay valid until kscribe_probe_unregister()
 *
 * All or nothing: on failure, no event of @probe is attached.
 *
 * Return: 0, -EINVAL for a malformed @probe, -ENAMETOOLONG when an event
 * name does not fit the ABI, -EEXIST when the subsystem is already
 * registered, -ENOENT when a tracepoint does not exist, -ENOMEM, or the
 * error of tracepoint_probe_register().
 */
int kscribe_probe_register(struct kscribe_probe *probe)
{
	struct kscribe_lookup lookup = { .probe = probe };
	unsigned int i, attached;
	int ret;

	ret = kscribe_probe_check(probe);
	if (ret)
		return ret;

	mutex_lock(&kscribe_probes_lock);

	if (kscribe_subsystem_registered(probe->subsystem)) {
		pr_err("%s: subsystem already registered\n", probe->subsystem);
		ret = -EEXIST;
		goto unlock;
	}

	for (i = 0; i < probe->nr_events; i++) {
		probe->events[i].tp = NULL;
		probe->events[i].hits = NULL;
	}

	lookup.missing = probe->nr_events;
	for_each_kernel_tracepoint(kscribe_lookup_tracepoint, &lookup);
	if (lookup.missing) {
		for (i = 0; i < probe->nr_events; i++) {
			if (!probe->events[i].tp)
				pr_err("%s:%s: tracepoint not found\n",
				       probe->subsystem, probe->events[i].name);
		}
		ret = -ENOENT;
		goto release;
	}

	for (i = 0; i < probe->nr_events; i++) {
		probe->events[i].hits = alloc_percpu(u64);
		if (!probe->events[i].hits) {
			ret = -ENOMEM;
			goto release;
		}
	}

	for (attached = 0; attached < probe->nr_events; attached++) {
		struct kscribe_event *event = &probe->events[attached];

		ret = tracepoint_probe_register(event->tp, event->probe, event);
		if (ret) {
			pr_err("%s:%s: cannot attach probe (%d)\n",
			       probe->subsystem, event->name, ret);
			goto detach;
		}
	}

	list_add_tail(&probe->list, &kscribe_probes);
	mutex_unlock(&kscribe_probes_lock);
	return 0;

detach:
	kscribe_probe_detach(probe, attached);
release:
	kscribe_probe_release(probe);
unlock:
	mutex_unlock(&kscribe_probes_lock);
	return ret;
}
EXPORT_SYMBOL_GPL(kscribe_probe_register);

/**
 * kscribe_probe_unregister - detach the events of a probe module
 * @probe: a probe registered with kscribe_probe_register()
 *
 * On return, no probe function of @probe runs any more and its counters
 * are freed; the final hit counts are logged.
 */
void kscribe_probe_unregister(struct kscribe_probe *probe)
{
	unsigned int i;

	mutex_lock(&kscribe_probes_lock);
	list_del(&probe->list);
	kscribe_probe_detach(probe, probe->nr_events);
	for (i = 0; i < probe->nr_events; i++)
		pr_info("%s:%s hits=%llu\n", probe->subsystem,
			probe->events[i].name,
			kscribe_event_total(&probe->events[i]));
	kscribe_probe_release(probe);
	mutex_unlock(&kscribe_probes_lock);
}
EXPORT_SYMBOL_GPL(kscribe_probe_unregister);

static long kscribe_ioctl_version(void __user *uarg)
{
	const struct kscribe_version version = {
		.major = KSCRIBE_VERSION_MAJOR,
		.minor = KSCRIBE_VERSION_MINOR,
		.patchlevel = KSCRIBE_VERSION_PATCHLEVEL,
		.abi = KSCRIBE_ABI_VERSION,
	};

	if (copy_to_user(uarg, &version, sizeof(version)))
		return -EFAULT;
	return 0;
}

static long kscribe_ioctl_event_info(void __user *uarg)
{
	struct kscribe_event_info info;
	struct kscribe_probe *probe;
	u32 index;
	int ret = -ENOENT;

	if (copy_from_user(&info, uarg, sizeof(info)))
		return -EFAULT;
	if (info.flags)
		return -EINVAL;

	index = info.index;
	memset(&info, 0, sizeof(info));
	info.index = index;

	mutex_lock(&kscribe_probes_lock);
	list_for_each_entry(probe, &kscribe_probes, list) {
		if (index < probe->nr_events) {
			const struct kscribe_event *event = &probe->events[index];

			snprintf(info.name, sizeof(info.name), "%s:%s",
				 probe->subsystem, event->name);
			info.hits = kscribe_event_total(event);
			ret = 0;
			break;
		}
		index -= probe->nr_events;
	}
	mutex_unlock(&kscribe_probes_lock);

	if (ret)
		return ret;
	if (copy_to_user(uarg, &info, sizeof(info)))
		return -EFAULT;
	return 0;
}

static long kscribe_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case KSCRIBE_IOCTL_VERSION:
		return kscribe_ioctl_version(uarg);
	case KSCRIBE_IOCTL_EVENT_INFO:
		return kscribe_ioctl_event_info(uarg);
	default:
		return -ENOTTY;
	}
}

static int kscribe_open(struct inode *inode, struct file *file)
{
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	return nonseekable_open(inode, file);
}

static const struct file_operations kscribe_fops = {
	.owner = THIS_MODULE,
	.open = kscribe_open,
	.unlocked_ioctl = kscribe_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice kscribe_miscdev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "kscribe",
	.fops = &kscribe_fops,
	.mode = 0600,
};

static int __init kscribe_init(void)
{
	int ret;

	/* The ABI must be the same for 32-bit and 64-bit callers. */
	BUILD_BUG_ON(sizeof(struct kscribe_version) != 16);
	BUILD_BUG_ON(offsetof(struct kscribe_event_info, hits) != 8);
	BUILD_BUG_ON(sizeof(struct kscribe_event_info) != 16 + KSCRIBE_NAME_LEN);

	ret = misc_register(&kscribe_miscdev);
	if (ret) {
		pr_err("cannot register /dev/%s (%d)\n", kscribe_miscdev.name, ret);
		return ret;
	}

	pr_info("core %s loaded (abi %d)\n", KSCRIBE_VERSION_STRING,
		KSCRIBE_ABI_VERSION);
	return 0;
}
module_init(kscribe_init);

static void __exit kscribe_exit(void)
{
	misc_deregister(&kscribe_miscdev);
	/* Probe modules depend on this module: none can be left. */
	WARN_ON(!list_empty(&kscribe_probes));
	pr_info("core unloaded\n");
}
module_exit(kscribe_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kscribe tracer core: probe registry and control device");
MODULE_VERSION(KSCRIBE_VERSION_STRING);
