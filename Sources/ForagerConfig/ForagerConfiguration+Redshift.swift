extension ForagerConfiguration {
    /// Where a Redshift warehouse's loads are staged, and how Redshift reads them
    /// (`warehouse.s3`, `warehouse.iam_role`): Redshift loads only from S3. The keys that write the
    /// objects (and, without `iam_role`, that Redshift reads them with) come from the environment
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, or the shared credentials
    /// file with `AWS_PROFILE`), never from this file.
    public struct RedshiftStaging: Sendable, Equatable {
        /// The default key prefix of staged objects.
        public static let defaultPrefix = "forager/"

        /// The bucket staged objects go to (`s3.bucket`).
        public var bucket: String
        /// The key prefix of staged objects, ending in `/` (`s3.prefix`, default `forager/`).
        public var prefix: String = defaultPrefix
        /// The bucket's region (`s3.region`, or `AWS_REGION`).
        public var region: String
        /// An S3-compatible server to use instead of AWS (`s3.endpoint`, an http or https URL);
        /// nil for AWS.
        public var endpoint: String?
        /// The IAM role Redshift assumes to read the staged objects (`iam_role`, an ARN); nil to
        /// give Redshift the environment's keys in each COPY.
        public var iamRole: String?
    }
}
