import ForagerPipeline
import Logging

/// Passes log records to `base` with secrets masked in the message and the metadata.
struct RedactingLogHandler<Base: LogHandler>: LogHandler {
    var base: Base

    var logLevel: Logger.Level {
        get { base.logLevel }
        set { base.logLevel = newValue }
    }
    var metadata: Logger.Metadata {
        get { base.metadata }
        set { base.metadata = newValue }
    }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { base[metadataKey: key] }
        set { base[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        event.message = "\(Redaction.apply(event.message.description))"
        event.metadata = event.metadata?.mapValues { .string(Redaction.apply("\($0)")) }
        base.log(event: event)
    }
}
