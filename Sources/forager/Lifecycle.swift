import ForagerPipeline
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// Runs `services` in a service group that SIGTERM and SIGINT shut down gracefully, in reverse
/// order, within `grace` (`shutdown.grace_s`); past it the group cancels them, and a
/// ``StoppableService`` that is still working ends the process.
func runServiceGroup(_ services: [ServiceGroupConfiguration.ServiceConfiguration], grace: Duration, logger: Logger) async throws {
    var configuration = ServiceGroupConfiguration(
        services: services, gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger)
    configuration.maximumGracefulShutdownDuration = grace
    try await ServiceGroup(configuration: configuration).run()
}

extension ServiceGroupConfiguration.ServiceConfiguration {
    /// `service`, whose end (done or failed) shuts the whole group down gracefully.
    static func endingGroup(_ service: some Service, named name: String) -> Self {
        .init(
            service: service, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup,
            serviceName: name)
    }
}

/// Work that winds down when its ``StopSignal`` is set, as a service: a graceful shutdown sets the
/// signal and the work commits, acknowledges and returns. Exiting without a clean stop is safe (the
/// warehouse transaction is rolled back and the stream resumes from the checkpoint), so when the
/// group's deadline cancels the work, or a second SIGTERM or SIGINT arrives, the process exits 1
/// at once.
struct StoppableService: Service {
    let stop: StopSignal
    let logger: Logger
    /// Told that the pipeline is stopping, for `/status`.
    var status: PipelineStatus?
    let work: @Sendable () async throws -> Void

    func run() async throws {
        let stop = self.stop, logger = self.logger, status = self.status, work = self.work
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await withTaskCancellationHandler {
                    try await withGracefulShutdownHandler(operation: work) {
                        logger.notice("stopping: committing what is received and closing the stream")
                        status?.enter(.stopping)
                        stop.set()
                    }
                } onCancel: {
                    Self.exitNow("did not stop within shutdown.grace_s", logger: logger)
                }
            }
            group.addTask {
                try await gracefulShutdown()
                for await signal in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
                    Self.exitNow("\(signal) while stopping", logger: logger)
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    private static func exitNow(_ reason: String, logger: Logger) -> Never {
        logger.error("\(reason); exiting now. The next start resumes from the warehouse checkpoint.")
        exit(1)
    }
}
