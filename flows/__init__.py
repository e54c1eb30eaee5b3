"""Prefect flows over the pipeline's stages (see flows/README.md); entry points only."""
