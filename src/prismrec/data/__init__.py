"""prismrec.data."""
