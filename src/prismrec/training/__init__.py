"""prismrec.training."""
