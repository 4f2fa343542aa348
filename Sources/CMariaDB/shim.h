// CMariaDB: the MariaDB Connector/C (libmariadb) headers for Swift.
// Only the MariaDB module imports this; everything else sees typed Swift values.
#ifndef TANDEM_CMARIADB_SHIM_H
#define TANDEM_CMARIADB_SHIM_H

#include <mysql.h>

// `mysql_library_init` is a function-like macro, which Swift cannot import.
static inline int tandem_mysql_library_init(void) {
    return mysql_library_init(0, 0, 0);
}

#endif
