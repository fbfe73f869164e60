// Tracks events with the SuprSend Swift library: one event, a bulk, background delivery, all
// inside a ServiceGroup whose graceful shutdown delivers what was enqueued.
//
// Sends to SUPRSEND_BASE_URL (default: SuprSend's hub) as the workspace
// SUPRSEND_WORKSPACE_KEY / SUPRSEND_WORKSPACE_SECRET; `make demo` points it at a local hub.
import Glibc
import Logging
import ServiceLifecycle
import SuprSend

func environment(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}

guard let key = environment("SUPRSEND_WORKSPACE_KEY"), let secret = environment("SUPRSEND_WORKSPACE_SECRET") else {
    print("set SUPRSEND_WORKSPACE_KEY and SUPRSEND_WORKSPACE_SECRET")
    exit(2)
}
var logger = Logger(label: "example")
logger.logLevel = .warning

var configuration = SuprSendClient.Configuration(baseURL: environment("SUPRSEND_BASE_URL") ?? "https://hub.suprsend.com/")
configuration.logger = logger
configuration.onDelivery = { delivery in
    print("  delivered in the background: \(delivery.eventName) for \(delivery.distinctID): "
        + (delivery.isSuccess ? "accepted" : "not delivered (\(delivery.statusCode)) \(delivery.message)"))
}
let client: SuprSendClient
do {
    client = try SuprSendClient(workspaceKey: key, workspaceSecret: secret, configuration: configuration)
} catch {
    print("could not make the client: \(error)")
    exit(1)
}

struct Demo: Service {
    let client: SuprSendClient

    func run() async throws {
        let event = Event(distinctID: "demo_user_swift", name: "swift_demo_tracked",
                          properties: ["plan": "pro", "seats": 5, "price": 9.5, "trial": false, "coupon": nil,
                                       "tags": ["a", "b"], "address": ["city": "Pune"]],
                          idempotencyKey: nil, tenantID: nil)
        let response = try await client.track(event)
        print("track: HTTP \(response.statusCode), message id \(response.messageID)")

        let events = (1...3).map { Event(distinctID: "demo_user_swift", name: "swift_demo_bulk", properties: ["n": .int(Int64($0))]) }
        let bulk = try await client.track(bulk: events)
        print("bulk: \(bulk.status), \(bulk.successCount) of \(bulk.total) accepted")

        for index in 1...2 {
            try client.enqueue(Event(distinctID: "demo_user_swift", name: "swift_demo_enqueued", properties: ["n": .int(Int64(index))]))
        }
        print("enqueued 2 events; the service group's shutdown delivers them")
    }
}

// Demo ends, which ends the group (successTerminationBehavior); SuprSendService then shuts the
// client down, delivering the enqueued events.
let group = ServiceGroup(configuration: .init(
    services: [
        .init(service: SuprSendService(client: client)),
        .init(service: Demo(client: client), successTerminationBehavior: .gracefullyShutdownGroup),
    ],
    logger: logger))
do {
    try await group.run()
} catch {
    print("failed: \(error)")
    exit(1)
}
print("shut down: \(client.isShutDown)")
