import DevModeStore
import Logging
import ServiceLifecycle

extension DevModeServer {
    /// The body of `devmode serve`: opens the server on `driver` (which migrates the store, once),
    /// runs the services `makeServices` gives and the usage recorder in one `ServiceGroup` until
    /// the group ends, and then closes the server, and with it the store, however it ended: a
    /// server that fails to open, services that cannot be made, a service that throws, or a clean
    /// shutdown. The error, if any, is rethrown after the close.
    ///
    /// The usage recorder is the group's first service, so it is the last one shut down: the
    /// usage of the requests the transports finish during their grace is flushed too.
    public static func serve(
        driver: any SQLDriver, configuration: ServerConfiguration, logger: Logger,
        services makeServices: (DevModeServer) async throws -> [ServiceGroupConfiguration.ServiceConfiguration]
    ) async throws {
        let store = Store(driver: driver)
        let server: DevModeServer
        do {
            server = try await DevModeServer.open(configuration: configuration, store: store, logger: logger)
        } catch {
            await driver.close()
            throw error
        }
        do {
            let services = try await makeServices(server)
            let group = ServiceGroup(
                configuration: .init(
                    services: [.init(service: server.ai.usage, successTerminationBehavior: .gracefullyShutdownGroup)] + services,
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger))
            try await group.run()
        } catch {
            await server.close()
            throw error
        }
        await server.close()
    }
}
