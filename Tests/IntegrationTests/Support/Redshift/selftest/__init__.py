"""The Redshift emulation's self-test (test_emulator.py runs it): harness and test classes."""
