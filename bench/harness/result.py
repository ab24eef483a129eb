"""What every case returns, in a module of its own so that the case modules can share it."""

from dataclasses import dataclass, field


@dataclass
class Result:
    """One run of one case: values[metric][tool], plus a time series for charts (the lag cases)."""

    values: dict
    series: list = field(default_factory=list)
