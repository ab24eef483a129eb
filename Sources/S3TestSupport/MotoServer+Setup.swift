internal import Foundation
internal import FoundationNetworking
internal import Glibc
internal import S3Staging

extension MotoServer {
    /// The requests that make a fresh server usable: its IAM user, key and bucket.
    struct Setup {
        let endpoint: String
        var host: String { String(endpoint.dropFirst("http://".count)) }
        static let user = "forager-s3-tests"
        /// Signs the three IAM calls that the server lets through unchecked; refused afterwards.
        static let throwaway = AWSCredentials(accessKeyID: "AKIAFORAGERSETUP0000", secretAccessKey: "setup-only")
        static let policy = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#

        /// Until the server answers on its port (`/moto-api/`, which is not an action and
        /// spends none of the unchecked ones); fails at once if it exits.
        func waitUntilAnswering(pid: pid_t, output: String) async throws {
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                if let answer = try? await send(method: "GET", path: "/moto-api/", query: [], body: [], signedWith: nil), answer.0 == 200 {
                    return
                }
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid { throw MotoServerError("moto_server exited at start (status \(status))") }
                try await Task.sleep(for: .milliseconds(200))
            }
            throw MotoServerError("moto_server did not answer within 60 s")
        }

        /// CreateUser, PutUserPolicy (`s3:*`) and CreateAccessKey; returns the new key.
        func createUserWithKey() async throws -> AWSCredentials {
            _ = try await iam(["Action": "CreateUser", "UserName": Self.user])
            _ = try await iam(["Action": "PutUserPolicy", "UserName": Self.user, "PolicyName": "staging", "PolicyDocument": Self.policy])
            let answer = try await iam(["Action": "CreateAccessKey", "UserName": Self.user])
            guard let id = Self.element("AccessKeyId", in: answer), let secret = Self.element("SecretAccessKey", in: answer) else {
                throw MotoServerError("CreateAccessKey answered without a key:\n\(answer)")
            }
            return AWSCredentials(accessKeyID: id, secretAccessKey: secret)
        }

        /// CreateBucket in us-east-1, signed with `credentials` (checked by the server).
        func createBucket(_ name: String, credentials: AWSCredentials) async throws {
            let (status, body) = try await send(method: "PUT", path: "/" + name, query: [], body: [], signedWith: (credentials, "s3"))
            guard status == 200 else { throw MotoServerError("CreateBucket \(name) answered \(status):\n\(body)") }
        }

        /// A list signed with the right key id and a wrong secret must be refused.
        func expectSignatureChecking(bucket: String, credentials: AWSCredentials) async throws {
            let wrong = AWSCredentials(accessKeyID: credentials.accessKeyID, secretAccessKey: credentials.secretAccessKey + "x")
            let (status, body) = try await send(
                method: "GET", path: "/" + bucket, query: [("list-type", "2")], body: [], signedWith: (wrong, "s3"))
            guard status == 403, body.contains("SignatureDoesNotMatch") else {
                throw MotoServerError("a wrong secret was not refused (HTTP \(status)):\n\(body)")
            }
        }

        /// One IAM query-API call (POST of a form), signed with the throwaway key.
        private func iam(_ parameters: [String: String]) async throws -> String {
            let form = (parameters.merging(["Version": "2010-05-08"]) { $1 }).sorted { $0.key < $1.key }
                .map { SigV4.uriEncode($0.key) + "=" + SigV4.uriEncode($0.value) }.joined(separator: "&")
            let (status, body) = try await send(
                method: "POST", path: "/", query: [], body: Array(form.utf8), signedWith: (Self.throwaway, "iam"),
                contentType: "application/x-www-form-urlencoded; charset=utf-8")
            guard status == 200 else { throw MotoServerError("IAM \(parameters["Action"] ?? "") answered \(status):\n\(body)") }
            return body
        }

        /// Sends a request, signed for `service` when credentials are given; returns status and body.
        private func send(
            method: String, path: String, query: [(name: String, value: String)], body: [UInt8],
            signedWith signer: (credentials: AWSCredentials, service: String)?, contentType: String? = nil
        ) async throws -> (Int, String) {
            let queryString = query.map { SigV4.uriEncode($0.name) + "=" + SigV4.uriEncode($0.value) }.joined(separator: "&")
            guard let url = URL(string: endpoint + SigV4.canonicalPath(path) + (queryString.isEmpty ? "" : "?" + queryString)) else {
                throw MotoServerError("not a URL: \(endpoint)\(path)")
            }
            var request = URLRequest(url: url, timeoutInterval: 30)
            request.httpMethod = method
            if !body.isEmpty { request.httpBody = Data(body) }
            var headers: [(name: String, value: String)] = [("host", host)]
            if let contentType { headers.append(("content-type", contentType)) }
            if let signer {
                let signature = SigV4(
                    method: method, path: path, query: query, headers: headers, payloadHash: SigV4.sha256Hex(body), date: Date(),
                    region: "us-east-1", service: signer.service, credentials: signer.credentials)
                headers += signature.headersToAdd
            }
            for (name, value) in headers where name != "host" { request.setValue(value, forHTTPHeaderField: name) }
            let (data, response) = try await URLSession.shared.data(for: request)
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
        }

        /// The text of the first `<name>` element (IAM's answers need no entity decoding).
        static func element(_ name: String, in document: String) -> String? {
            guard let start = document.range(of: "<\(name)>"),
                let end = document.range(of: "</\(name)>", range: start.upperBound..<document.endIndex)
            else { return nil }
            return String(document[start.upperBound..<end.lowerBound])
        }
    }
}
