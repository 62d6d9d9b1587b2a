import ArgumentParser
import DevModeServer
import DevModeStore

/// Where devmode keeps its data; shared by `serve` and `admin`.
struct StorageOptions: ParsableArguments {
    @Option(help: "The data directory (SQLite database, projects). Default: $XDG_DATA_HOME/devmode or ~/.local/share/devmode. (env: DEVMODE_DATA_DIR)")
    var dataDir: String?

    @Option(help: "A PostgreSQL URL (postgres://user@host:port/db) instead of SQLite, for processes that share one database. (env: DEVMODE_DATABASE_URL)")
    var database: String?

    @Option(help: "The audit key file, which anchors the audit log outside the database (created, mode 0600, when missing and the log is not anchored yet). Default: audit.key in the data directory. (env: DEVMODE_AUDIT_KEY_FILE)")
    var auditKeyFile: String?

    /// The session-token key: `DEVMODE_TOKEN_SECRET` (at least 32 characters), else a random one
    /// kept in the database. Read from the environment only, so it never shows in `ps`.
    var tokenSecretBytes: [UInt8]? {
        guard let secret = Environment.value("DEVMODE_TOKEN_SECRET"), !secret.isEmpty else { return nil }
        return Array(secret.utf8)
    }

    func validate() throws {
        if let secret = Environment.value("DEVMODE_TOKEN_SECRET"), !secret.isEmpty, secret.utf8.count < 32 {
            throw ValidationError("DEVMODE_TOKEN_SECRET must be at least 32 characters")
        }
    }

    /// The data directory in force (flag, environment, default).
    var dataDirectory: String {
        dataDir ?? Environment.value("DEVMODE_DATA_DIR") ?? StoreLocation.defaultDataDirectory
    }

    /// The audit key file in force (flag, environment, default).
    var auditKeyPath: String {
        auditKeyFile ?? Environment.value("DEVMODE_AUDIT_KEY_FILE") ?? AuditKeyFile.defaultPath(dataDirectory: dataDirectory)
    }

    /// The database, not migrated (`devmode serve`: the server migrates it as it opens).
    func openDriver() async throws -> any SQLDriver {
        do {
            return try await StoreLocation.openDriver(
                dataDirectory: dataDirectory,
                databaseURL: database ?? Environment.value("DEVMODE_DATABASE_URL"))
        } catch {
            throw ValidationError("cannot open the database: \(error)")
        }
    }

    /// The store, migrated and anchored with the audit key (the admin commands). `createAuditKey`:
    /// open the key file as the server does (creating it when the log is not anchored yet); false
    /// (`audit verify`): only read it, and leave the store without a key when there is no file.
    func openStore(createAuditKey: Bool = true) async throws -> Store {
        let store: Store
        do {
            store = try await StoreLocation.open(
                dataDirectory: dataDirectory,
                databaseURL: database ?? Environment.value("DEVMODE_DATABASE_URL"))
        } catch {
            throw ValidationError("cannot open the database: \(error)")
        }
        do {
            if createAuditKey {
                try await AuditKeyFile.open(path: auditKeyPath, store: store)
            } else {
                store.anchorAudit(with: try AuditKeyFile.read(auditKeyPath))
            }
        } catch {
            await store.driver.close()
            throw error
        }
        return store
    }
}
