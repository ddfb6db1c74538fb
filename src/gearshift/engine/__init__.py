"""The execution engine: tasks, strategies, validators."""
