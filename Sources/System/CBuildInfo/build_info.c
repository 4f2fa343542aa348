// A C file rather than Swift because only the C compiler takes a value from the command line:
// `swift build -Xcc -DTANDEM_COMMIT=1a2b3c4d5e6f` (scripts/build-deb). The value is written without
// quotes (quotes do not survive the trip through swift build's argument lists) and turned into a
// string here. SwiftPM recompiles this file when the flag changes, so a binary never carries a
// stale commit.
#include "CBuildInfo.h"

#define TANDEM_STRINGIFY_(x) #x
#define TANDEM_STRINGIFY(x) TANDEM_STRINGIFY_(x)

const char *tandem_build_commit(void) {
#ifdef TANDEM_COMMIT
    return TANDEM_STRINGIFY(TANDEM_COMMIT);
#else
    return "unknown";
#endif
}
