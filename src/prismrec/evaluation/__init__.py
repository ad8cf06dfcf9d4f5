"""prismrec.evaluation."""
