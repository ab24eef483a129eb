import Foundation
import S3Staging
import Testing

/// The signer against published vectors: the AWS Signature Version 4 test suite (service
/// `service`, as in the `aws-sig-v4-test-suite` cases of the same names) and the S3 examples of
/// "Signature Calculations for the Authorization Header: Transferring Payload in a Single Chunk".
@Suite struct SigV4Tests {
    static let suiteCredentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    static let suiteDate = Date(timeIntervalSince1970: 1_440_938_160)  // 2015-08-30T12:36:00Z
    static let s3Credentials = AWSCredentials(
        accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    static let s3Date = Date(timeIntervalSince1970: 1_369_353_600)  // 2013-05-24T00:00:00Z
    static let emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// A test-suite case: host example.amazonaws.com, no x-amz-content-sha256 unless the body is signed.
    static func suiteCase(
        _ method: String, path: String = "/", query: [(name: String, value: String)] = [], headers: [(name: String, value: String)] = [],
        body: String = "", signsBody: Bool = false, token: String? = nil
    ) -> SigV4 {
        let credentials = AWSCredentials(
            accessKeyID: suiteCredentials.accessKeyID, secretAccessKey: suiteCredentials.secretAccessKey, sessionToken: token)
        return SigV4(
            method: method, path: path, query: query, headers: [("Host", "example.amazonaws.com")] + headers,
            payloadHash: SigV4.sha256Hex(Array(body.utf8)), date: suiteDate, region: "us-east-1", service: "service",
            credentials: credentials, sendsPayloadHash: signsBody)
    }

    static func s3Case(
        _ method: String, path: String, query: [(name: String, value: String)] = [], headers: [(name: String, value: String)] = [],
        body: String = ""
    )
        -> SigV4
    {
        SigV4(
            method: method, path: path, query: query, headers: [("Host", "examplebucket.s3.amazonaws.com")] + headers,
            payloadHash: SigV4.sha256Hex(Array(body.utf8)), date: s3Date, region: "us-east-1", service: "s3", credentials: s3Credentials)
    }

    /// The published string to sign of a test-suite case (2015-08-30, us-east-1, service).
    static func suiteStringToSign(_ hash: String) -> String {
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n" + hash
    }

    /// The published string to sign of an S3 example (2013-05-24, us-east-1, s3).
    static func s3StringToSign(_ hash: String) -> String {
        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n" + hash
    }

    @Test func getVanilla() {
        let signer = Self.suiteCase("GET")
        #expect(
            signer.canonicalRequest
                == "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\(Self.emptyHash)")
        #expect(
            signer.stringToSign
                == "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
        )
        #expect(signer.signature == "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
        #expect(
            signer.authorization
                == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        )
        #expect(signer.headersToAdd.map(\.name) == ["x-amz-date", "Authorization"])
    }

    @Test func getVanillaQueryOrderKeyCase() {
        let signer = Self.suiteCase("GET", query: [("Param2", "value2"), ("Param1", "value1")])
        #expect(
            signer.canonicalRequest
                == "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\(Self.emptyHash)"
        )
        #expect(signer.stringToSign == Self.suiteStringToSign("816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0"))
        #expect(signer.signature == "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")
    }

    @Test func postVanilla() {
        let signer = Self.suiteCase("POST")
        #expect(
            signer.canonicalRequest
                == "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\(Self.emptyHash)")
        #expect(signer.stringToSign == Self.suiteStringToSign("553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87"))
        #expect(signer.signature == "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b")
    }

    @Test func postXWWWFormURLEncoded() {
        let signer = Self.suiteCase(
            "POST", headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Content-Length", "13")], body: "Param1=value1",
            signsBody: true)
        let hash = "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
        #expect(
            signer.canonicalRequest == """
                POST
                /

                content-length:13
                content-type:application/x-www-form-urlencoded
                host:example.amazonaws.com
                x-amz-content-sha256:\(hash)
                x-amz-date:20150830T123600Z

                content-length;content-type;host;x-amz-content-sha256;x-amz-date
                \(hash)
                """)
        #expect(signer.stringToSign == Self.suiteStringToSign("b1edd1d03544c25390e32085d55b57acc9a3961bb59415ff86c45c3d89d16cfb"))
        #expect(signer.signature == "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b")
    }

    @Test func getHeaderValueTrim() {
        let signer = Self.suiteCase("GET", headers: [("My-Header1", " value1"), ("My-Header2", " \"a   b   c\"")])
        #expect(
            signer.canonicalRequest == """
                GET
                /

                host:example.amazonaws.com
                my-header1:value1
                my-header2:"a b c"
                x-amz-date:20150830T123600Z

                host;my-header1;my-header2;x-amz-date
                \(Self.emptyHash)
                """)
        #expect(signer.stringToSign == Self.suiteStringToSign("a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7"))
        #expect(signer.signature == "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736")
    }

    @Test func getVanillaWithSessionToken() {
        let token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"
        let signer = Self.suiteCase("GET", token: token)
        #expect(
            signer.canonicalRequest == """
                GET
                /

                host:example.amazonaws.com
                x-amz-date:20150830T123600Z
                x-amz-security-token:\(token)

                host;x-amz-date;x-amz-security-token
                \(Self.emptyHash)
                """)
        #expect(signer.stringToSign == Self.suiteStringToSign("067b36aa60031588cea4a4cde1f21215227a047690c72247f1d70b32fbbfad2b"))
        #expect(signer.signature == "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8")
        #expect(signer.headersToAdd.contains { $0.name == "x-amz-security-token" && $0.value == token })
        #expect(!"\(signer)".contains(token))
    }

    @Test func getUTF8PathAndQuery() {
        let path = Self.suiteCase("GET", path: "/\u{1234}")
        #expect(
            path.canonicalRequest
                == "GET\n/%E1%88%B4\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\(Self.emptyHash)")
        #expect(path.stringToSign == Self.suiteStringToSign("2a0a97d02205e45ce2e994789806b19270cfbbb0921b278ccf58f5249ac42102"))
        #expect(path.signature == "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85")
        let query = Self.suiteCase("GET", query: [("\u{1234}", "bar")])
        #expect(
            query.canonicalRequest
                == "GET\n/\n%E1%88%B4=bar\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\(Self.emptyHash)")
        #expect(query.stringToSign == Self.suiteStringToSign("eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073"))
        #expect(query.signature == "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04")
    }

    @Test func s3GetObjectWithRange() {
        let signer = Self.s3Case("GET", path: "/test.txt", headers: [("Range", "bytes=0-9")])
        #expect(
            signer.canonicalRequest == """
                GET
                /test.txt

                host:examplebucket.s3.amazonaws.com
                range:bytes=0-9
                x-amz-content-sha256:\(Self.emptyHash)
                x-amz-date:20130524T000000Z

                host;range;x-amz-content-sha256;x-amz-date
                \(Self.emptyHash)
                """)
        #expect(
            signer.stringToSign
                == "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
        )
        #expect(signer.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(signer.headersToAdd.map(\.name) == ["x-amz-date", "x-amz-content-sha256", "Authorization"])
    }

    @Test func s3PutObject() {
        let signer = Self.s3Case(
            "PUT", path: "/test$file.text",
            headers: [("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
            body: "Welcome to Amazon S3.")
        let hash = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
        #expect(signer.payloadHash == hash)
        #expect(
            signer.canonicalRequest == """
                PUT
                /test%24file.text

                date:Fri, 24 May 2013 00:00:00 GMT
                host:examplebucket.s3.amazonaws.com
                x-amz-content-sha256:\(hash)
                x-amz-date:20130524T000000Z
                x-amz-storage-class:REDUCED_REDUNDANCY

                date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class
                \(hash)
                """)
        #expect(signer.stringToSign == Self.s3StringToSign("9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d"))
        #expect(signer.signature == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
    }

    @Test func s3GetBucketLifecycle() {
        let signer = Self.s3Case("GET", path: "/", query: [("lifecycle", "")])
        #expect(
            signer.canonicalRequest
                == "GET\n/\nlifecycle=\nhost:examplebucket.s3.amazonaws.com\nx-amz-content-sha256:\(Self.emptyHash)\nx-amz-date:20130524T000000Z\n\nhost;x-amz-content-sha256;x-amz-date\n\(Self.emptyHash)"
        )
        #expect(signer.stringToSign == Self.s3StringToSign("9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca"))
        #expect(signer.signature == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
    }

    @Test func s3ListObjects() {
        let signer = Self.s3Case("GET", path: "/", query: [("prefix", "J"), ("max-keys", "2")])
        #expect(
            signer.canonicalRequest == """
                GET
                /
                max-keys=2&prefix=J
                host:examplebucket.s3.amazonaws.com
                x-amz-content-sha256:\(Self.emptyHash)
                x-amz-date:20130524T000000Z

                host;x-amz-content-sha256;x-amz-date
                \(Self.emptyHash)
                """)
        #expect(signer.stringToSign == Self.s3StringToSign("df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7"))
        #expect(signer.signature == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    @Test func encoding() {
        #expect(SigV4.uriEncode("a b+c=d/é~_.-") == "a%20b%2Bc%3Dd%2F%C3%A9~_.-")
        #expect(SigV4.canonicalPath("/bucket/dir/my key+=.csv") == "/bucket/dir/my%20key%2B%3D.csv")
        #expect(SigV4.canonicalPath("") == "/")
        #expect(SigV4.canonicalQuery([("b", "2"), ("a", "x y"), ("a", "1")]) == "a=1&a=x%20y&b=2")
    }

    @Test func descriptionHidesTheSecret() {
        let signer = Self.s3Case("GET", path: "/x")
        #expect(!"\(signer)".contains(Self.s3Credentials.secretAccessKey))
        #expect(!String(reflecting: signer).contains(Self.s3Credentials.secretAccessKey))
        #expect(!"\(signer)".contains(signer.signature))
    }
}
