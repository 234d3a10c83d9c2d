"""List files: guess their shape, split them into records, and filter them row by row."""
