import ForagerCore
import Foundation
import Testing

@testable import S3Staging

/// S3's error bodies into ForagerErrors, its XML read minimally, and addresses; no server.
@Suite struct S3FailureTests {
    static func body(_ code: String, _ message: String) -> String {
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <Error><Code>\(code)</Code><Message>\(message)</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>
        """
    }

    @Test func refusalNamesOperationBucketKeyAndHint() {
        let error = S3Failure.refusal(
            operation: "put", bucket: "staging", key: "a/b.csv", status: 403,
            body: Self.body("AccessDenied", "Access Denied &amp; more"), secrets: ["s3cret-key"])
        #expect(error.code == .warehouse)
        #expect(error.message.contains("put") && error.message.contains("s3://staging/a/b.csv"))
        #expect(error.message.contains("AccessDenied: Access Denied & more"))
        #expect(error.message.contains("4442587FB7D0A2F9"))
        #expect(error.hint?.contains("s3:PutObject") == true && error.hint?.contains("s3:ListBucket") == true)
        #expect(!error.isTransient)
    }

    @Test func hintsForTheCommonCodes() {
        for code in ["SignatureDoesNotMatch", "InvalidAccessKeyId"] {
            #expect(S3Failure.hint(code: code, status: 403)?.contains("region") == true)
            #expect(S3Failure.hint(code: code, status: 403)?.contains("secret") == true)
        }
        #expect(S3Failure.hint(code: "NoSuchBucket", status: 404)?.contains("warehouse.s3.bucket") == true)
        #expect(S3Failure.hint(code: "NoSuchKey", status: 404) == nil)
    }

    @Test func transientRefusals() {
        func transient(_ status: Int, _ code: String) -> Bool {
            S3Failure.refusal(operation: "put", bucket: "b", key: "k", status: status, body: Self.body(code, "m"), secrets: []).isTransient
        }
        #expect(transient(503, "SlowDown"))
        #expect(transient(500, "InternalError"))
        #expect(transient(503, "ServiceUnavailable"))
        #expect(transient(400, "RequestTimeout"))
        #expect(!transient(403, "SignatureDoesNotMatch"))
        #expect(!transient(404, "NoSuchBucket"))
        // A 503 from a proxy, without S3's XML.
        let bare = S3Failure.refusal(operation: "get", bucket: "b", key: "k", status: 503, body: "<html>busy</html>", secrets: [])
        #expect(bare.isTransient && bare.message.contains("ServiceUnavailable"))
    }

    @Test func secretsEchoedByAServerAreRedacted() {
        let error = S3Failure.refusal(
            operation: "get", bucket: "b", key: nil, status: 400,
            body: Self.body("Weird", "your secret was s3cret-key and token tok3n-value"),
            secrets: ["s3cret-key", "tok3n-value"])
        #expect(!error.message.contains("s3cret-key") && !error.message.contains("tok3n-value"))
        #expect(error.message.contains("s3://b:") || error.message.contains("s3://b "))
    }

    @Test func xmlValuesAndEntities() {
        let page = """
            <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount>
            <Contents><Key>p/a&amp;b &lt;c&gt; &quot;d&quot; &apos;e&apos;.csv</Key></Contents>
            <Contents><Key>p/&#233;&#x65E5;&#x1F600;.csv</Key></Contents>
            <IsTruncated>true</IsTruncated><NextContinuationToken>tok/+=</NextContinuationToken></ListBucketResult>
            """
        #expect(S3XML.values(of: "Key", in: page) == ["p/a&b <c> \"d\" 'e'.csv", "p/é日😀.csv"])
        #expect(S3XML.value(of: "IsTruncated", in: page) == "true")
        #expect(S3XML.value(of: "NextContinuationToken", in: page) == "tok/+=")
        #expect(S3XML.value(of: "Missing", in: page) == nil)
        #expect(S3XML.decodeEntities("a & b &unknown; &#xZZ; &") == "a & b &unknown; &#xZZ; &")
        #expect(S3XML.decodeEntities(S3XML.escape("<a & 'b'>\"")) == "<a & 'b'>\"")
    }

    @Test func addresses() {
        let aws = S3Location(bucket: "my-bucket", prefix: "stage", region: "eu-west-1")
        #expect(
            aws.address(key: "stage/a b.csv")
                == .init(
                    origin: "https://my-bucket.s3.eu-west-1.amazonaws.com", host: "my-bucket.s3.eu-west-1.amazonaws.com",
                    path: "/stage/a b.csv"))
        #expect(aws.address(key: nil)?.path == "/")
        #expect(aws.key("x.csv") == "stage/x.csv")
        let local = S3Location(bucket: "b", prefix: "p/", region: "us-east-1", endpoint: "http://127.0.0.1:9000/")
        #expect(local.address(key: "p/x.csv") == .init(origin: "http://127.0.0.1:9000", host: "127.0.0.1:9000", path: "/b/p/x.csv"))
        #expect(local.address(key: nil)?.path == "/b")
        #expect(local.key("x.csv") == "p/x.csv")
        let defaultPort = S3Location(bucket: "b", region: "r", endpoint: "https://minio.example:443")
        #expect(defaultPort.address(key: "k")?.host == "minio.example")
        #expect(S3Location(bucket: "b", region: "r", endpoint: "ftp://x").address(key: "k") == nil)
    }
}
