"""prismrec.cli."""
