/// A SuprSend client: the rules, the wire format and the delivery machinery put together.
/// Safe to share between threads; it holds no per-request state.
public final class Client: Sendable {
    public let configuration: Configuration
    let preparer: EventPreparer
    let sender: RequestSender
    var logger: Logger { configuration.logger }

    /// A client that talks to the hub through libcurl.
    public convenience init(configuration: Configuration) throws(SuprSendError) {
        var settings = CurlTransport.Settings()
        settings.timeoutMilliseconds = configuration.timeoutMilliseconds
        settings.connectTimeoutMilliseconds = configuration.connectTimeoutMilliseconds
        settings.proxy = configuration.proxy
        settings.caFile = configuration.caFile
        settings.userAgent = Configuration.userAgent
        let transport: CurlTransport
        do {
            transport = try CurlTransport(settings: settings)
        } catch {
            throw SuprSendError(.internal, error.message)
        }
        self.init(configuration: configuration, transport: transport)
    }

    /// A client over any transport: tests use one that answers from a script.
    public init(configuration: Configuration, transport: HTTPTransport,
                sleep: (@Sendable (Double) -> Void)? = nil) {
        self.configuration = configuration
        self.preparer = EventPreparer(workspaceKey: configuration.workspaceKey, sdkVersion: Configuration.userAgent,
                                      rules: EventRules(maxEventBytes: configuration.maxEventBytes),
                                      autoIdempotency: configuration.autoIdempotency)
        self.sender = RequestSender(baseURL: configuration.baseURL, workspaceKey: configuration.workspaceKey,
                                    workspaceSecret: configuration.workspaceSecret, transport: transport,
                                    retryPolicy: RetryPolicy(maxRetries: configuration.maxRetries),
                                    logger: configuration.logger, sleep: sleep)
    }

    /// What became of one event sent with `track`.
    public struct TrackResult: Sendable {
        /// .ok when the hub accepted it; .http or .network otherwise.
        public var status: Status
        public var statusCode: Int
        public var message: String
        public var body: [UInt8]
        public var accepted: Bool { status == .ok }
    }

    /// Validates and sends one event, blocking until the hub answers or every try failed.
    /// Throws when the event breaks a rule (nothing is sent).
    public func track(_ event: Event) throws(SuprSendError) -> TrackResult {
        let prepared: PreparedEvent
        switch preparer.prepare(event) {
        case .success(let event): prepared = event
        case .failure(let rejected): throw rejected.error
        }
        logSkippedAttachments(eventName: event.name, notes: event.skippedAttachments)
        let delivery = sender.send(.event, body: prepared.json)
        guard let answer = delivery.answer else {
            let message = delivery.noAnswerMessage
            logger.log(.error, message)
            return TrackResult(status: .network, statusCode: 0, message: message, body: [])
        }
        let outcome = HubResponses.single(status: answer.status, body: answer.body)
        if !outcome.accepted {
            logger.log(.error, "the hub refused event '\(event.name)' (HTTP \(answer.status)): \(outcome.message)")
        }
        return TrackResult(status: outcome.accepted ? .ok : .http, statusCode: answer.status,
                           message: outcome.message, body: answer.body)
    }

    /// Warns, when an event is sent, of the files ignore_if_error let it go without.
    func logSkippedAttachments(eventName: String, notes: [String]) {
        for note in notes {
            logger.log(.warning, "event '\(eventName)': attachment skipped (ignore_if_error): \(note)")
        }
    }
}
