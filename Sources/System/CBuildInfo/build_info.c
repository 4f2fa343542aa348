// The commit comes from a header that scripts/build-deb writes beside this file before a release
// build and removes after it (`commit.h`, ignored by git): only this file recompiles when the commit
// changes, where a command-line define would change every C module's flags and rebuild the world.
// Without the header (a plain `swift build`) the commit is "unknown".
#include "CBuildInfo.h"

#if __has_include("commit.h")
#include "commit.h"
#endif

const char *tandem_build_commit(void) {
#ifdef TANDEM_COMMIT
    return TANDEM_COMMIT;
#else
    return "unknown";
#endif
}
