internal import ForagerCore
internal import Foundation

/// Turns S3's refusals and unreachable servers into ``ForagerError``s (kind `.warehouse`) that
/// name the operation, the bucket and the key, say what to do, and mark what a retry may fix.
///
/// Nothing here sees a request's headers; `redacting` removes the secret and the token from any
/// text that came from outside, in case a server echoed them.
enum S3Failure {
    /// S3 error codes that a retry later may get past: throttling, a server busy or failing for
    /// now, a request that took too long on S3's side.
    static let transientCodes: Set<String> = [
        "SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "Throttling",
        "ThrottlingException", "RequestLimitExceeded", "OperationAborted",
    ]

    /// A refusal: the HTTP status and the XML error body (`<Error><Code>…<Message>…`).
    static func refusal(
        operation: String, bucket: String, key: String?, status: Int, body: String, secrets: [String]
    ) -> ForagerError {
        let code = S3XML.value(of: "Code", in: body) ?? statusCode(status)
        let serverMessage = S3XML.value(of: "Message", in: body).map { ": \($0)" } ?? ""
        let requestID = S3XML.value(of: "RequestId", in: body).map { " (request id \($0))" } ?? ""
        let message = "S3 refused \(operation) of \(place(bucket: bucket, key: key)): \(code)\(serverMessage) [HTTP \(status)]\(requestID)"
        return ForagerError(
            .warehouse, redacting(message, secrets: secrets), hint: hint(code: code, status: status),
            isTransient: status == 500 || status == 502 || status == 503 || status == 504 || transientCodes.contains(code))
    }

    /// A server that could not be reached, or a connection that failed: always transient.
    static func unreachable(operation: String, bucket: String, key: String?, endpoint: String, error: any Error, secrets: [String])
        -> ForagerError
    {
        ForagerError(
            .warehouse,
            redacting("cannot reach S3 at \(endpoint) for \(operation) of \(place(bucket: bucket, key: key)): \(error)", secrets: secrets),
            hint: "Check the network and warehouse.s3's endpoint and region; Forager keeps trying.", isTransient: true)
    }

    /// `s3://bucket/key`, or `s3://bucket` for a bucket-wide operation.
    static func place(bucket: String, key: String?) -> String {
        "s3://\(bucket)" + (key.map { "/\($0)" } ?? "")
    }

    /// What to do about the common codes.
    static func hint(code: String, status: Int) -> String? {
        switch code {
        case "SignatureDoesNotMatch", "InvalidAccessKeyId", "AuthorizationHeaderMalformed", "IncompleteSignature", "InvalidToken",
            "ExpiredToken", "TokenRefreshRequired":
            return
                "Check the access key id and secret (and the session token, if any) and that warehouse.s3.region is the bucket's region."
        case "NoSuchBucket":
            return "Create the bucket, or fix warehouse.s3.bucket (and warehouse.s3.region)."
        case "AccessDenied", "AllAccessDisabled", "AccountProblem":
            return
                "The key's IAM policy must allow s3:PutObject, s3:GetObject and s3:DeleteObject on the prefix's objects and s3:ListBucket on the bucket for the prefix."
        case "PermanentRedirect", "IllegalLocationConstraintException":
            return "The bucket is in another region: set warehouse.s3.region to the bucket's region."
        case "RequestTimeTooSkewed":
            return "This machine's clock is more than 15 minutes off; synchronize it (NTP)."
        default:
            if transientCodes.contains(code) || status >= 500 { return "S3 is busy or failing for now; Forager keeps trying." }
            return nil
        }
    }

    /// S3's name for a status when the body has no code (a HEAD, or a proxy's page).
    static func statusCode(_ status: Int) -> String {
        switch status {
        case 301: "PermanentRedirect"
        case 403: "AccessDenied"
        case 404: "NotFound"
        case 500: "InternalError"
        case 503: "ServiceUnavailable"
        default: "HTTP\(status)"
        }
    }

    /// `text` with every occurrence of a secret replaced.
    static func redacting(_ text: String, secrets: [String]) -> String {
        secrets.filter { $0.count >= 4 }.reduce(text) { $0.replacingOccurrences(of: $1, with: "<redacted>") }
    }
}
