"""Benchmarks: each prints figures beside the targets of PRODUCT.md ("Performance")."""
