"""Self-test of the Redshift emulation.

Run from the repository root:
    .build-venv/aws/bin/python -m unittest Tests/IntegrationTests/Support/Redshift/test_emulator.py

Starts a throwaway PostgreSQL 15 cluster, moto's S3 server with signature checking on (IAM-backed:
the first requests create an IAM user, its access key and policy, every later one is checked),
and the emulator in front of the cluster; then checks the emulation through psycopg (extended
protocol) and psql (simple protocol). Everything started is stopped, and every temporary
directory removed, even when a test fails.
"""

import os
import sys
import unittest

# The scripts are run by path, not installed: the selftest package is found next to this file.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from selftest.copy_tests import CopyTests  # noqa: E402
from selftest.fault_and_log_tests import CheckerTests, FaultAndLogTests  # noqa: E402
from selftest.harness import setUpModule, tearDownModule  # noqa: E402
from selftest.protocol_tests import ProtocolTests, SqlTextTests  # noqa: E402
from selftest.statement_tests import PsqlTests, RefusalTests, RewriteTests  # noqa: E402

__all__ = ["setUpModule", "tearDownModule", "CheckerTests", "CopyTests", "FaultAndLogTests",
           "ProtocolTests", "PsqlTests", "RefusalTests", "RewriteTests", "SqlTextTests"]

# unittest runs a test class's module fixtures from the class's own module: the classes belong to
# this one, so the harness starts once (setUpModule) and stops once (tearDownModule) for them all.
for _case in (CheckerTests, CopyTests, FaultAndLogTests, ProtocolTests, PsqlTests, RefusalTests,
              RewriteTests, SqlTextTests):
    _case.__module__ = __name__
del _case  # not a test class of its own


if __name__ == "__main__":
    unittest.main()
