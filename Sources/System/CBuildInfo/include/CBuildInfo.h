// The commit a binary was built from, fixed at compile time (see build_info.c).
#ifndef TANDEM_CBUILDINFO_H
#define TANDEM_CBUILDINFO_H

/// The commit scripts/build-deb builds from (its `commit.h` beside build_info.c), or "unknown" for a
/// plain `swift build`.
const char *tandem_build_commit(void);

#endif
