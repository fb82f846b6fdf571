/* madvise and MADV_HUGEPAGE are outside C11 and POSIX: the system header shows them with this. */
#define _DEFAULT_SOURCE

#include "huge_pages.h"

#include <stdint.h>
#include <stdlib.h>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#define HUGE_PAGE ((size_t)2 << 20)

void clconvt_advise_huge_pages(void *p, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const uintptr_t begin = ((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
    const uintptr_t end = ((uintptr_t)p + bytes) & ~(uintptr_t)(HUGE_PAGE - 1);
    if (end > begin)
        (void)madvise((void *)begin, end - begin, MADV_HUGEPAGE);
#else
    (void)p;
    (void)bytes;
#endif
}

void *clconvt_malloc_huge(size_t bytes) {
    if (bytes < 4 * HUGE_PAGE)
        return malloc(bytes);
    /* Aligned, so that every page of the array can be a huge one. */
    void *p = aligned_alloc(HUGE_PAGE, (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE);
    if (p != NULL)
        clconvt_advise_huge_pages(p, bytes);
    return p;
}
