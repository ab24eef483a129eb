"""Forager's benchmark harness: throwaway clusters, workloads, cases and the markdown report."""
