public import ForagerDemo

extension EmulatedRedshift {
    /// The emulation as the demo's warehouse: schema `analytics`, staged in moto's bucket under
    /// `demo/`; the demo measures on the upstream cluster (the emulator's system views are few)
    /// and runs the analysts' report through the emulator.
    public var demoWarehouse: DemoWarehouse {
        DemoWarehouse(
            name: "the Redshift emulation (S3 staging on moto at \(s3.endpoint))",
            settings: """
                  type: redshift
                  url: \(DemoWarehouse.yamlQuoted(url))
                  s3: {bucket: \(s3.bucket), region: \(s3.region), endpoint: \(DemoWarehouse.yamlQuoted(s3.endpoint)), prefix: demo}

                """,
            measureURL: upstream.url(), reportURL: url, mapping: "mappings/iot-redshift.yaml",
            lagNote: "samples' created_at to _forager_synced_at, SYSDATE: the start of the batch's transaction")
    }

    /// The keys the pipeline signs its uploads and COPY statements with.
    public var environment: [String: String] {
        ["AWS_ACCESS_KEY_ID": s3.credentials.accessKeyID, "AWS_SECRET_ACCESS_KEY": s3.credentials.secretAccessKey]
    }
}
