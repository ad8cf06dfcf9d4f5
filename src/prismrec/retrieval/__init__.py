"""prismrec.retrieval."""
