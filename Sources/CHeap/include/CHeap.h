#ifndef CHEAP_H
#define CHEAP_H

/// glibc's malloc_trim(0), which Swift's Glibc module does not show (malloc.h): gives every
/// arena's free pages back to the system, those between chunks still in use included, not
/// only the arena's top. 1 when some memory went back; 0 when none did, and always 0 on a C
/// library without it.
int cheap_release_free_pages(void);

#endif
