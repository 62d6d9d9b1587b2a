#include <libpq-fe.h>

// Error field codes are character-literal macros; give Swift plain constants.
static const int devmode_pg_diag_sqlstate = PG_DIAG_SQLSTATE;
static const int devmode_pg_diag_message_primary = PG_DIAG_MESSAGE_PRIMARY;
static const int devmode_pg_diag_message_detail = PG_DIAG_MESSAGE_DETAIL;
