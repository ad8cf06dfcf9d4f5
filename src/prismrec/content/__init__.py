"""prismrec.content."""
