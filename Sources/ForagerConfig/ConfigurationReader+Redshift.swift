/// `warehouse.s3` and `warehouse.iam_role` (type: redshift): where loads are staged in S3 and the
/// role Redshift reads them with.
extension ConfigurationReader {
    static let redshiftWarehouseKeys = ["s3", "iam_role"]
    static let s3Keys = ["bucket", "prefix", "region", "endpoint"]
    /// The environment variables that give the region when `s3.region` does not.
    static let regionVariables = ["AWS_REGION", "AWS_DEFAULT_REGION"]

    /// The staging settings of a Redshift `warehouse:` section; nil when they have problems (reported).
    mutating func readRedshiftStaging(_ warehouse: YAMLSection) -> ForagerConfiguration.RedshiftStaging? {
        let file = configFile
        let s3 = section(
            warehouse["s3"]?.value, file: file, path: warehouse.key("s3"), line: warehouse["s3"]?.line, allowed: Self.s3Keys,
            place: "in \(warehouse.key("s3"))", expected: "a mapping with the keys bucket, prefix, region and endpoint")
        guard s3.isPresent, s3.isUsable else {
            if !s3.isPresent {
                report(
                    .missingKey, file, warehouse.line, warehouse.key("s3"),
                    "missing; Redshift loads only from S3: write s3: {bucket: my-bucket, region: eu-west-1} (the bucket Forager stages loads in)"
                )
            }
            return nil
        }
        let bucket = readBucket(s3)
        let region = readRegion(s3)
        let prefix = readPrefix(s3)
        let endpoint = readEndpoint(s3)
        let role = readIAMRole(warehouse)
        guard let bucket, let region, let prefix, let endpoint, let role else { return nil }
        return ForagerConfiguration.RedshiftStaging(
            bucket: bucket, prefix: prefix, region: region, endpoint: endpoint.isEmpty ? nil : endpoint, iamRole: role.isEmpty ? nil : role)
    }

    /// Reports `s3` and `iam_role` in the `warehouse:` section of a warehouse other than Redshift.
    mutating func refuseRedshiftKeys(_ warehouse: YAMLSection, type: ForagerConfiguration.WarehouseType) {
        for key in Self.redshiftWarehouseKeys {
            guard let field = warehouse[key] else { continue }
            report(
                .invalidValue, configFile, field.line, field.key,
                "only applies to type: redshift (which loads through S3); remove it for a \(type.rawValue) warehouse")
        }
    }

    /// `s3.bucket`: required, and named as S3 names buckets (3 to 63 lowercase letters, digits, `.`
    /// and `-`, starting and ending with a letter or digit).
    private mutating func readBucket(_ s3: YAMLSection) -> String? {
        guard let field = s3["bucket"] else {
            report(
                .missingKey, configFile, s3.line, s3.key("bucket"),
                "missing; write the bucket Forager stages loads in, e.g. bucket: my-bucket")
            return nil
        }
        guard let name = text(field, file: configFile, expected: "a bucket name", fix: "write e.g. bucket: my-bucket") else { return nil }
        let allowed = name.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x2D }
        let ends = [name.utf8.first, name.utf8.last].allSatisfy { byte in byte.map { $0 != 0x2E && $0 != 0x2D } ?? false }
        guard (3...63).contains(name.utf8.count), allowed, ends else {
            report(
                .invalidValue, configFile, field.line, field.key,
                "'\(name)' is not an S3 bucket name: 3 to 63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit"
            )
            return nil
        }
        return name
    }

    /// `s3.region`, or `AWS_REGION` / `AWS_DEFAULT_REGION`.
    private mutating func readRegion(_ s3: YAMLSection) -> String? {
        guard let field = s3["region"] else {
            let environment = self.environment
            if let region = Self.regionVariables.compactMap({ environment[$0] }).first(where: { !$0.isEmpty }) { return region }
            report(
                .missingKey, configFile, s3.line, s3.key("region"),
                "missing; write the bucket's region, e.g. region: eu-west-1, or set AWS_REGION")
            return nil
        }
        guard let region = text(field, file: configFile, expected: "a region", fix: "write e.g. region: eu-west-1") else { return nil }
        guard !region.isEmpty, region.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }) else {
            report(.invalidValue, configFile, field.line, field.key, "'\(region)' is not an AWS region; write e.g. region: eu-west-1")
            return nil
        }
        return region
    }

    /// `s3.prefix`: the key prefix of staged objects, default `forager/`; a `/` is added at its end.
    private mutating func readPrefix(_ s3: YAMLSection) -> String? {
        guard let field = s3["prefix"] else { return ForagerConfiguration.RedshiftStaging.defaultPrefix }
        guard var prefix = text(field, file: configFile, expected: "a key prefix", fix: "write e.g. prefix: forager/") else { return nil }
        guard !prefix.hasPrefix("/"), !prefix.contains("//"), !prefix.isEmpty else {
            report(
                .invalidValue, configFile, field.line, field.key,
                "'\(prefix)' is not a usable key prefix: it must not be empty, start with '/' or hold '//'; write e.g. prefix: forager/")
            return nil
        }
        if !prefix.hasSuffix("/") { prefix += "/" }
        return prefix
    }

    /// `s3.endpoint`: an http or https URL of an S3-compatible server; empty when absent.
    private mutating func readEndpoint(_ s3: YAMLSection) -> String? {
        guard let field = s3["endpoint"] else { return "" }
        guard let url = text(field, file: configFile, expected: "a URL", fix: "write e.g. endpoint: https://s3.example.com") else {
            return nil
        }
        guard url.hasPrefix("http://") || url.hasPrefix("https://"), !url.contains("@") else {
            report(
                .invalidValue, configFile, field.line, field.key,
                "is not an http:// or https:// URL without credentials; write the S3-compatible server's address, e.g. endpoint: https://s3.example.com, or remove it for AWS"
            )
            return nil
        }
        return url.hasSuffix("/") ? String(url.dropLast()) : url
    }

    /// `iam_role`: the ARN of the role Redshift assumes to read the staged objects; empty when absent.
    private mutating func readIAMRole(_ warehouse: YAMLSection) -> String? {
        guard let field = warehouse["iam_role"] else { return "" }
        let fix = "write the role's ARN, e.g. iam_role: arn:aws:iam::123456789012:role/redshift-loads"
        guard let role = text(field, file: configFile, expected: "an IAM role ARN", fix: fix) else { return nil }
        let partitions = ["arn:aws:iam::", "arn:aws-cn:iam::", "arn:aws-us-gov:iam::"]
        guard partitions.contains(where: role.hasPrefix), role.contains(":role/") else {
            report(.invalidValue, configFile, field.line, field.key, "'\(role)' is not an IAM role ARN; \(fix)")
            return nil
        }
        return role
    }
}
