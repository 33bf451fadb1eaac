"""The workspace: every run of this user in one screen, compared and controlled from there."""
