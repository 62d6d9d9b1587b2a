import DevModeStore
import DevModeStorePostgres
import DevModeStoreSQLite
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

/// Where the Store lives: SQLite in the data directory (the embedded default), or PostgreSQL when a
/// database URL is given (several devmode processes may share it).
public enum StoreLocation {
    /// `$XDG_DATA_HOME/devmode`, else `~/.local/share/devmode`.
    public static var defaultDataDirectory: String {
        let environment = ProcessInfo.processInfo.environment
        if let xdg = environment["XDG_DATA_HOME"], !xdg.isEmpty { return xdg + "/devmode" }
        let home = environment["HOME"] ?? FileManager.default.homeDirectoryForCurrentUser.path
        return home + "/.local/share/devmode"
    }

    /// Opens and migrates the Store (the admin commands; `devmode serve` opens the driver and lets
    /// `DevModeServer.open` migrate, once).
    public static func open(dataDirectory: String?, databaseURL: String?) async throws -> Store {
        let store = Store(driver: try await openDriver(dataDirectory: dataDirectory, databaseURL: databaseURL))
        do {
            try await store.migrate()
        } catch {
            await store.driver.close()
            throw error
        }
        return store
    }

    /// Opens the database, not migrated: PostgreSQL at `databaseURL` when one is given, else SQLite
    /// in the data directory (created when missing).
    public static func openDriver(dataDirectory: String?, databaseURL: String?) async throws -> any SQLDriver {
        let driver: any SQLDriver
        if let databaseURL, !databaseURL.isEmpty {
            driver = try await PostgresDriver(url: databaseURL)
        } else {
            let directory = dataDirectory ?? defaultDataDirectory
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            driver = try SQLiteDriver(path: directory + "/devmode.sqlite3")
        }
        return driver
    }
}
