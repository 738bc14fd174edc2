"""What the engine runs on: the dual worker pools, disk type and media workers, garbage-collector tuning, rates and small statistics."""
