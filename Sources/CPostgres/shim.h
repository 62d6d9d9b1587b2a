// libpq's types and constants only. No function of libpq is called through this module:
// DevModeStorePostgres resolves them with dlsym (see LibPQ.swift), so the binary never links -lpq.
#if __has_include(<postgresql/libpq-fe.h>)
#include <postgresql/libpq-fe.h>
#else
#include <libpq-fe.h>
#endif

// Error field codes are character-literal macros; give Swift plain constants.
static const int devmode_pg_diag_sqlstate = PG_DIAG_SQLSTATE;
static const int devmode_pg_diag_message_primary = PG_DIAG_MESSAGE_PRIMARY;
static const int devmode_pg_diag_message_detail = PG_DIAG_MESSAGE_DETAIL;
