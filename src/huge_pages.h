/* Large host arrays written once at staging: backed by huge pages where the system allows it. */
#ifndef CLCONVT_HUGE_PAGES_H
#define CLCONVT_HUGE_PAGES_H

#include <stddef.h>

/* Ask the kernel for transparent huge pages over the whole 2 MiB pages inside [p, p + bytes), not
 * yet touched: a 75 MB weight is then some 40 page faults rather than 18,000 (the faults cost more
 * than the copy). Advice only: without it, or elsewhere than Linux, nothing changes. */
void clconvt_advise_huge_pages(void *p, size_t bytes);

/* malloc for an array of bytes that the caller fills at once; free() releases it. */
void *clconvt_malloc_huge(size_t bytes);

#endif
