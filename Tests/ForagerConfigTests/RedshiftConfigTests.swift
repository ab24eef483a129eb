import Testing

@testable import ForagerConfig

@Suite("warehouse: type redshift")
struct RedshiftConfigTests {
    private func config(_ warehouse: String) -> String {
        """
        source:
          url: "\(sourceURL)"
        warehouse:
          type: redshift
          url: "postgresql://loader@cluster.example:5439/analytics"
          schema: analytics
        \(warehouse)
        mappings: mappings/app.yaml
        """
    }

    @Test func readsTheStagingBucketPrefixRegionEndpointAndRole() throws {
        let s3 =
            "  s3: {bucket: hive-loads, prefix: cdc/forager, region: eu-west-1, endpoint: \"http://127.0.0.1:9000/\"}\n"
            + "  iam_role: arn:aws:iam::123456789012:role/redshift-loads"
        try withFixture(config: config(s3)) { fixture in
            let warehouse = try fixture.load().warehouse
            #expect(warehouse.type == .redshift)
            #expect(warehouse.schema == "analytics")
            #expect(
                warehouse.redshift
                    == ForagerConfiguration.RedshiftStaging(
                        bucket: "hive-loads", prefix: "cdc/forager/", region: "eu-west-1", endpoint: "http://127.0.0.1:9000",
                        iamRole: "arn:aws:iam::123456789012:role/redshift-loads"))
        }
    }

    @Test func theRegionMayComeFromTheEnvironmentAndThePrefixHasADefault() throws {
        try withFixture(config: config("  s3: {bucket: hive-loads}")) { fixture in
            let staging = try fixture.load(environment: ["AWS_REGION": "us-east-2"]).warehouse.redshift
            #expect(staging == ForagerConfiguration.RedshiftStaging(bucket: "hive-loads", region: "us-east-2"))
            let problem = try fixture.problem()
            #expect(problem.key == "warehouse.s3.region" && problem.message.contains("AWS_REGION"))
        }
    }

    @Test func withoutS3TheProblemSaysRedshiftLoadsOnlyFromS3() throws {
        try withFixture(config: config("")) { fixture in
            let problem = try fixture.problem()
            expectProblem(problem, key: "warehouse.s3", containing: ["Redshift loads only from S3"])
        }
    }

    @Test(arguments: [
        ("  s3: {bucket: Hive_Loads, region: eu-west-1}", "warehouse.s3.bucket", "is not an S3 bucket name"),
        ("  s3: {bucket: hive-loads, region: EU West}", "warehouse.s3.region", "is not an AWS region"),
        ("  s3: {bucket: hive-loads, region: eu-west-1, prefix: /cdc}", "warehouse.s3.prefix", "must not be empty, start with '/'"),
        (
            "  s3: {bucket: hive-loads, region: eu-west-1, endpoint: s3.example.com}", "warehouse.s3.endpoint",
            "is not an http:// or https:// URL"
        ),
        ("  s3: {bucket: hive-loads, region: eu-west-1, secret: x}", "warehouse.s3.secret", "unknown key"),
        ("  s3: {bucket: hive-loads, region: eu-west-1}\n  iam_role: redshift-loads", "warehouse.iam_role", "is not an IAM role ARN"),
        ("  s3: {bucket: hive-loads, region: eu-west-1}\n  database: analytics", "warehouse.database", "for a Redshift warehouse"),
    ])
    func badStagingSettingsNameTheKeyAndTheFix(line: String, key: String, message: String) throws {
        try withFixture(config: config(line)) { fixture in
            let problem = try fixture.problem()
            expectProblem(problem, key: key, containing: [message])
        }
    }

    @Test(arguments: ["postgres", "clickhouse"])
    func stagingKeysOnAnotherWarehouseAreRefused(type: String) throws {
        let url = type == "postgres" ? "\"\(warehouseURL)\"" : "http://127.0.0.1:8123"
        let text =
            "source:\n  url: \"\(sourceURL)\"\nwarehouse:\n  type: \(type)\n  url: \(url)\n  s3: {bucket: hive-loads}\nmappings: mappings/app.yaml\n"
        try withFixture(config: text) { fixture in
            let problem = try fixture.problem()
            expectProblem(problem, key: "warehouse.s3", containing: ["only applies to type: redshift"])
        }
    }
}
