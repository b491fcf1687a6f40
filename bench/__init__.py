"""Development benchmarks (see bench/README.md)."""

import listener  # noqa: F401  # first: it limits BLAS threads before numpy is imported, as in the service
