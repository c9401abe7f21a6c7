#ifndef CSPAWN_H
#define CSPAWN_H

#include <spawn.h>

/// glibc's posix_spawn extensions, which Swift's Glibc module does not show (they need
/// _GNU_SOURCE): close every descriptor from `from` up in the child and change its
/// directory, both before it runs, and the flag that makes it a session leader.
int cspawn_add_closefrom(posix_spawn_file_actions_t *actions, int from);
int cspawn_add_chdir(posix_spawn_file_actions_t *actions, const char *path);
/// POSIX_SPAWN_SETSID: the child leads a session of its own.
short cspawn_flag_setsid(void);

#endif
