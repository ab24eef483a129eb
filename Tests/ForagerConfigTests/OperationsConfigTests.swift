import ForagerConfig
import ForagerCore
import Testing

@Suite("metrics, alerts, shutdown and heartbeats")
struct OperationsConfigTests {
    private func config(_ extra: String, source: String = "") -> String {
        """
        source:
          url: "\(sourceURL)"
        \(source)
        warehouse:
          url: "\(warehouseURL)"
        mappings: mappings/app.yaml
        \(extra)
        """
    }

    @Test func defaultsAreLoopbackMetricsTenSecondHeartbeatsAndThirtySecondGrace() throws {
        try withFixture(config: config("")) { fixture in
            let configuration = try fixture.load()
            #expect(configuration.metrics.listen?.host == "127.0.0.1" && configuration.metrics.listen?.port == 9187)
            #expect(configuration.metrics.readyMaxLag == .seconds(300))
            #expect(configuration.source.heartbeatInterval == .seconds(10))
            #expect(configuration.shutdownGrace == .seconds(30))
            #expect(configuration.alerts == AlertRules.Thresholds())
            #expect(configuration.alerts.retainedWALBytes == 10 << 30)
            #expect(configuration.source.spillDirectory.hasSuffix("/forager-spill"))
        }
    }

    @Test func aRelativeSpillDirectoryIsUnderTheConfigurationFilesDirectory() throws {
        try withFixture(config: config("", source: "  spill_dir: state/spill")) { fixture in
            let configuration = try fixture.load()
            #expect(configuration.source.spillDirectory.hasSuffix("/state/spill"))
            #expect(configuration.source.spillDirectory.hasPrefix("/"))
            #expect(configuration.source.spillDirectory != "state/spill")
        }
    }

    @Test func everyKeyIsRead() throws {
        let extra = """
            metrics:
              listen: "[::1]:9300"
              ready_max_lag_s: 20
            alerts:
              retained_wal_mb: 512
              lag_s: 60
              slot_inactive_s: 120
            shutdown:
              grace_s: 5
            """
        try withFixture(config: config(extra, source: "  heartbeat_interval_s: 0\n  binary: false")) { fixture in
            let configuration = try fixture.load()
            #expect(configuration.metrics.listen?.host == "::1" && configuration.metrics.listen?.port == 9300)
            #expect(configuration.metrics.readyMaxLag == .seconds(20))
            #expect(configuration.alerts.retainedWALBytes == 512 << 20)
            #expect(configuration.alerts.lag == .seconds(60))
            #expect(configuration.alerts.slotInactive == .seconds(120))
            #expect(configuration.shutdownGrace == .seconds(5))
            #expect(configuration.source.heartbeatInterval == nil)
            #expect(configuration.source.binary == false)
        }
    }

    @Test func listenOffTurnsTheEndpointOff() throws {
        try withFixture(config: config("metrics:\n  listen: off")) { fixture in
            let listen = try fixture.load().metrics.listen
            #expect(listen == nil)
        }
    }

    @Test func badValuesNameTheKeyAndTheFix() throws {
        let extra = """
            metrics:
              listen: "localhost"
              ready_max_lag: 3
            alerts:
              lag_s: -1
            shutdown:
              grace_s: soon
            """
        try withFixture(config: config(extra, source: "  heartbeat_interval_s: -5\n  binary: yes please")) { fixture in
            let problems = fixture.problems()
            let byKey = Dictionary(problems.map { ($0.key, $0.message) }, uniquingKeysWith: { first, _ in first })
            #expect(byKey["source.heartbeat_interval_s"]?.contains("at least 0") == true, "\(problems)")
            #expect(byKey["source.binary"]?.contains("binary: false") == true, "\(problems)")
            #expect(byKey["metrics.listen"]?.contains("host:port") == true, "\(problems)")
            #expect(byKey["metrics.ready_max_lag"]?.contains("ready_max_lag_s") == true, "\(problems)")
            #expect(byKey["alerts.lag_s"]?.contains("at least 1") == true, "\(problems)")
            #expect(byKey["shutdown.grace_s"]?.contains("whole number") == true, "\(problems)")
        }
    }
}
