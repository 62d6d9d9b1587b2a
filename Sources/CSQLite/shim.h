#include <sqlite3.h>

// SQLITE_TRANSIENT is a cast macro Swift cannot import: bind calls copy the bytes with it.
static inline sqlite3_destructor_type devmode_sqlite_transient(void) { return SQLITE_TRANSIENT; }

// Extended result codes are macros built from other macros, which Swift does not import.
static const int devmode_sqlite_constraint_unique = SQLITE_CONSTRAINT_UNIQUE;
static const int devmode_sqlite_constraint_primarykey = SQLITE_CONSTRAINT_PRIMARYKEY;
