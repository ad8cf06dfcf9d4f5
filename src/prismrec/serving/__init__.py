"""prismrec.serving."""
