// SPDX-License-Identifier: GPL-2.0
/* sivshm: mmap of granted windows and their faults (which pages a role may write). */
#include <linux/mm.h>
#include <linux/rwsem.h>

#include "sivshm_dev.h"

/*
 * Is byte @off of a window writable for @role? (writableRanges in
 * region-layout.ts) Each control page is one granule of the region.
 */
static bool sivshm_page_writable(const struct sivshm_window *w, u64 off)
{
	u64 g = w->granule;
	u64 dir = 2 * g + w->data_size;
	u64 own = w->role == SIVSHM_ROLE_CONSUMER ? 0 : dir;
	u64 peer = w->role == SIVSHM_ROLE_CONSUMER ? dir : 0;

	if (off >= own && off < own + g)	/* own producer page */
		return true;
	if (off >= own + 2 * g && off < own + 2 * g + w->data_size)
		return true;			/* own data area */
	return off >= peer + g && off < peer + 2 * g;	/* peer's consumer page */
}

/*
 * Is every 4 KiB sub-page of [off, off + len) writable? GRANT refuses a
 * region whose granule is smaller than PAGE_SIZE, so a kernel page never
 * holds pages of both roles; checking every sub-page anyway keeps a page
 * that did read-only instead of trusting that rule alone.
 */
static bool sivshm_range_writable(const struct sivshm_window *w, u64 off, u64 len)
{
	u64 p;

	for (p = off; p < off + len; p += SIVSHM_PAGE_SIZE)
		if (!sivshm_page_writable(w, p))
			return false;
	return true;
}

/* The live window holding [off, off + len), or NULL. Caller holds rwsem. */
static struct sivshm_window *sivshm_find(struct sivshm_file *sf, u64 off,
					 u64 len)
{
	int i;

	for (i = 0; i < SIVSHM_MAX_GRANTS; i++) {
		struct sivshm_window *w = &sf->win[i];

		if (w->live && off >= w->offset && len <= w->length &&
		    off - w->offset <= w->length - len)
			return w;
	}
	return NULL;
}

static vm_fault_t sivshm_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct sivshm_file *sf = vma->vm_private_data;
	u64 off = (u64)vmf->pgoff << PAGE_SHIFT;
	struct sivshm_window *w;
	vm_fault_t ret = VM_FAULT_SIGBUS;

	down_read(&sf->rwsem);
	w = sivshm_find(sf, off, PAGE_SIZE);
	if (w && (!(vmf->flags & FAULT_FLAG_WRITE) ||
		  sivshm_range_writable(w, off - w->offset, PAGE_SIZE)))
		/*
		 * vm_page_prot is read-only (write-notify, because of
		 * pfn_mkwrite), so every first write goes through
		 * sivshm_pfn_mkwrite and its page check.
		 */
		ret = vmf_insert_pfn_prot(vma, vmf->address,
					  (w->phys + (off - w->offset)) >> PAGE_SHIFT,
					  vma->vm_page_prot);
	up_read(&sf->rwsem);
	return ret;
}

static vm_fault_t sivshm_pfn_mkwrite(struct vm_fault *vmf)
{
	struct sivshm_file *sf = vmf->vma->vm_private_data;
	u64 off = (u64)vmf->pgoff << PAGE_SHIFT;
	struct sivshm_window *w;
	vm_fault_t ret = VM_FAULT_SIGBUS;

	down_read(&sf->rwsem);
	w = sivshm_find(sf, off, PAGE_SIZE);
	if (w && sivshm_range_writable(w, off - w->offset, PAGE_SIZE))
		ret = 0;
	up_read(&sf->rwsem);
	return ret;
}

/* A window mapping stays where it was made: mremap may not move it. */
static int sivshm_vm_mremap(struct vm_area_struct *vma)
{
	return -EPERM;
}

static const struct vm_operations_struct sivshm_vm_ops = {
	.fault = sivshm_fault,
	.pfn_mkwrite = sivshm_pfn_mkwrite,
	.mremap = sivshm_vm_mremap,
};

int sivshm_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct sivshm_file *sf = file->private_data;
	u64 off = (u64)vma->vm_pgoff << PAGE_SHIFT;
	u64 len = vma->vm_end - vma->vm_start;
	struct sivshm_window *w;
	bool any_writable = false;
	u64 p;

	if (!sivshm_is_opener(sf))
		return -EPERM;
	if (!(vma->vm_flags & VM_SHARED) || (vma->vm_flags & VM_EXEC))
		return -EINVAL;
	down_read(&sf->rwsem);
	w = sivshm_find(sf, off, len);
	if (w)
		for (p = off - w->offset; p < off - w->offset + len; p += PAGE_SIZE)
			any_writable |= sivshm_range_writable(w, p, PAGE_SIZE);
	up_read(&sf->rwsem);
	if (!w)
		return -EPERM;
	if ((vma->vm_flags & VM_WRITE) && !any_writable)
		return -EACCES;
	/* a mapping of only the peer's pages can never be made writable */
	if (!any_writable)
		sivshm_vm_flags_clear(vma, VM_MAYWRITE);
	sivshm_vm_flags_clear(vma, VM_MAYEXEC);
	sivshm_vm_flags_set(vma, VM_PFNMAP | VM_IO | VM_DONTEXPAND |
			    VM_DONTDUMP | VM_DONTCOPY);
	vma->vm_private_data = sf;
	vma->vm_ops = &sivshm_vm_ops;
	return 0;
}
