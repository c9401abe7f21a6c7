#define _GNU_SOURCE
#include "CSpawn.h"

int cspawn_add_closefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

int cspawn_add_chdir(posix_spawn_file_actions_t *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np(actions, path);
}

short cspawn_flag_setsid(void) {
    return POSIX_SPAWN_SETSID;
}
