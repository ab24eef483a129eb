import Testing

@testable import ClickHouseWarehouse

@Suite struct ClickHouseTopologyTests {
    @Test func oneServerHasNoClauseAndAPlainEngine() {
        let single = ClickHouseTopology(cluster: nil)
        #expect(single.onCluster == "")
        #expect(
            single.replacingMergeTree(version: "`_forager_version`", database: "wh", table: "t", stamp: 7)
                == "ReplacingMergeTree(`_forager_version`)")
        #expect(ClickHouseTopology.quorumSettings(nil, timeout: .seconds(60)).isEmpty)
    }

    @Test func aClusterQuotesItsNameAndReplicatesUnderAPathOfTheTable() {
        let cluster = ClickHouseTopology(cluster: "an`alytics")
        #expect(cluster.onCluster == " ON CLUSTER `an\\`alytics`")
        #expect(
            cluster.replacingMergeTree(version: "lsn", database: "wh", table: "_forager_state", stamp: 42)
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
        let settings = ClickHouseTopology.quorumSettings(2, timeout: .seconds(60)).map { "\($0.0)=\($0.1)" }
        #expect(settings == ["insert_quorum=2", "insert_quorum_timeout=60000", "select_sequential_consistency=1"])
        #expect(
            ClickHouseTopology.quorumSettings(0, timeout: .seconds(60)).map { "\($0.0)=\($0.1)" }.contains(
                "select_sequential_consistency=0"))
        #expect(ClickHouseTopology.quorumSettings(2, timeout: .seconds(8)).map { "\($0.0)=\($0.1)" }.contains("insert_quorum_timeout=8000"))
    }

    @Test func quorumAndReplicaFailuresAreTransient() {
        for code in [242, 285, 286, 289, 319, 999] {
            #expect(ClickHouseClient.isTransient(status: 500, body: "Code: \(code), e.displayText() = DB::Exception: ..."), "\(code)")
        }
    }
}

@Suite struct ClickHouseShardingTopologyTests {
    @Test func shardingNeedsACluster() {
        #expect(!ClickHouseTopology(cluster: nil, sharded: true).isSharded)
        #expect(ClickHouseTopology(cluster: nil, sharded: true).distributed(database: "wh", local: "t_local", shardingKey: "rand()") == nil)
        #expect(ClickHouseTopology(cluster: "c").distributed(database: "wh", local: "t_local", shardingKey: "rand()") == nil)
        #expect(ClickHouseTopology(cluster: "c").shardingSettings.isEmpty)
    }

    @Test func theDistributedEngineQuotesItsNamesAsLiterals() {
        let sharded = ClickHouseTopology(cluster: "an'alytics", sharded: true)
        #expect(
            sharded.distributed(database: "w\\h", local: "t'_local", shardingKey: "cityHash64(`id`)")
                == "Distributed('an\\'alytics', 'w\\\\h', 't\\'_local', cityHash64(`id`))")
        #expect(sharded.shardingSettings.map { "\($0.0)=\($0.1)" } == ["insert_distributed_sync=1"])
    }

    @Test func rowsAreShardedByAHashOfTheQuotedColumnsThatNameThem() {
        #expect(ClickHouseTopology.shardingKey(keyColumns: [("id", "Int64")]) == "cityHash64(`id`)")
        #expect(
            ClickHouseTopology.shardingKey(keyColumns: [("tenant", "String"), ("we`ird id", "Int32")])
                == "cityHash64(`tenant`, `we\\`ird id`)")
        #expect(
            ClickHouseTopology.shardingKey(keyColumns: [("_forager_version", "UInt64"), ("_forager_row", "UInt64")])
                == "cityHash64(`_forager_version`, `_forager_row`)")
    }

    @Test func keysThat1816CannotHashAreHashedAsText() {
        #expect(
            ClickHouseTopology.shardingKey(keyColumns: [("id", "UUID"), ("n", "Decimal(10, 2)"), ("d", "Date")])
                == "cityHash64(toString(`id`), toString(`n`), `d`)")
    }

    @Test func bookkeepingTablesAreReplicatedOnEveryServerOnlyWhenSharded() {
        let sharded = ClickHouseTopology(cluster: "c", sharded: true)
        #expect(
            sharded.bookkeepingMergeTree(version: "lsn", database: "w/h", table: "_forager_state", stamp: 9)
                == "ReplicatedReplacingMergeTree('/clickhouse/tables/all/forager/w%2Fh/_forager_state/9', '{shard}-{replica}', lsn)")
        // Mapped tables' local tables stay replicated within their shard.
        #expect(
            sharded.replacingMergeTree(version: "v", database: "wh", table: "t", stamp: 9)
                == "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/forager/wh/t/9', '{replica}', v)")
        // One shard, as before: the bookkeeping tables keep the path of their shard.
        #expect(
            ClickHouseTopology(cluster: "c").bookkeepingMergeTree(version: "lsn", database: "wh", table: "_forager_state", stamp: 9)
                == "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/forager/wh/_forager_state/9', '{replica}', lsn)")
        #expect(
            ClickHouseTopology(cluster: nil).bookkeepingMergeTree(version: "lsn", database: "wh", table: "_forager_state", stamp: 9)
                == "ReplacingMergeTree(lsn)")
    }

    @Test func aShardWithNoReplicaAnsweringIsTransient() {
        #expect(
            ClickHouseClient.isTransient(status: 500, body: "Code: 279, e.displayText() = DB::NetException: All connection tries failed."))
    }
}
