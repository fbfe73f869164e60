/// The final fate of one event, as the delivery callback reports it.
public struct DeliveryReport: Sendable {
    /// .ok delivered; .http refused by the hub; .timeout expired; .closed dropped at close.
    public var status: Status
    /// The hub's status for the event (its record's, or the request's); 0 when none.
    public var httpStatus: Int
    /// The message_id when delivered, else why not.
    public var message: String
    public var event: QueuedEvent
}
