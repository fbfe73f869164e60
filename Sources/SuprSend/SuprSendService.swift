public import ServiceLifecycle

/// Runs a `SuprSendClient` in a `ServiceGroup`: `run()` waits for the group's graceful
/// shutdown (SIGTERM, say), then shuts the client down within its
/// `configuration.shutdownTimeout`, delivering what was enqueued before.
///
/// ```swift
/// let client = try SuprSendClient(workspaceKey: key, workspaceSecret: secret)
/// let group = ServiceGroup(services: [app, SuprSendService(client: client)],
///                          gracefulShutdownSignals: [.sigterm], logger: logger)
/// try await group.run()
/// ```
public struct SuprSendService: Service {
    public let client: SuprSendClient

    public init(client: SuprSendClient) {
        self.client = client
    }

    public func run() async throws {
        // Returns at graceful shutdown; throws CancellationError when the task is cancelled
        // instead: the client is shut down either way.
        try? await gracefulShutdown()
        guard !client.isShutDown else { return }
        // Close delivers every event enqueued before it, within the deadline.
        try await client.shutdown(timeout: client.configuration.shutdownTimeout)
    }
}
