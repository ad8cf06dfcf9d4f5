"""prismrec.models."""
