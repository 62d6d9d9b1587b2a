import CSQLite
import DevModeStore

extension SQLError {
    /// The error of a failed sqlite call. Read on the connection's queue right after the call, before
    /// anything else touches the connection: `sqlite3_errmsg` describes only the latest call.
    static func sqlite(_ resultCode: Int32, function: String, database: OpaquePointer?) -> SQLError {
        var code = resultCode
        if let database, code & 0xff == code, sqlite3_extended_errcode(database) & 0xff == code {
            // A primary code from an API that does not return extended ones: the connection has it.
            code = sqlite3_extended_errcode(database)
        }
        let message: String
        if let database, let text = sqlite3_errmsg(database) {
            message = String(cString: text)
        } else {
            message = String(cString: sqlite3_errstr(code))
        }
        return SQLError(kind: kind(ofSQLiteCode: code), function: function, message: message, code: String(code))
    }

    /// An error the driver raises itself, in SQLite's terms.
    static func sqlite(_ resultCode: Int32, function: String, message: String) -> SQLError {
        SQLError(kind: kind(ofSQLiteCode: resultCode), function: function, message: message, code: String(resultCode))
    }

    static func kind(ofSQLiteCode code: Int32) -> Kind {
        switch code {
        case devmode_sqlite_constraint_unique, devmode_sqlite_constraint_primarykey:
            return .uniqueViolation
        default:
            switch code & 0xff {
            case SQLITE_BUSY, SQLITE_LOCKED: return .conflict
            case SQLITE_CANTOPEN, SQLITE_NOTADB: return .connection
            default: return .other
            }
        }
    }
}
