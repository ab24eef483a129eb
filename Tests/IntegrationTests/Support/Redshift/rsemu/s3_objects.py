"""The objects a COPY reads from S3 (a prefix, or a manifest's entries), with the COPY's
credentials or the emulator's IAM_ROLE keys; S3 errors as Redshift reports them."""

import json

from .errors import RsError


def s3_client(args, o):
    import boto3
    from botocore.config import Config
    a = args
    if o["iam_role"]:
        if not (a.iam_role_key_id and a.iam_role_secret):
            raise RsError("User arn:aws:redshift:emulation is not authorized to assume IAM "
                          f"Role {o['iam_role']} (the emulator was given no "
                          "--iam-role-key-id/--iam-role-secret)", "XX000", kind="error")
        key, secret, token = a.iam_role_key_id, a.iam_role_secret, None
    else:
        key, secret, token = o["access_key_id"], o["secret_access_key"], o["session_token"]
    return boto3.client(
        "s3", endpoint_url=a.s3_endpoint, region_name=o["region"] or a.s3_region,
        aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                      retries={"max_attempts": 1}))


def s3_error(e):
    from botocore.exceptions import ClientError
    if isinstance(e, ClientError):
        err = e.response.get("Error", {})
        meta = e.response.get("ResponseMetadata", {})
        status = meta.get("HTTPStatusCode", 0)
        rid = meta.get("RequestId", "")
        return RsError(f"S3ServiceException:{err.get('Message', str(e))},Status {status},"
                       f"Error {err.get('Code', 'Unknown')},Rid {rid},ExtRid ,CanRetry 1",
                       "XX000", detail="error: S3ServiceException during COPY", kind="error")
    return RsError(f"S3 error: {e}", "XX000", kind="error")


def fetch_objects(args, o, source):
    """[(url, bytes)] the COPY reads."""
    client = s3_client(args, o)

    def split(url):
        rest = url[len("s3://"):]
        bucket, _, key = rest.partition("/")
        return bucket, key

    try:
        bucket, key = split(source)
        if o["manifest"]:
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            try:
                manifest = json.loads(body)
                entries = manifest["entries"]
            except (ValueError, KeyError, TypeError):
                raise RsError(f"Manifest file is not in correct json format: {source}",
                              "XX000", kind="error")
            out = []
            for entry in entries:
                url = entry.get("url", "")
                b, k = split(url)
                try:
                    data = client.get_object(Bucket=b, Key=k)["Body"].read()
                except Exception as e:
                    code = getattr(e, "response", {}).get("Error", {}).get("Code")
                    if code in ("NoSuchKey", "404") and not entry.get("mandatory", False):
                        continue
                    if code in ("NoSuchKey", "404"):
                        raise RsError(f"Manifest file references a mandatory file that does "
                                      f"not exist: {url}", "XX000", kind="error")
                    raise
                out.append((url, data))
            return out
        keys = []
        token = None
        while True:
            kw = {"Bucket": bucket, "Prefix": key}
            if token:
                kw["ContinuationToken"] = token
            page = client.list_objects_v2(**kw)
            keys += [c["Key"] for c in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                break
            token = page.get("NextContinuationToken")
        if not keys:
            raise RsError(f"The specified S3 prefix '{key}' does not exist", "XX000",
                          detail=f"location: s3://{bucket}/{key}", kind="error")
        return [(f"s3://{bucket}/{k}", client.get_object(Bucket=bucket, Key=k)["Body"].read())
                for k in sorted(keys)]
    except RsError:
        raise
    except Exception as e:
        raise s3_error(e)
