// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "devmode",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "devmode", targets: ["devmode"]),
        .executable(name: "devmode-bench", targets: ["devmode-bench"]),
        .library(name: "JSONRPC", targets: ["JSONRPC"]),
        .library(name: "DevModeProtocol", targets: ["DevModeProtocol"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        // System libraries: one target each, one Swift module imports each.
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CPostgres", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CGit2", pkgConfig: "libgit2", providers: [.apt(["libgit2-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // Random bytes, SHA-256, HMAC and constant-time comparison through OpenSSL's libcrypto.
        .target(name: "DevModeCrypto", dependencies: ["COpenSSL"]),
        // The Store: models, schema, migrations and queries, written once over a small SQL seam.
        .target(name: "DevModeStore", dependencies: ["DevModeCrypto", "DevModeClock"]),
        // A small safe Swift API over libgit2; every raw pointer stays in here.
        .target(name: "DevModeGit", dependencies: ["CGit2"]),
        // The clock time-based logic reads (SystemClock), and the TestClock tests move.
        .target(name: "DevModeClock"),
        // Safe file operations (atomic writes, no symlink following) and the one directory walker.
        .target(name: "DevModeFileSystem"),
        .target(name: "DevModeStoreSQLite", dependencies: ["DevModeStore", "CSQLite"]),
        .target(name: "DevModeStorePostgres", dependencies: ["DevModeStore", "CPostgres"]),
        // The JSON-RPC 2.0 core: ids, messages, framing, Connection. Knows nothing of tenants or NIO.
        .target(
            name: "JSONRPC",
            dependencies: ["DevModeClock", .product(name: "Logging", package: "swift-log")]
        ),
        // The TCP listener over SwiftNIO: one Connection per accepted socket.
        .target(
            name: "JSONRPCNIO",
            dependencies: [
                "JSONRPC", "DevModeClock",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // One Codable type per method, the registry and the project's error codes.
        .target(name: "DevModeProtocol", dependencies: ["JSONRPC"]),
        // Model providers (OpenAI-compatible, Anthropic, the local engine) and the completion pipeline.
        .target(
            name: "DevModeAI",
            dependencies: [
                "DevModeFileSystem", "DevModeClock",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "DevModeServer",
            dependencies: [
                "JSONRPC", "JSONRPCNIO", "DevModeProtocol", "DevModeCrypto",
                "DevModeStore", "DevModeStoreSQLite", "DevModeStorePostgres", "DevModeGit", "DevModeAI",
                "DevModeFileSystem", "DevModeClock",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "devmode",
            dependencies: [
                "DevModeServer", "JSONRPCNIO", "DevModeStore", "DevModeProtocol", "DevModeAI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Runs a program to its end (posix_spawn), for tests and benchmarks.
        .target(name: "DevModeSpawn"),
        .executableTarget(
            name: "devmode-bench",
            dependencies: [
                "DevModeSpawn",
                "JSONRPC", "DevModeStore", "DevModeStoreSQLite", "DevModeStorePostgres", "DevModeAI", "DevModeServer",
                "DevModeProtocol", "DevModeCrypto",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(
            name: "DevModeTestSupport",
            dependencies: [
                "JSONRPC", "DevModeProtocol", "DevModeServer", "DevModeStore", "DevModeStoreSQLite", "DevModeStorePostgres",
                "DevModeAI",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "JSONRPCTests", dependencies: ["JSONRPC", "DevModeClock"]),
        .testTarget(name: "DevModeAITests", dependencies: ["DevModeAI", "DevModeTestSupport", "DevModeClock"]),
        .testTarget(name: "DevModeClockTests", dependencies: ["DevModeClock"]),
        .testTarget(name: "DevModeGitTests", dependencies: ["DevModeGit", "DevModeSpawn"]),
        .testTarget(
            name: "DevModeProjectTests",
            dependencies: ["DevModeServer", "DevModeTestSupport", "DevModeProtocol", "JSONRPC", "DevModeStore", "DevModeGit", "DevModeSpawn"]),
        .testTarget(
            name: "DevModeStoreTests",
            dependencies: ["DevModeStore", "DevModeStoreSQLite", "DevModeStorePostgres", "DevModeCrypto", "DevModeTestSupport"]),
        .testTarget(name: "DevModeProtocolTests", dependencies: ["DevModeProtocol", "DevModeServer", "DevModeTestSupport"]),
        .testTarget(
            name: "DevModeServerTests",
            dependencies: [
                "DevModeServer", "DevModeTestSupport", "DevModeProtocol", "JSONRPC", "DevModeStore", "DevModeStoreSQLite",
                "DevModeStorePostgres", "DevModeCrypto", "DevModeClock",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "JSONRPC", "DevModeProtocol", "DevModeSpawn", "DevModeStore", "DevModeStoreSQLite", "DevModeTestSupport",
            ]),
        .testTarget(name: "DevModeDocumentTests", dependencies: ["DevModeServer", "DevModeTestSupport", "DevModeProtocol", "JSONRPC"]),
        .testTarget(
            name: "DevModeCompletionTests",
            dependencies: [
                "DevModeServer", "DevModeTestSupport", "DevModeProtocol", "DevModeAI", "DevModeStore", "JSONRPC", "DevModeSpawn",
                "DevModeClock",
            ]),
    ],
    swiftLanguageModes: [.v6]
)
