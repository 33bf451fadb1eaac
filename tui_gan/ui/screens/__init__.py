"""Modal screens: the help page and the missing-data dialog."""
