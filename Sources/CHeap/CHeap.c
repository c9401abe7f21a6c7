#include "CHeap.h"

// Any glibc header defines __GLIBC__; malloc.h is glibc's own.
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

int cheap_release_free_pages(void) {
#ifdef __GLIBC__
    return malloc_trim(0);
#else
    return 0;
#endif
}
