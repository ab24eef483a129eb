@testable import ClickHouseWarehouse
import Testing

@Suite struct ClickHouseTopologyTests {
    @Test func oneServerHasNoClauseAndAPlainEngine() {
        let single = ClickHouseTopology(cluster: nil)
        #expect(single.onCluster == "")
        #expect(single.replacingMergeTree(version: "`_forager_version`", database: "wh", table: "t", stamp: 7) == "ReplacingMergeTree(`_forager_version`)")
        #expect(ClickHouseTopology.quorumSettings(nil).isEmpty)
    }

    @Test func aClusterQuotesItsNameAndReplicatesUnderAPathOfTheTable() {
        let cluster = ClickHouseTopology(cluster: "an`alytics")
        #expect(cluster.onCluster == " ON CLUSTER `an\\`alytics`")
        #expect(cluster.replacingMergeTree(version: "lsn", database: "wh", table: "_forager_state", stamp: 42)
            == "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/forager/wh/_forager_state/42', '{replica}', lsn)")
    }

    @Test func namesInThePathCannotReadAsMacrosOrNodes() {
        #expect(ClickHouseTopology.pathComponent("a/{replica}.b") == "a%2F%7Breplica%7D%2Eb")
        #expect(ClickHouseTopology.pathComponent("Ölçüm-1_x") == "%C3%96l%C3%A7%C3%BCm-1_x")
        #expect(ClickHouseTopology.pathComponent("'") == "%27")
    }

    @Test func externalDataTypesHaveNeitherSpacesNorCommas() {
        #expect(ClickHouseTopology.externalDataType("Nullable(Decimal(9, 2))") == "Nullable(Decimal32(2))")
        #expect(ClickHouseTopology.externalDataType("Decimal(18, 0)") == "Decimal64(0)")
        #expect(ClickHouseTopology.externalDataType("Array(Nullable(Decimal(38, 10)))") == "Array(Nullable(Decimal128(10)))")
        #expect(ClickHouseTopology.externalDataType("Nullable(UInt64)") == "Nullable(UInt64)")
        #expect(ClickHouseTopology.externalDataType("Decimal(1x, 2)") == "Decimal(1x, 2)")
    }

    @Test func aQuorumAlsoMakesReadsRefuseAReplicaThatLacksQuorumParts() {
        let settings = ClickHouseTopology.quorumSettings(2).map { "\($0.0)=\($0.1)" }
        #expect(settings == ["insert_quorum=2", "insert_quorum_timeout=60000", "select_sequential_consistency=1"])
        #expect(ClickHouseTopology.quorumSettings(0).map { "\($0.0)=\($0.1)" }.contains("select_sequential_consistency=0"))
    }

    @Test func quorumAndReplicaFailuresAreTransient() {
        for code in [242, 285, 286, 289, 319, 999] {
            #expect(ClickHouseClient.isTransient(status: 500, body: "Code: \(code), e.displayText() = DB::Exception: ..."), "\(code)")
        }
    }
}
