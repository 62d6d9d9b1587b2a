import CPostgres
import DevModeStore

extension SQLError {
    /// The error in a failed `PGresult` (or, without one, the connection's last message), classified
    /// by SQLSTATE. A connection that is no longer `CONNECTION_OK` makes it a `.connection` error
    /// whatever the SQLSTATE.
    static func postgres(_ result: OpaquePointer?, function: String, connection: OpaquePointer?, libpq pq: LibPQ) -> SQLError {
        let sqlstate = result.flatMap { field($0, pq, devmode_pg_diag_sqlstate) } ?? ""
        var message = result.flatMap { field($0, pq, devmode_pg_diag_message_primary) } ?? connectionMessage(connection, pq)
        if let detail = result.flatMap({ field($0, pq, devmode_pg_diag_message_detail) }) {
            message += " (\(detail))"
        }
        let broken = connection.map { pq.PQstatus($0) != CONNECTION_OK } ?? true
        return SQLError(
            kind: broken ? .connection : kind(ofSQLSTATE: sqlstate), function: function, message: message,
            // libpq's own errors (a lost connection) carry no SQLSTATE: connection_failure.
            code: sqlstate.isEmpty && broken ? "08006" : sqlstate)
    }

    /// A failure to connect (`PQconnectdb`, `PQreset`), with libpq's message.
    static func postgresConnection(function: String, connection: OpaquePointer?, libpq pq: LibPQ) -> SQLError {
        // sqlclient_unable_to_establish_sqlconnection
        SQLError(kind: .connection, function: function, message: connectionMessage(connection, pq), code: "08001")
    }

    static func kind(ofSQLSTATE sqlstate: String) -> Kind {
        switch sqlstate {
        case "23505": return .uniqueViolation
        // serialization_failure, deadlock_detected, lock_not_available (NOWAIT).
        case "40001", "40P01", "55P03": return .conflict
        // admin_shutdown, crash_shutdown, cannot_connect_now: the server is ending the session.
        case "57P01", "57P02", "57P03": return .connection
        default: return sqlstate.hasPrefix("08") ? .connection : .other
        }
    }

    private static func field(_ result: OpaquePointer, _ pq: LibPQ, _ code: Int32) -> String? {
        pq.PQresultErrorField(result, code).map { String(cString: $0) }
    }

    private static func connectionMessage(_ connection: OpaquePointer?, _ pq: LibPQ) -> String {
        guard let connection, let text = pq.PQerrorMessage(connection) else { return "out of memory" }
        // libpq's messages span lines ("...\n\tIs the server running...?\n"): make them one.
        let lines = String(cString: text).split(whereSeparator: \.isNewline).map {
            String($0.drop(while: \.isWhitespace))
        }
        let message = lines.filter { !$0.isEmpty }.joined(separator: " ")
        return message.isEmpty ? "no message from libpq" : message
    }
}
