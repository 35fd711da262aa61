"""Live: the followed run's curves, throughput, devices and trainer log as they arrive."""
