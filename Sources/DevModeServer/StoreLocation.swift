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

    /// Opens and migrates the Store.
    public static func open(dataDirectory: String?, databaseURL: String?) async throws -> Store {
        let driver: any SQLDriver
        if let databaseURL, !databaseURL.isEmpty {
            driver = try await PostgresDriver(url: databaseURL)
        } else {
            let directory = dataDirectory ?? defaultDataDirectory
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            driver = try SQLiteDriver(path: directory + "/devmode.sqlite3")
        }
        let store = Store(driver: driver)
        try await store.migrate()
        return store
    }
}
