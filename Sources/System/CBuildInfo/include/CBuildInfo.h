// The commit a binary was built from, fixed at compile time (see build_info.c).
#ifndef TANDEM_CBUILDINFO_H
#define TANDEM_CBUILDINFO_H

/// The commit passed to the build as `-Xcc -DTANDEM_COMMIT=<hash>` (scripts/build-deb does this),
/// or "unknown" for a plain `swift build`.
const char *tandem_build_commit(void);

#endif
