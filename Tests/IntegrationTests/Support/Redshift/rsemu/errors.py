"""The errors the emulation sends to the client: its own (RsError) and the upstream's."""


class RsError(Exception):
    """An error the emulation sends to the client. kind: 'refused' (Redshift would not accept the
    statement) or 'error' (the statement was accepted and failed, like a load error)."""

    def __init__(self, message, sqlstate="XX000", detail=None, hint=None, kind="refused"):
        super().__init__(message)
        self.message = message
        self.sqlstate = sqlstate
        self.detail = detail
        self.hint = hint
        self.kind = kind

    def fields(self):
        f = {"S": "ERROR", "V": "ERROR", "C": self.sqlstate, "M": self.message}
        if self.detail:
            f["D"] = self.detail
        if self.hint:
            f["H"] = self.hint
        return f


class UpstreamError(Exception):
    def __init__(self, fields):
        super().__init__(fields.get("M", "upstream error"))
        self.fields = fields


def syntax_error(near):
    return RsError(f'syntax error at or near "{near}"', "42601")
