// CMariaDB: the MariaDB Connector/C (libmariadb) headers for Swift.
// Only the MariaDB module imports this; everything else sees typed Swift values.
#ifndef TANDEM_CMARIADB_SHIM_H
#define TANDEM_CMARIADB_SHIM_H

#include <mysql.h>

// `mysql_library_init` is a macro Swift cannot import; the MariaDB module calls the function it
// expands to, `mysql_server_init(0, NULL, NULL)`, once per process.

#endif
