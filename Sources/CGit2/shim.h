#include <git2.h>

// git_libgit2_opts is variadic, which Swift cannot call: one inline function per option we set.
static inline int devmode_git_enable_fsync_gitdir(int enabled) {
    return git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, enabled);
}
