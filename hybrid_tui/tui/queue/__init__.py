"""Queue: the jobs with their state, devices and times; keys to remove, reorder and follow one."""
