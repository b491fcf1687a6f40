"""The service: building pipelines and running them live or from files."""
