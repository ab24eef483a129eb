import ForagerConfig
import ForagerCore
import ForagerPipeline
import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import WallClock

/// `forager run` as a group of services: the pipeline, the monitor (heartbeats, slot facts,
/// alerts) and the HTTP endpoint. SIGTERM and SIGINT shut them down gracefully, the pipeline
/// first; past `shutdown.grace_s`, or on a second signal, the process exits 1 at once.
struct RunServices {
    let pipeline: Pipeline
    let status: PipelineStatus
    let registry: PrometheusCollectorRegistry

    /// Sets up the metrics registry and the status, for `configuration`.
    init(configuration: ForagerConfiguration, logger: Logger) {
        registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        status = PipelineStatus(
            slotName: configuration.source.slot, heartbeatInterval: configuration.source.heartbeatInterval,
            readyMaxLag: configuration.metrics.readyMaxLag)
        // Signals reach the service group, which stops the pipeline through this flag.
        var pipeline = Pipeline(configuration: configuration, logger: logger, stop: StopSignal())
        pipeline.status = status
        self.pipeline = pipeline
    }

    func run() async throws {
        let pipeline = self.pipeline
        let configuration = pipeline.configuration
        let logger = pipeline.logger
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let address = configuration.metrics.listen {
            let endpoint = MetricsEndpoint(
                status: status, metrics: pipeline.metrics, registry: registry,
                warehouse: WarehouseReadings { await pipeline.readWarehouseForStatus() })
            let application = endpoint.application(host: address.host, port: address.port, logger: logger)
            services.append(
                .endingGroup(
                    EndpointService(application: application, address: "\(address.host):\(address.port)"),
                    named: "metrics endpoint on \(address.host):\(address.port)"))
        }
        services.append(
            .endingGroup(
                Monitor(configuration: configuration, status: status, metrics: pipeline.metrics, logger: logger), named: "monitor"))
        // Last, so that a graceful shutdown stops it first.
        services.append(
            .endingGroup(
                StoppableService(stop: pipeline.stop, logger: logger, status: status) { try await pipeline.runForever() }, named: "pipeline"
            ))
        let record = try? pipeline.lastRun
        var run = LastRunRecord.Run(pid: getpid(), startedAt: UnixTime.now)
        writeRecord(run, to: record)
        do {
            try await runServiceGroup(services, grace: configuration.shutdownGrace, logger: logger)
            run.endedAt = UnixTime.now
            writeRecord(run, to: record)
        } catch {
            run.endedAt = UnixTime.now
            run.error =
                status.report().lastError
                ?? PipelineStatus.Report.Failure(error, kind: pipeline.failureKind(error), transient: false)
            writeRecord(run, to: record)
            throw error
        }
    }

    /// Records the run for `forager status`; a record that cannot be written is logged, not fatal.
    private func writeRecord(_ run: LastRunRecord.Run, to record: LastRunRecord?) {
        guard let record else { return }
        do {
            try record.write(run)
        } catch {
            pipeline.logger.warning(
                "cannot record this run for forager status",
                metadata: [
                    "forager.path": "\(record.path)", "forager.error": "\(error)",
                    "forager.fix": "Make source.spill_dir writable by forager",
                ])
        }
    }
}

/// Every heartbeat interval, a round of the ``PipelineMonitor``, until the group shuts down.
struct Monitor: Service {
    let configuration: ForagerConfiguration
    let status: PipelineStatus
    let metrics: PipelineMetrics
    let logger: Logger

    func run() async throws {
        var monitor = PipelineMonitor(configuration: configuration, status: status, metrics: metrics, logger: logger)
        defer { monitor.close() }
        let interval = monitor.interval
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await monitor.round()
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}

/// The HTTP endpoint as a service whose failure (an address in use, say) names the setting to change.
struct EndpointService<Application: Service>: Service {
    let application: Application
    let address: String

    func run() async throws {
        do {
            try await application.run()
        } catch {
            throw ForagerError(
                .configuration, "the metrics endpoint cannot listen on \(address): \(error)",
                hint: "Set metrics.listen to a free host:port (another forager may use this one), or metrics.listen: off.")
        }
    }
}

/// `/metrics`, `/healthz`, `/readyz` and `/status`.
struct MetricsEndpoint: Sendable {
    let status: PipelineStatus
    let metrics: PipelineMetrics
    let registry: PrometheusCollectorRegistry
    let warehouse: WarehouseReadings

    func application(host: String, port: Int, logger: Logger) -> some Service {
        let router = Router()
        let status = self.status, metrics = self.metrics, registry = self.registry, warehouse = self.warehouse
        router.get("/metrics") { _, _ -> Response in
            metrics.recordGauges(status.report())
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        router.get("/healthz") { _, _ -> String in "ok\n" }
        router.get("/readyz") { _, _ -> Response in
            let (ready, reason) = status.readiness
            return Response(
                status: ready ? .ok : .serviceUnavailable, headers: [.contentType: "text/plain; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: (ready ? "ready: " : "not ready: ") + reason + "\n")))
        }
        router.get("/status") { _, _ -> Response in
            var report = status.report()
            report.warehouse = await warehouse.current()
            let body = (try? JSONEncoder.forager.encode(report)) ?? Data("{}".utf8)
            return Response(
                status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
        }
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .warning)
        return Application(
            router: router, configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "forager"),
            logger: quiet)
    }
}
