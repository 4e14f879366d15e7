"""`civic bench`: each figure next to the raw limit of the same machine, measured in the same run."""
